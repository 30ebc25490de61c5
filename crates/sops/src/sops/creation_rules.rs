//! `.sops.yaml` creation rules: found from a directory upward as sops finds them, the first rule whose
//! `path_regex` matches the file (relative to the config's directory) decides recipients, key groups,
//! the Shamir threshold and the encryption rules.

use std::path::{Path, PathBuf};

use crate::keys::{parse_recipient_list, KeyError, Recipient};

use super::pattern::Pattern;
use super::rules::RuleSet;
use super::stores::{Format, FormatError};
use super::tree::{Map, Value};

/// The file name sops looks for in each directory.
const CONFIG_NAME: &str = ".sops.yaml";
/// The name sops notices but ignores, with a warning (sops 3.11 `config.LookupConfigFile`).
const IGNORED_NAME: &str = ".sops.yml";
/// How many directories upward sops looks.
const MAX_DEPTH: usize = 100;
/// A config file is small; larger ones are refused before parsing.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {source}")]
    Parse { path: String, source: FormatError },
    #[error("{path}: creation_rules[{index}]: {reason}")]
    Rule {
        path: String,
        index: usize,
        reason: String,
    },
    #[error("{path}: no creation rule matches '{file}' (add a rule whose path_regex matches it, or pass --age)")]
    NoMatch { path: String, file: String },
}

/// The settings a matching creation rule gives a new file.
#[derive(Clone, Debug, Default)]
pub struct CreationRule {
    pub groups: Vec<Vec<Recipient>>,
    pub threshold: usize,
    pub rules: RuleSet,
}

/// A parsed `.sops.yaml`.
#[derive(Debug)]
pub struct SopsConfig {
    pub path: PathBuf,
    rules: Vec<(Option<Pattern>, Map, usize)>,
    /// `stores: {yaml: {indent: N}, json: {indent: N}}`.
    yaml_indent: Option<usize>,
    json_indent: Option<usize>,
}

/// What a lookup found: the config in force, and the first `.sops.yml` passed over on the way (sops
/// ignores that name and warns).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    pub path: Option<PathBuf>,
    pub ignored: Option<PathBuf>,
}

impl Lookup {
    /// sops' warning about an ignored `.sops.yml`, if one was seen.
    pub fn warning(&self) -> Option<String> {
        let ignored = self.ignored.as_ref()?.display();
        Some(match &self.path {
            Some(used) => format!(
                "ignoring {ignored}: the config file must be called {CONFIG_NAME}; using {} instead",
                used.display()
            ),
            None => format!("ignoring {ignored}: the config file must be called {CONFIG_NAME}"),
        })
    }
}

/// Looks for `.sops.yaml` in `start` and its parents, as sops does.
pub fn find(start: &Path) -> Lookup {
    let mut lookup = Lookup::default();
    let mut dir = Some(start);
    for _ in 0..MAX_DEPTH {
        let Some(current) = dir else { break };
        let candidate = current.join(CONFIG_NAME);
        if candidate.is_file() {
            lookup.path = Some(candidate);
            break;
        }
        let alternate = current.join(IGNORED_NAME);
        if lookup.ignored.is_none() && alternate.is_file() {
            lookup.ignored = Some(alternate);
        }
        dir = current.parent();
    }
    lookup
}

