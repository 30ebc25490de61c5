//! Which Secrets are argocd-vault-plugin Secrets, and their plan: every `data`/`stringData` value cut
//! into literal text and placeholders, each with its remote reference and modifiers.
//!
//! **Which Secrets count.** A `v1` `Secret` without SOPS metadata and without
//! `avp.kubernetes.io/ignore: "true"` is an AVP Secret when either
//! - it carries `avp.kubernetes.io/path`: then, as in AVP, every `<...>` in a `data` or `stringData`
//!   value is a placeholder (`<KEY>` reads KEY from that path; `<path:...>` still works); or
//! - a `data` or `stringData` value (or the base64-decoded text of a `data` value) contains a
//!   `<path:PATH#KEY[#VERSION]>` placeholder.
//!
//! So an ordinary value holding `<` (HTML, `<none>`) never makes a Secret an AVP Secret, while text
//! that starts a placeholder (`<path:`) but does not complete one is an error rather than text
//! silently committed (AVP would leave it as is). Placeholders in labels or annotations, which AVP
//! also fills, are reported unsupported.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::modifiers::Modifier;
use crate::error::{Error, Unsupported};
use crate::limits::{MAX_ITEMS, MAX_VALUE_BYTES};
use crate::meta::{read_meta, ObjectMeta, Origin};
use crate::pipeline::decode::decode_base64;

pub const PATH_ANNOTATION: &str = "avp.kubernetes.io/path";
pub const KV_VERSION_ANNOTATION: &str = "avp.kubernetes.io/kv-version";
pub const SECRET_VERSION_ANNOTATION: &str = "avp.kubernetes.io/secret-version";
pub const IGNORE_ANNOTATION: &str = "avp.kubernetes.io/ignore";
pub const REMOVE_MISSING_ANNOTATION: &str = "avp.kubernetes.io/remove-missing";
/// sealsync's own: the store (by name) that resolves this Secret's placeholders.
pub const STORE_ANNOTATION: &str = "sealsync.dev/store";

/// AVP's own expressions (`pkg/kube/util.go`): `U` makes the quantifiers lazy, as in Go.
fn generic_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?mU)<(.*)>").expect("constant regex"))
}
fn specific_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?mU)<path:([^#]+)#([^#]+)(?:#([^#]+))?>").expect("constant regex")
    })
}
fn inline_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?mU)path:(?P<path>[^#]+?)#(?P<key>[^#]+?)(?:#(?P<version>.+?))??")
            .expect("constant regex")
    })
}

/// A remote value: the key of the secret at a full Vault API path (`secret/data/app` for KV v2),
/// or of an AWS secret by name, at an optional version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteRef {
    pub path: String,
    pub key: String,
    pub version: Option<String>,
}

/// One placeholder: where its value comes from and what is done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholder {
    pub reference: RemoteRef,
    pub modifiers: Vec<Modifier>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Placeholder(Placeholder),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Data,
    StringData,
}

/// How a value's filled text becomes its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `stringData`: the text is the value.
    Text,
    /// `data` with placeholders in the base64 text itself: the filled text must be base64
    /// (users write `| base64encode`), and is decoded.
    Base64,
    /// `data` whose base64 decodes to text with placeholders: filled, the text is the value
    /// (AVP re-encodes it).
    Base64Wrapped,
}

/// One key of the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub field: Field,
    pub key: String,
    pub encoding: Encoding,
    pub parts: Vec<Part>,
}

impl Entry {
    /// `data.KEY` or `stringData.KEY`, for messages.
    pub fn location(&self) -> String {
        match self.field {
            Field::Data => format!("data.{}", self.key),
            Field::StringData => format!("stringData.{}", self.key),
        }
    }
}

/// A Secret with placeholders, ready to be fetched for and filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvpSecret {
    pub origin: Origin,
    pub metadata: ObjectMeta,
    pub secret_type: Option<String>,
    pub immutable: Option<bool>,
    /// `sealsync.dev/store`; `None` = the agent's `--default-store`.
    pub store: Option<String>,
    /// `avp.kubernetes.io/kv-version` (`1` or `2`); `None` = the store's.
    pub kv_version: Option<u8>,
    /// `avp.kubernetes.io/remove-missing: "true"`: a key whose remote key is missing is dropped.
    pub remove_missing: bool,
    /// Every key, literal ones included; `stringData` after `data` (it wins, as the API server merges).
    pub entries: Vec<Entry>,
    pub unsupported: Vec<Unsupported>,
}

