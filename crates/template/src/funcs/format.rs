//! Go's fmt as templates reach it: `%v` of every value, `printf`/`print`/`println`, and
//! strconv's float formatting and quoting.

use super::floats::{float_g, float_x, special};
use super::{fits, Ctx, FnError};
use crate::value::Value;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, FnError> {
    match name {
        "printf" => {
            let Some((f, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            let f = super::string(f)?;
            Ok(Value::str(sprintf(f, rest, ctx)?))
        }
        "print" => Ok(Value::str(sprint(args, false, ctx)?)),
        _ => Ok(Value::str(sprint(args, true, ctx)?)),
    }
}

/// `fmt.Sprint` (spaces between operands when neither is a string) or `fmt.Sprintln`.
fn sprint(args: &[Value], line: bool, ctx: &Ctx) -> Result<Vec<u8>, FnError> {
    let mut out = Vec::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && (line || (!is_string && !prev_string)) {
            out.push(b' ');
        }
        out.extend(value(a));
        fits(out.len(), ctx)?;
        prev_string = is_string;
    }
    if line {
        out.push(b'\n');
    }
    Ok(out)
}

/// `%v`: what a template prints for a value (`map[a:1 b:2]`, `[x y]`, `<nil>`).
pub(crate) fn value(v: &Value) -> Vec<u8> {
    match v {
        Value::Nil => b"<nil>".to_vec(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Float(f) => float_g(*f).into_bytes(),
        Value::Str(s) => s.to_vec(),
        Value::List(l) => collection(l.items.iter().map(|e| (None, e)), b"[", value),
        Value::Map(m) => collection(
            m.entries.iter().map(|(k, e)| (Some(k.as_bytes()), e)),
            b"map[",
            value,
        ),
    }
}

fn collection<'a>(
    items: impl Iterator<Item = (Option<&'a [u8]>, &'a Value)>,
    open: &[u8],
    each: impl Fn(&Value) -> Vec<u8>,
) -> Vec<u8> {
    let mut out = open.to_vec();
    for (i, (k, e)) in items.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if let Some(k) = k {
            out.extend_from_slice(k);
            out.push(b':');
        }
        out.extend(each(e));
    }
    out.push(b']');
    out
}

/// strconv.Quote: Go's double-quoted string with escapes; invalid UTF-8 bytes as `\x..`.
pub(crate) fn go_quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            quote_rune(c, '"', &mut out);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Go's unicode.IsPrint, approximated for non-ASCII by Rust's character properties.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')
        || matches!(c, '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
        || matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..))
}

