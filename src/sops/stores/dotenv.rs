//! The dotenv store, reading and writing `.env` files as sops 3.11 does.
//!
//! Reading, line by line (lines split at `\n` only; a `\r` stays part of the value, as in sops):
//! - an empty line is skipped; a line starting with `#` is a comment (its text after the `#`);
//! - any other line is `KEY=VALUE`, split at the first `=`. Keys are taken as written (sops accepts
//!   any text, even an empty key); the two characters `\n` in a value become a newline. A value that
//!   is not UTF-8 is kept as `Value::Bytes`; a key or comment must be UTF-8;
//! - a line without `=` is a syntax error naming the line.
//!
//! Encrypted files keep the metadata as `sops_`-prefixed keys flattened with `__map_`/`__list_` (see
//! [`super::flatten`]). [`DotenvStore::load_encrypted`] rebuilds them into a nested `sops` entry placed
//! last; [`DotenvStore::emit_encrypted`] flattens it back, sorted by key as sops writes it.
//!
//! Writing: `#text` for comments, `KEY=VALUE` for entries with newlines written as `\n`. Scalars are
//! written as sops' `ValueToString` does (see [`super::flatten::scalar_text`]). Maps and lists cannot
//! be written; nor can keys holding `=` or a newline or starting with `#`, nor comments holding a
//! newline, since they would read back differently (sops writes them anyway).

use super::flatten::{encode_newlines, flatten, scalar_text, unflatten};
use super::json::single_document;
use super::{limits, FormatError, Store, METADATA_KEY};
use crate::sops::tree::{Map, MapItem, Value};

pub struct DotenvStore;

/// The prefix of the metadata keys in an encrypted dotenv file.
pub const METADATA_PREFIX: &str = "sops_";

fn syntax(line: usize, message: &str) -> FormatError {
    FormatError::Syntax {
        line,
        column: 1,
        message: message.to_string(),
    }
}

impl Store for DotenvStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        let mut map = Map::new();
        for (index, line) in input.split(|&b| b == b'\n').enumerate() {
            let number = index + 1;
            if line.is_empty() {
                continue;
            }
            if map.0.len() >= limits::MAX_NODES {
                return Err(FormatError::Limit(format!(
                    "more than {} lines",
                    limits::MAX_NODES
                )));
            }
            if let Some(comment) = line.strip_prefix(b"#") {
                let text = std::str::from_utf8(comment)
                    .map_err(|_| syntax(number, "the comment is not valid UTF-8"))?;
                map.0.push(MapItem::Comment(text.to_string()));
                continue;
            }
            let Some(eq) = line.iter().position(|&b| b == b'=') else {
                return Err(syntax(
                    number,
                    "invalid dotenv line: expected KEY=VALUE or a # comment",
                ));
            };
            let key = std::str::from_utf8(&line[..eq])
                .map_err(|_| syntax(number, "the key is not valid UTF-8"))?;
            let value = decode_value_newlines(&line[eq + 1..]);
            let value = match String::from_utf8(value) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            };
            map.0.push(MapItem::Entry(key.to_string(), value));
        }
        Ok(vec![map])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        let mut docs = self.load_plain(input)?;
        let doc = &mut docs[0];
        let mut metadata = Vec::new();
        let mut rest = Vec::with_capacity(doc.0.len());
        for item in std::mem::take(&mut doc.0) {
            match item {
                MapItem::Entry(key, value) if key.starts_with(METADATA_PREFIX) => {
                    let value = match value {
                        Value::Str(s) => Value::Str(s),
                        _ => {
                            return Err(FormatError::Invalid(format!(
                                "metadata entry {key:?} is not valid UTF-8"
                            )))
                        }
                    };
                    metadata.push((key[METADATA_PREFIX.len()..].to_string(), value));
                }
                MapItem::Entry(key, _) if key == METADATA_KEY && !metadata.is_empty() => {
                    return Err(reserved_key());
                }
                other => rest.push(other),
            }
        }
        doc.0 = rest;
        if !metadata.is_empty() {
            if doc.get(METADATA_KEY).is_some() {
                return Err(reserved_key());
            }
            let md = unflatten(metadata)?;
            doc.0
                .push(MapItem::Entry(METADATA_KEY.into(), Value::Map(md)));
        }
        Ok(docs)
    }

    fn emit_plain(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        let doc = single_document(docs, "dotenv")?;
        let mut out = Vec::new();
        for (index, item) in doc.0.iter().enumerate() {
            match item {
                MapItem::Comment(text) => {
                    if text.contains('\n') {
                        return Err(FormatError::Invalid(format!(
                            "item {}: a comment spanning several lines cannot be written as dotenv",
                            index + 1
                        )));
                    }
                    out.push(b'#');
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'\n');
                }
                MapItem::Entry(key, value) => {
                    write_entry(&mut out, key, value)?;
                }
            }
        }
        Ok(out)
    }

    /// Writes the document with its `sops` map flattened into `sops_` keys, sorted, at the end.
    fn emit_encrypted(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        let doc = single_document(docs, "dotenv")?;
        let mut doc = doc.clone();
        let metadata = match doc.remove(METADATA_KEY) {
            Some(Value::Map(md)) => md,
            Some(other) => {
                return Err(FormatError::Invalid(format!(
                    "the `{METADATA_KEY}` entry is a {}, not a map",
                    other.kind()
                )))
            }
            None => {
                return Err(FormatError::Invalid(format!(
                    "the document has no `{METADATA_KEY}` entry"
                )))
            }
        };
        let mut flat = flatten(&metadata);
        flat.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in flat {
            doc.0.push(MapItem::Entry(
                format!("{METADATA_PREFIX}{key}"),
                Value::Str(value),
            ));
        }
        self.emit_plain(std::slice::from_ref(&doc))
    }

    /// Only strings can be extracted to dotenv (as in sops).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(FormatError::Invalid(format!(
                "the dotenv store only emits strings, not a {}",
                other.kind()
            ))),
        }
    }
}

