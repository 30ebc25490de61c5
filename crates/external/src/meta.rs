//! Where an object came from (file, kind, namespace, name) and the metadata this crate reads.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// The file and object an error or result is about: `FILE: KIND NS/NAME`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// Path of the file, as the caller names it (relative to the repository root).
    pub file: String,
    /// `ExternalSecret`, `SecretStore`, `ClusterSecretStore` or `Secret`.
    pub kind: String,
    /// The namespace written in the document, if any (the engine may default it).
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}: {} {}/{}", self.file, self.kind, ns, self.name),
            None => write!(f, "{}: {} {}", self.file, self.kind, self.name),
        }
    }
}

/// The part of `metadata` this crate uses; other metadata fields (uid, resourceVersion, ...) are
/// legitimately present in exported manifests and ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Reads `metadata` of a document of the given kind; the error is a message for [`crate::Error::Document`].
pub(crate) fn read_meta(doc: &Value) -> Result<ObjectMeta, String> {
    let meta = doc
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or("metadata: required")?;
    let name = match meta.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("metadata.name: required (a non-empty string)".into()),
    };
    let namespace = match meta.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => return Err("metadata.namespace: must be a non-empty string".into()),
    };
    Ok(ObjectMeta {
        name,
        namespace,
        labels: string_map(meta.get("labels"), "metadata.labels")?,
        annotations: string_map(meta.get("annotations"), "metadata.annotations")?,
    })
}

fn string_map(v: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    _ => return Err(format!("{field}.{k}: must be a string")),
                }
            }
        }
        Some(_) => return Err(format!("{field}: must be a map of strings")),
    }
    Ok(out)
}
