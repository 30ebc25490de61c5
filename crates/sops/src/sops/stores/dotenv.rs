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
#[path = "dotenv_tests.rs"]
mod tests;
