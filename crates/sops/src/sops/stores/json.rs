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

use super::{limits, FormatError, Layout, Store, METADATA_KEY};
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
        self.emit_plain_with(docs, Layout::default())
    }

    /// With `layout.indent`, that many spaces per level instead of a tab (sops' `stores.json.indent`).
    fn emit_plain_with(&self, docs: &[Map], layout: Layout) -> Result<Vec<u8>, FormatError> {
        let doc = single_document(docs, "JSON")?;
        let unit = layout
            .indent
            .map_or_else(|| "\t".to_string(), |n| " ".repeat(n));
        let mut out = String::new();
        write_map(&mut out, doc, 0, &unit)?;
        out.push('\n');
        Ok(out.into_bytes())
    }

    fn emit_encrypted_with(&self, docs: &[Map], layout: Layout) -> Result<Vec<u8>, FormatError> {
        self.emit_plain_with(docs, layout)
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
                write_value(&mut out, other, 0, "\t")?;
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

/// False for an integer literal (no fraction, no exponent) that sops, holding it as the float `f`,
/// would write back with other digits (`12345678901234567` becomes `12345678901234568`).
fn integer_held_exactly(text: &str, f: f64) -> bool {
    text.contains(['.', 'e', 'E']) || crate::sops::tree::format_float(f) == text
}

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
        let (line, column) = self.position();
        FormatError::Syntax {
            line,
            column,
            message: message.to_string(),
        }
    }

    /// Line and column (in characters) of the current position, from 1.
    fn position(&self) -> (usize, usize) {
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
        (line, column)
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
            // sops reads every JSON number as a float64: an integer it cannot hold exactly would be
            // changed without a word (sops does so; sealctl refuses).
            Ok(f) if f.is_finite() && !integer_held_exactly(text, f) => {
                self.pos = start;
                let (line, column) = self.position();
                Err(FormatError::Unrepresentable {
                    line,
                    column,
                    message: "integer too large to be held exactly (sops reads JSON numbers as 64-bit floats and would change it; quote it to keep it as text)".into(),
                })
            }
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

fn indent(out: &mut String, level: usize, unit: &str) {
    for _ in 0..level {
        out.push_str(unit);
    }
}

fn write_map(out: &mut String, map: &Map, level: usize, unit: &str) -> Result<(), FormatError> {
    let mut entries = map.entries().peekable();
    if entries.peek().is_none() {
        out.push_str("{}");
        return Ok(());
    }
    out.push_str("{\n");
    while let Some((k, v)) = entries.next() {
        indent(out, level + 1, unit);
        write_string(out, k);
        out.push_str(": ");
        write_value(out, v, level + 1, unit)?;
        if entries.peek().is_some() {
            out.push(',');
        }
        out.push('\n');
    }
    indent(out, level, unit);
    out.push('}');
    Ok(())
}

fn write_value(
    out: &mut String,
    value: &Value,
    level: usize,
    unit: &str,
) -> Result<(), FormatError> {
    match value {
        Value::Map(m) => write_map(out, m, level, unit)?,
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
                indent(out, level + 1, unit);
                write_value(out, v, level + 1, unit)?;
                if items.peek().is_some() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level, unit);
            out.push(']');
        }
        Value::Str(s) => write_string(out, s),
        Value::Bytes(b) => write_string(out, &go_utf8(b)),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&go_json_float(*f)?),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // encoding/json writes a time.Time as its RFC 3339 text.
        Value::Time(t) => write_string(out, t),
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
#[path = "json_tests.rs"]
mod tests;
