//! The JSON store, reading and writing JSON as sops 3.11 does.
//!
//! Reading (sops walks Go's `json.Decoder` token stream):
//! - the root must be an object; keys keep their order, and a key given twice is kept twice (sops does);
//! - every number becomes `Value::Float` (Go decodes numbers as float64); a number too large for a
//!   float is an error, as in Go;
//! - bytes that are not UTF-8 inside strings become U+FFFD, one per byte, and lone UTF-16 surrogates in
//!   `\u` escapes become U+FFFD, as Go does;
//! - nesting deeper than [`limits::MAX_DEPTH`] is refused. Go accepts up to 10000 levels; sops files are
//!   never that deep.
//! - Deliberate difference: text after the root object is an error. sops stops reading at the end of
//!   the root object and silently drops whatever follows.
//!
//! Writing matches `json.Indent(compact, "", "\t")` of what sops builds: one tab per level, `": "` after
//! keys, `{}`/`[]` for empty containers, Go's string escaping (`<`, `>`, `&`, U+2028 and U+2029 as
//! `\u` escapes; `\b`, `\f`, `\n`, `\r`, `\t`; other control characters as `\u00xx`) and Go's float
//! format (`5432`, `0.5`, `1e+21`, `1e-7`), a newline at the end. Comments are dropped, NaN and infinities
//! are refused, bytes that are not UTF-8 are written with U+FFFD.

use super::{limits, FormatError, Store, METADATA_KEY};
use crate::sops::tree::{format_float, Map, MapItem, Value};

pub struct JsonStore;

impl Store for JsonStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        Ok(vec![parse_document(input)?])
    }

    /// As `load_plain`; in the `sops` map, integral numbers become `Int` (its `shamir_threshold`).
    fn load_encrypted(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        let mut doc = parse_document(input)?;
        let count = doc.entries().filter(|(k, _)| *k == METADATA_KEY).count();
        if count > 1 {
            return Err(FormatError::Invalid(format!(
                "the file has {count} top-level `{METADATA_KEY}` entries; there must be one"
            )));
        }
        if let Some(Value::Map(md)) = doc.get_mut(METADATA_KEY) {
            integral_floats_to_ints(md);
        }
        Ok(vec![doc])
    }

    fn emit_plain(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        let doc = single_document(docs, "JSON")?;
        let mut out = String::new();
        write_map(&mut out, doc, 0)?;
        out.push('\n');
        Ok(out.into_bytes())
    }

    /// A string as its bare text, a map as a JSON file, anything else as indented JSON without a final
    /// newline (sops `decrypt --extract`).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.clone()),
            Value::Map(m) => self.emit_plain(std::slice::from_ref(m)),
            other => {
                let mut out = String::new();
                write_value(&mut out, other, 0)?;
                Ok(out.into_bytes())
            }
        }
    }
}

/// The one document of a format that holds one.
pub(crate) fn single_document<'a>(docs: &'a [Map], format: &str) -> Result<&'a Map, FormatError> {
    match docs {
        [doc] => Ok(doc),
        _ => Err(FormatError::Invalid(format!(
            "a {format} file holds exactly one document, not {}",
            docs.len()
        ))),
    }
}

fn integral_floats_to_ints(map: &mut Map) {
    for item in &mut map.0 {
        if let MapItem::Entry(_, v) = item {
            integral_value_to_int(v);
        }
    }
}

