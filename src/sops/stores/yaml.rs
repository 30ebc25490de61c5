//! The yaml store (being written).
use super::{FormatError, Store};
use crate::sops::tree::{Map, Value};

pub struct YamlStore;

impl Store for YamlStore {
    fn load_plain(&self, _input: &[u8]) -> Result<Vec<Map>, FormatError> {
        Err(FormatError::Invalid(
            "yaml store not implemented yet".into(),
        ))
    }
    fn emit_plain(&self, _docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        Err(FormatError::Invalid(
            "yaml store not implemented yet".into(),
        ))
    }
    fn emit_value(&self, _value: &Value) -> Result<Vec<u8>, FormatError> {
        Err(FormatError::Invalid(
            "yaml store not implemented yet".into(),
        ))
    }
}
