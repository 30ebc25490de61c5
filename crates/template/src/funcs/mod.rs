//! The function table: Go's builtins and the Sprig functions ESO templates use, each checked at
//! parse time, and the argument conversions Go's reflection-based calls perform.

mod builtin;
mod collections;
mod encoding;
pub(crate) mod floats;
pub(crate) mod format;
mod strings;
mod yaml;
mod yaml_read;
mod yaml_scalar;

use crate::value::{Elem, Value};
use std::collections::BTreeMap;

/// A supported function, by its template name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Func(pub(crate) &'static str);

/// Every function a template may call; any other name is refused at parse time.
const NAMES: &[&str] = &[
    // Go's builtins (`and`/`or` are evaluated lazily by the evaluator).
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "printf",
    "print",
    "println",
    // Sprig.
    "b64enc",
    "b64dec",
    "toJson",
    "fromJson",
    "toPrettyJson",
    "toYaml",
    "fromYaml",
    "default",
    "quote",
    "squote",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "upper",
    "lower",
    "replace",
    "indent",
    "nindent",
    "split",
    "splitList",
    "join",
    "regexReplaceAll",
    "dict",
    "get",
    "hasKey",
    "sha256sum",
    "list",
];

pub(crate) fn lookup(name: &str) -> Option<Func> {
    NAMES.iter().find(|n| **n == name).map(|n| Func(n))
}

/// Bounds a function call works within.
pub(crate) struct Ctx {
    /// Largest string or collection a function may build, in bytes.
    pub max_value: usize,
    /// Deepest structure `fromJson`/`fromYaml` may return.
    pub max_decode_depth: usize,
}

/// Why a function call failed: Go's message (naming types, never values), or a bound exceeded.
#[derive(Debug)]
pub(crate) enum FnError {
    Msg(String),
    Limit(&'static str, usize),
}

impl From<String> for FnError {
    fn from(m: String) -> FnError {
        FnError::Msg(m)
    }
}

impl From<&str> for FnError {
    fn from(m: &str) -> FnError {
        FnError::Msg(m.to_string())
    }
}

/// Calls `f` with evaluated arguments.
pub(crate) fn call(f: Func, args: &[Value], ctx: &Ctx) -> Result<Value, FnError> {
    let name = f.0;
    match name {
        "not" | "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "len" | "index" => {
            Ok(builtin::call(name, args)?)
        }
        "printf" | "print" | "println" => format::call(name, args, ctx),
        "b64enc" | "b64dec" | "toJson" | "fromJson" | "toPrettyJson" | "sha256sum" => {
            encoding::call(name, args, ctx)
        }
        "toYaml" | "fromYaml" => yaml::call(name, args, ctx),
        "default" | "split" | "splitList" | "join" | "dict" | "get" | "hasKey" | "list" => {
            collections::call(name, args, ctx)
        }
        _ => strings::call(name, args, ctx),
    }
}

/// Checks the argument count of a fixed-arity function.
pub(crate) fn arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn wrong(expected: &str, got: &Value) -> String {
    match got {
        Value::Nil => format!("invalid value; expected {expected}"),
        _ => format!(
            "wrong type for value; expected {expected}; got {}",
            got.type_name()
        ),
    }
}

/// A `string` parameter: only a string converts, as in Go.
pub(crate) fn string(v: &Value) -> Result<&[u8], String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(wrong("string", other)),
    }
}

/// An `int` parameter.
pub(crate) fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(wrong("int", other)),
    }
}

static EMPTY: BTreeMap<String, Value> = BTreeMap::new();

/// A `map[string]interface {}` parameter (Sprig's `get`, `hasKey`): `map[string]string` does not convert.
pub(crate) fn any_map(v: &Value) -> Result<&BTreeMap<String, Value>, String> {
    match v {
        Value::Map(m) if m.elem == Elem::Any => Ok(&m.entries),
        // Go passes nil as the map type's zero value: an empty map.
        Value::Nil => Ok(&EMPTY),
        other => Err(wrong("map[string]interface {}", other)),
    }
}

/// Refuses a result that would be larger than the value bound, before building it.
pub(crate) fn fits(size: usize, ctx: &Ctx) -> Result<(), FnError> {
    if size > ctx.max_value {
        return Err(FnError::Limit("value size", ctx.max_value));
    }
    Ok(())
}

/// Refuses a result larger than the value bound.
pub(crate) fn bounded(v: Vec<u8>, ctx: &Ctx) -> Result<Value, FnError> {
    fits(v.len(), ctx)?;
    Ok(Value::str(v))
}

/// Sprig's `strval`: strings as they are, anything else as `%v` prints it.
pub(crate) fn strval(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.to_vec(),
        other => format::value(other),
    }
}
