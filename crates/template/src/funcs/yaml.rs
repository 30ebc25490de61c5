//! ESO's `toYaml`/`fromYaml` (sigs.k8s.io/yaml): values go through JSON, then go-yaml v2's block
//! emitter (sorted keys, 2-space indent, indentless sequences, folding past column 80).

use super::encoding::json_float;
use super::format::float_g;
use super::{arity, bounded, string, Ctx};
use crate::value::Value;
use std::sync::OnceLock;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, String> {
    arity(name, args, 1)?;
    if name == "toYaml" {
        let mut e = Emitter { out: String::new(), column: 0 };
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
    super::yaml_read::from_yaml(&text, ctx.max_decode_depth, ctx.max_value)
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
                keys.sort_by(|a, b| key_order(a, b));
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

/// go-yaml v2's key order: letters after other characters, digit runs compared as numbers.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

fn printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a || (0x20..=0x7e).contains(&u) || (0xa0..=0xd7ff).contains(&u) || (0xe000..=0xfffd).contains(&u)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn regex(cell: &'static OnceLock<regex::Regex>, pattern: &str) -> &'static regex::Regex {
    // The patterns are constants; a failure to compile is a programming error caught by tests.
    cell.get_or_init(|| regex::Regex::new(pattern).unwrap_or_else(|_| unreachable!()))
}

fn base60() -> &'static regex::Regex {
    static R: OnceLock<regex::Regex> = OnceLock::new();
    regex(&R, r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
}

/// go-yaml v2's float syntax (yamlStyleFloat).
pub(super) fn float_syntax(s: &str) -> bool {
    static FLOAT: OnceLock<regex::Regex> = OnceLock::new();
    regex(&FLOAT, r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").is_match(s)
}

/// Integer syntax strconv.ParseInt accepts with base 0 (underscores already removed).
pub(super) fn int_syntax(s: &str) -> bool {
    static INT: OnceLock<regex::Regex> = OnceLock::new();
    regex(&INT, r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$").is_match(s)
}

/// Whether go-yaml v2 would read the text, unquoted, as something other than a string.
fn resolves_non_str(s: &str) -> bool {
    static STAMP: OnceLock<regex::Regex> = OnceLock::new();
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let plain = s.replace('_', "");
    match s.chars().next() {
        Some('.') => float_syntax(s),
        Some('+' | '-' | '0'..='9') => {
            let stamp = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$";
            regex(&STAMP, stamp).is_match(s)
                || int_syntax(&plain)
                || float_syntax(&plain)
        }
        _ => false,
    }
}

/// What libyaml's scalar analysis allows.
struct Allowed {
    block_plain: bool,
    single_quoted: bool,
    block: bool,
}

fn analyze(s: &str) -> Allowed {
    if s.is_empty() {
        return Allowed { block_plain: true, single_quoted: true, block: false };
    }
    let chars: Vec<char> = s.chars().collect();
    let blankz = |c: Option<&char>| c.is_none_or(|c| matches!(c, ' ' | '\t') || is_break(*c) || *c == '\0');
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut lead_space, mut lead_break, mut trail_space, mut trail_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) = (false, false, false, false);
    let mut preceded_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_ws = chars.get(i + 1).is_none_or(|n| matches!(n, ' ' | '\t'));
        let last = i + 1 == chars.len();
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_ind = true
                }
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else if (c == ':' && followed_ws) || (c == '#' && preceded_ws) {
            block_ind = true;
        }
        if !printable(c) {
            special = true;
        }
        if c == ' ' {
            lead_space |= i == 0;
            trail_space |= last;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            lead_break |= i == 0;
            trail_break |= last;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_ws = blankz(Some(&c));
    }
    let mut a = Allowed { block_plain: true, single_quoted: true, block: true };
    if lead_space || lead_break || trail_space || trail_break || line_breaks || block_ind {
        a.block_plain = false;
    }
    if trail_space {
        a.block = false;
    }
    if break_space {
        a.single_quoted = false;
    }
    if space_break || special {
        (a.block_plain, a.single_quoted, a.block) = (false, false, false);
    }
    a
}