fn quote_rune(c: char, quote: char, out: &mut String) {
    match c {
        c if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) => out.push(c),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// One `%` directive: flags, width and precision.
#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// fmt.Sprintf, for the verbs templates use; mismatches print as Go does (`%!d(string=...)`).
fn sprintf(f: &[u8], args: &[Value], ctx: &Ctx) -> Result<Vec<u8>, FnError> {
    let mut out = Vec::new();
    let mut next = 0;
    let mut i = 0;
    while i < f.len() {
        if f[i] != b'%' {
            out.push(f[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec::default();
        while let Some(c) = f.get(i) {
            match c {
                b'-' => spec.minus = true,
                b'+' => spec.plus = true,
                b'0' => spec.zero = true,
                b' ' => spec.space = true,
                b'#' => {}
                _ => break,
            }
            i += 1;
        }
        spec.width = star(f, &mut i, args, &mut next, &mut out).or_else(|| digits(f, &mut i));
        if f.get(i) == Some(&b'.') {
            i += 1;
            let prec = star(f, &mut i, args, &mut next, &mut out).or_else(|| digits(f, &mut i));
            spec.prec = Some(prec.unwrap_or(0));
        }
        let Some(verb) = std::str::from_utf8(&f[i..])
            .ok()
            .and_then(|r| r.chars().next())
        else {
            let verb = f.get(i).map_or("", |_| "?");
            out.extend_from_slice(if verb.is_empty() {
                b"%!(NOVERB)"
            } else {
                b"%!?(BADVERB)"
            });
            i = f.len();
            continue;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push(b'%');
            continue;
        }
        match args.get(next) {
            Some(arg) => out.extend(one(verb, spec, arg, false)),
            None => out.extend(format!("%!{verb}(MISSING)").into_bytes()),
        }
        fits(out.len(), ctx)?;
        next += 1;
    }
    if next < args.len() {
        out.extend_from_slice(b"%!(EXTRA ");
        for (k, a) in args[next..].iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(b", ");
            }
            // A nil extra argument prints as `<nil>` alone.
            if !matches!(a, Value::Nil) {
                out.extend(format!("{}=", a.type_name()).into_bytes());
            }
            out.extend(value(a));
        }
        out.push(b')');
    }
    fits(out.len(), ctx)?;
    Ok(out)
}

/// A `*` width or precision: the next argument, an int (Go prints `%!(BADWIDTH)` otherwise).
fn star(
    f: &[u8],
    i: &mut usize,
    args: &[Value],
    next: &mut usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    if f.get(*i) != Some(&b'*') {
        return None;
    }
    *i += 1;
    let arg = args.get(*next);
    *next += 1;
    match arg {
        Some(Value::Int(n)) if (0..=1 << 16).contains(n) => usize::try_from(*n).ok(),
        _ => {
            out.extend_from_slice(b"%!(BADWIDTH)");
            None
        }
    }
}

fn digits(f: &[u8], i: &mut usize) -> Option<usize> {
    let start = *i;
    while f.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    std::str::from_utf8(&f[start..*i])
        .ok()?
        .parse()
        .ok()
        .map(|n: usize| n.min(1 << 16))
}

/// Formats one argument for one verb, padded to the width.
/// Inside a list or map (`nested`), Go applies the verb to every key and element, and prints a
/// nil element as `<nil>`.
fn one(verb: char, spec: Spec, arg: &Value, nested: bool) -> Vec<u8> {
    let (body, numeric) = match (verb, arg) {
        ('T', a) if !nested => (a.type_name().as_bytes().to_vec(), false),
        (_, Value::List(l)) => {
            let mut out = b"[".to_vec();
            for (i, e) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend(one(verb, spec, e, true));
            }
            out.push(b']');
            return out;
        }
        (_, Value::Map(m)) => {
            let mut out = b"map[".to_vec();
            for (i, (k, e)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend(one(verb, spec, &Value::str(k.as_bytes()), true));
                out.push(b':');
                out.extend(one(verb, spec, e, true));
            }
            out.push(b']');
            return out;
        }
        ('v' | 's', Value::Str(s)) => (truncate(s, spec.prec), false),
        ('q', Value::Str(s)) => (go_quote(s).into_bytes(), false),
        ('x', Value::Str(s)) => (hex::encode(&s[..]).into_bytes(), false),
        ('X', Value::Str(s)) => (hex::encode_upper(&s[..]).into_bytes(), false),
        ('v' | 't', Value::Bool(b)) => (b.to_string().into_bytes(), false),
        ('v' | 'd', Value::Int(n)) => (
            signed(*n < 0, min_digits(n.unsigned_abs().to_string(), spec), spec),
            true,
        ),
        ('x' | 'X', Value::Float(x)) => (float_x(*x, verb == 'X').into_bytes(), true),
        ('x', Value::Int(n)) => (
            signed(*n < 0, format!("{:x}", n.unsigned_abs()), spec),
            true,
        ),
        ('X', Value::Int(n)) => (
            signed(*n < 0, format!("{:X}", n.unsigned_abs()), spec),
            true,
        ),
        ('o', Value::Int(n)) => (
            signed(*n < 0, format!("{:o}", n.unsigned_abs()), spec),
            true,
        ),
        ('b', Value::Int(n)) => (
            signed(*n < 0, format!("{:b}", n.unsigned_abs()), spec),
            true,
        ),
        ('c', Value::Int(n)) => (char_of(*n).to_string().into_bytes(), false),
        ('q', Value::Int(n)) => {
            let mut s = String::from("'");
            quote_rune(char_of(*n), '\'', &mut s);
            s.push('\'');
            (s.into_bytes(), false)
        }
        ('v' | 'g' | 'f' | 'F' | 'e', Value::Float(x)) => (float(verb, *x, spec), true),
        // Inside a collection Go prints a nil element unpadded.
        (_, Value::Nil) if nested => return b"<nil>".to_vec(),
        (_, Value::Nil) if verb == 'v' => (b"<nil>".to_vec(), false),
        (_, Value::Nil) => return format!("%!{verb}(<nil>)").into_bytes(),
        // A verb that does not fit the type prints the value with %v and the same flags.
        (_, a) => {
            let mut s = format!("%!{verb}({}=", a.type_name()).into_bytes();
            s.extend(one('v', spec, a, nested));
            s.push(b')');
            return s;
        }
    };
    pad(body, spec, numeric)
}

/// An integer's precision is its minimum number of digits (and `%.0d` of 0 prints nothing).
fn min_digits(digits: String, spec: Spec) -> String {
    match spec.prec {
        Some(0) if digits == "0" => String::new(),
        Some(p) if p > digits.len() => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    }
}

fn char_of(n: i64) -> char {
    u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}')
}

fn truncate(s: &[u8], prec: Option<usize>) -> Vec<u8> {
    match (prec, std::str::from_utf8(s)) {
        (Some(p), Ok(t)) => t.chars().take(p).collect::<String>().into_bytes(),
        (Some(p), Err(_)) => s[..p.min(s.len())].to_vec(),
        (None, _) => s.to_vec(),
    }
}

fn signed(neg: bool, digits: String, spec: Spec) -> Vec<u8> {
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    format!("{sign}{digits}").into_bytes()
}

fn float(verb: char, x: f64, spec: Spec) -> Vec<u8> {
    let s = match (verb, spec.prec, special(x)) {
        (_, _, Some(s)) => s,
        ('f' | 'F', p, None) => format!("{:.*}", p.unwrap_or(6), x),
        ('e', p, None) => {
            let r = format!("{:.*e}", p.unwrap_or(6), x);
            let (m, e) = r.split_once('e').unwrap_or((&r, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        _ => float_g(x),
    };
    let neg = s.starts_with('-');
    signed(neg, s.trim_start_matches('-').to_string(), spec)
}

/// Pads to the width: spaces left (or right with `-`), zeros after the sign with `0` on numbers.
fn pad(body: Vec<u8>, spec: Spec, numeric: bool) -> Vec<u8> {
    let Some(width) = spec.width else { return body };
    let len = String::from_utf8_lossy(&body).chars().count();
    if len >= width {
        return body;
    }
    let fill = width - len;
    if spec.minus {
        let mut b = body;
        b.extend(std::iter::repeat_n(b' ', fill));
        return b;
    }
    if spec.zero && numeric {
        let sign = usize::from(matches!(body.first(), Some(b'-' | b'+' | b' ')));
        let mut b = body[..sign].to_vec();
        b.extend(std::iter::repeat_n(b'0', fill));
        b.extend_from_slice(&body[sign..]);
        return b;
    }
    let mut b: Vec<u8> = std::iter::repeat_n(if spec.zero { b'0' } else { b' ' }, fill).collect();
    b.extend(body);
    b
}
