//! The INI store, reading and writing INI as sops 3.11 does through go-ini (`gopkg.in/ini.v1`).
//!
//! A file is one document: each section is a top-level entry whose value is a map of `Str`. Behaviour
//! checked against the real `sops` 3.11:
//! - keys before the first header belong to the section `DEFAULT`, which always comes first, even
//!   empty (sops' tree has `DEFAULT: {}` for a file without such keys). A section header met again,
//!   `[DEFAULT]` included, starts a new section of the same name; a key met again within a section
//!   replaces the value in place;
//! - `key = value` or `key : value` (the first `=` or `:`), key and value trimmed; keys may be quoted
//!   with `"`, `"""` or backticks; a key `-` is numbered `#1`, `#2`… within its section (go-ini);
//! - values: `"""…"""` and backticks quote (and may span lines); otherwise an unquoted `#` or `;`
//!   starts an inline comment, a trailing `\` continues the value on the next line, and one pair of
//!   surrounding `"` or `'` is removed;
//! - comments: lines starting with `#` or `;`, gathered and attached to the next key (or section
//!   header), then stored after that key as sops does, with the leading `#`/`;` and spaces stripped.
//!   Comments at the end of the file are dropped.
//!
//! Encrypted files keep the metadata flattened in a `[sops]` section (see [`super::flatten`]), with
//! newlines written as `\n`. Loading rebuilds it into a nested `sops` entry placed last; writing
//! flattens it back in the map's order (sops writes a random order).
//!
//! Writing follows go-ini's pretty format: `key = value` with `=` aligned per section, a blank line
//! between sections, comments as `; text`, keys and values quoted as go-ini quotes them. A key or value
//! that go-ini's quoting would not read back as itself is refused, naming the key (sops writes it and
//! then cannot read its own file); so are maps and lists inside sections.

use super::flatten::{decode_newlines, encode_newlines, flatten, scalar_text, unflatten};
use super::{limits, FormatError, Store, METADATA_KEY};
use crate::sops::tree::{Map, MapItem, Value};

pub struct IniStore;

/// go-ini's name for the section of keys before any header.
pub const DEFAULT_SECTION: &str = "DEFAULT";

impl Store for IniStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        let sections = parse(input)?;
        Ok(vec![to_tree(sections)])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        let mut sections = parse(input)?;
        let positions: Vec<usize> = sections
            .iter()
            .enumerate()
            .filter(|(_, s)| s.name == METADATA_KEY)
            .map(|(i, _)| i)
            .collect();
        let metadata = match positions.as_slice() {
            [] => None,
            [i] => Some(sections.remove(*i)),
            _ => {
                return Err(FormatError::Invalid(format!(
                    "the file has {} [{METADATA_KEY}] sections; there must be one",
                    positions.len()
                )))
            }
        };
        let mut doc = to_tree(sections);
        if let Some(section) = metadata {
            let pairs = section
                .keys
                .into_iter()
                .map(|k| (k.name, Value::Str(decode_newlines(&k.value))));
            let md = unflatten(pairs)?;
            doc.0
                .push(MapItem::Entry(METADATA_KEY.into(), Value::Map(md)));
        }
        Ok(vec![doc])
    }

    /// Every document's sections, in order (sops writes all branches).
    fn emit_plain(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        let mut sections = Vec::new();
        for doc in docs {
            sections.extend(from_tree(doc)?);
        }
        Ok(write(&sections)?.into_bytes())
    }

    fn emit_encrypted(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        let doc = super::json::single_document(docs, "INI")?;
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
        let mut sections = from_tree(&doc)?;
        let mut md = Section::new(METADATA_KEY.into());
        for (key, value) in flatten(&metadata) {
            md.set(key, encode_newlines(&value));
        }
        sections.push(md);
        Ok(write(&sections)?.into_bytes())
    }

    /// A string as its bare text, a map as an INI file of its sections, anything else as JSON.
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            Value::Bytes(b) => Ok(b.clone()),
            Value::Map(m) => self.emit_plain(std::slice::from_ref(m)),
            other => super::json::JsonStore.emit_value(other),
        }
    }
}