fn integral_value_to_int(v: &mut Value) {
    match v {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => *v = Value::Int(*f as i64),
        Value::Map(m) => integral_floats_to_ints(m),
        Value::Seq(items) => items.iter_mut().for_each(integral_value_to_int),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------
// Reading

/// Parses a JSON file whose root is an object.
pub(crate) fn parse_document(input: &[u8]) -> Result<Map, FormatError> {
    let mut p = Parser {
        input,
        pos: 0,
        nodes: 0,
    };
    p.skip_ws();
    match p.peek() {
        Some(b'{') => {}
        Some(_) => {
            return Err(p.error(
                "sops only supports JSON files whose top level is an object (starting with '{'); \
                 wrap other values in an object, e.g. {\"data\": [...]}",
            ))
        }
        None => return Err(p.error("the file is empty; a JSON object was expected")),
    }
    let Value::Map(map) = p.parse_value(0)? else {
        unreachable!("an object parses to a map")
    };
    p.skip_ws();
    if p.pos < input.len() {
        return Err(p.error("unexpected text after the top-level object"));
    }
    Ok(map)
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A syntax error at the current position: line and column (in characters), 1-based.
    fn error(&self, message: &str) -> FormatError {
        let pos = self.pos.min(self.input.len());
        let before = &self.input[..pos];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        FormatError::Syntax {
            line,
            column,
            message: message.to_string(),
        }
    }

    fn expect(&mut self, byte: u8, message: &str) -> Result<(), FormatError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else if self.peek().is_none() {
            Err(self.error("unexpected end of input"))
        } else {
            Err(self.error(message))
        }
    }

    fn count_node(&mut self) -> Result<(), FormatError> {
        self.nodes += 1;
        if self.nodes > limits::MAX_NODES {
            return Err(FormatError::Limit(format!(
                "more than {} values in the document",
                limits::MAX_NODES
            )));
        }
        Ok(())
    }

    fn parse_value(&mut self, depth: usize) -> Result<Value, FormatError> {
        self.count_node()?;
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => {
                self.check_depth(depth)?;
                self.pos += 1;
                let mut map = Map::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Map(map));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(if self.peek().is_none() {
                            self.error("unexpected end of input")
                        } else {
                            self.error("expected a string key")
                        });
                    }
                    let key = self.parse_string()?;
                    self.skip_ws();
                    self.expect(b':', "expected ':' after an object key")?;
                    let value = self.parse_value(depth + 1)?;
                    map.0.push(MapItem::Entry(key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Map(map));
                        }
                        None => return Err(self.error("unexpected end of input")),
                        Some(_) => return Err(self.error("expected ',' or '}' in an object")),
                    }
                }
            }
            Some(b'[') => {
                self.check_depth(depth)?;
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Seq(items));
                }
                loop {
                    items.push(self.parse_value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Seq(items));
                        }
                        None => return Err(self.error("unexpected end of input")),
                        Some(_) => return Err(self.error("expected ',' or ']' in an array")),
                    }
                }
            }
            Some(b'"') => Ok(Value::Str(self.parse_string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(_) => Err(self.error("unexpected character; a JSON value was expected")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), FormatError> {
        if depth >= limits::MAX_DEPTH {
            return Err(FormatError::Limit(format!(
                "JSON nested deeper than {} levels",
                limits::MAX_DEPTH
            )));
        }
        Ok(())
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, FormatError> {
        if self.input[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal; expected true, false or null"))
        }
    }

    fn parse_number(&mut self) -> Result<Value, FormatError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("invalid number: digits expected after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number: digits expected in the exponent"));
            }
        }
        // The text is ASCII digits and signs: valid UTF-8.
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or("x");
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => {
                self.pos = start;
                Err(self.error("number out of the range of a 64-bit float"))
            }
        }
    }

    /// Parses a string at `"`, decoding escapes as Go does.
    fn parse_string(&mut self) -> Result<String, FormatError> {
        self.pos += 1; // opening quote
        let mut raw: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("unexpected end of input in a string"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(go_utf8(&raw));
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error("unexpected end of input in a string"));
                    };
                    self.pos += 1;
                    match e {
                        b'"' => raw.push(b'"'),
                        b'\\' => raw.push(b'\\'),
                        b'/' => raw.push(b'/'),
                        b'b' => raw.push(0x08),
                        b'f' => raw.push(0x0c),
                        b'n' => raw.push(b'\n'),
                        b'r' => raw.push(b'\r'),
                        b't' => raw.push(b'\t'),
                        b'u' => {
                            let c = self.parse_unicode_escape()?;
                            let mut buf = [0u8; 4];
                            raw.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape in a string"));
                        }
                    }
                }
                0x00..=0x1f => return Err(self.error("control character in a string")),
                _ => {
                    raw.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, FormatError> {
        let Some(digits) = self.input.get(self.pos..self.pos + 4) else {
            return Err(self.error("invalid \\u escape in a string"));
        };
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape in a string"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    /// After `\u`: one code point; a surrogate pair is joined, a lone surrogate becomes U+FFFD (Go).
    fn parse_unicode_escape(&mut self) -> Result<char, FormatError> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) {
            if self.input[self.pos..].starts_with(b"\\u") {
                let save = self.pos;
                self.pos += 2;
                if let Ok(second) = self.hex4() {
                    if (0xDC00..0xE000).contains(&second) {
                        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    }
                }
                self.pos = save;
            }
            return Ok('\u{FFFD}');
        }
        Ok(char::from_u32(first).unwrap_or('\u{FFFD}'))
    }
}

/// Decodes bytes as Go does when it makes a string from JSON: each byte that does not start a valid
/// UTF-8 sequence becomes one U+FFFD.
pub(crate) fn go_utf8(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&bytes[..good]).unwrap_or_default());
                out.push('\u{FFFD}');
                bytes = &bytes[good + 1..];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Writing

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push('\t');
    }
}

