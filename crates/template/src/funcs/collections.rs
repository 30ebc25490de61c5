//! Sprig's collection functions: `default`, `split`/`splitList`/`join`, `dict`, `get`, `hasKey`, `list`.

use super::{any_map, arity, fits, string, strval, Ctx, FnError};
use crate::value::{Elem, Value};
use std::collections::BTreeMap;

pub(super) fn call(name: &str, args: &[Value], ctx: &Ctx) -> Result<Value, FnError> {
    match name {
        "default" => Ok(default(args)?),
        "split" | "splitList" => {
            arity(name, args, 2)?;
            let (sep, s) = (string(&args[0])?, string(&args[1])?);
            // Each part weighs 8 bytes more than its text, plus its key `_N` in a map (Value::weight).
            let parts = if sep.is_empty() {
                s.len()
            } else {
                s.windows(sep.len()).filter(|w| *w == sep).count() + 1
            };
            let per_part = if name == "split" {
                8 + 1 + parts.to_string().len()
            } else {
                8
            };
            fits(parts.saturating_mul(per_part).saturating_add(s.len()), ctx)?;
            let parts = split(sep, s);
            if name == "splitList" {
                return Ok(Value::list(
                    Elem::Str,
                    parts.into_iter().map(Value::str).collect(),
                ));
            }
            let map = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::str(p)));
            Ok(Value::map(Elem::Str, map.collect()))
        }
        "join" => {
            arity(name, args, 2)?;
            let sep = string(&args[0])?;
            let mut out = Vec::new();
            for (i, part) in strslice(&args[1]).iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(sep);
                }
                out.extend_from_slice(part);
            }
            Ok(Value::str(out))
        }
        "dict" => {
            let mut map = BTreeMap::new();
            for pair in args.chunks(2) {
                let key = String::from_utf8_lossy(&strval(&pair[0])).into_owned();
                map.insert(
                    key,
                    pair.get(1)
                        .cloned()
                        .unwrap_or_else(|| Value::str(Vec::new())),
                );
            }
            Ok(Value::map(Elem::Any, map))
        }
        "get" | "hasKey" => {
            arity(name, args, 2)?;
            let (m, k) = (any_map(&args[0])?, string(&args[1])?);
            let found = m.get(String::from_utf8_lossy(k).as_ref());
            if name == "hasKey" {
                return Ok(Value::Bool(found.is_some()));
            }
            Ok(found.cloned().unwrap_or_else(|| Value::str(Vec::new())))
        }
        _ => Ok(Value::list(Elem::Any, args.to_vec())),
    }
}

/// Sprig's `empty`: nil, false, 0, and empty strings, lists and maps.
fn default(args: &[Value]) -> Result<Value, String> {
    let Some((fallback, given)) = args.split_first() else {
        return Err("wrong number of args for default: want at least 1 got 0".into());
    };
    match given.first() {
        Some(v) if v.truth() => Ok(v.clone()),
        _ => Ok(fallback.clone()),
    }
}

/// strings.Split: an empty separator splits after each UTF-8 sequence.
fn split(sep: &[u8], s: &[u8]) -> Vec<Vec<u8>> {
    if sep.is_empty() {
        let mut parts = Vec::new();
        for chunk in s.utf8_chunks() {
            parts.extend(chunk.valid().chars().map(|c| c.to_string().into_bytes()));
            parts.extend(chunk.invalid().iter().map(|b| vec![*b]));
        }
        return parts;
    }
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= s.len() {
        if &s[i..i + sep.len()] == sep {
            parts.push(s[start..i].to_vec());
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(s[start..].to_vec());
    parts
}

/// Sprig's strslice: a list's non-nil elements as strings, nil as none, anything else as one.
fn strslice(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::List(l) => l
            .items
            .iter()
            .filter(|e| !matches!(e, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}