impl SopsConfig {
    pub fn load(path: &Path) -> Result<SopsConfig, ConfigError> {
        let shown = path.display().to_string();
        let read_err = |reason: String| ConfigError::Read {
            path: shown.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            read_err(match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                _ => e.to_string(),
            })
        })?;
        if meta.len() > MAX_CONFIG_SIZE {
            return Err(read_err(format!(
                "{} bytes is too large for a config file",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
        Self::parse(path, &bytes)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<SopsConfig, ConfigError> {
        let shown = path.display().to_string();
        let docs = Format::Yaml
            .store()
            .load_plain(bytes)
            .map_err(|source| ConfigError::Parse {
                path: shown.clone(),
                source,
            })?;
        let mut rules = Vec::new();
        let rule_err = |index: usize, reason: String| ConfigError::Rule {
            path: shown.clone(),
            index,
            reason,
        };
        if let Some(doc) = docs.first() {
            match doc.get("creation_rules") {
                None | Some(Value::Null) => {}
                Some(Value::Seq(items)) => {
                    for (index, item) in items
                        .iter()
                        .filter(|v| !matches!(v, Value::Comment(_)))
                        .enumerate()
                    {
                        let map = item
                            .as_map()
                            .ok_or_else(|| rule_err(index, "expected a map".into()))?;
                        let regex = match string(map, "path_regex")
                            .or_else(|| string(map, "filename_regex"))
                        {
                            Some(source) if !source.is_empty() => Some(
                                Pattern::new(&source)
                                    .map_err(|e| rule_err(index, format!("path_regex: {e}")))?,
                            ),
                            _ => None,
                        };
                        rules.push((regex, map.clone(), index));
                    }
                }
                Some(_) => {
                    return Err(ConfigError::Rule {
                        path: shown,
                        index: 0,
                        reason: "creation_rules must be a list".into(),
                    })
                }
            }
        }
        let indent = |store: &str| -> Result<Option<usize>, ConfigError> {
            let value = docs
                .first()
                .and_then(|d| d.get("stores"))
                .and_then(Value::as_map)
                .and_then(|m| m.get(store))
                .and_then(Value::as_map)
                .and_then(|m| m.get("indent"));
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Int(n)) if (0..=16).contains(n) => Ok(Some(*n as usize)),
                Some(_) => Err(ConfigError::Read {
                    path: shown.clone(),
                    reason: format!(
                        "stores.{store}.indent must be a number of spaces from 0 to 16"
                    ),
                }),
            }
        };
        Ok(SopsConfig {
            path: path.to_path_buf(),
            rules,
            yaml_indent: indent("yaml")?,
            json_indent: indent("json")?,
        })
    }

    /// How files of `format` are laid out (`stores.yaml.indent`, `stores.json.indent`).
    pub fn layout(&self, format: Format) -> super::stores::Layout {
        super::stores::Layout {
            indent: match format {
                Format::Yaml => self.yaml_indent,
                Format::Json => self.json_indent,
                _ => None,
            },
        }
    }

    /// Whether the config has any creation rule at all.
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The first rule matching `file` (its path is made relative to the config's directory when it
    /// lies below it, as sops does).
    pub fn rule_for(&self, file: &Path) -> Result<CreationRule, ConfigError> {
        let shown = self.path.display().to_string();
        let relative = relative_to_config(&self.path, file);
        for (regex, map, index) in &self.rules {
            if regex.as_ref().is_none_or(|r| r.is_match(&relative)) {
                return parse_rule(map).map_err(|reason| ConfigError::Rule {
                    path: shown.clone(),
                    index: *index,
                    reason,
                });
            }
        }
        Err(ConfigError::NoMatch {
            path: shown,
            file: relative,
        })
    }
}

fn relative_to_config(config: &Path, file: &Path) -> String {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let file_abs = absolute(file);
    let dir = config.parent().map(absolute).unwrap_or_default();
    match file_abs.strip_prefix(&dir) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => file_abs.to_string_lossy().into_owned(),
    }
}

fn string(map: &Map, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `age: "a,b"` or `age: [a, b]`.
fn recipients(value: Option<&Value>) -> Result<Vec<Recipient>, String> {
    let describe = |e: KeyError| e.to_string();
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Str(s)) => parse_recipient_list(s).map_err(describe),
        Some(Value::Seq(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Str(s) => out.extend(parse_recipient_list(s).map_err(describe)?),
                    Value::Comment(_) => {}
                    other => {
                        return Err(format!(
                            "age: expected recipients, found a {}",
                            other.kind()
                        ))
                    }
                }
            }
            Ok(out)
        }
        Some(other) => Err(format!(
            "age: expected a string or list, found a {}",
            other.kind()
        )),
    }
}

const FOREIGN_KEYS: [&str; 6] = [
    "pgp",
    "kms",
    "gcp_kms",
    "azure_keyvault",
    "hc_vault_transit_uri",
    "hc_vault",
];

fn refuse_foreign(map: &Map, at: &str) -> Result<(), String> {
    for kind in FOREIGN_KEYS {
        let used = match map.get(kind) {
            None | Some(Value::Null) => false,
            Some(Value::Str(s)) => !s.is_empty(),
            Some(Value::Seq(items)) => !items.is_empty(),
            Some(_) => true,
        };
        if used {
            return Err(format!(
                "{at}{kind} keys are not supported by sealctl (age only); encrypt this file with sops, or replace them with age recipients"
            ));
        }
    }
    Ok(())
}

fn parse_rule(map: &Map) -> Result<CreationRule, String> {
    refuse_foreign(map, "")?;
    let mut groups = Vec::new();
    match map.get("key_groups") {
        None | Some(Value::Null) => {}
        Some(Value::Seq(items)) => {
            for (i, item) in items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .enumerate()
            {
                let group = item
                    .as_map()
                    .ok_or_else(|| format!("key_groups[{i}]: expected a map"))?;
                refuse_foreign(group, &format!("key_groups[{i}]: "))?;
                let list =
                    recipients(group.get("age")).map_err(|e| format!("key_groups[{i}]: {e}"))?;
                if list.is_empty() {
                    return Err(format!("key_groups[{i}]: no age recipients"));
                }
                groups.push(list);
            }
        }
        Some(_) => return Err("key_groups must be a list".into()),
    }
    let flat = recipients(map.get("age"))?;
    if !flat.is_empty() {
        if !groups.is_empty() {
            return Err("use either age or key_groups, not both".into());
        }
        groups.push(flat);
    }
    if groups.is_empty() {
        return Err("the rule names no age recipients".into());
    }
    let threshold = match map.get("shamir_threshold") {
        None | Some(Value::Null) => 0,
        Some(Value::Int(i)) if *i >= 0 => *i as usize,
        Some(Value::Str(s)) => s
            .parse()
            .map_err(|_| "shamir_threshold must be a non-negative integer".to_string())?,
        Some(_) => return Err("shamir_threshold must be a non-negative integer".into()),
    };
    let rules = RuleSet {
        unencrypted_suffix: string(map, "unencrypted_suffix"),
        encrypted_suffix: string(map, "encrypted_suffix"),
        unencrypted_regex: string(map, "unencrypted_regex"),
        encrypted_regex: string(map, "encrypted_regex"),
        unencrypted_comment_regex: string(map, "unencrypted_comment_regex"),
        encrypted_comment_regex: string(map, "encrypted_comment_regex"),
        mac_only_encrypted: matches!(map.get("mac_only_encrypted"), Some(Value::Bool(true))),
    };
    Ok(CreationRule {
        groups,
        threshold,
        rules,
    })
}
