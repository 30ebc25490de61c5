//! How go-yaml v3 types a plain scalar (YAML 1.2 core schema plus its 1.1 leftovers), used both to
//! read scalars and to decide when a string must be quoted on the way out.

use crate::sops::tree::Value;

/// The typed value of a plain (unquoted, untagged) scalar, as go-yaml v3 decodes it into `interface{}`.
///
/// Timestamps stay strings (go-yaml keeps them as text when decoding into an interface). Integers that
/// do not fit an `i64` become a `Float` when written in decimal (go-yaml falls back to its float syntax
/// for them), and stay strings otherwise.
pub(super) fn resolve_plain(text: &str) -> Value {
    if let Some(v) = resolve_word(text) {
        return v;
    }
    match text.as_bytes()[0] {
        b'.' => match go_float(text) {
            Some(f) => Value::Float(f),
            None => Value::Str(text.to_string()),
        },
        b'+' | b'-' | b'0'..=b'9' => {
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(Ok(i)) = go_parse_int(&plain) {
                return Value::Int(i);
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_float(&plain) {
                    return Value::Float(f);
                }
            }
            Value::Str(text.to_string())
        }
        _ => Value::Str(text.to_string()),
    }
}

/// Whether `text`, written plain, reads back as a string: `resolve_plain(text)` is a `Str`, without
/// building the value (the emitter asks this of every string it writes).
pub(super) fn resolves_to_str(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(b'.' | b'+' | b'-' | b'0'..=b'9') => matches!(resolve_plain(text), Value::Str(_)),
        _ => resolve_word(text).is_none(),
    }
}

/// The fixed words of the core schema (`null`, `true`, `.inf`, ...). `None` when `text` is not one.
fn resolve_word(text: &str) -> Option<Value> {
    Some(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

pub(super) struct Overflow;

/// Go's `strconv.ParseInt(s, 0, 64)` without underscores: optional sign, then `0x`, `0o`, `0b`, a
/// leading `0` (octal) or decimal digits. `None` when the syntax is wrong, `Some(Err)` when too large.
pub(super) fn go_parse_int(s: &str) -> Option<Result<i64, Overflow>> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.get(..2).map(|p| p.to_ascii_lowercase());
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &body[2..]),
        Some("0o") => (8, &body[2..]),
        Some("0b") => (2, &body[2..]),
        _ if body.len() > 1 && body.starts_with('0') => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = match u64::from_str_radix(digits, radix) {
        Ok(m) => m,
        Err(_) => return Some(Err(Overflow)),
    };
    let value = if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return Some(Err(Overflow));
        }
        (magnitude as i128).wrapping_neg() as i64
    } else {
        match i64::try_from(magnitude) {
            Ok(v) => v,
            Err(_) => return Some(Err(Overflow)),
        }
    };
    Some(Ok(value))
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// A decimal float as Go's `strconv.ParseFloat` reads it, refusing what it refuses here: anything but
/// plain decimal notation, and values out of range (Go reports a range error; go-yaml then keeps text).
fn go_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !is_yaml_style_float(unsigned) || unsigned.starts_with(['+', '-']) {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Strings go-yaml v3 double-quotes although YAML 1.2 reads them as strings: YAML 1.1 booleans, base-60
/// numbers, and timestamps.
pub(super) fn needs_quotes_for_compat(s: &str) -> bool {
    is_old_bool(s) || is_base60_float(s) || is_timestamp(s)
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// What go-yaml's `parseTimestamp` accepts (`2006-1-2`, optionally followed by `T`/`t`/space and a
/// time with an optional fraction and zone). Slightly generous: over-quoting a string is harmless.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i > start
    };
    if !num(&mut i, 2) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !num(&mut i, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    if !matches!(b[i], b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    for sep in [b':', b':'] {
        if !num(&mut i, 2) || b.get(i) != Some(&sep) {
            return false;
        }
        i += 1;
    }
    if !num(&mut i, 2) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    // Zone (or nothing): accepted loosely.
    i == b.len() || matches!(b[i], b'Z' | b'+' | b'-' | b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Value {
        resolve_plain(s)
    }

    #[test]
    fn core_schema_words() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(r(s), Value::Null, "{s}");
        }
        assert_eq!(r("True"), Value::Bool(true));
        assert_eq!(r("FALSE"), Value::Bool(false));
        for s in ["yes", "no", "on", "off", "nULL", "tRUE"] {
            assert_eq!(r(s), Value::Str(s.into()), "{s}");
        }
        assert_eq!(r("-.Inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(r("+.inf"), Value::Float(f64::INFINITY));
        assert!(matches!(r(".NaN"), Value::Float(f) if f.is_nan()));
        assert_eq!(r("-.nan"), Value::Str("-.nan".into()));
    }

    #[test]
    fn numbers() {
        assert_eq!(r("3"), Value::Int(3));
        assert_eq!(r("-17"), Value::Int(-17));
        assert_eq!(r("+5"), Value::Int(5));
        assert_eq!(r("0x1F"), Value::Int(31));
        assert_eq!(r("-0x10"), Value::Int(-16));
        assert_eq!(r("0o17"), Value::Int(15));
        assert_eq!(r("017"), Value::Int(15));
        assert_eq!(r("0b101"), Value::Int(5));
        assert_eq!(r("1_000"), Value::Int(1000));
        assert_eq!(r("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(
            r("9223372036854775808"),
            Value::Float(9223372036854775808.0)
        );
        assert_eq!(
            r("0xFFFFFFFFFFFFFFFFFF"),
            Value::Str("0xFFFFFFFFFFFFFFFFFF".into())
        );
        assert_eq!(r("08"), Value::Float(8.0));
        assert_eq!(r("0.75"), Value::Float(0.75));
        assert_eq!(r("1e3"), Value::Float(1000.0));
        assert_eq!(r("1."), Value::Float(1.0));
        assert_eq!(r(".5"), Value::Float(0.5));
        assert_eq!(r("-.5"), Value::Float(-0.5));
        assert_eq!(r("1.234567e+06"), Value::Float(1234567.0));
        assert_eq!(r("1e999"), Value::Str("1e999".into()));
        for s in [
            "-",
            "+",
            "0x",
            "1.2.3",
            "12abc",
            "_1",
            "1_",
            "2026-11-22",
            "1:20",
            ".",
            "..5",
        ] {
            let v = r(s);
            if s == "1_" {
                assert_eq!(v, Value::Int(1));
            } else {
                assert_eq!(v, Value::Str(s.into()), "{s}");
            }
        }
    }

    #[test]
    fn compat_quoting() {
        assert!(needs_quotes_for_compat("2026-11-22T03:46:25Z"));
        assert!(needs_quotes_for_compat("2001-12-14"));
        assert!(needs_quotes_for_compat("2001-12-14 21:59:43.10"));
        assert!(needs_quotes_for_compat("yes"));
        assert!(needs_quotes_for_compat("1:20"));
        assert!(needs_quotes_for_compat("190:20:30.15"));
        assert!(!needs_quotes_for_compat("1:70"));
        assert!(!needs_quotes_for_compat("2001-12"));
        assert!(!needs_quotes_for_compat("hello"));
    }
}
