//! ESO's `toYaml`/`fromYaml` (sigs.k8s.io/yaml): values go through JSON, then go-yaml v2's block
//! emitter (sorted keys, 2-space indent, indentless sequences, folding past column 80).

use super::encoding::json_float;
use super::floats::float_g;
use super::yaml_scalar::{analyze, base60, is_break, key_order, printable, resolves_non_str};
use super::{arity, bounded, string, Ctx, FnError};
use crate::value::Value;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, FnError> {
    arity(name, args, 1)?;
    if name == "toYaml" {
        let mut e = Emitter {
            out: String::new(),
            column: 0,
        };
        if e.node(&args[0], -1, Place::Root).is_err() {
            // Marshal errors (NaN, Inf through JSON) make Sprig-style helpers return "".
            return Ok(Value::str(Vec::new()));
        }
        let mut out = e.out;
        if out.ends_with('\n') {
            out.pop();
        }
        return bounded(out.into_bytes(), ctx);
    }
    let text = String::from_utf8_lossy(string(&args[0])?).into_owned();
    super::yaml_read::from_yaml(&text, ctx)
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Root,
    MapValue,
    SeqItem,
}

#[derive(PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    column: usize,
}

const BEST_WIDTH: usize = 80;

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            self.out.push(c);
            self.column = if c == '\n' { 0 } else { self.column + 1 };
        }
    }

    /// libyaml's write_indent: a line break unless already at the start of a line.
    fn indent(&mut self, n: i32) {
        if !(self.column == 0 && self.out.ends_with('\n')) {
            self.put("\n");
        }
        self.put(&" ".repeat(n.max(0) as usize));
    }

    fn node(&mut self, v: &Value, parent: i32, ctx: Place) -> Result<(), ()> {
        match v {
            Value::Map(m) if !m.entries.is_empty() => {
                let m = &m.entries;
                let indent = if ctx == Place::Root { 0 } else { parent + 2 };
                let mut keys: Vec<&String> = m.keys().collect();
                merge_sort(&mut keys, |a, b| key_order(a, b));
                for (i, k) in keys.into_iter().enumerate() {
                    match (i, ctx) {
                        (0, Place::Root) => {}
                        (0, Place::SeqItem) => self.put(" "),
                        _ => self.indent(indent),
                    }
                    self.scalar(k, indent + 2, true);
                    self.put(":");
                    self.node(&m[k], indent, Place::MapValue)?;
                }
            }
            Value::List(l) if !l.items.is_empty() => {
                let l = &l.items;
                let indent = match ctx {
                    Place::Root => 0,
                    Place::MapValue => parent,
                    Place::SeqItem => parent + 2,
                };
                for (i, e) in l.iter().enumerate() {
                    match (i, ctx) {
                        (0, Place::Root) => {}
                        (0, Place::SeqItem) => self.put(" "),
                        _ => self.indent(indent),
                    }
                    self.put("-");
                    self.node(e, indent, Place::SeqItem)?;
                }
            }
            scalar => {
                if ctx != Place::Root {
                    self.put(" ");
                }
                let indent = if ctx == Place::Root { 2 } else { parent + 2 };
                match scalar {
                    Value::Map(..) => self.put("{}"),
                    Value::List(..) => self.put("[]"),
                    Value::Str(s) => self.scalar(&String::from_utf8_lossy(s), indent, false),
                    other => self.put(&number_text(other)?),
                }
            }
        }
        Ok(())
    }

    fn scalar(&mut self, s: &str, indent: i32, key: bool) {
        let plain_ok = !resolves_non_str(s) && !base60().is_match(s);
        let requested = if s.contains('\n') {
            Style::Literal
        } else if plain_ok {
            Style::Plain
        } else {
            Style::Double
        };
        let a = analyze(s);
        let mut style = requested;
        if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.folded(s, indent, !key, None),
            Style::Single => {
                self.put("'");
                self.folded(s, indent, !key, Some('\''));
                self.put("'");
            }
            Style::Double => self.double(s, indent, !key),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Plain or single-quoted text, a space past column 80 becoming a line break.
    fn folded(&mut self, s: &str, indent: i32, breaks: bool, quote: Option<char>) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let inner = quote.is_none() || (i > 0 && i + 1 < chars.len());
                let next_space = chars.get(i + 1) == Some(&' ');
                if breaks && !spaces && self.column > BEST_WIDTH && inner && !next_space {
                    self.indent(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if Some(c) == quote {
                    self.put("'");
                }
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
    }

    fn double(&mut self, s: &str, indent: i32, breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".into(),
                    '\u{7}' => "\\a".into(),
                    '\u{8}' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\u{b}' => "\\v".into(),
                    '\u{c}' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\u{1b}' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.put(&esc);
                spaces = false;
            } else if c == ' ' {
                if breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < chars.len() {
                    self.indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("\"");
    }

    /// `|` block: indentation hint when the text starts with a space or break, `-`/`+` chomping.
    fn literal(&mut self, s: &str, indent: i32) {
        self.put("|");
        if s.starts_with([' ', '\n']) {
            self.put("2");
        }
        if !s.ends_with('\n') {
            self.put("-");
        } else if s == "\n" || s.ends_with("\n\n") {
            self.put("+");
        }
        self.put("\n");
        let mut line_start = true;
        for c in s.chars() {
            if c == '\n' {
                self.put("\n");
                line_start = true;
            } else {
                if line_start {
                    self.put(&" ".repeat(indent.max(0) as usize));
                    line_start = false;
                }
                self.put(c.encode_utf8(&mut [0; 4]));
            }
        }
    }
}

/// A number as it comes back from JSON into go-yaml: integral JSON numbers are ints.
fn number_text(v: &Value) -> Result<String, ()> {
    Ok(match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            let j = json_float(*f)?;
            if j.contains(['.', 'e']) {
                float_g(*f)
            } else if j == "-0" {
                "0".into()
            } else {
                j
            }
        }
        _ => String::new(),
    })
}

/// Sorts by go-yaml v2's key order, which is not a total order for some keys (digit runs against
/// other characters): `slice::sort_by` may panic on such a comparator, a merge sort never does, and it
/// gives the same order wherever the comparator is consistent. Found by the `template` fuzz target.
fn merge_sort<T: Copy>(items: &mut Vec<T>, order: impl Fn(&T, &T) -> std::cmp::Ordering + Copy) {
    if items.len() < 2 {
        return;
    }
    let mut right = items.split_off(items.len() / 2);
    merge_sort(items, order);
    merge_sort(&mut right, order);
    let left = std::mem::take(items);
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if order(&right[j], &left[i]) == std::cmp::Ordering::Less {
            items.push(right[j]);
            j += 1;
        } else {
            items.push(left[i]);
            i += 1;
        }
    }
    items.extend_from_slice(&left[i..]);
    items.extend_from_slice(&right[j..]);
}
