//! Classifies the documents that reference external stores: `ExternalSecret`, `SecretStore`,
//! `ClusterSecretStore` and Secrets with argocd-vault-plugin placeholders, each checked against the
//! namespace policy (and, for cluster stores, `--cluster-store-path`) before the resolver sees it.

use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use sealsync_external::avp::{self, AvpSecret};
use sealsync_external::store::SecretStore;
use sealsync_external::{ExternalSecret, StoreKind, Unsupported, ESO_GROUP};

use super::{Classifier, FileOutcome, Reason, Refusal};
use crate::desired::SecretKey;
use crate::sops::tree::{Map, MapItem, Value};

/// A parsed reference document, as the resolver consumes it.
#[derive(Debug)]
pub enum ExternalDoc {
    Secret(ExternalSecret),
    Store(SecretStore),
    Avp(AvpSecret),
}

/// One reference document and where it was read (file and commit).
#[derive(Debug)]
pub struct ExternalObject {
    pub path: String,
    pub document: usize,
    pub commit: String,
    /// The namespace it lives in (the default namespace when it names none); empty for a cluster store.
    pub namespace: String,
    pub doc: ExternalDoc,
}

impl ExternalObject {
    /// The Secret it writes (ExternalSecret, AVP Secret); None for a store.
    pub fn target(&self) -> Option<SecretKey> {
        match &self.doc {
            ExternalDoc::Secret(es) => Some(SecretKey::new(&self.namespace, es.target_name())),
            ExternalDoc::Avp(s) => Some(SecretKey::new(&self.namespace, &s.metadata.name)),
            ExternalDoc::Store(_) => None,
        }
    }
}

/// The paths a `ClusterSecretStore` may be read from (`--cluster-store-path`); none = refused.
#[derive(Clone, Debug, Default)]
pub struct ClusterStorePaths {
    globs: Vec<String>,
    set: Option<GlobSet>,
}

impl ClusterStorePaths {
    pub fn new(globs: &[String]) -> Result<ClusterStorePaths, globset::Error> {
        if globs.is_empty() {
            return Ok(ClusterStorePaths::default());
        }
        let mut b = GlobSetBuilder::new();
        for g in globs {
            b.add(Glob::new(g)?);
        }
        Ok(ClusterStorePaths {
            globs: globs.to_vec(),
            set: Some(b.build()?),
        })
    }

    fn allows(&self, path: &str) -> Result<(), String> {
        match &self.set {
            None => Err("a ClusterSecretStore is refused: no --cluster-store-path allows any path".into()),
            Some(s) if s.is_match(path) => Ok(()),
            Some(_) => Err(format!(
                "a ClusterSecretStore is refused from this path: --cluster-store-path allows only {}",
                self.globs.join(", ")
            )),
        }
    }

    /// A SecretStore that logs in as the agent itself is trusted like a ClusterSecretStore: only from
    /// the paths `--cluster-store-path` allows (else any folder could send the agent's own token to a
    /// server it names, or read what the agent's AWS role can).
    fn allows_agent_identity(&self, path: &str) -> Result<(), String> {
        const WHY: &str = "this store logs in as the agent itself (Vault kubernetes auth without serviceAccountRef or secretRef, or AWS without auth), which only stores from --cluster-store-path paths may do";
        match &self.set {
            Some(s) if s.is_match(path) => Ok(()),
            None => Err(format!("{WHY}: none is set; give the store a serviceAccountRef or credentials Secret, or allow its path")),
            Some(_) => Err(format!("{WHY}: they are {}; give the store a serviceAccountRef or credentials Secret, or move it there", self.globs.join(", "))),
        }
    }
}