#[derive(Debug)]
struct Key {
    name: String,
    value: String,
    comment: String,
}

#[derive(Debug)]
struct Section {
    name: String,
    comment: String,
    keys: Vec<Key>,
}

impl Section {
    fn new(name: String) -> Self {
        Section {
            name,
            comment: String::new(),
            keys: Vec::new(),
        }
    }

    /// Adds a key, or replaces the value of the key of that name (go-ini without shadows). Returns it.
    fn set(&mut self, name: String, value: String) -> &mut Key {
        let i = match self.keys.iter().position(|k| k.name == name) {
            Some(i) => {
                self.keys[i].value = value;
                i
            }
            None => {
                self.keys.push(Key {
                    name,
                    value,
                    comment: String::new(),
                });
                self.keys.len() - 1
            }
        };
        &mut self.keys[i]
    }
}

// ---------------------------------------------------------------------------------------------------
// Reading

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Reader<'a> {
    /// The next line with its `\n` (none at the end of the file); `None` once everything is read.
    fn next_line(&mut self) -> Option<&'a str> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        self.pos += end;
        self.line += 1;
        Some(&rest[..end])
    }
}

fn syntax(line: usize, message: &str) -> FormatError {
    FormatError::Syntax {
        line,
        column: 1,
        message: message.to_string(),
    }
}

fn parse(input: &[u8]) -> Result<Vec<Section>, FormatError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = input[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        syntax(line, "the line is not valid UTF-8")
    })?;
    let mut reader = Reader {
        text,
        pos: 0,
        line: 0,
    };
    let mut sections = vec![Section::new(DEFAULT_SECTION.into())];
    let mut comment = String::new();
    let mut counter = 1usize; // go-ini numbers `-` keys per section
    let mut nodes = 0usize;
    while let Some(raw) = reader.next_line() {
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        let number = reader.line;
        nodes += 1;
        if nodes > limits::MAX_NODES {
            return Err(FormatError::Limit(format!(
                "more than {} keys and sections",
                limits::MAX_NODES
            )));
        }
        if line.starts_with(['#', ';']) {
            comment.push_str(line);
            continue;
        }
        if line.starts_with('[') {
            let Some(close) = line.rfind(']') else {
                return Err(syntax(number, "unclosed section header: ']' missing"));
            };
            let name = &line[1..close];
            if name.is_empty() {
                return Err(syntax(number, "empty section name"));
            }
            let rest = &line[close + 1..];
            if let Some(i) = rest.find(['#', ';']) {
                comment.push_str(&rest[i..]);
            }
            let mut section = Section::new(name.to_string());
            section.comment = comment.trim().to_string();
            comment.clear();
            counter = 1;
            sections.push(section);
            continue;
        }
        let (mut name, offset) = read_key_name(line).map_err(|m| syntax(number, m))?;
        if name == "-" {
            name = format!("#{counter}");
            counter += 1;
        }
        let value = read_value(&line[offset..], &mut reader, &mut comment)
            .map_err(|m| syntax(number, m))?;
        if name.is_empty() {
            return Err(syntax(number, "empty key name"));
        }
        let section = sections.last_mut().expect("DEFAULT is always there");
        let key = section.set(name, value);
        key.comment = comment.trim().to_string();
        comment.clear();
    }
    Ok(sections)
}

