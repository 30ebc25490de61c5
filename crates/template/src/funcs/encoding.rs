//! Sprig's encoders: base64 as Go's StdEncoding (errors printed as the result, as Sprig does),
//! JSON as Go's encoding/json writes and reads it, and `sha256sum`.

use super::{arity, bounded, string, Ctx, FnError};
use crate::funcs::floats::{e_form, f_form, float_parts};
use crate::value::{Elem, Value};
use base64::Engine as _;
use sha2::Digest as _;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, FnError> {
    arity(name, args, 1)?;
    let a = &args[0];
    match name {
        "b64enc" => bounded(
            base64::engine::general_purpose::STANDARD
                .encode(string(a)?)
                .into(),
            ctx,
        ),
        "b64dec" => bounded(b64dec(string(a)?), ctx),
        "sha256sum" => Ok(Value::str(hex::encode(sha2::Sha256::digest(string(a)?)))),
        "toJson" | "toPrettyJson" => {
            let mut out = Vec::new();
            // json.Marshal fails only on NaN/Inf here; Sprig then returns "".
            if write_json(a, name == "toPrettyJson", 0, &mut out).is_err() {
                out.clear();
            }
            bounded(out, ctx)
        }
        _ => from_json(string(a)?, ctx),
    }
}

/// Sprig's b64dec: the decoded bytes, or Go's error text (`illegal base64 data at input byte N`).
fn b64dec(s: &[u8]) -> Vec<u8> {
    match go_std_decode(s) {
        Ok(v) => v,
        Err(at) => format!("illegal base64 data at input byte {at}").into_bytes(),
    }
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Go's base64.StdEncoding.DecodeString: padded, `\r`/`\n` ignored, non-strict trailing bits;
/// the error is the offset Go reports.
fn go_std_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let is_nl = |b: u8| b == b'\n' || b == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let mut buf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if let Some(v) = sextet(c) {
                buf[j] = v;
                j += 1;
                continue;
            }
            if is_nl(c) {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(si - 1);
            }
            if j == 2 {
                while si < src.len() && is_nl(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            while si < src.len() && is_nl(src[si]) {
                si += 1;
            }
            if si < src.len() {
                return Err(si);
            }
            dlen = j;
            break;
        }
        let val = u32::from(buf[0]) << 18
            | u32::from(buf[1]) << 12
            | u32::from(buf[2]) << 6
            | u32::from(buf[3]);
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if dlen < 4 {
            return Ok(out);
        }
    }
}

/// Writes a string as encoding/json does: HTML-safe escapes, invalid UTF-8 as U+FFFD.
pub(crate) fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if (c as u32) < 0x20
                    || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') =>
                {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// encoding/json's float64: `%f` form, `%e` below 1e-6 or from 1e21 (exponent without padding).
pub(crate) fn json_float(f: f64) -> Result<String, ()> {
    if !f.is_finite() {
        return Err(());
    }
    if f == 0.0 {
        return Ok(if f.is_sign_negative() { "-0" } else { "0" }.into());
    }
    let (digits, dp) = float_parts(f);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        let e = e_form(&digits, dp, f < 0.0);
        // Go trims e-07 to e-7; positive exponents here are 21 or more.
        return Ok(e.replace("e-0", "e-"));
    }
    Ok(f_form(&digits, dp, f < 0.0))
}

fn newline(depth: usize, out: &mut Vec<u8>) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b' ', depth * 2));
}

/// json.Marshal (or MarshalIndent with two spaces when `pretty`); keys sorted as Go sorts maps.
fn write_json(v: &Value, pretty: bool, depth: usize, out: &mut Vec<u8>) -> Result<(), ()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(b.to_string().as_bytes()),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Float(f) => out.extend_from_slice(json_float(*f)?.as_bytes()),
        Value::Str(s) => json_string(s, out),
        Value::List(l) => {
            let l = &l.items;
            out.push(b'[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if pretty {
                    newline(depth + 1, out);
                }
                write_json(e, pretty, depth + 1, out)?;
            }
            if pretty && !l.is_empty() {
                newline(depth, out);
            }
            out.push(b']');
        }
        Value::Map(m) => {
            let m = &m.entries;
            out.push(b'{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if pretty {
                    newline(depth + 1, out);
                }
                json_string(k.as_bytes(), out);
                out.extend_from_slice(if pretty { b": " } else { b":" });
                write_json(e, pretty, depth + 1, out)?;
            }
            if pretty && !m.is_empty() {
                newline(depth, out);
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Sprig's fromJson: Go's json.Unmarshal into interface{} (numbers are float64); nil on error.
fn from_json(s: &[u8], ctx: &Ctx) -> Result<Value, FnError> {
    let text = String::from_utf8_lossy(s);
    let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(Value::Nil);
    };
    let v = from_serde(parsed);
    if v.depth() > ctx.max_decode_depth {
        return Err(FnError::Limit("decoded value depth", ctx.max_decode_depth));
    }
    Ok(v)
}

fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => {
            Value::list(Elem::Any, a.into_iter().map(from_serde).collect())
        }
        serde_json::Value::Object(o) => Value::map(
            Elem::Any,
            o.into_iter().map(|(k, v)| (k, from_serde(v))).collect(),
        ),
    }
}