fn write_map(out: &mut String, map: &Map, level: usize) -> Result<(), FormatError> {
    let mut entries = map.entries().peekable();
    if entries.peek().is_none() {
        out.push_str("{}");
        return Ok(());
    }
    out.push_str("{\n");
    while let Some((k, v)) = entries.next() {
        indent(out, level + 1);
        write_string(out, k);
        out.push_str(": ");
        write_value(out, v, level + 1)?;
        if entries.peek().is_some() {
            out.push(',');
        }
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
    Ok(())
}

fn write_value(out: &mut String, value: &Value, level: usize) -> Result<(), FormatError> {
    match value {
        Value::Map(m) => write_map(out, m, level)?,
        Value::Seq(items) => {
            let mut items = items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .peekable();
            if items.peek().is_none() {
                out.push_str("[]");
                return Ok(());
            }
            out.push_str("[\n");
            while let Some(v) = items.next() {
                indent(out, level + 1);
                write_value(out, v, level + 1)?;
                if items.peek().is_some() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level);
            out.push(']');
        }
        Value::Str(s) => write_string(out, s),
        Value::Bytes(b) => write_string(out, &go_utf8(b)),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&go_json_float(*f)?),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        // Comments only sit in sequences, which skip them; a stray one is written as nothing sensible.
        Value::Comment(_) => out.push_str("null"),
    }
    Ok(())
}

