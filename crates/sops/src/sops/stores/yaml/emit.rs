//! Writes documents as YAML laid out the way go-yaml v3 does, with an indent of 4 (what sops writes)
//! unless `stores.yaml.indent` or `--indent` ask for another: block collections, go-yaml's choice of
//! plain, quoted or literal strings, and comments as `#` lines.

use super::style::{is_break, str_style, write_double_quoted, Style};
use crate::sops::stores::limits::MAX_DEPTH;
use crate::sops::stores::FormatError;
use crate::sops::tree::{Map, MapItem, Value};

/// sops' default YAML indent (`stores.yaml.indent`).
pub(crate) const INDENT: usize = 4;
/// go-yaml writes longer keys (in bytes) in the explicit `? key` form.
const MAX_SIMPLE_KEY: usize = 128;

/// All documents, separated by `---`.
pub(super) fn emit_docs(docs: &[Map], indent: usize) -> Result<String, FormatError> {
    let mut e = Emitter {
        out: String::new(),
        indent,
    };
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.out.push_str("---\n");
        }
        e.map(doc, 0, false, 0)?;
    }
    Ok(e.out)
}

/// One value on its own: a string as its bare text, another scalar as a YAML line, a collection as YAML.
pub(super) fn emit_value(value: &Value) -> Result<Vec<u8>, FormatError> {
    let mut e = Emitter {
        out: String::new(),
        indent: INDENT,
    };
    match value {
        Value::Str(s) => return Ok(s.as_bytes().to_vec()),
        Value::Bytes(b) => return Ok(b.clone()),
        Value::Map(m) => e.map(m, 0, false, 0)?,
        Value::Seq(items) => e.seq(items, 0, false, 0)?,
        Value::Comment(text) => e.comment(text, 0, false),
        scalar => e.scalar(scalar, e.indent, 0)?,
    }
    Ok(e.out.into_bytes())
}

struct Emitter {
    out: String,
    /// Spaces per level (go-yaml's `SetIndent`).
    indent: usize,
}

impl Emitter {
    /// The indentation go-yaml gives a block nested under a mapping key at `indent`: the next
    /// multiple of the indent.
    fn nested(&self, indent: usize) -> usize {
        self.indent * ((indent + self.indent) / self.indent)
    }

    fn pad(&mut self, indent: usize) {
        self.out.extend(std::iter::repeat_n(' ', indent));
    }

