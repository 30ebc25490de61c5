//! Sprig's string functions: quoting, trimming, case, `replace`, `indent`/`nindent` and
//! `regexReplaceAll` (RE2 syntax, `$1` expansion as Go's regexp.ReplaceAllString).

use super::{arity, fits, format, int, string, strval, Ctx, FnError};
use crate::value::Value;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, FnError> {
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
        _ => Err(format!("function {name:?} not defined").into()),
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
    let Some(start) = start else {
        return Vec::new();
    };
    let rest = &s[start..];
    let mut end = rest.len();
    // Walk back over whole characters while they are white space.
    while end > 0 {
        let mut k = end - 1;
        while k > 0 && (rest[k] & 0xC0) == 0x80 {
            k -= 1;
        }
        match std::str::from_utf8(&rest[k..end])
            .ok()
            .and_then(|c| c.chars().next())
        {
            Some(c) if c.is_whitespace() => end = k,
            _ => break,
        }
    }
    rest[..end].to_vec()
}

/// Characters with their byte length; an invalid byte is `None` (never space).
fn chunk_chars(chunk: std::str::Utf8Chunk<'_>) -> Vec<(Option<char>, usize)> {
    let mut v: Vec<_> = chunk
        .valid()
        .chars()
        .map(|c| (Some(c), c.len_utf8()))
        .collect();
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

/// Simple case mappings where Rust's full mapping has several characters but Go's table has one.
fn simple_case(c: char, upper: bool) -> Option<char> {
    let u = c as u32;
    let mapped = match (upper, u) {
        (false, 0x130) => 0x69,
        (true, 0x1f80..=0x1f87 | 0x1f90..=0x1f97 | 0x1fa0..=0x1fa7) => u + 8,
        (true, 0x1fb3 | 0x1fc3 | 0x1ff3) => u + 9,
        _ => return None,
    };
    char::from_u32(mapped)
}

/// strings.ToUpper/ToLower: simple (one-to-one) case mapping, as Go's unicode tables do.
fn case(s: &[u8], upper: bool) -> Vec<u8> {
    if s.is_ascii() {
        return if upper {
            s.to_ascii_uppercase()
        } else {
            s.to_ascii_lowercase()
        };
    }
    let text = String::from_utf8_lossy(s);
    let mapped: String = text
        .chars()
        .map(|c| {
            let mut m: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            if m.len() == 1 {
                m.pop().unwrap_or(c)
            } else {
                simple_case(c, upper).unwrap_or(c)
            }
        })
        .collect();
    mapped.into_bytes()
}

/// strings.Replace(s, old, new, -1): an empty `old` matches before every character and at the end.
fn replace_all(s: &[u8], old: &[u8], new: &[u8], ctx: &Ctx) -> Result<Vec<u8>, FnError> {
    let mut out = Vec::with_capacity(s.len());
    let matches = if old.is_empty() {
        String::from_utf8_lossy(s).chars().count() + 1
    } else {
        s.windows(old.len()).filter(|w| *w == old).count()
    };
    fits(
        matches.saturating_mul(new.len()).saturating_add(s.len()),
        ctx,
    )?;
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

/// RE2's Perl classes (`\d`, `\w`, `\s`) and `\b` are ASCII-only; Rust's are Unicode. Rewrites
/// them into the ASCII forms, inside and outside bracket classes.
fn ascii_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push(c);
                    break;
                };
                let (outside, inside) = match e {
                    'd' => ("[[:digit:]]", "[:digit:]"),
                    'D' => ("[[:^digit:]]", "[:^digit:]"),
                    'w' => ("[[:word:]]", "[:word:]"),
                    'W' => ("[[:^word:]]", "[:^word:]"),
                    's' => ("[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "),
                    'S' => ("[^\\t\\n\\f\\r ]", "[:^space:]"),
                    'b' if !in_class => ("(?-u:\\b)", ""),
                    'B' if !in_class => ("(?-u:\\B)", ""),
                    _ => {
                        out.push(c);
                        out.push(e);
                        continue;
                    }
                };
                out.push_str(if in_class { inside } else { outside });
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` (after an optional `^`) first in a class is a literal.
                for lead in ['^', ']'] {
                    if chars.as_str().starts_with(lead) {
                        out.push(lead);
                        chars.next();
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Largest compiled program a template's regex may build (RE2 refuses large programs too).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn regex_replace_all(re: &[u8], s: &[u8], repl: &[u8], ctx: &Ctx) -> Result<Vec<u8>, FnError> {
    let pattern = std::str::from_utf8(re)
        .map_err(|_| "error calling regexReplaceAll: regexp: invalid UTF-8".to_string())?;
    let compiled = regex::bytes::RegexBuilder::new(&ascii_classes(pattern))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|_| {
            "error calling regexReplaceAll: regexp: Compile: error parsing regexp".to_string()
        })?;
    // regex's `$name`/`${name}` expansion follows Go's Regexp.Expand: longest name, `$$` for `$`;
    // its match iteration skips an empty match right after a match, as Go's ReplaceAll does.
    // Go looks for matches rune by rune: an empty match inside a UTF-8 sequence does not count.
    let mut boundary = vec![false; s.len() + 1];
    let mut at = 0;
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            boundary[at] = true;
            at += c.len_utf8();
        }
        for _ in chunk.invalid() {
            boundary[at] = true;
            at += 1;
        }
    }
    boundary[s.len()] = true;
    let mut out = Vec::new();
    let mut last = 0;
    for caps in compiled.captures_iter(s) {
        let Some(m) = caps.get(0) else { continue };
        if m.is_empty() && !boundary[m.start()] {
            continue;
        }
        out.extend_from_slice(&s[last..m.start()]);
        caps.expand(repl, &mut out);
        last = m.end();
        fits(out.len(), ctx)?;
    }
    out.extend_from_slice(&s[last..]);
    fits(out.len(), ctx)?;
    Ok(out)
}
