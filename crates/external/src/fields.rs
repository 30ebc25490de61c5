//! A field reader over `serde_json` objects that knows each field's path, types it, and reports every
//! field nobody asked for as unsupported.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Unsupported};
use crate::limits::MAX_ITEMS;
use crate::meta::Origin;

/// One JSON object being read; every key read is remembered so that [`Obj::finish`] can report the rest.
pub(crate) struct Obj<'a> {
    pub origin: &'a Origin,
    map: &'a Map<String, Value>,
    path: String,
    used: Vec<&'a str>,
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if key.is_empty() {
        path.to_string()
    } else if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Obj<'a> {
    /// Reads `value` at `path` as an object.
    pub fn new(origin: &'a Origin, value: &'a Value, path: &str) -> Result<Obj<'a>, Error> {
        match value {
            Value::Object(map) => Ok(Obj {
                origin,
                map,
                path: path.to_string(),
                used: Vec::new(),
            }),
            _ => Err(Error::invalid(origin, path, "must be an object")),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn err(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::invalid(self.origin, self.field(key), reason)
    }

    /// The raw value of `key`, absent when missing or `null`; marks it read.
    pub fn get(&mut self, key: &'a str) -> Option<&'a Value> {
        self.used.push(key);
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The keys present (not `null`).
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.as_str())
    }

    pub fn has(&self, key: &str) -> bool {
        !matches!(self.map.get(key), None | Some(Value::Null))
    }

    pub fn opt_str(&mut self, key: &'a str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(key, "must be a string")),
        }
    }

    /// A string that, when present, is not empty (`""` counts as unset, as Go's `omitempty` does).
    pub fn opt_nonempty(&mut self, key: &'a str) -> Result<Option<String>, Error> {
        Ok(self
            .opt_str(key)?
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    }

    pub fn req_str(&mut self, key: &'a str) -> Result<String, Error> {
        match self.opt_str(key)? {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(self.err(key, "required")),
        }
    }

    pub fn opt_bool(&mut self, key: &'a str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, "must be true or false")),
        }
    }

    pub fn opt_obj(&mut self, key: &'a str) -> Result<Option<Obj<'a>>, Error> {
        let field = self.field(key);
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(self.origin, v, &field).map(Some),
        }
    }

    /// A list (at most [`MAX_ITEMS`] entries), empty when absent.
    pub fn list(&mut self, key: &'a str) -> Result<&'a [Value], Error> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) if items.len() <= MAX_ITEMS => Ok(items),
            Some(Value::Array(items)) => Err(self.err(
                key,
                format!("{} entries exceed the limit of {MAX_ITEMS}", items.len()),
            )),
            Some(_) => Err(self.err(key, "must be a list")),
        }
    }

    pub fn str_list(&mut self, key: &'a str) -> Result<Vec<String>, Error> {
        let items = self.list(key)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            match v {
                Value::String(s) => out.push(s.clone()),
                _ => return Err(self.err(&format!("{key}[{i}]"), "must be a string")),
            }
        }
        Ok(out)
    }

    pub fn str_map(&mut self, key: &'a str) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        match self.get(key) {
            None => {}
            Some(Value::Object(m)) if m.len() <= MAX_ITEMS => {
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        _ => return Err(self.err(&format!("{key}.{k}"), "must be a string")),
                    }
                }
            }
            Some(Value::Object(_)) => {
                return Err(self.err(key, format!("more than {MAX_ITEMS} entries")))
            }
            Some(_) => return Err(self.err(key, "must be a map of strings")),
        }
        Ok(out)
    }

    /// A field this crate does not implement: reported when present.
    pub fn unsupported(&mut self, key: &'a str, out: &mut Vec<Unsupported>) {
        if self.get(key).is_some() {
            out.push(Unsupported::new(self.field(key), None));
        }
    }

    /// Reports every field that was not read as unsupported (unknown to this crate).
    pub fn finish(self, out: &mut Vec<Unsupported>) {
        for (k, v) in self.map {
            if !v.is_null() && !self.used.contains(&k.as_str()) {
                out.push(Unsupported::new(
                    join(&self.path, k),
                    Some("unknown field".into()),
                ));
            }
        }
    }
}

/// Reads an enum-like string field: `None` when absent or empty (the default applies), the parsed
/// value when known, and otherwise an unsupported entry naming the value (the default is used in the
/// model, so the engine must refuse the object while it has unsupported entries).
pub(crate) fn enum_field<'a, T: Copy>(
    obj: &mut Obj<'a>,
    key: &'a str,
    known: &[(&str, T)],
    default: T,
    out: &mut Vec<Unsupported>,
) -> Result<T, Error> {
    let Some(text) = obj.opt_nonempty(key)? else {
        return Ok(default);
    };
    match known.iter().find(|(name, _)| *name == text) {
        Some((_, v)) => Ok(*v),
        None => {
            let allowed: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
            out.push(Unsupported::new(
                obj.field(key),
                Some(format!("value {text:?}; supported: {}", allowed.join(", "))),
            ));
            Ok(default)
        }
    }
}
