//! Sprig's string functions: quoting, trimming, case, `replace`, `indent`/`nindent` and
//! `regexReplaceAll` (RE2 syntax, `$1` expansion as Go's regexp.ReplaceAllString).

use super::{arity, fits, format, int, string, strval, Ctx};
use crate::value::Value;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, String> {
    match name {
        "quote" | "squote" => Ok(Value::str(quote(name == "quote", args))),
        "trim" => {
            arity(name, args, 1)?;
            Ok(Value::str(trim_space(string(&args[0])?)))
        }
        "upper" | "lower" => {
            arity(name, args, 1)?;
            Ok(Value::str(case(string(&args[0])?, name == "upper")))
        }
        "trimPrefix" | "trimSuffix" => {
            arity(name, args, 2)?;
            let (affix, s) = (string(&args[0])?, string(&args[1])?);
            let out = if name == "trimPrefix" {
                s.strip_prefix(affix).unwrap_or(s)
            } else {
                s.strip_suffix(affix).unwrap_or(s)
            };
            Ok(Value::str(out.to_vec()))
        }
        "replace" => {
            arity(name, args, 3)?;
            let (old, new, s) = (string(&args[0])?, string(&args[1])?, string(&args[2])?);
            Ok(Value::str(replace_all(s, old, new, ctx)?))
        }
        "indent" | "nindent" => {
            arity(name, args, 2)?;
            let (n, s) = (int(&args[0])?, string(&args[1])?);
            let n = usize::try_from(n)
                .map_err(|_| format!("error calling {name}: strings: negative Repeat count"))?;
            let lines = s.iter().filter(|b| **b == b'\n').count() + 1;
            fits(lines.saturating_mul(n).saturating_add(s.len() + 1), ctx)?;
            Ok(Value::str(indent(n, s, name == "nindent")))
        }
        "regexReplaceAll" => {
            arity(name, args, 3)?;
            let (re, s, repl) = (string(&args[0])?, string(&args[1])?, string(&args[2])?);
            regex_replace_all(re, s, repl, ctx).map(Value::str)
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

/// `quote`: each non-nil argument as Go's `%q` of its string value; `squote`: `'%v'`. Space-joined.
fn quote(double: bool, args: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args.iter().filter(|a| !matches!(a, Value::Nil)) {
        if !out.is_empty() {
            out.push(b' ');
        }
        if double {
            out.extend(format::go_quote(&strval(a)).into_bytes());
        } else {
            out.push(b'\'');
            out.extend(format::value(a));
            out.push(b'\'');
        }
    }
    out
}

/// strings.TrimSpace: Unicode white space at both ends; invalid UTF-8 stops the trim.
fn trim_space(s: &[u8]) -> Vec<u8> {
    let start = first_non_space(s.utf8_chunks().flat_map(chunk_chars));
    let Some(start) = start else { return Vec::new() };
    let rest = &s[start..];
    let mut end = rest.len();
    // Walk back over whole characters while they are white space.
    while end > 0 {
        let mut k = end - 1;
        while k > 0 && (rest[k] & 0xC0) == 0x80 {
            k -= 1;
        }
        match std::str::from_utf8(&rest[k..end]).ok().and_then(|c| c.chars().next()) {
            Some(c) if c.is_whitespace() => end = k,
            _ => break,
        }
    }
    rest[..end].to_vec()
}

/// Characters with their byte length; an invalid byte is `None` (never space).
fn chunk_chars(chunk: std::str::Utf8Chunk<'_>) -> Vec<(Option<char>, usize)> {
    let mut v: Vec<_> = chunk.valid().chars().map(|c| (Some(c), c.len_utf8())).collect();
    v.extend(chunk.invalid().iter().map(|_| (None, 1)));
    v
}

fn first_non_space(chars: impl Iterator<Item = (Option<char>, usize)>) -> Option<usize> {
    let mut pos = 0;
    for (c, len) in chars {
        if !c.is_some_and(char::is_whitespace) {
            return Some(pos);
        }
        pos += len;
    }
    None
}

/// strings.ToUpper/ToLower: simple (one-to-one) case mapping, as Go's unicode tables do.
fn case(s: &[u8], upper: bool) -> Vec<u8> {
    if s.is_ascii() {
        return if upper { s.to_ascii_uppercase() } else { s.to_ascii_lowercase() };
    }
    let text = String::from_utf8_lossy(s);
    let mapped: String = text
        .chars()
        .map(|c| {
            let mut m: Vec<char> =
                if upper { c.to_uppercase().collect() } else { c.to_lowercase().collect() };
            if m.len() == 1 {
                m.pop().unwrap_or(c)
            } else {
                c
            }
        })
        .collect();
    mapped.into_bytes()
}

/// strings.Replace(s, old, new, -1): an empty `old` matches before every character and at the end.
fn replace_all(s: &[u8], old: &[u8], new: &[u8], ctx: &Ctx) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let matches = if old.is_empty() {
        String::from_utf8_lossy(s).chars().count() + 1
    } else {
        s.windows(old.len()).filter(|w| *w == old).count()
    };
    fits(matches.saturating_mul(new.len()).saturating_add(s.len()), ctx)?;
    if old.is_empty() {
        out.extend_from_slice(new);
        for chunk in s.utf8_chunks() {
            for c in chunk.valid().chars() {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                out.extend_from_slice(new);
            }
            for b in chunk.invalid() {
                out.push(*b);
                out.extend_from_slice(new);
            }
        }
        return Ok(out);
    }
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Sprig's indent: the pad before the string and after every newline; nindent adds a newline first.
fn indent(n: usize, s: &[u8], newline: bool) -> Vec<u8> {
    let pad = vec![b' '; n];
    let mut out = Vec::new();
    if newline {
        out.push(b'\n');
    }
    out.extend_from_slice(&pad);
    for b in s {
        out.push(*b);
        if *b == b'\n' {
            out.extend_from_slice(&pad);
        }
    }
    out
}

/// Largest compiled program a template's regex may build (RE2 refuses large programs too).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn regex_replace_all(re: &[u8], s: &[u8], repl: &[u8], ctx: &Ctx) -> Result<Vec<u8>, String> {
    let pattern = std::str::from_utf8(re)
        .map_err(|_| "error calling regexReplaceAll: regexp: invalid UTF-8".to_string())?;
    let compiled = regex::bytes::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|_| {
            "error calling regexReplaceAll: regexp: Compile: error parsing regexp".to_string()
        })?;
    // regex's `$name`/`${name}` expansion follows Go's Regexp.Expand: longest name, `$$` for `$`;
    // its match iteration skips an empty match right after a match, as Go's ReplaceAll does.
    let mut out = Vec::new();
    let mut last = 0;
    for caps in compiled.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        out.extend_from_slice(&s[last..m.start()]);
        caps.expand(repl, &mut out);
        last = m.end();
        fits(out.len(), ctx)?;
    }
    out.extend_from_slice(&s[last..]);
    fits(out.len(), ctx)?;
    Ok(out)
}