/// Whether a plain (not encrypted) document is one of ours; `true` when it was handled.
pub(super) fn classify(
    c: &Classifier<'_>,
    (path, index, commit): (&str, usize, &str),
    doc: &Map,
    was_encrypted: bool,
    out: &mut FileOutcome,
) -> bool {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let eso = api_version
        .split_once('/')
        .is_some_and(|(g, _)| g == ESO_GROUP);
    let refuse = |key: Option<SecretKey>, reason, message: String| Refusal {
        path: path.to_string(),
        document: Some(index),
        key,
        reason,
        message,
    };
    // Only documents of ours are copied to JSON: never a decrypted Secret, whose values the copy would
    // hold; and the copy is wiped when dropped (an encrypted ExternalSecret or store was decrypted).
    let json = || Json(to_json(doc));
    let parsed = match (eso, kind) {
        (true, "ExternalSecret") => ExternalSecret::parse(&json().0, path).map(ExternalDoc::Secret),
        (true, "SecretStore" | "ClusterSecretStore") => {
            SecretStore::parse(&json().0, path).map(ExternalDoc::Store)
        }
        (false, "Secret") if api_version == "v1" && !was_encrypted => {
            match avp::parse_secret(&json().0, path) {
                Ok(Some(s)) => Ok(ExternalDoc::Avp(s)),
                Ok(None) => return false,
                Err(e) => Err(e),
            }
        }
        _ => return false,
    };
    let doc = match parsed {
        Ok(d) => d,
        Err(e) => {
            out.refused
                .push(refuse(None, Reason::Invalid, e.to_string()));
            return true;
        }
    };
    let (namespace, cluster, unsupported) = match &doc {
        ExternalDoc::Secret(es) => (es.metadata.namespace.clone(), false, list(&es.unsupported)),
        ExternalDoc::Avp(s) => (s.metadata.namespace.clone(), false, list(&s.unsupported)),
        ExternalDoc::Store(s) => (
            s.metadata.namespace.clone(),
            s.kind == StoreKind::ClusterSecretStore,
            list(&s.unsupported),
        ),
    };
    let namespace = if cluster {
        String::new()
    } else {
        namespace.unwrap_or_else(|| c.default_namespace.to_string())
    };
    let object = ExternalObject {
        path: path.to_string(),
        document: index,
        commit: commit.to_string(),
        namespace,
        doc,
    };
    let key = object.target();
    if !unsupported.is_empty() {
        out.refused.push(refuse(
            key,
            Reason::Unsupported,
            format!("uses what sealsync does not support: {unsupported}"),
        ));
        return true;
    }
    let agent_identity = matches!(&object.doc, ExternalDoc::Store(s) if s.uses_agent_identity());
    let allowed = if cluster {
        c.cluster_store_paths.allows(path)
    } else if !c.policy.allows(path, &object.namespace) {
        Err(format!(
            "namespace '{}' is not allowed for this path: it may target {}",
            object.namespace,
            c.policy.describe(path)
        ))
    } else if agent_identity {
        c.cluster_store_paths.allows_agent_identity(path)
    } else {
        Ok(())
    };
    match allowed {
        Ok(()) => out.external.push(Arc::new(object)),
        Err(message) => out.refused.push(refuse(key, Reason::Policy, message)),
    }
    true
}

fn list(unsupported: &[Unsupported]) -> String {
    unsupported
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A document's JSON copy, its strings zeroized when dropped.
struct Json(serde_json::Value);

impl Drop for Json {
    fn drop(&mut self) {
        fn wipe(v: &mut serde_json::Value) {
            use zeroize::Zeroize;
            match v {
                serde_json::Value::String(s) => s.zeroize(),
                serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
                serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.0);
    }
}

/// The document as JSON, the model `sealsync-external` reads.
pub(super) fn to_json(doc: &Map) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for item in &doc.0 {
        if let MapItem::Entry(k, v) = item {
            m.insert(k.clone(), value_to_json(v));
        }
    }
    serde_json::Value::Object(m)
}

fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Map(m) => to_json(m),
        Value::Seq(items) => J::Array(
            items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(value_to_json)
                .collect(),
        ),
        Value::Str(s) | Value::Time(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Bool(b) => J::Bool(*b),
        Value::Null | Value::Comment(_) => J::Null,
    }
}
