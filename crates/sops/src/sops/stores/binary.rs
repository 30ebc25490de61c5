//! The binary store: any file, kept whole as one string under `data`, as sops does.
//!
//! A plain file loads to `{data: <its text>}` (`Value::Bytes` when it is not UTF-8) and is written back
//! as those exact bytes. The encrypted file is JSON (`{"data": "ENC[...]", "sops": {...}}`), read and
//! written by the JSON store.

use super::json::{single_document, JsonStore};
use super::{FormatError, Store};
use crate::sops::tree::{Map, Value};

pub struct BinaryStore;

/// The key that holds the file's content.
pub const DATA_KEY: &str = "data";

impl Store for BinaryStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        let value = match std::str::from_utf8(input) {
            Ok(s) => Value::Str(s.to_string()),
            Err(_) => Value::Bytes(input.to_vec()),
        };
        let mut doc = Map::new();
        doc.insert(DATA_KEY, value);
        Ok(vec![doc])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        JsonStore.load_encrypted(input)
    }

    fn emit_plain(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        let doc = single_document(docs, "binary")?;
        match doc.get(DATA_KEY) {
            Some(Value::Str(s)) => Ok(s.as_bytes().to_vec()),
            Some(Value::Bytes(b)) => Ok(b.clone()),
            Some(other) => Err(FormatError::Invalid(format!(
                "the `{DATA_KEY}` entry of a binary file must be a string, not a {}",
                other.kind()
            ))),
            None => Err(FormatError::Invalid(format!(
                "no `{DATA_KEY}` entry: the document holds no binary data"
            ))),
        }
    }

    fn emit_encrypted(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        JsonStore.emit_encrypted(docs)
    }

    /// A string as its bytes; binary files have no structure to extract anything else from.
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(FormatError::Invalid(format!(
                "binary files are not structured: a {} cannot be extracted",
                other.kind()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/sops");

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
    }

    #[test]
    fn plain_fixture_round_trips() {
        for path in ["plain/blob.bin", "expected/blob.bin"] {
            let input = fixture(path);
            let docs = BinaryStore.load_plain(&input).unwrap();
            assert_eq!(
                docs[0].get("data"),
                Some(&Value::Bytes(input.clone())),
                "{path}"
            );
            assert_eq!(BinaryStore.emit_plain(&docs).unwrap(), input, "{path}");
        }
        let docs = BinaryStore.load_plain(b"text\n").unwrap();
        assert_eq!(docs[0].get("data"), Some(&Value::Str("text\n".into())));
    }

    #[test]
    fn encrypted_fixture_loads_and_round_trips() {
        let input = fixture("enc/blob.bin");
        let docs = BinaryStore.load_encrypted(&input).unwrap();
        let keys: Vec<_> = docs[0].entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["data", "sops"]);
        assert!(docs[0]
            .get("data")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("ENC[AES256_GCM,"));
        let md = docs[0].get("sops").and_then(Value::as_map).unwrap();
        let Some(Value::Seq(age)) = md.get("age") else {
            panic!()
        };
        let enc = age[0]
            .as_map()
            .unwrap()
            .get("enc")
            .and_then(Value::as_str)
            .unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert_eq!(
            md.get("lastmodified"),
            Some(&Value::Str("2026-11-22T03:46:27Z".into()))
        );
        assert_eq!(md.get("version"), Some(&Value::Str("3.11.0".into())));
        assert_eq!(BinaryStore.emit_encrypted(&docs).unwrap(), input);
    }

    #[test]
    fn bad_trees_are_refused() {
        let mut m = Map::new();
        m.insert("data", Value::Int(1));
        assert!(matches!(
            BinaryStore.emit_plain(&[m]),
            Err(FormatError::Invalid(_))
        ));
        assert!(matches!(
            BinaryStore.emit_plain(&[Map::new()]),
            Err(FormatError::Invalid(_))
        ));
        assert!(BinaryStore.emit_value(&Value::Seq(vec![])).is_err());
        let err = BinaryStore.load_encrypted(b"secret-bytes").unwrap_err();
        assert!(matches!(err, FormatError::Syntax { .. }), "{err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(input in prop::collection::vec(any::<u8>(), 0..256)) {
            let docs = BinaryStore.load_plain(&input).unwrap();
            prop_assert_eq!(BinaryStore.emit_plain(&docs).unwrap(), input.clone());
            let _ = BinaryStore.load_encrypted(&input);
        }
    }
}