impl AvpSecret {
    /// Every placeholder with its location, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = (String, &Placeholder)> + '_ {
        self.entries.iter().flat_map(|e| {
            e.parts.iter().filter_map(move |p| match p {
                Part::Placeholder(ph) => Some((e.location(), ph)),
                Part::Text(_) => None,
            })
        })
    }

    /// The distinct remote references to fetch.
    pub fn references(&self) -> std::collections::BTreeSet<&RemoteRef> {
        self.placeholders().map(|(_, p)| &p.reference).collect()
    }
}

/// Go's `strconv.ParseBool` truth values.
fn truthy(v: Option<&String>) -> bool {
    matches!(
        v.map(String::as_str),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True")
    )
}

/// Whether a value holds a placeholder by the rule in the module documentation (for `sealctl check`).
pub fn has_placeholder(value: &str, has_path_annotation: bool) -> bool {
    if has_path_annotation {
        generic_re().is_match(value)
    } else {
        specific_re().is_match(value)
    }
}

/// Reads a `Secret` document: `Ok(None)` when it is not an AVP Secret (by the rule above).
pub fn parse_secret(doc: &Value, file: &str) -> Result<Option<AvpSecret>, Error> {
    if doc.get("kind").and_then(Value::as_str) != Some("Secret")
        || doc.get("apiVersion").and_then(Value::as_str) != Some("v1")
        || doc.get("sops").is_some()
    {
        return Ok(None);
    }
    let metadata = read_meta(doc).map_err(|reason| Error::Document {
        file: file.into(),
        reason: format!("Secret: {reason}"),
    })?;
    let ann = &metadata.annotations;
    if truthy(ann.get(IGNORE_ANNOTATION)) {
        return Ok(None);
    }
    let origin = Origin {
        file: file.into(),
        kind: "Secret".into(),
        namespace: metadata.namespace.clone(),
        name: metadata.name.clone(),
    };
    let path = ann.get(PATH_ANNOTATION).filter(|p| !p.is_empty()).cloned();
    let version = ann
        .get(SECRET_VERSION_ANNOTATION)
        .filter(|v| !v.is_empty())
        .cloned();
    let cx = Cx {
        origin: &origin,
        path: path.as_deref(),
        version: version.as_deref(),
    };
    let entries = cx.entries(doc)?;
    let count = entries
        .iter()
        .flat_map(|e| &e.parts)
        .filter(|p| matches!(p, Part::Placeholder(_)))
        .count();
    if path.is_none() && count == 0 {
        return Ok(None);
    }
    if count > MAX_ITEMS {
        return Err(Error::limit(
            &origin,
            "placeholders",
            format!("{count} exceed the limit of {MAX_ITEMS}"),
        ));
    }
    let kv_version = match ann.get(KV_VERSION_ANNOTATION).map(String::as_str) {
        None => None,
        Some("1") => Some(1),
        Some("2") => Some(2),
        Some(other) => {
            return Err(Error::invalid(
                &origin,
                format!("metadata.annotations.{KV_VERSION_ANNOTATION}"),
                format!("{other:?} is not 1 or 2"),
            ))
        }
    };
    let unsupported = metadata_placeholders(&metadata);
    Ok(Some(AvpSecret {
        secret_type: doc.get("type").and_then(Value::as_str).map(str::to_string),
        immutable: doc.get("immutable").and_then(Value::as_bool),
        store: ann.get(STORE_ANNOTATION).filter(|s| !s.is_empty()).cloned(),
        kv_version,
        remove_missing: truthy(ann.get(REMOVE_MISSING_ANNOTATION)),
        origin,
        metadata,
        entries,
        unsupported,
    }))
}

/// Placeholders in labels or annotations, which AVP fills and sealsync does not.
fn metadata_placeholders(metadata: &ObjectMeta) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for (what, map) in [
        ("labels", &metadata.labels),
        ("annotations", &metadata.annotations),
    ] {
        for (k, v) in map {
            if specific_re().is_match(v) {
                out.push(Unsupported::new(
                    format!("metadata.{what}.{k}"),
                    Some("placeholders are filled in data and stringData only".into()),
                ));
            }
        }
    }
    out
}

struct Cx<'a> {
    origin: &'a Origin,
    path: Option<&'a str>,
    version: Option<&'a str>,
}

