//! Key paths in sops' syntax (`["stringData"]["password"]`, `["list"][0]`) for `set`, `unset` and
//! `decrypt --extract`, and JSON values for `set`.

use crate::sops::tree::{Map, MapItem, Value};

use super::exit::{CliError, Exit};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

fn bad(path: &str, why: &str) -> CliError {
    CliError::new(
        Exit::BadPath,
        format!("invalid key path '{path}': {why} (expected e.g. '[\"data\"][\"password\"]' or '[\"list\"][0]')"),
    )
}

/// Parses `["a"]['b'][0]`.
pub fn parse(path: &str) -> Result<Vec<Step>, CliError> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix('[')
            .ok_or_else(|| bad(path, "each step must start with '['"))?;
        if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &rest[1..];
            let mut key = String::new();
            let mut chars = body.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(bad(path, "unterminated string")),
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => key.push(c),
                        None => return Err(bad(path, "unterminated string")),
                    },
                    Some((i, c)) if c == quote => break i,
                    Some((_, c)) => key.push(c),
                }
            };
            rest = body[end + 1..]
                .strip_prefix(']')
                .ok_or_else(|| bad(path, "missing ']'"))?;
            steps.push(Step::Key(key));
        } else {
            let close = rest.find(']').ok_or_else(|| bad(path, "missing ']'"))?;
            let index = rest[..close]
                .trim()
                .parse()
                .map_err(|_| bad(path, "a list index must be a non-negative integer"))?;
            steps.push(Step::Index(index));
            rest = &rest[close + 1..];
        }
        rest = rest.trim_start();
    }
    if steps.is_empty() {
        return Err(bad(path, "empty path"));
    }
    Ok(steps)
}

/// The value at `steps`.
pub fn get<'a>(doc: &'a Map, steps: &[Step], shown: &str) -> Result<&'a Value, CliError> {
    let missing = || CliError::new(Exit::BadPath, format!("key path '{shown}' not found"));
    let mut current: Option<&Value> = None;
    for step in steps {
        let next = match (current, step) {
            (None, Step::Key(k)) => doc.get(k),
            (Some(Value::Map(m)), Step::Key(k)) => m.get(k),
            (Some(Value::Seq(items)), Step::Index(i)) => items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i),
            _ => None,
        };
        current = Some(next.ok_or_else(missing)?);
    }
    current.ok_or_else(missing)
}

/// Sets the value at `steps`, creating maps along the way (and appending at the end of a list).
pub fn set(doc: &mut Map, steps: &[Step], value: Value, shown: &str) -> Result<(), CliError> {
    let Some((Step::Key(first), rest)) = steps.split_first() else {
        return Err(CliError::new(
            Exit::BadPath,
            format!("key path '{shown}' must start with a key"),
        ));
    };
    if doc.get(first).is_none() {
        doc.insert(first.clone(), Value::Null);
    }
    let slot = doc.get_mut(first).expect("inserted above");
    set_in(slot, rest, value, shown)
}

fn set_in(slot: &mut Value, steps: &[Step], value: Value, shown: &str) -> Result<(), CliError> {
    let Some((step, rest)) = steps.split_first() else {
        *slot = value;
        return Ok(());
    };
    match step {
        Step::Key(k) => {
            if !matches!(slot, Value::Map(_)) {
                if !matches!(slot, Value::Null) {
                    return Err(CliError::new(
                        Exit::BadPath,
                        format!(
                            "key path '{shown}': '{k}' is below a {}, not a map",
                            slot.kind()
                        ),
                    ));
                }
                *slot = Value::Map(Map::new());
            }
            let Value::Map(map) = slot else {
                unreachable!()
            };
            if map.get(k).is_none() {
                map.insert(k.clone(), Value::Null);
            }
            set_in(map.get_mut(k).expect("inserted"), rest, value, shown)
        }
        Step::Index(i) => {
            if matches!(slot, Value::Null) {
                *slot = Value::Seq(Vec::new());
            }
            let Value::Seq(items) = slot else {
                return Err(CliError::new(
                    Exit::BadPath,
                    format!(
                        "key path '{shown}': index {i} is into a {}, not a list",
                        slot.kind()
                    ),
                ));
            };
            let positions: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(p, _)| p)
                .collect();
            match positions.get(*i) {
                Some(&p) => set_in(&mut items[p], rest, value, shown),
                None => {
                    items.push(Value::Null);
                    let last = items.last_mut().expect("pushed");
                    set_in(last, rest, value, shown)
                }
            }
        }
    }
}

