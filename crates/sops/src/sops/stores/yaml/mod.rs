//! The YAML store: reads every YAML file sops (go-yaml v3) reads, the same way, and writes what sops
//! writes (go-yaml v3 layout, indent 4). The `sops` metadata is an ordinary nested map entry, so the
//! encrypted forms are the plain ones.
//!
//! Choices where go-yaml and this crate's tree differ, or sops' behaviour is not one thing:
//! - Keys are strings: `1: x` reads as key `"1"`, written back as `"1": x` (go-yaml quotes a string key
//!   that would read as another type). `<<` is an ordinary key holding a copy of the aliased map, as
//!   sops keeps it.
//! - Decimal integers beyond `i64` are refused (go-yaml makes them a `uint64`, which sops cannot
//!   encrypt, or a float, which changes the value); other out-of-range integers stay strings, as in
//!   go-yaml. Timestamps are `Value::Time`, as go-yaml decodes them into a `time.Time`.
//! - Floats are written as go-yaml writes them: an integral float has no point (`3`), so it reads
//!   back as an integer, as in sops.
//! - Duplicate keys are refused, as go-yaml does when decoding into a map ("already defined").
//! - Same-line comments go right before the entry they follow; own-line comments before the next item
//!   at their level, or at the end of the block they are indented into (sops' flattening of go-yaml's
//!   head, line and foot comments).
//! - Comments opening a map item of a list (`- a: 1 # c`, `- # c`) are written right after its dash,
//!   where go-yaml reads them back as the item's. go-yaml writes them above the dash, where they read back
//!   as the list's: sops' own round trip moves them, and they then cover the whole item for the comment
//!   rules (a file sops encrypted with `unencrypted_comment_regex` can fail its own MAC check).
//! - A literal block that needs an indentation indicator gets the one that reads back correctly; go-yaml
//!   always writes `4`, which differs (and misreads) only inside list items.

mod emit;
mod input;
mod parse;
mod resolve;
mod style;
#[cfg(test)]
mod tests;

use super::{FormatError, Layout, Store};
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
        self.emit_plain_with(docs, Layout::default())
    }

    fn emit_plain_with(&self, docs: &[Map], layout: Layout) -> Result<Vec<u8>, FormatError> {
        // go-yaml's SetIndent takes 2 to 9; sops refuses less than 0 and treats 0 as the default.
        let indent = match layout.indent {
            None | Some(0) => emit::INDENT,
            Some(n) => n.clamp(2, 9),
        };
        emit::emit_docs(docs, indent).map(String::into_bytes)
    }

    fn emit_encrypted_with(&self, docs: &[Map], layout: Layout) -> Result<Vec<u8>, FormatError> {
        self.emit_plain_with(docs, layout)
    }

    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        emit::emit_value(value)
    }
}
