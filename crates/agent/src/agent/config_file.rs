//! The agent's `--config` file: a plain YAML map of settings, read once, unknown keys refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use super::config::{err, ConfigError};
use super::settings;

/// Values from the config file, by key.
#[derive(Default)]
pub(super) struct FileValues {
    pub(super) path: Option<PathBuf>,
    map: BTreeMap<String, Value>,
}

impl FileValues {
    pub(super) fn load(path: Option<&Path>) -> Result<FileValues, ConfigError> {
        let Some(path) = path else {
            return Ok(FileValues::default());
        };
        let shown = path.display();
        let bytes =
            std::fs::read(path).map_err(|e| ConfigError(format!("config file {shown}: {e}")))?;
        let map = parse(&bytes).map_err(|e| ConfigError(format!("config file {shown}: {e}")))?;
        Ok(FileValues {
            path: Some(path.to_path_buf()),
            map,
        })
    }

    /// A single value as text (numbers and booleans as written).
    pub(super) fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => scalar(value).map(Some).ok_or_else(|| {
                ConfigError(format!(
                    "config file: '{key}' must be a single value, not a {}",
                    kind(value)
                ))
            }),
        }
    }

    /// A list of strings (one string is a list of one).
    pub(super) fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => err(format!(
                        "config file: '{key}' entries must be strings, not a {}",
                        kind(other)
                    )),
                })
                .collect(),
            Some(other) => err(format!(
                "config file: '{key}' must be a list, not a {}",
                kind(other)
            )),
        }
    }
}

/// Parses the file: an empty file sets nothing; otherwise a map whose keys are known settings.
fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Value>, String> {
    let value: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| e.to_string())?;
    let mapping = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Mapping(m) => m,
        other => {
            return Err(format!(
                "expected a map of settings, not a {}",
                kind(&other)
            ))
        }
    };
    let mut map = BTreeMap::new();
    for (key, value) in mapping {
        let Value::String(key) = key else {
            return Err(format!(
                "setting names must be strings, not a {}",
                kind(&key)
            ));
        };
        if !settings::file_keys().any(|k| k == key) {
            return Err(unknown_key(&key));
        }
        map.insert(key, value);
    }
    Ok(map)
}

/// Names the unknown key and the nearest known one.
fn unknown_key(key: &str) -> String {
    let nearest = settings::file_keys()
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .min()
        .filter(|(distance, _)| *distance <= key.len().max(3) / 2);
    match nearest {
        Some((_, k)) => format!("unknown setting '{key}' (did you mean '{k}'?)"),
        None => format!(
            "unknown setting '{key}' (known: {})",
            settings::file_keys().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "map",
        Value::Tagged(_) => "tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_refused_with_the_nearest_known_one() {
        let e = parse(b"repo: x\nintervall: 5m\n").unwrap_err();
        assert_eq!(e, "unknown setting 'intervall' (did you mean 'interval'?)");
        let e = parse(b"path: [a]\n").unwrap_err();
        assert!(e.contains("did you mean 'paths'?"), "{e}");
        let e = parse(b"zzzzzzzzzzzz: 1\n").unwrap_err();
        assert!(
            e.contains("unknown setting 'zzzzzzzzzzzz' (known: repo, ref,"),
            "{e}"
        );
    }

    #[test]
    fn flag_only_settings_are_not_file_keys() {
        assert!(parse(b"config: other.yaml\n").is_err());
        assert!(parse(b"ignore_leader: true\n").is_err());
        assert!(parse(b"once: true\n").is_ok());
    }

    #[test]
    fn empty_file_sets_nothing_and_a_list_is_not_a_map() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"- repo\n").unwrap_err().contains("map of settings"));
    }
}