/// A float as Go's `json.Marshal` writes it.
pub(crate) fn go_json_float(f: f64) -> Result<String, FormatError> {
    if !f.is_finite() {
        return Err(FormatError::Invalid(
            "JSON cannot hold NaN or infinite numbers".into(),
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (mantissa, exp) = super::flatten::split_exp(f);
        let sign = if exp < 0 { '-' } else { '+' };
        Ok(format!("{mantissa}e{sign}{}", exp.unsigned_abs()))
    } else {
        Ok(format_float(f))
    }
}

/// A JSON string as Go's `json.Marshal` escapes it.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
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

    fn app_tree() -> Map {
        let mut db = Map::new();
        db.insert("host", s("db.internal"));
        db.insert("port", Value::Float(5432.0));
        db.insert("password", s("s3cr3t!"));
        let mut m = Map::new();
        m.insert("database", Value::Map(db));
        m.insert("features", Value::Seq(vec![s("a"), s("b")]));
        m.insert("retries", Value::Float(5.0));
        m.insert("debug", Value::Bool(false));
        m
    }

    #[test]
    fn plain_and_expected_fixtures_load() {
        for path in ["plain/app.json", "expected/app.json"] {
            let docs = JsonStore.load_plain(&fixture(path)).unwrap();
            assert_eq!(docs, vec![app_tree()], "{path}");
        }
    }

    #[test]
    fn expected_fixture_round_trips_byte_for_byte() {
        let input = fixture("expected/app.json");
        let docs = JsonStore.load_plain(&input).unwrap();
        assert_eq!(JsonStore.emit_plain(&docs).unwrap(), input);
        // The plain input is written the way sops writes it.
        let docs = JsonStore.load_plain(&fixture("plain/app.json")).unwrap();
        assert_eq!(JsonStore.emit_plain(&docs).unwrap(), input);
    }

    #[test]
    fn encrypted_fixture_loads_and_round_trips() {
        let input = fixture("enc/app.json");
        let docs = JsonStore.load_encrypted(&input).unwrap();
        let md = docs[0].get("sops").and_then(Value::as_map).unwrap();
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
        assert_eq!(JsonStore.emit_encrypted(&docs).unwrap(), input);
    }

    #[test]
    fn go_compatible_details() {
        // Duplicate keys are kept, as sops keeps them.
        let docs = JsonStore.load_plain(br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(docs[0].0.len(), 2);
        assert_eq!(
            JsonStore.emit_plain(&docs).unwrap(),
            b"{\n\t\"a\": 1,\n\t\"a\": 2\n}\n"
        );
        // Escaping as Go's json.Marshal; floats as Go writes them.
        let docs = JsonStore
            .load_plain("{\"h\":\"<>&\\u2028\\u0001\\b\\f\\t\u{7f} é\",\"e\":{},\"l\":[],\"z\":-0,\"b\":1e21,\"s\":1e-7,\"x\":123456789.5}".as_bytes())
            .unwrap();
        let out = String::from_utf8(JsonStore.emit_plain(&docs).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n\t\"h\": \"\\u003c\\u003e\\u0026\\u2028\\u0001\\b\\f\\t\u{7f} é\",\n\t\"e\": {},\n\t\"l\": [],\n\t\"z\": -0,\n\t\"b\": 1e+21,\n\t\"s\": 1e-7,\n\t\"x\": 123456789.5\n}\n"
        );
        // Lone surrogates and invalid UTF-8 become U+FFFD.
        let docs = JsonStore.load_plain(b"{\"a\":\"\\ud800x\xff\"}").unwrap();
        assert_eq!(docs[0].get("a"), Some(&s("\u{FFFD}x\u{FFFD}")));
        let docs = JsonStore.load_plain(br#"{"a":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(docs[0].get("a"), Some(&s("😀")));
    }

    #[test]
    fn emit_value_like_sops_extract() {
        assert_eq!(JsonStore.emit_value(&s("raw\n")).unwrap(), b"raw\n");
        assert_eq!(JsonStore.emit_value(&Value::Float(5.0)).unwrap(), b"5");
        assert_eq!(
            JsonStore.emit_value(&Value::Seq(vec![s("a")])).unwrap(),
            b"[\n\t\"a\"\n]"
        );
        let mut m = Map::new();
        m.insert("k", Value::Bool(true));
        assert_eq!(
            JsonStore.emit_value(&Value::Map(m)).unwrap(),
            b"{\n\t\"k\": true\n}\n"
        );
    }

    #[test]
    fn emit_refuses_what_json_cannot_hold() {
        let mut m = Map::new();
        m.insert("f", Value::Float(f64::NAN));
        assert!(matches!(
            JsonStore.emit_plain(&[m]),
            Err(FormatError::Invalid(_))
        ));
        assert!(matches!(
            JsonStore.emit_plain(&[]),
            Err(FormatError::Invalid(_))
        ));
        // Comments are dropped, bytes written lossily.
        let mut m = Map::new();
        m.0.push(MapItem::Comment("c".into()));
        m.insert("b", Value::Bytes(vec![b'a', 0xff]));
        m.insert(
            "l",
            Value::Seq(vec![Value::Comment("c".into()), Value::Int(3)]),
        );
        assert_eq!(
            String::from_utf8(JsonStore.emit_plain(&[m]).unwrap()).unwrap(),
            "{\n\t\"b\": \"a\u{FFFD}\",\n\t\"l\": [\n\t\t3\n\t]\n}\n"
        );
    }

    #[test]
    fn bad_input_is_refused_without_quoting_values() {
        let cases: &[(&[u8], &str)] = &[
            (b"[\"secret-1\"]", "syntax"),
            (b"\"secret-1\"", "syntax"),
            (b"", "syntax"),
            (b"{\"a\": \"secret-1\"", "syntax"),
            (b"{\"a\": \"secret-1\"} \"secret-2\"", "syntax"),
            (b"{\"a\": secret}", "syntax"),
            (b"{\"a\": \"secret-1\\q\"}", "syntax"),
            (b"{\"a\": \"secret\x01\"}", "syntax"),
            (b"{\"a\": 1e400}", "syntax"),
            (b"{\"a\": 01}", "syntax"),
            (b"{\"a\": [1,]}", "syntax"),
            (b"{secret: 1}", "syntax"),
        ];
        for (input, kind) in cases {
            let err = JsonStore.load_plain(input).unwrap_err();
            assert!(matches!(err, FormatError::Syntax { .. }), "{kind}: {err:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
        assert!(matches!(
            JsonStore.load_plain(deep.as_bytes()),
            Err(FormatError::Limit(_))
        ));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            JsonStore.load_plain(deep.as_bytes()),
            Err(FormatError::Limit(_))
        ));
        let ok = format!(
            "{}1{}",
            "{\"a\":".repeat(limits::MAX_DEPTH - 1),
            "}".repeat(limits::MAX_DEPTH - 1)
        );
        assert!(JsonStore.load_plain(ok.as_bytes()).is_ok());
        let err = JsonStore
            .load_encrypted(br#"{"sops":{"version":"secret"},"sops":{}}"#)
            .unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = JsonStore.load_plain(&input);
            let _ = JsonStore.load_encrypted(&input);
        }

        #[test]
        fn json_ish_input_never_panics(input in "[{}\\[\\]\":,a-z0-9 .eE+\\\\u-]{0,64}") {
            let _ = JsonStore.load_plain(input.as_bytes());
        }

        #[test]
        fn floats_round_trip(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let mut m = Map::new();
            m.insert("f", Value::Float(f));
            let out = JsonStore.emit_plain(&[m.clone()]).unwrap();
            prop_assert_eq!(JsonStore.load_plain(&out).unwrap(), vec![m]);
        }

        #[test]
        fn strings_round_trip(v in any::<String>(), k in any::<String>()) {
            let mut m = Map::new();
            m.insert(k, Value::Str(v));
            let out = JsonStore.emit_plain(&[m.clone()]).unwrap();
            prop_assert_eq!(JsonStore.load_plain(&out).unwrap(), vec![m]);
        }
    }
}