    /// A comment as `#` lines at `indent`; with `inline`, the first continues the current line.
    fn comment(&mut self, text: &str, indent: usize, inline: bool) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 || !inline {
                self.pad(indent);
            }
            self.out.push('#');
            self.out.push_str(line.strip_suffix('\r').unwrap_or(line));
            self.out.push('\n');
        }
    }

    /// A block mapping whose keys sit at `indent`. With `inline`, the cursor is already there (after
    /// `- `), so the first key is not indented again.
    fn map(
        &mut self,
        map: &Map,
        indent: usize,
        inline: bool,
        depth: usize,
    ) -> Result<(), FormatError> {
        let entries = self.items(&map.0, indent, inline, depth)?;
        if entries == 0 {
            if !inline {
                self.pad(indent);
            }
            self.out.push_str("{}\n");
        }
        Ok(())
    }

    /// The items of a block mapping (see `map`); returns how many entries were written.
    fn items(
        &mut self,
        items: &[MapItem],
        indent: usize,
        inline: bool,
        depth: usize,
    ) -> Result<usize, FormatError> {
        check_depth(depth)?;
        let mut inline = inline;
        let mut entries = 0;
        for item in items {
            match item {
                MapItem::Comment(text) => {
                    if inline {
                        // Cannot happen for maps we start inline (they begin with an entry).
                        self.out.push('\n');
                    }
                    self.comment(text, indent, false);
                }
                MapItem::Entry(key, value) => {
                    if !inline {
                        self.pad(indent);
                    }
                    entries += 1;
                    self.key(key, indent)?;
                    self.out.push(':');
                    self.after_key(value, indent, depth)?;
                }
            }
            inline = false;
        }
        Ok(entries)
    }

    /// A mapping key, in go-yaml's explicit `? key` form (ending on the `:` line) when too long or
    /// multi-line for a simple key.
    fn key(&mut self, key: &str, indent: usize) -> Result<(), FormatError> {
        if key.len() <= MAX_SIMPLE_KEY && !key.chars().any(is_break) {
            let style = str_style(key, false);
            self.string(key, style, 0, 0);
            return Ok(());
        }
        self.out.push_str("? ");
        self.scalar(&Value::Str(key.to_string()), self.nested(indent), indent)?;
        self.pad(indent);
        Ok(())
    }

    /// What follows `key:` — a scalar on the same line, or a nested block on the next lines.
    fn after_key(&mut self, value: &Value, indent: usize, depth: usize) -> Result<(), FormatError> {
        match value {
            Value::Map(m) if m.0.is_empty() => self.out.push_str(" {}\n"),
            Value::Seq(s) if s.is_empty() => self.out.push_str(" []\n"),
            Value::Map(m) => {
                self.out.push('\n');
                self.map(m, self.nested(indent), false, depth + 1)?;
            }
            Value::Seq(s) => {
                self.out.push('\n');
                self.seq(s, self.nested(indent), false, depth + 1)?;
            }
            scalar => {
                self.out.push(' ');
                self.scalar(scalar, self.nested(indent), indent)?;
            }
        }
        Ok(())
    }

    /// A block sequence whose dashes sit at `indent`; `inline` as for `map`.
    fn seq(
        &mut self,
        items: &[Value],
        indent: usize,
        inline: bool,
        depth: usize,
    ) -> Result<(), FormatError> {
        check_depth(depth)?;
        let mut inline = inline;
        let mut values = 0;
        for item in items {
            if let Value::Comment(text) = item {
                if inline {
                    // Cannot happen for sequences we start inline (they begin with a value).
                    self.out.push('\n');
                }
                inline = false;
                self.comment(text, indent, false);
                continue;
            }
            // Comments opening a map item go right after its dash, where go-yaml (so sops) and this
            // store read them back as the item's; go-yaml writes them above the dash, where they read
            // back as the list's (see the module's notes).
            let opening = match item {
                Value::Map(m) if m.entries().next().is_some() => match m.0.split_first() {
                    Some((MapItem::Comment(first), rest)) => Some((first, rest)),
                    _ => None,
                },
                _ => None,
            };
            if let Some((first, rest)) = opening {
                if !inline {
                    self.pad(indent);
                }
                inline = false;
                values += 1;
                self.out.push_str("- ");
                self.comment(first, indent + 2, true);
                self.items(rest, indent + 2, false, depth + 1)?;
                continue;
            }
            if !inline {
                self.pad(indent);
            }
            inline = false;
            values += 1;
            self.out.push('-');
            let inner = indent + 2;
            match item {
                Value::Map(m) if m.0.is_empty() => self.out.push_str(" {}\n"),
                Value::Seq(s) if s.is_empty() => self.out.push_str(" []\n"),
                // A collection that opens with a comment starts on the next line, so the comment
                // stays inside the item.
                Value::Map(m) if matches!(m.0.first(), Some(MapItem::Comment(_))) => {
                    self.out.push('\n');
                    self.map(m, inner, false, depth + 1)?;
                }
                Value::Seq(s) if matches!(s.first(), Some(Value::Comment(_))) => {
                    self.out.push('\n');
                    self.seq(s, inner, false, depth + 1)?;
                }
                Value::Map(m) => {
                    self.out.push(' ');
                    self.map(m, inner, true, depth + 1)?;
                }
                Value::Seq(s) => {
                    self.out.push(' ');
                    self.seq(s, inner, true, depth + 1)?;
                }
                scalar => {
                    self.out.push(' ');
                    self.scalar(scalar, inner, indent)?;
                }
            }
        }
        if values == 0 {
            if !inline {
                self.pad(indent);
            }
            self.out.push_str("[]\n");
        }
        Ok(())
    }

    /// A scalar and its line end; a literal block's lines are indented by `block_indent`, its node
    /// belonging to a block at `parent_indent`.
    fn scalar(
        &mut self,
        value: &Value,
        block_indent: usize,
        parent_indent: usize,
    ) -> Result<(), FormatError> {
        let hint = block_indent - parent_indent;
        match value {
            Value::Str(s) => self.string(s, str_style(s, true), block_indent, hint),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => self.string(s, str_style(s, true), block_indent, hint),
                // As go-yaml writes a Go string that is not UTF-8, so no byte is lost.
                Err(_) => {
                    use base64::Engine;
                    self.out.push_str("!!binary ");
                    base64::engine::general_purpose::STANDARD.encode_string(b, &mut self.out);
                }
            },
            Value::Int(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&format_yaml_float(*f)),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            // The canonical form always reads back as a timestamp, as go-yaml writes a time.Time.
            Value::Time(t) => self.out.push_str(t),
            Value::Null => self.out.push_str("null"),
            Value::Comment(_) => {
                return Err(FormatError::Invalid(
                    "a comment cannot be a mapping value".into(),
                ))
            }
            Value::Map(_) | Value::Seq(_) => {
                return Err(FormatError::Invalid(
                    "a collection cannot be written as a scalar".into(),
                ));
            }
        }
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        Ok(())
    }

    /// A string in `style`; only a literal block ends with a line end (plain and quoted strings on one
    /// line never do).
    fn string(&mut self, s: &str, style: Style, block_indent: usize, hint: usize) {
        match style {
            Style::Plain => self.out.push_str(s),
            Style::Single => {
                self.out.push('\'');
                self.out.push_str(&s.replace('\'', "''"));
                self.out.push('\'');
            }
            Style::Double => write_double_quoted(&mut self.out, s),
            Style::Literal => self.literal(s, block_indent, hint),
        }
    }

    /// A literal block. Content starting with a space or line break needs an indentation indicator:
    /// `hint` columns past the enclosing block (go-yaml always writes 4, which is the same thing except
    /// inside list items, where go-yaml's own output would not read back).
    fn literal(&mut self, s: &str, indent: usize, hint: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push_str(&hint.to_string());
        }
        let trailing_breaks = s.len() - s.trim_end_matches('\n').len();
        match trailing_breaks {
            0 => self.out.push('-'),
            1 if s.len() > 1 => {}
            _ => self.out.push('+'),
        }
        self.out.push('\n');
        let mut line_start = true;
        for c in s.chars() {
            if c == '\n' {
                self.out.push('\n');
                line_start = true;
            } else {
                if line_start {
                    self.pad(indent);
                    line_start = false;
                }
                self.out.push(c);
            }
        }
        if !s.ends_with('\n') {
            self.out.push('\n');
        }
    }
}

fn check_depth(depth: usize) -> Result<(), FormatError> {
    if depth >= MAX_DEPTH {
        return Err(FormatError::Limit(format!(
            "document nested deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(())
}

/// A float as go-yaml writes it (Go's shortest `%g`, `.inf`, `.nan`). Like sops, an integral float is
/// written without a point (`5432`), so it reads back as an integer.
pub(super) fn format_yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // go-yaml writes `strconv.FormatFloat(f, 'g', -1, 64)`: an integral float has no point (`5432`).
    if !(-4..6).contains(&exp) {
        format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        )
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(format_yaml_float(0.75), "0.75");
        assert_eq!(format_yaml_float(3.0), "3");
        assert_eq!(format_yaml_float(5432.0), "5432");
        assert_eq!(format_yaml_float(-0.0), "-0");
        assert_eq!(format_yaml_float(1e6), "1e+06");
        assert_eq!(format_yaml_float(123456789.0), "1.23456789e+08");
        assert_eq!(format_yaml_float(100000.0), "100000");
        assert_eq!(format_yaml_float(0.0001), "0.0001");
        assert_eq!(format_yaml_float(0.00001), "1e-05");
        assert_eq!(format_yaml_float(f64::NEG_INFINITY), "-.inf");
    }
}