/// Removes the value at `steps`.
pub fn unset(doc: &mut Map, steps: &[Step], shown: &str) -> Result<(), CliError> {
    let missing = || CliError::new(Exit::BadPath, format!("key path '{shown}' not found"));
    let (last, parents) = steps.split_last().ok_or_else(missing)?;
    let mut container: Option<&mut Value> = None;
    let mut root = Some(doc);
    for step in parents {
        let next = match (container.take(), root.take(), step) {
            (None, Some(d), Step::Key(k)) => d.get_mut(k),
            (Some(Value::Map(m)), _, Step::Key(k)) => m.get_mut(k),
            (Some(Value::Seq(items)), _, Step::Index(i)) => items
                .iter_mut()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .nth(*i),
            _ => None,
        };
        container = Some(next.ok_or_else(missing)?);
    }
    match (container, root, last) {
        (None, Some(d), Step::Key(k)) => d.remove(k).map(|_| ()).ok_or_else(missing),
        (Some(Value::Map(m)), _, Step::Key(k)) => m.remove(k).map(|_| ()).ok_or_else(missing),
        (Some(Value::Seq(items)), _, Step::Index(i)) => {
            let position = items
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(p, _)| p)
                .nth(*i)
                .ok_or_else(missing)?;
            items.remove(position);
            Ok(())
        }
        _ => Err(missing()),
    }
}

/// A JSON value for `set`: objects keep their key order, integers stay integers.
pub fn parse_json_value(text: &str) -> Result<Value, CliError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        CliError::new(
            Exit::BadPath,
            format!(
                "the value is not valid JSON (line {}, column {}); quote strings: '\"text\"'",
                e.line(),
                e.column()
            ),
        )
    })?;
    Ok(from_json(json))
}

fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(items) => Value::Seq(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(Map(map
            .into_iter()
            .map(|(k, v)| MapItem::Entry(k, from_json(v)))
            .collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sops_paths() {
        assert_eq!(
            parse(r#"["a"]['b c'][2]"#).unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Key("b c".into()),
                Step::Index(2)
            ]
        );
        assert!(parse("a.b").is_err());
        assert!(parse(r#"["a"#).is_err());
        assert!(parse("[-1]").is_err());
    }

    #[test]
    fn set_get_unset() {
        let mut doc = Map::new();
        let p = parse(r#"["stringData"]["password"]"#).unwrap();
        set(&mut doc, &p, Value::Str("x".into()), "p").unwrap();
        assert_eq!(get(&doc, &p, "p").unwrap(), &Value::Str("x".into()));
        let l = parse(r#"["list"][0]"#).unwrap();
        set(&mut doc, &l, Value::Int(1), "l").unwrap();
        assert_eq!(get(&doc, &l, "l").unwrap(), &Value::Int(1));
        unset(&mut doc, &p, "p").unwrap();
        assert!(get(&doc, &p, "p").is_err());
        assert!(unset(&mut doc, &p, "p").is_err());
    }

    #[test]
    fn json_values() {
        assert_eq!(parse_json_value("42").unwrap(), Value::Int(42));
        assert_eq!(parse_json_value("\"s\"").unwrap(), Value::Str("s".into()));
        let err = parse_json_value("unquoted").unwrap_err();
        assert!(!err.message.contains("unquoted"));
    }
}
