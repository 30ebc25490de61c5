//! Go text/template's builtins: `not`, comparisons (`eq` takes several), `len` and `index`.

use super::arity;
use crate::value::Value;
use std::cmp::Ordering;

pub(super) fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    match name {
        "not" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "eq" => eq(args).map(Value::Bool),
        "ne" => {
            arity(name, args, 2)?;
            eq(args).map(|b| Value::Bool(!b))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2)?;
            let ord = order(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "len" => {
            arity(name, args, 1)?;
            len(&args[0])
        }
        _ => index(args),
    }
}

/// Go's basic kinds: values of different kinds never compare equal, and comparing them is an error
/// unless one is nil.
fn kind(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::Str(_) => 4,
        Value::Nil => 0,
        _ => 5,
    }
}

fn eq(args: &[Value]) -> Result<bool, String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("wrong number of args for eq: want at least 1 got 0".into());
    };
    if rest.is_empty() {
        return Err("error calling eq: missing argument for comparison".into());
    }
    for arg in rest {
        let (k1, k2) = (kind(first), kind(arg));
        let truth = if k1 != k2 {
            if k1 != 0 && k2 != 0 {
                return Err("error calling eq: incompatible types for comparison".into());
            }
            false
        } else {
            match (first, arg) {
                (Value::Bool(a), Value::Bool(b)) => a == b,
                (Value::Int(a), Value::Int(b)) => a == b,
                (Value::Float(a), Value::Float(b)) => a == b,
                (Value::Str(a), Value::Str(b)) => a == b,
                (Value::Nil, Value::Nil) => true,
                _ => {
                    return Err(format!(
                        "error calling eq: non-comparable type {}",
                        first.type_name()
                    ))
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn order(a: &Value, b: &Value) -> Result<Ordering, String> {
    let bad = || "incompatible types for comparison".to_string();
    let name = a.type_name();
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).ok_or_else(bad),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        _ if kind(a) != kind(b) => Err(format!("error calling lt: {}", bad())),
        _ => Err(format!(
            "error calling lt: invalid type for comparison ({name})"
        )),
    }
}

fn len(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.entries.len(),
        other => {
            return Err(format!(
                "error calling len: len of type {}",
                other.type_name()
            ))
        }
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// `index x k1 k2 ...`: map keys must be strings, list indexes ints; a missing map key yields the
/// element type's zero value (never an error, whatever `missingkey` says).
fn index(args: &[Value]) -> Result<Value, String> {
    let Some((first, keys)) = args.split_first() else {
        return Err("wrong number of args for index: want at least 1 got 0".into());
    };
    let mut item = first.clone();
    for key in keys {
        item = match (&item, key) {
            (Value::Map(m), Value::Str(k)) => {
                let k = String::from_utf8_lossy(k);
                m.entries
                    .get(k.as_ref())
                    .cloned()
                    .unwrap_or_else(|| Value::zero_of(m.elem))
            }
            (Value::Map(..), Value::Nil) => {
                return Err("error calling index: value is nil; should be of type string".into())
            }
            (Value::Map(..), other) => {
                return Err(format!(
                    "error calling index: value has type {}; should be string",
                    other.type_name()
                ))
            }
            (Value::List(l), Value::Int(i)) => {
                let got = usize::try_from(*i).ok().and_then(|i| l.items.get(i));
                got.cloned()
                    .ok_or_else(|| format!("error calling index: index out of range: {i}"))?
            }
            (Value::Str(s), Value::Int(i)) => {
                let got = usize::try_from(*i).ok().and_then(|i| s.get(i));
                let b =
                    got.ok_or_else(|| format!("error calling index: index out of range: {i}"))?;
                Value::Int(i64::from(*b))
            }
            (Value::List(..) | Value::Str(_), _) => {
                return Err("error calling index: cannot index slice/array with type".into())
            }
            (Value::Nil, _) => return Err("error calling index: index of untyped nil".into()),
            (other, _) => {
                return Err(format!(
                    "error calling index: can't index item of type {}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(item)
}