/// The key of a `key = value` line and the offset just past its delimiter.
fn read_key_name(line: &str) -> Result<(String, usize), &'static str> {
    let quote = if line.starts_with('"') {
        if line.len() > 6 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else {
            "\""
        }
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    const NO_DELIMITER: &str = "expected `key = value` (or `key: value`), a [section] or a comment";
    if quote.is_empty() {
        let end = line.find(['=', ':']).ok_or(NO_DELIMITER)?;
        return Ok((line[..end].trim().to_string(), end + 1));
    }
    let start = quote.len();
    let close = line[start..]
        .find(quote)
        .ok_or("missing closing quote of a quoted key")?
        + start;
    let after = close + start;
    let i = line
        .get(after..)
        .and_then(|r| r.find(['=', ':']))
        .ok_or(NO_DELIMITER)?;
    Ok((line[start..close].trim().to_string(), after + i + 1))
}

fn read_value(
    input: &str,
    reader: &mut Reader<'_>,
    comment: &mut String,
) -> Result<String, &'static str> {
    let line = input.trim_start();
    if line.is_empty() {
        return Ok(String::new());
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        return match line[start..].rfind(quote) {
            Some(pos) => Ok(line[start..start + pos].to_string()),
            None => read_multiline(line[start..].to_string(), quote, reader, comment),
        };
    }
    let mut line = line.trim();
    if let Some(stripped) = line.strip_suffix('\\') {
        return Ok(read_continuation(stripped.to_string(), reader));
    }
    if let Some(i) = line.find(['#', ';']) {
        comment.push_str(&line[i..]);
        line = line[..i].trim();
    }
    if surrounded_by(line, '\'') || surrounded_by(line, '"') {
        line = &line[1..line.len() - 1];
    }
    Ok(line.to_string())
}

/// `s` starts and ends with `quote` and holds no other.
fn surrounded_by(s: &str, quote: char) -> bool {
    s.len() >= 2
        && s.starts_with(quote)
        && s.ends_with(quote)
        && s[1..].find(quote) == Some(s.len() - 2)
}

fn read_multiline(
    mut value: String,
    quote: &str,
    reader: &mut Reader<'_>,
    comment: &mut String,
) -> Result<String, &'static str> {
    loop {
        let Some(next) = reader.next_line() else {
            return Err("missing closing quote of a multi-line value");
        };
        if let Some(pos) = next.rfind(quote) {
            value.push_str(&next[..pos]);
            if let Some(i) = next[pos..].find(['#', ';']) {
                comment.push_str(next[pos + i..].trim());
            }
            return Ok(value);
        }
        value.push_str(next);
    }
}

fn read_continuation(mut value: String, reader: &mut Reader<'_>) -> String {
    while let Some(next) = reader.next_line() {
        let next = next.trim();
        if next.is_empty() {
            break;
        }
        value.push_str(next);
        if !value.ends_with('\\') {
            break;
        }
        value.pop();
    }
    value
}

/// Strips the leading comment characters as sops does.
fn strip_comment_char(comment: &str) -> String {
    if comment.starts_with(';') {
        comment.trim_start_matches([';', ' ']).to_string()
    } else if comment.starts_with('#') {
        comment.trim_start_matches(['#', ' ']).to_string()
    } else {
        comment.to_string()
    }
}

/// sops' tree of the sections: each a map starting with its comment, each key followed by its own.
fn to_tree(sections: Vec<Section>) -> Map {
    let mut doc = Map::new();
    for section in sections {
        let mut items = Map::new();
        if !section.comment.is_empty() {
            items
                .0
                .push(MapItem::Comment(strip_comment_char(&section.comment)));
        }
        for key in section.keys {
            items
                .0
                .push(MapItem::Entry(key.name, Value::Str(key.value)));
            if !key.comment.is_empty() {
                items
                    .0
                    .push(MapItem::Comment(strip_comment_char(&key.comment)));
            }
        }
        doc.0.push(MapItem::Entry(section.name, Value::Map(items)));
    }
    doc
}

// ---------------------------------------------------------------------------------------------------
// Writing