fn reserved_key() -> FormatError {
    FormatError::Invalid(format!(
        "the file has both a `{METADATA_KEY}` key and `{METADATA_PREFIX}` metadata keys"
    ))
}

fn decode_value_newlines(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\\' && value.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

fn write_entry(out: &mut Vec<u8>, key: &str, value: &Value) -> Result<(), FormatError> {
    if key.contains(['=', '\n']) || key.starts_with('#') {
        return Err(FormatError::Invalid(format!(
            "key {key:?} cannot be written as dotenv (it holds '=' or a newline, or starts with '#')"
        )));
    }
    let text: Vec<u8> = match value {
        Value::Bytes(b) => {
            let mut v = Vec::with_capacity(b.len());
            for &byte in b {
                if byte == b'\n' {
                    v.extend_from_slice(b"\\n");
                } else {
                    v.push(byte);
                }
            }
            v
        }
        other => match scalar_text(other) {
            Some(s) => encode_newlines(&s).into_bytes(),
            None => {
                return Err(FormatError::Invalid(format!(
                    "key {key:?}: a {} cannot be written as dotenv, only strings and other scalars",
                    other.kind()
                )))
            }
        },
    };
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(&text);
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sops");

    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn plain_and_expected_fixtures_load_and_round_trip() {
        for path in ["plain/app.env", "expected/app.env"] {
            let input = fixture(path);
            let docs = DotenvStore.load_plain(&input).unwrap();
            let want = Map(vec![
                MapItem::Entry("DB_PASSWORD".into(), s("hunter2")),
                MapItem::Entry("API_TOKEN".into(), s("tok_123=with=equals")),
                MapItem::Comment(" a comment".into()),
                MapItem::Entry("EMPTY".into(), s("")),
            ]);
            assert_eq!(docs, vec![want], "{path}");
            assert_eq!(DotenvStore.emit_plain(&docs).unwrap(), input, "{path}");
        }
    }

    #[test]
    fn encrypted_fixture_loads_and_round_trips() {
        let input = fixture("enc/app.env");
        let docs = DotenvStore.load_encrypted(&input).unwrap();
        let doc = &docs[0];
        let keys: Vec<_> = doc.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["DB_PASSWORD", "API_TOKEN", "EMPTY", "sops"]);
        assert!(matches!(&doc.0[2], MapItem::Comment(c) if c.starts_with("ENC[AES256_GCM,")));
        let md = doc.get("sops").and_then(Value::as_map).unwrap();
        let Some(Value::Seq(age)) = md.get("age") else {
            panic!()
        };
        let key = age[0].as_map().unwrap();
        assert_eq!(
            key.get("recipient"),
            Some(&s(
                "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p"
            ))
        );
        let enc = key.get("enc").and_then(Value::as_str).unwrap();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(enc.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"));
        assert_eq!(md.get("lastmodified"), Some(&s("2026-11-22T03:46:26Z")));
        assert!(md
            .get("mac")
            .and_then(Value::as_str)
            .unwrap()
            .starts_with("ENC[AES256_GCM,"));
        assert_eq!(md.get("unencrypted_suffix"), Some(&s("_unencrypted")));
        assert_eq!(md.get("version"), Some(&s("3.11.0")));
        assert_eq!(DotenvStore.emit_encrypted(&docs).unwrap(), input);
    }

    #[test]
    fn metadata_is_written_sorted() {
        let mut md = Map::new();
        md.insert("version", s("3.11.0"));
        md.insert("shamir_threshold", Value::Int(2));
        let mut g = Map::new();
        let mut k = Map::new();
        k.insert("recipient", s("r"));
        k.insert("enc", s("a\nb"));
        g.insert("age", Value::Seq(vec![Value::Map(k)]));
        md.insert(
            "key_groups",
            Value::Seq(vec![Value::Map(g.clone()), Value::Map(g)]),
        );
        let mut doc = Map::new();
        doc.insert("sops", Value::Map(md));
        doc.insert("A", s("x"));
        let out = String::from_utf8(DotenvStore.emit_encrypted(&[doc]).unwrap()).unwrap();
        assert_eq!(
            out,
            "A=x\n\
             sops_key_groups__list_0__map_age__list_0__map_enc=a\\nb\n\
             sops_key_groups__list_0__map_age__list_0__map_recipient=r\n\
             sops_key_groups__list_1__map_age__list_0__map_enc=a\\nb\n\
             sops_key_groups__list_1__map_age__list_0__map_recipient=r\n\
             sops_shamir_threshold=2\n\
             sops_version=3.11.0\n"
        );
        let back = DotenvStore.load_encrypted(out.as_bytes()).unwrap();
        let md = back[0].get("sops").and_then(Value::as_map).unwrap();
        let Some(Value::Seq(groups)) = md.get("key_groups") else {
            panic!()
        };
        assert_eq!(groups.len(), 2);
        assert_eq!(md.get("shamir_threshold"), Some(&s("2")));
    }

    #[test]
    fn sops_quirks() {
        let docs = DotenvStore
            .load_plain(b"=v\n K=v\nL=w\r\nA=x\\\\ny\nB=\xff\n\n")
            .unwrap();
        let want = Map(vec![
            MapItem::Entry("".into(), s("v")),
            MapItem::Entry(" K".into(), s("v")),
            MapItem::Entry("L".into(), s("w\r")),
            MapItem::Entry("A".into(), s("x\\\ny")),
            MapItem::Entry("B".into(), Value::Bytes(vec![0xff])),
        ]);
        assert_eq!(docs, vec![want]);
        let mut m = Map::new();
        m.insert("I", Value::Int(3));
        m.insert("F", Value::Float(3.0));
        m.insert("G", Value::Float(1e21));
        m.insert("T", Value::Bool(true));
        m.insert("N", Value::Null);
        m.insert("M", s("a\nb"));
        assert_eq!(
            DotenvStore.emit_plain(&[m]).unwrap(),
            b"I=3\nF=3.0\nG=1E+21\nT=true\nN=\nM=a\\nb\n"
        );
    }

    #[test]
    fn bad_input_is_refused_without_quoting_values() {
        let err = DotenvStore
            .load_plain(b"A=1\n\nsecret-value\n")
            .unwrap_err();
        match &err {
            FormatError::Syntax { line, .. } => assert_eq!(*line, 3),
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = DotenvStore.load_plain(b"#secret\xff\n").unwrap_err();
        assert!(
            matches!(err, FormatError::Syntax { line: 1, .. }),
            "{err:?}"
        );
        let err = DotenvStore
            .load_encrypted(b"sops_a=secret-1\nsops_a__map_b=secret-2\n")
            .unwrap_err();
        assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = DotenvStore
            .load_encrypted(b"sops=secret\nsops_version=x\n")
            .unwrap_err();
        assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");

        let mut m = Map::new();
        m.insert("nested", Value::Map(Map::new()));
        let err = DotenvStore.emit_plain(&[m]).unwrap_err();
        assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
        let mut m = Map::new();
        m.insert("list", Value::Seq(vec![s("secret")]));
        let err = DotenvStore.emit_plain(&[m]).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let mut m = Map::new();
        m.insert("a=b", s("secret"));
        assert!(DotenvStore.emit_plain(&[m]).is_err());
        assert!(DotenvStore.emit_value(&Value::Int(1)).is_err());
        assert_eq!(DotenvStore.emit_value(&s("v")).unwrap(), b"v");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = DotenvStore.load_plain(&input);
            let _ = DotenvStore.load_encrypted(&input);
        }

        #[test]
        fn metadata_like_input_never_panics(input in "(sops_[a-z_0-9]{0,20}=[a-z\\\\]{0,4}\n){0,6}") {
            let _ = DotenvStore.load_encrypted(input.as_bytes());
        }

        #[test]
        fn plain_round_trip(entries in prop::collection::vec(("[A-Z_][A-Z0-9_]{0,8}", "[^\\\\]{0,16}"), 0..6)) {
            let mut m = Map::new();
            for (k, v) in entries {
                m.0.push(MapItem::Entry(k, Value::Str(v)));
            }
            let out = DotenvStore.emit_plain(&[m.clone()]).unwrap();
            prop_assert_eq!(DotenvStore.load_plain(&out).unwrap(), vec![m]);
        }
    }
}
