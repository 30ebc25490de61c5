//! Decoding of `application/vnd.kubernetes.protobuf` request bodies for the kinds `kubectl create`
//! sends that way (Secret, ConfigMap, Namespace) into their JSON form.
//!
//! The wire form is the magic `k8s\0` followed by a `runtime.Unknown` message whose `raw` field holds
//! the object (field numbers from `k8s.io/api/core/v1/generated.proto`).

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::status::{ApiError, ApiResult};

const MAGIC: &[u8] = b"k8s\0";

fn bad(why: &str) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf body: {why}"))
}

/// One field of a message: its number and either a varint or a length-delimited payload.
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> ApiResult<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or_else(|| bad("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    fn next(&mut self) -> ApiResult<Option<Field<'a>>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3).map_err(|_| bad("field number too large"))?;
        match tag & 7 {
            0 => Ok(Some(Field::Varint(number, self.varint()?))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| bad("length too large"))?;
                if len > self.buf.len() {
                    return Err(bad("truncated field"));
                }
                let (data, rest) = self.buf.split_at(len);
                self.buf = rest;
                Ok(Some(Field::Bytes(number, data)))
            }
            1 => self.skip(8).map(|_| Some(Field::Varint(number, 0))),
            5 => self.skip(4).map(|_| Some(Field::Varint(number, 0))),
            _ => Err(bad("unsupported wire type")),
        }
    }

    fn skip(&mut self, n: usize) -> ApiResult<()> {
        if n > self.buf.len() {
            return Err(bad("truncated field"));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

fn fields(buf: &[u8]) -> ApiResult<Vec<Field<'_>>> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn text(b: &[u8]) -> ApiResult<String> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("string is not UTF-8"))
}

/// A `map<string, string|bytes>` entry: key 1, value 2.
fn map_entry(b: &[u8]) -> ApiResult<(String, Vec<u8>)> {
    let (mut k, mut v) = (String::new(), Vec::new());
    for f in fields(b)? {
        match f {
            Field::Bytes(1, d) => k = text(d)?,
            Field::Bytes(2, d) => v = d.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn insert_entry(
    obj: &mut Map<String, Value>,
    field: &str,
    b: &[u8],
    as_base64: bool,
) -> ApiResult<()> {
    let (k, v) = map_entry(b)?;
    let value = if as_base64 {
        base64::engine::general_purpose::STANDARD.encode(v)
    } else {
        text(&v)?
    };
    let m = obj.entry(field).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        m.insert(k, json!(value));
    }
    Ok(())
}

fn push(obj: &mut Map<String, Value>, field: &str, v: Value) {
    if let Some(a) = obj.entry(field).or_insert_with(|| json!([])).as_array_mut() {
        a.push(v);
    }
}

fn object_meta(b: &[u8]) -> ApiResult<Value> {
    let mut m = Map::new();
    for f in fields(b)? {
        match f {
            // proto3 strings: empty means unset.
            Field::Bytes(n @ (1 | 2 | 3 | 5 | 6), d) if !d.is_empty() => {
                let key = [
                    "",
                    "name",
                    "generateName",
                    "namespace",
                    "",
                    "uid",
                    "resourceVersion",
                ][n as usize];
                m.insert(key.into(), json!(text(d)?));
            }
            Field::Bytes(11, d) => insert_entry(&mut m, "labels", d, false)?,
            Field::Bytes(12, d) => insert_entry(&mut m, "annotations", d, false)?,
            Field::Bytes(14, d) => push(&mut m, "finalizers", json!(text(d)?)),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// The object inside a protobuf body, as JSON. `kind` is the kind the endpoint serves.
pub fn decode(kind: &str, body: &[u8]) -> ApiResult<Value> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing k8s protobuf prefix"))?;
    let mut raw: &[u8] = &[];
    let mut api_version = String::new();
    for f in fields(envelope)? {
        match f {
            Field::Bytes(1, tm) => {
                for t in fields(tm)? {
                    if let Field::Bytes(1, v) = t {
                        api_version = text(v)?;
                    }
                }
            }
            Field::Bytes(2, r) => raw = r,
            _ => {}
        }
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    for f in fields(raw)? {
        match (kind, f) {
            (_, Field::Bytes(1, d)) => _ = obj.insert("metadata".into(), object_meta(d)?),
            ("Secret", Field::Bytes(2, d)) => insert_entry(&mut obj, "data", d, true)?,
            ("Secret", Field::Bytes(3, d)) => _ = obj.insert("type".into(), json!(text(d)?)),
            ("Secret", Field::Bytes(4, d)) => insert_entry(&mut obj, "stringData", d, false)?,
            ("Secret", Field::Varint(5, v)) | ("ConfigMap", Field::Varint(4, v)) => {
                _ = obj.insert("immutable".into(), json!(v != 0))
            }
            ("ConfigMap", Field::Bytes(2, d)) => insert_entry(&mut obj, "data", d, false)?,
            ("ConfigMap", Field::Bytes(3, d)) => insert_entry(&mut obj, "binaryData", d, true)?,
            ("Namespace", Field::Bytes(2, d)) => {
                let mut spec = Map::new();
                for s in fields(d)? {
                    if let Field::Bytes(1, v) = s {
                        push(&mut spec, "finalizers", json!(text(v)?));
                    }
                }
                obj.insert("spec".into(), Value::Object(spec));
            }
            ("Secret" | "ConfigMap" | "Namespace", _) => {}
            _ => {
                return Err(ApiError::unsupported_media_type(
                    "application/vnd.kubernetes.protobuf",
                    crate::handlers::BODY_TYPES,
                ))
            }
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(number: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![(number << 3) | 2, data.len() as u8];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_secret() {
        let meta = [ld(1, b"s1"), ld(3, b"default")].concat();
        let entry = [ld(1, b"a"), ld(2, b"b")].concat();
        let secret = [ld(1, &meta), ld(2, &entry), ld(3, b"Opaque")].concat();
        let unknown = [ld(1, &ld(1, b"v1")), ld(2, &secret)].concat();
        let body = [MAGIC, &unknown].concat();
        let v = decode("Secret", &body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "default"}, "data": {"a": "Yg=="}, "type": "Opaque"})
        );
    }
}
