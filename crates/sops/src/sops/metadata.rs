//! The on-disk `sops` metadata (schema of sops' `stores.Metadata`) and its conversion to and from the
//! document tree. Keys sealsync cannot use (PGP, KMS, Vault transit…) are kept as they are so that
//! rewriting a file never drops them silently.

use super::rules::{RuleError, RuleSet};
use super::stores::METADATA_KEY;
use super::tree::{Map, MapItem, Value};

/// One age master key: its recipient and the data key (or Shamir share) it wraps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

/// A key group: every key in it wraps the same data key or share.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    pub age: Vec<AgeKey>,
    /// Master keys of other kinds (`pgp`, `kms`, `gcp_kms`, `azure_kv`, `hc_vault`), preserved verbatim.
    pub foreign: Vec<(String, Value)>,
}

impl KeyGroup {
    /// Names of the non-age key kinds this group holds keys of.
    pub fn foreign_kinds(&self) -> Vec<&str> {
        self.foreign
            .iter()
            .filter(|(_, v)| {
                !matches!(v, Value::Seq(items) if items.is_empty()) && *v != Value::Null
            })
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// Metadata of an encrypted file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    /// Groups needed to recover the data key; 0 means all of them.
    pub shamir_threshold: usize,
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`).
    pub mac: String,
    pub rules: RuleSet,
    pub version: String,
}

/// Why the metadata of a file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("no sops metadata: the file is not encrypted by sops (no top-level 'sops' key)")]
    Missing,
    #[error("sops metadata field '{field}': {reason}")]
    Field { field: String, reason: String },
    #[error("sops metadata lists no keys")]
    NoKeys,
    #[error("sops metadata rules: {0}")]
    Rules(#[from] RuleError),
}

const KEY_KINDS: [&str; 6] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "age", "pgp"];
const GROUP_ORDER: [&str; 6] = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "age"];

fn field_err(field: &str, reason: impl Into<String>) -> MetadataError {
    MetadataError::Field {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// A scalar read as text; flat formats (dotenv, INI) hand everything over as strings.
fn text(map: &Map, field: &str) -> Result<Option<String>, MetadataError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(Value::Int(i)) => Ok(Some(i.to_string())),
        Some(other) => Err(field_err(
            field,
            format!("expected text, found a {}", other.kind()),
        )),
    }
}

fn number(map: &Map, field: &str) -> Result<usize, MetadataError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Int(i)) if *i >= 0 => Ok(*i as usize),
        Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 && *f < 1e6 => Ok(*f as usize),
        Some(Value::Str(s)) if s.is_empty() => Ok(0),
        Some(Value::Str(s)) => s
            .trim()
            .parse()
            .map_err(|_| field_err(field, "expected a non-negative integer")),
        Some(_) => Err(field_err(field, "expected a non-negative integer")),
    }
}

fn flag(map: &Map, field: &str) -> Result<bool, MetadataError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Str(s)) => match s.as_str() {
            "true" | "True" | "TRUE" | "1" => Ok(true),
            "false" | "False" | "FALSE" | "0" | "" => Ok(false),
            _ => Err(field_err(field, "expected true or false")),
        },
        Some(_) => Err(field_err(field, "expected true or false")),
    }
}

fn age_keys(value: Option<&Value>, field: &str) -> Result<Vec<AgeKey>, MetadataError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Seq(items)) => items,
        Some(other) => {
            return Err(field_err(
                field,
                format!("expected a list, found a {}", other.kind()),
            ))
        }
    };
    items
        .iter()
        .filter(|v| !matches!(v, Value::Comment(_)))
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{field}[{i}]");
            let map = item
                .as_map()
                .ok_or_else(|| field_err(&at, "expected a map with recipient and enc"))?;
            let recipient =
                text(map, "recipient")?.ok_or_else(|| field_err(&at, "no recipient"))?;
            let enc = text(map, "enc")?.ok_or_else(|| field_err(&at, "no enc"))?;
            Ok(AgeKey { recipient, enc })
        })
        .collect()
}

fn group_from(map: &Map, field: &str) -> Result<KeyGroup, MetadataError> {
    let mut group = KeyGroup {
        age: age_keys(map.get("age"), &format!("{field}age"))?,
        foreign: Vec::new(),
    };
    for kind in KEY_KINDS.iter().filter(|k| **k != "age") {
        match map.get(kind) {
            None | Some(Value::Null) => {}
            Some(Value::Seq(items)) if items.is_empty() => {}
            Some(v) => group.foreign.push((kind.to_string(), v.clone())),
        }
    }
    Ok(group)
}

fn group_is_empty(group: &KeyGroup) -> bool {
    group.age.is_empty() && group.foreign_kinds().is_empty()
}

impl Metadata {
    /// Reads the `sops` entry of a document.
    pub fn from_document(doc: &Map) -> Result<Metadata, MetadataError> {
        match doc.get(METADATA_KEY) {
            Some(Value::Map(map)) => Metadata::from_map(map),
            Some(_) => Err(field_err(METADATA_KEY, "expected a map")),
            None => Err(MetadataError::Missing),
        }
    }

    pub fn from_map(map: &Map) -> Result<Metadata, MetadataError> {
        let flat = group_from(map, "")?;
        let key_groups = if !group_is_empty(&flat) {
            vec![flat]
        } else {
            match map.get("key_groups") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Seq(items)) => items
                    .iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .enumerate()
                    .map(|(i, item)| {
                        let at = format!("key_groups[{i}].");
                        item.as_map()
                            .ok_or_else(|| field_err(&at, "expected a map"))
                            .and_then(|m| group_from(m, &at))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(field_err("key_groups", "expected a list")),
            }
        };
        if key_groups.is_empty() || key_groups.iter().all(group_is_empty) {
            return Err(MetadataError::NoKeys);
        }
        let rules = RuleSet {
            unencrypted_suffix: text(map, "unencrypted_suffix")?,
            encrypted_suffix: text(map, "encrypted_suffix")?,
            unencrypted_regex: text(map, "unencrypted_regex")?,
            encrypted_regex: text(map, "encrypted_regex")?,
            unencrypted_comment_regex: text(map, "unencrypted_comment_regex")?,
            encrypted_comment_regex: text(map, "encrypted_comment_regex")?,
            mac_only_encrypted: flag(map, "mac_only_encrypted")?,
        }
        .normalized()?;
        Ok(Metadata {
            key_groups,
            shamir_threshold: number(map, "shamir_threshold")?,
            last_modified: text(map, "lastmodified")?
                .ok_or_else(|| field_err("lastmodified", "missing"))?,
            mac: text(map, "mac")?.ok_or_else(|| field_err("mac", "missing"))?,
            rules,
            version: text(map, "version")?.unwrap_or_default(),
        })
    }

    /// The `sops` map as sops 3.11 writes it (field order of its `stores.Metadata`).
    pub fn to_map(&self) -> Map {
        let mut m = Map::new();
        if self.shamir_threshold > 0 {
            m.insert("shamir_threshold", Value::Int(self.shamir_threshold as i64));
        }
        if self.key_groups.len() > 1 {
            let groups = self
                .key_groups
                .iter()
                .map(|g| Value::Map(group_map(g)))
                .collect();
            m.insert("key_groups", Value::Seq(groups));
        } else if let Some(group) = self.key_groups.first() {
            for kind in ["kms", "gcp_kms", "azure_kv", "hc_vault"] {
                if let Some((_, v)) = group.foreign.iter().find(|(k, _)| k == kind) {
                    if !matches!(v, Value::Seq(items) if items.is_empty()) && *v != Value::Null {
                        m.insert(kind, v.clone());
                    }
                }
            }
            if !group.age.is_empty() {
                m.insert("age", age_list(&group.age));
            }
        }
        m.insert("lastmodified", Value::Str(self.last_modified.clone()));
        m.insert("mac", Value::Str(self.mac.clone()));
        if self.key_groups.len() == 1 {
            if let Some((_, v)) = self.key_groups[0].foreign.iter().find(|(k, _)| k == "pgp") {
                if !matches!(v, Value::Seq(items) if items.is_empty()) && *v != Value::Null {
                    m.insert("pgp", v.clone());
                }
            }
        }
        let r = &self.rules;
        for (name, value) in [
            ("unencrypted_suffix", &r.unencrypted_suffix),
            ("encrypted_suffix", &r.encrypted_suffix),
            ("unencrypted_regex", &r.unencrypted_regex),
            ("encrypted_regex", &r.encrypted_regex),
            ("unencrypted_comment_regex", &r.unencrypted_comment_regex),
            ("encrypted_comment_regex", &r.encrypted_comment_regex),
        ] {
            if let Some(v) = value {
                m.insert(name, Value::Str(v.clone()));
            }
        }
        if r.mac_only_encrypted {
            m.insert("mac_only_encrypted", Value::Bool(true));
        }
        m.insert("version", Value::Str(self.version.clone()));
        m
    }

    /// Every age recipient, by group.
    pub fn recipients(&self) -> Vec<Vec<&str>> {
        self.key_groups
            .iter()
            .map(|g| g.age.iter().map(|k| k.recipient.as_str()).collect())
            .collect()
    }
}

fn age_list(keys: &[AgeKey]) -> Value {
    Value::Seq(
        keys.iter()
            .map(|k| {
                let mut e = Map::new();
                e.insert("recipient", Value::Str(k.recipient.clone()));
                e.insert("enc", Value::Str(k.enc.clone()));
                Value::Map(e)
            })
            .collect(),
    )
}

fn group_map(group: &KeyGroup) -> Map {
    let mut m = Map::new();
    for kind in GROUP_ORDER {
        match kind {
            "age" => m.insert("age", age_list(&group.age)),
            "hc_vault" => {
                let v = group
                    .foreign
                    .iter()
                    .find(|(k, _)| k == kind)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Seq(Vec::new()));
                m.insert(kind, v);
            }
            _ => {
                if let Some((_, v)) = group.foreign.iter().find(|(k, _)| k == kind) {
                    if !matches!(v, Value::Seq(items) if items.is_empty()) && *v != Value::Null {
                        m.insert(kind, v.clone());
                    }
                }
            }
        }
    }
    m
}

/// Removes the `sops` entry from a document, if present.
pub fn strip(doc: &mut Map) {
    doc.0
        .retain(|item| !matches!(item, MapItem::Entry(k, _) if k == METADATA_KEY));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        Metadata {
            key_groups: vec![KeyGroup {
                age: vec![AgeKey {
                    recipient: "age1abc".into(),
                    enc:
                        "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n"
                            .into(),
                }],
                foreign: vec![],
            }],
            shamir_threshold: 0,
            last_modified: "2026-11-22T03:46:24Z".into(),
            mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into(),
            rules: RuleSet {
                encrypted_regex: Some("^(data|stringData)$".into()),
                ..Default::default()
            },
            version: "3.11.0".into(),
        }
    }

    #[test]
    fn round_trips_and_keeps_sops_field_order() {
        let m = sample();
        let map = m.to_map();
        let keys: Vec<_> = map.entries().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["age", "lastmodified", "mac", "encrypted_regex", "version"]
        );
        assert_eq!(Metadata::from_map(&map).unwrap(), m);
    }

    #[test]
    fn several_groups_use_key_groups() {
        let mut m = sample();
        m.key_groups.push(m.key_groups[0].clone());
        m.shamir_threshold = 2;
        let map = m.to_map();
        let keys: Vec<_> = map.entries().map(|(k, _)| k).collect();
        assert_eq!(keys[..2], ["shamir_threshold", "key_groups"]);
        assert_eq!(Metadata::from_map(&map).unwrap(), m);
    }

    #[test]
    fn flat_strings_are_accepted() {
        let mut map = sample().to_map();
        map.insert("shamir_threshold", Value::Str("2".into()));
        map.insert("mac_only_encrypted", Value::Str("true".into()));
        let m = Metadata::from_map(&map).unwrap();
        assert_eq!(m.shamir_threshold, 2);
        assert!(m.rules.mac_only_encrypted);
    }

    #[test]
    fn missing_keys_and_fields_are_reported() {
        let mut map = sample().to_map();
        map.remove("age");
        assert!(matches!(
            Metadata::from_map(&map),
            Err(MetadataError::NoKeys)
        ));
        let mut map = sample().to_map();
        map.remove("mac");
        let err = Metadata::from_map(&map).unwrap_err().to_string();
        assert!(err.contains("'mac'"), "{err}");
    }
}
