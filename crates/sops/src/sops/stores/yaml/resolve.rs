//! How go-yaml v3 types a plain scalar (YAML 1.2 core schema plus its 1.1 leftovers), used both to
//! read scalars and to decide when a string must be quoted on the way out.

use crate::sops::tree::Value;

/// The typed value of a plain (unquoted, untagged) scalar, as go-yaml v3 decodes it into `interface{}`.
///
/// Timestamps become `Value::Time` (go-yaml resolves them before numbers; sops encrypts them as
/// `type:time`). An integer written in decimal that does not fit an `i64` is refused: go-yaml turns it
/// into a `uint64`, which sops cannot encrypt, or into a float, which silently changes the value.
pub(super) fn resolve_plain(text: &str) -> Result<Value, OutOfRange> {
    if let Some(v) = resolve_word(text) {
        return Ok(v);
    }
    Ok(match text.as_bytes()[0] {
        b'.' => match go_float(text) {
            Some(f) => Value::Float(f),
            None => Value::Str(text.to_string()),
        },
        b'+' | b'-' | b'0'..=b'9' => {
            if let Some(time) = crate::sops::timestamp::from_yaml(text) {
                return Ok(Value::Time(time));
            }
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            match go_parse_int(&plain) {
                Some(Ok(i)) => return Ok(Value::Int(i)),
                Some(Err(Overflow)) if is_yaml_style_float(&plain) => return Err(OutOfRange),
                _ => {}
            }
            if is_yaml_style_float(&plain) {
                if let Some(f) = go_float(&plain) {
                    return Ok(Value::Float(f));
                }
            }
            Value::Str(text.to_string())
        }
        _ => Value::Str(text.to_string()),
    })
}

/// An integer literal beyond the range of a 64-bit integer.
#[derive(Debug)]
pub(super) struct OutOfRange;

impl OutOfRange {
    pub(super) const MESSAGE: &'static str =
        "integer out of the range of a 64-bit integer (sops cannot encrypt it either; quote it to keep it as text)";
}

/// Whether `text`, written plain, reads back as a string: `resolve_plain(text)` is a `Str`, without
/// building the value (the emitter asks this of every string it writes).
pub(super) fn resolves_to_str(text: &str) -> bool {
    match text.as_bytes().first() {
        Some(b'.' | b'+' | b'-' | b'0'..=b'9') => matches!(resolve_plain(text), Ok(Value::Str(_))),
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

/// Strings go-yaml v3 double-quotes although YAML 1.2 reads them as strings: YAML 1.1 booleans and base-60
/// numbers (timestamps are typed values, see `resolve_plain`).
pub(super) fn needs_quotes_for_compat(s: &str) -> bool {
    is_old_bool(s) || is_base60_float(s)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Value {
        resolve_plain(s).expect("in range")
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
    fn timestamps_before_numbers() {
        assert_eq!(r("2025-06-30"), Value::Time("2025-06-30T00:00:00Z".into()));
        assert_eq!(
            r("2025-06-30T12:34:56+02:00"),
            Value::Time("2025-06-30T12:34:56+02:00".into())
        );
        assert_eq!(r("2025-02-30"), Value::Str("2025-02-30".into()));
        assert_eq!(r("12:30"), Value::Str("12:30".into()));
        assert!(!resolves_to_str("2025-06-30"));
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
        // go-yaml makes these a uint64 (which sops refuses) or a float (which changes the value).
        for s in [
            "9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234",
        ] {
            assert!(resolve_plain(s).is_err(), "{s}");
        }
        assert!(!resolves_to_str("123456789012345678901234"));
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
            "-", "+", "0x", "1.2.3", "12abc", "_1", "1_", "1:20", ".", "..5",
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
        // Timestamps are quoted because they read back as timestamps, not for compatibility.
        for s in [
            "2026-11-22T03:46:25Z",
            "2001-12-14",
            "2001-12-14 21:59:43.10",
        ] {
            assert!(!needs_quotes_for_compat(s) && !resolves_to_str(s), "{s}");
        }
        assert!(needs_quotes_for_compat("yes"));
        assert!(needs_quotes_for_compat("1:20"));
        assert!(needs_quotes_for_compat("190:20:30.15"));
        assert!(!needs_quotes_for_compat("1:70"));
        assert!(!needs_quotes_for_compat("2001-12"));
        assert!(!needs_quotes_for_compat("hello"));
    }
}
