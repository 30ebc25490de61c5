//! The agent's `--config` file: a YAML map of settings, read once, unknown keys refused.

use std::path::{Path, PathBuf};

use crate::sops::stores::Format;
use crate::sops::tree::{Map, Value};

use super::config::{err, ConfigError};

/// Values from the config file, by key.
pub(super) struct FileValues {
    pub(super) path: Option<PathBuf>,
    pub(super) map: Map,
}

impl FileValues {
    pub(super) fn load(path: Option<&Path>) -> Result<FileValues, ConfigError> {
        let Some(path) = path else {
            return Ok(FileValues {
                path: None,
                map: Map::new(),
            });
        };
        let shown = path.display();
        let bytes =
            std::fs::read(path).map_err(|e| ConfigError(format!("config file {shown}: {e}")))?;
        let docs = Format::Yaml
            .store()
            .load_plain(&bytes)
            .map_err(|e| ConfigError(format!("config file {shown}: {e}")))?;
        let map = docs.into_iter().next().unwrap_or_default();
        const KNOWN: [&str; 26] = [
            "repo",
            "ref",
            "paths",
            "identities",
            "sink",
            "namespace_policy",
            "interval",
            "listen",
            "webhook_listen",
            "prune_max_share",
            "webhook_secret_file",
            "log_format",
            "token_file",
            "ssh_key_file",
            "cache_dir",
            "max_file_size",
            "max_files",
            "max_fetch_size",
            "default_namespace",
            "cluster_store_path",
            "default_store",
            "once",
            "lease_duration",
            "decryption_policy",
            "instance",
            "allow_adopt",
        ];
        for (key, _) in map.entries() {
            if !KNOWN.contains(&key) {
                return err(format!(
                    "config file {shown}: unknown setting '{key}' (known: {})",
                    KNOWN.join(", ")
                ));
            }
        }
        Ok(FileValues {
            path: Some(path.to_path_buf()),
            map,
        })
    }

    pub(super) fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(Value::Int(i)) => Ok(Some(i.to_string())),
            Some(Value::Float(f)) => Ok(Some(f.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => err(format!(
                "config file: '{key}' must be a single value, not a {}",
                other.kind()
            )),
        }
    }

    pub(super) fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Str(s)) => Ok(vec![s.clone()]),
            Some(Value::Seq(items)) => items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .map(|v| match v {
                    Value::Str(s) => Ok(s.clone()),
                    other => err(format!(
                        "config file: '{key}' entries must be strings, not a {}",
                        other.kind()
                    )),
                })
                .collect(),
            Some(other) => err(format!(
                "config file: '{key}' must be a list, not a {}",
                other.kind()
            )),
        }
    }
}