/// The sections of a tree, as sops hands them to go-ini.
fn from_tree(doc: &Map) -> Result<Vec<Section>, FormatError> {
    let mut sections = Vec::new();
    for (name, value) in doc.entries() {
        let Value::Map(items) = value else {
            return Err(FormatError::Invalid(format!(
                "top-level entry {name:?} is a {}; INI top-level entries must be sections (maps)",
                value.kind()
            )));
        };
        if name.is_empty() || name.contains(['\n', '\r']) {
            return Err(FormatError::Invalid(
                "an INI section name must be non-empty and on one line".into(),
            ));
        }
        let mut section = Section::new(name.to_string());
        let mut last: Option<usize> = None;
        for (i, item) in items.0.iter().enumerate() {
            match item {
                MapItem::Comment(text) if i == 0 => section.comment = text.clone(),
                MapItem::Comment(text) => {
                    if let Some(k) = last {
                        section.keys[k].comment = text.clone();
                    }
                }
                MapItem::Entry(key, value) => {
                    let Some(text) = scalar_text(value) else {
                        return Err(FormatError::Invalid(format!(
                            "section {name:?}, key {key:?}: a {} cannot be written as INI, which \
                             holds one level of keys under sections",
                            value.kind()
                        )));
                    };
                    section.set(key.clone(), text);
                    last = section.keys.iter().position(|k| k.name == *key);
                }
            }
        }
        sections.push(section);
    }
    Ok(sections)
}

fn comment_lines(out: &mut String, comment: &str, trim_plain: bool) {
    for line in comment.split('\n') {
        match line.chars().next() {
            Some(c @ ('#' | ';')) => {
                out.push(c);
                out.push(' ');
                out.push_str(line[1..].trim());
            }
            Some(_) => {
                out.push_str("; ");
                out.push_str(if trim_plain { line.trim() } else { line });
            }
            None => out.push(';'),
        }
        out.push('\n');
    }
}

/// How go-ini quotes a key: between backticks when it holds a `"` or a delimiter, else between `"""`
/// when it holds a backtick.
enum KeyQuoting {
    Backticks,
    TripleQuotes,
    Bare,
}

fn key_quoting(name: &str) -> KeyQuoting {
    if name.contains(['"', '=', ':']) {
        KeyQuoting::Backticks
    } else if name.contains('`') {
        KeyQuoting::TripleQuotes
    } else {
        KeyQuoting::Bare
    }
}

fn quoted_key(name: &str) -> String {
    match key_quoting(name) {
        KeyQuoting::Backticks => format!("`{name}`"),
        KeyQuoting::TripleQuotes => format!("\"\"\"{name}\"\"\""),
        KeyQuoting::Bare => name.to_string(),
    }
}

/// Why a key, quoted as go-ini quotes it, would not read back as itself (`None` when it would).
/// `opens_file`: its line is the file's first, where a byte order mark is dropped.
fn unwritable_key(name: &str, opens_file: bool) -> Option<&'static str> {
    if name.is_empty() || name.contains(['\n', '\r']) {
        return Some("it is empty or spans lines");
    }
    if name.trim() != name {
        return Some("it has leading or trailing whitespace, which would be read back trimmed");
    }
    match key_quoting(name) {
        // Found by the `store_ini` fuzz target: read back cut at its own backtick.
        KeyQuoting::Backticks if name.contains('`') => Some(
            "it holds a backtick and one of \" = :, so the backtick quoting would be read back cut",
        ),
        KeyQuoting::Backticks | KeyQuoting::TripleQuotes => None,
        KeyQuoting::Bare if name.starts_with(['#', ';']) => {
            Some("it starts with # or ; and would be read back as a comment")
        }
        KeyQuoting::Bare if name.starts_with('[') => {
            Some("it starts with [ and would be read back as a section header")
        }
        KeyQuoting::Bare if name == "-" => {
            Some("it is `-`, which would be read back as go-ini's numbered key #1")
        }
        KeyQuoting::Bare if opens_file && name.starts_with('\u{feff}') => {
            Some("it opens the file with a byte order mark, which would be read back dropped")
        }
        KeyQuoting::Bare => None,
    }
}

