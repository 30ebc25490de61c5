//! The YAML store: reads every YAML file sops (go-yaml v3) reads, the same way, and writes what sops
//! writes (go-yaml v3 layout, indent 4). The `sops` metadata is an ordinary nested map entry, so the
//! encrypted forms are the plain ones.

mod emit;
mod parse;
mod resolve;
#[cfg(test)]
mod tests;

use super::{FormatError, Store};
use crate::sops::tree::{Map, Value};

/// The YAML format.
pub struct YamlStore;

impl Store for YamlStore {
    /// One map per document; an empty stream (or one holding only comments) has no documents, and a
    /// document that is empty or `null` is an empty map, as sops reads them.
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        parse::parse(input)
    }

    fn emit_plain(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        emit::emit_docs(docs).map(String::into_bytes)
    }

    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        emit::emit_value(value)
    }
}
