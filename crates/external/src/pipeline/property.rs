//! `remoteRef.property` as ESO reads it: an exact top-level key first, else a gjson path (`a.b`,
//! `list.0`, `a\.b` for a dot inside a key, `list.#` for a length), and the raw value when no property.

use serde_json::Value;
use zeroize::Zeroize;

use crate::error::Error;
use crate::limits::{MAX_JSON_DEPTH, MAX_VALUE_BYTES};
use crate::meta::Origin;
use crate::value::SecretValue;

/// Refuses a remote value over [`MAX_VALUE_BYTES`]; `key` names it.
pub fn check_size(origin: &Origin, key: &str, len: usize) -> Result<(), Error> {
    if len > MAX_VALUE_BYTES {
        return Err(Error::limit(
            origin,
            format!("remote key {key:?}"),
            format!("value of {len} bytes exceeds the limit of {MAX_VALUE_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Whether the JSON text nests arrays/objects deeper than [`MAX_JSON_DEPTH`] (checked before parsing).
pub(crate) fn too_deep(text: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A parsed secret JSON value whose strings are zeroized when it is dropped.
pub(crate) struct SecretJson(pub Value);

impl Drop for SecretJson {
    fn drop(&mut self) {
        fn wipe(v: &mut Value) {
            match v {
                Value::String(s) => s.zeroize(),
                Value::Array(items) => items.iter_mut().for_each(wipe),
                Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// Parses a secret as JSON (strings zeroized on drop), `None` when it is not JSON; `too deep` is
/// the caller's check.
pub(crate) fn parse_secret_json(bytes: &[u8]) -> Option<SecretJson> {
    serde_json::from_slice(bytes).ok().map(SecretJson)
}

/// Parses a remote value as JSON: `Ok(None)` when it is not JSON, an error when it nests too deep.
pub(crate) fn parse_json(
    origin: &Origin,
    key: &str,
    bytes: &[u8],
) -> Result<Option<SecretJson>, Error> {
    if too_deep(bytes) {
        return Err(Error::limit(
            origin,
            format!("remote key {key:?}"),
            format!("JSON value nests deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    Ok(parse_secret_json(bytes))
}

/// A JSON value as ESO stores it in a Secret: a string as its text, `null` as empty, anything else
/// as compact JSON with object keys sorted (Go's `json.Marshal` of a map; independent of
/// serde_json's `preserve_order`), numbers as written, booleans as `true`/`false`.
pub fn json_to_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        other => {
            let mut out = Vec::new();
            write_sorted(other, &mut out);
            out
        }
    }
}

fn write_sorted(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write_sorted(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_sorted(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Writing a scalar to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Selects `property` from a fetched value (`key` names the remote secret in errors).
pub fn select_property(
    origin: &Origin,
    key: &str,
    value: &SecretValue,
    property: Option<&str>,
) -> Result<SecretValue, Error> {
    check_size(origin, key, value.len())?;
    let Some(property) = property else {
        return Ok(value.clone());
    };
    let missing = || Error::PropertyMissing {
        origin: Box::new(origin.clone()),
        key: key.to_string(),
        property: property.to_string(),
    };
    let Some(json) = parse_json(origin, key, value.expose())? else {
        return Err(missing());
    };
    if let Some(v) = json.0.as_object().and_then(|m| m.get(property)) {
        return Ok(SecretValue::new(json_to_bytes(v)));
    }
    match gjson_get(&json.0, property) {
        Ok(Some(found)) => Ok(SecretValue::new(found)),
        Ok(None) => Err(missing()),
        Err(reason) => Err(Error::remote(
            origin,
            key,
            format!("property {property:?}: {reason}"),
        )),
    }
}

/// Splits a gjson path on unescaped dots; `\x` stands for `x`. Refuses the gjson features beyond
/// plain paths (wildcards, queries, modifiers, pipes), which ESO users rarely write.
fn split_path(path: &str) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => parts.last_mut().map(|p| p.push(n)).unwrap_or(()),
                None => return Err("path ends with a backslash".into()),
            },
            '.' => parts.push(String::new()),
            '*' | '?' | '|' | '@' => {
                return Err(format!("gjson {c:?} (wildcards, queries, modifiers) is not supported; use a plain path such as a.b or list.0"))
            }
            '#' if parts.last().is_some_and(|p| p.is_empty()) && chars.clone().next() == Some('(') => {
                return Err("gjson queries #(...) are not supported".into())
            }
            _ => parts.last_mut().map(|p| p.push(c)).unwrap_or(()),
        }
    }
    Ok(parts)
}

/// Evaluates a plain gjson path: object keys, array indices, and `#` (the length of an array).
fn gjson_get(root: &Value, path: &str) -> Result<Option<Vec<u8>>, String> {
    let parts = split_path(path)?;
    let mut cur = root;
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        cur = match cur {
            Value::Object(m) => match m.get(part.as_str()) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(items) if part == "#" && i == last => {
                return Ok(Some(items.len().to_string().into_bytes()))
            }
            Value::Array(items) => match part.parse::<usize>().ok().and_then(|n| items.get(n)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(json_to_bytes(cur)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "apps/db.yaml".into(),
            kind: "ExternalSecret".into(),
            namespace: Some("shop".into()),
            name: "db".into(),
        }
    }

    fn sel(value: &str, prop: Option<&str>) -> Result<String, Error> {
        select_property(&origin(), "shop/db", &SecretValue::from_text(value), prop)
            .map(|v| String::from_utf8(v.expose().to_vec()).unwrap())
    }

    #[test]
    fn raw_value_without_property() {
        assert_eq!(sel("plain text", None).unwrap(), "plain text");
        assert_eq!(sel(r#"{"a":1}"#, None).unwrap(), r#"{"a":1}"#);
    }

    #[test]
    fn paths_and_exact_keys() {
        let v = r#"{"user":"app","port":5432,"tls":true,"nested":{"pw":"x1","list":["a","b"]},"a.b":"dotted","a":{"b":"path"},"nothing":null}"#;
        assert_eq!(sel(v, Some("user")).unwrap(), "app");
        assert_eq!(sel(v, Some("port")).unwrap(), "5432");
        assert_eq!(sel(v, Some("tls")).unwrap(), "true");
        assert_eq!(sel(v, Some("nested.pw")).unwrap(), "x1");
        assert_eq!(sel(v, Some("nested.list.1")).unwrap(), "b");
        assert_eq!(sel(v, Some("nested.list.#")).unwrap(), "2");
        assert_eq!(
            sel(v, Some("nested")).unwrap(),
            r#"{"list":["a","b"],"pw":"x1"}"#
        );
        assert_eq!(
            sel(v, Some("a.b")).unwrap(),
            "dotted",
            "an exact top-level key wins over the path"
        );
        assert_eq!(sel(r#"{"a":{"b":"path"}}"#, Some("a.b")).unwrap(), "path");
        assert_eq!(
            sel(r#"{"a.b":{"c":"esc"}}"#, Some(r"a\.b.c")).unwrap(),
            "esc"
        );
        assert_eq!(sel(v, Some("nothing")).unwrap(), "");
    }

    #[test]
    fn missing_property_names_it() {
        let e = sel(r#"{"user":"app"}"#, Some("password")).unwrap_err();
        assert!(matches!(e, Error::PropertyMissing { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("password") && msg.contains("shop/db") && msg.contains("apps/db.yaml"),
            "{msg}"
        );
        assert!(!msg.contains("app\""), "{msg}");
        assert!(matches!(
            sel("not json", Some("x")).unwrap_err(),
            Error::PropertyMissing { .. }
        ));
        assert!(matches!(
            sel(r#"{"a":[1]}"#, Some("a.5")).unwrap_err(),
            Error::PropertyMissing { .. }
        ));
        assert!(matches!(
            sel(r#"{"a":1}"#, Some("a.*")).unwrap_err(),
            Error::Remote { .. }
        ));
    }

    #[test]
    fn limits() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(sel(&big, None).unwrap_err(), Error::Limit { .. }));
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert!(matches!(
            sel(&deep, Some("0")).unwrap_err(),
            Error::Limit { .. }
        ));
        assert!(!too_deep(br#"{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#));
    }
}