/// How go-ini quotes a value: between `"""` when it holds a line break or a backtick, else between
/// backticks when it holds a comment character, else between `"` when it has surrounding whitespace.
enum ValueQuoting {
    TripleQuotes,
    Backticks,
    DoubleQuotes,
    Bare,
}

fn value_quoting(value: &str) -> ValueQuoting {
    if value.contains(['\n', '`']) {
        ValueQuoting::TripleQuotes
    } else if value.contains(['#', ';']) {
        ValueQuoting::Backticks
    } else if value.trim().len() != value.len() {
        ValueQuoting::DoubleQuotes
    } else {
        ValueQuoting::Bare
    }
}

fn quoted_value(value: &str) -> String {
    match value_quoting(value) {
        ValueQuoting::TripleQuotes => format!("\"\"\"{value}\"\"\""),
        ValueQuoting::Backticks => format!("`{value}`"),
        ValueQuoting::DoubleQuotes => format!("\"{value}\""),
        ValueQuoting::Bare => value.to_string(),
    }
}

/// Why a value, quoted as go-ini quotes it, would not read back as itself (`None` when it would). The
/// reasons never quote the value.
fn unwritable_value(value: &str) -> Option<&'static str> {
    match value_quoting(value) {
        // The reader closes a `"""` value at the last `"""` of the first line holding one, so only the
        // last line may hold one. Found by the `store_ini` fuzz target: the rest of the value was read
        // as lines of the file ("expected key = value").
        ValueQuoting::TripleQuotes => {
            let mut lines = value.split('\n');
            lines.next_back();
            lines.any(|l| l.contains("\"\"\"")).then_some(
                "its value holds a line break and a \"\"\" before its last line, where the \"\"\" quoting \
                 would be read back as closed",
            )
        }
        ValueQuoting::Backticks => None,
        ValueQuoting::DoubleQuotes => value.contains('"').then_some(
            "its value has surrounding whitespace and holds a \", so the \" quoting would be read back \
             as part of it",
        ),
        ValueQuoting::Bare if value.starts_with("\"\"\"") => {
            Some("its value starts with \"\"\" and would be read back as an unclosed quoted value")
        }
        ValueQuoting::Bare if value.ends_with('\\') => {
            Some("its value ends with a backslash and would be read back joined with the next line")
        }
        ValueQuoting::Bare if surrounded_by(value, '\'') || surrounded_by(value, '"') => {
            Some("its value is enclosed in quotes and would be read back without them")
        }
        ValueQuoting::Bare => None,
    }
}

/// Writes sections as go-ini's `WriteTo` does with its default pretty format, or refuses, naming the
/// key, when a key or value would not read back as itself.
fn write(sections: &[Section]) -> Result<String, FormatError> {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if !section.comment.is_empty() {
            comment_lines(&mut out, &section.comment, false);
        }
        if i > 0 || !section.name.eq_ignore_ascii_case(DEFAULT_SECTION) {
            out.push('[');
            out.push_str(&section.name);
            out.push_str("]\n");
        } else if section.keys.is_empty() {
            continue;
        }
        let names: Vec<String> = section.keys.iter().map(|k| quoted_key(&k.name)).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        for (key, name) in section.keys.iter().zip(&names) {
            if !key.comment.is_empty() {
                comment_lines(&mut out, &key.comment, true);
            }
            let why =
                unwritable_key(&key.name, out.is_empty()).or_else(|| unwritable_value(&key.value));
            if let Some(why) = why {
                return Err(FormatError::Invalid(format!(
                    "section [{}], key {:?} cannot be written in INI: {why}",
                    section.name, key.name
                )));
            }
            out.push_str(name);
            out.push_str(&" ".repeat(width - name.len()));
            out.push_str(" = ");
            out.push_str(&quoted_value(&key.value));
            out.push('\n');
        }
        out.push('\n');
    }
    // go-ini puts a blank line after every section; sops' output has none after the last.
    if out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
#[path = "ini_tests.rs"]
mod tests;