impl Cx<'_> {
    /// Every `data` then `stringData` key, cut into parts.
    fn entries(&self, doc: &Value) -> Result<Vec<Entry>, Error> {
        let mut entries = Vec::new();
        for (field, name) in [(Field::Data, "data"), (Field::StringData, "stringData")] {
            match doc.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        let text = v.as_str().ok_or_else(|| {
                            Error::invalid(self.origin, format!("{name}.{k}"), "must be a string")
                        })?;
                        entries.push(self.entry(field, k, text)?);
                    }
                }
                Some(_) => {
                    return Err(Error::invalid(
                        self.origin,
                        name,
                        "must be a map of strings",
                    ))
                }
            }
        }
        Ok(entries)
    }

    fn entry(&self, field: Field, key: &str, text: &str) -> Result<Entry, Error> {
        let location = if field == Field::Data {
            format!("data.{key}")
        } else {
            format!("stringData.{key}")
        };
        if text.len() > MAX_VALUE_BYTES {
            return Err(Error::limit(
                self.origin,
                location,
                format!("value exceeds {MAX_VALUE_BYTES} bytes"),
            ));
        }
        if field == Field::Data {
            let decoded = decode_base64(text.as_bytes(), false);
            if let Some(inner) = decoded.as_deref().and_then(|d| std::str::from_utf8(d).ok()) {
                if self.regex().is_match(inner) || inner.contains("<path:") {
                    let parts = self.split(&location, inner)?;
                    return Ok(Entry {
                        field,
                        key: key.into(),
                        encoding: Encoding::Base64Wrapped,
                        parts,
                    });
                }
            }
        }
        let parts = self.split(&location, text)?;
        let encoding = if field == Field::Data {
            Encoding::Base64
        } else {
            Encoding::Text
        };
        Ok(Entry {
            field,
            key: key.into(),
            encoding,
            parts,
        })
    }

    fn regex(&self) -> &'static Regex {
        if self.path.is_some() {
            generic_re()
        } else {
            specific_re()
        }
    }

    /// Cuts a value into text and placeholders.
    fn split(&self, location: &str, text: &str) -> Result<Vec<Part>, Error> {
        let mut parts = Vec::new();
        let mut last = 0;
        for m in self.regex().find_iter(text) {
            self.literal(location, &text[last..m.start()], &mut parts)?;
            let placeholder =
                self.placeholder(m.as_str())
                    .map_err(|reason| Error::Placeholder {
                        origin: Box::new(self.origin.clone()),
                        location: location.to_string(),
                        reason,
                    })?;
            parts.push(Part::Placeholder(placeholder));
            last = m.end();
        }
        self.literal(location, &text[last..], &mut parts)?;
        Ok(parts)
    }

    fn literal(&self, location: &str, text: &str, parts: &mut Vec<Part>) -> Result<(), Error> {
        if text.contains("<path:") {
            return Err(Error::Placeholder {
                origin: Box::new(self.origin.clone()),
                location: location.to_string(),
                reason: "malformed placeholder: expected <path:PATH#KEY[#VERSION]> (with optional | modifiers) on one line".into(),
            });
        }
        if !text.is_empty() {
            parts.push(Part::Text(text.to_string()));
        }
        Ok(())
    }

    /// One matched `<...>`, as AVP's `genericReplacement` reads it.
    fn placeholder(&self, matched: &str) -> Result<Placeholder, String> {
        let inner = matched.trim_matches(|c| c == '<' || c == '>');
        let mut segments = inner.split('|');
        let head = segments.next().unwrap_or("").trim_matches(' ');
        let modifiers = segments
            .map(Modifier::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let reference = match inline_re().captures(head) {
            Some(c) => {
                let key = c.name("key").map(|m| m.as_str().trim()).unwrap_or("");
                let path = c.name("path").map(|m| m.as_str()).unwrap_or("");
                if key.is_empty() || path.trim().is_empty() {
                    return Err("empty path or key in <path:PATH#KEY>".into());
                }
                RemoteRef {
                    path: path.to_string(),
                    key: key.to_string(),
                    version: c
                        .name("version")
                        .map(|m| m.as_str().to_string())
                        .filter(|v| !v.is_empty()),
                }
            }
            None => match self.path {
                Some(path) if !head.is_empty() => RemoteRef {
                    path: path.to_string(),
                    key: head.to_string(),
                    version: self.version.map(str::to_string),
                },
                _ => return Err("empty placeholder <>".into()),
            },
        };
        Ok(Placeholder {
            reference,
            modifiers,
        })
    }
}
