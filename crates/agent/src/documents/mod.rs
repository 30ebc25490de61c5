//! Turns the files of a git snapshot into desired Secrets: every YAML/JSON document is classified as
//! a SOPS document (decrypted, MAC always verified), a plain Secret, an object sealsync does not manage
//! (ignored), or an error that names the file, the document and the reason. One bad document never
//! stops the others.

mod binding;
pub mod external;
mod kustomize;
mod secret;

pub use external::{ClusterStorePaths, ExternalDoc, ExternalObject};

pub use secret::secret_from_document;

use std::fmt;
use std::sync::Arc;

use crate::desired::{DesiredSecret, SecretKey};
use crate::keys::Identities;
use crate::policy::{DecryptionPolicy, NamespacePolicy, PathIdentities};
pub use crate::reason::Reason;
use crate::sops::file::{self, SopsError};
use crate::sops::keygroups::KeyGroupError;
use crate::sops::metadata::Metadata;
use crate::sops::stores::{Format, METADATA_KEY};
use crate::sops::tree::{Map, Value};

/// A refused document (or a whole file, when `document` is None). The message never holds a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    /// 1-based index of the document in a multi-document file.
    pub document: Option<usize>,
    /// The Secret it declared, when that much could be read.
    pub key: Option<SecretKey>,
    pub reason: Reason,
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(d) = self.document {
            write!(f, " (document {d})")?;
        }
        if let Some(k) = &self.key {
            write!(f, " [Secret {k}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// An object seen and left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    pub path: String,
    pub document: usize,
    pub api_version: String,
    pub kind: String,
}

/// What one file yielded.
#[derive(Debug, Default)]
pub struct FileOutcome {
    pub secrets: Vec<Arc<DesiredSecret>>,
    pub refused: Vec<Refusal>,
    pub ignored: Vec<Ignored>,
    /// ExternalSecrets, stores and AVP Secrets, for the resolver.
    pub external: Vec<Arc<ExternalObject>>,
}

/// What classification needs besides the file.
pub struct Classifier<'a> {
    /// The global identities: every path no decryption rule matches is decrypted with them.
    pub identities: &'a Identities,
    /// Per-path identities (`--decryption-policy`); empty in single-tenant mode.
    pub decryption: &'a DecryptionPolicy,
    pub policy: &'a NamespacePolicy,
    /// Namespace of documents that name none.
    pub default_namespace: &'a str,
    /// Files larger than this are refused unread.
    pub max_file_size: u64,
    /// Where a ClusterSecretStore may be read from.
    pub cluster_store_paths: &'a ClusterStorePaths,
}

/// Whether a path is a manifest file sealsync reads: YAML or JSON, not hidden (`.sops.yaml`,
/// `.github/…`). Kustomize files are read too, to refuse a `secretGenerator` rather than skip it.
pub fn is_manifest(path: &str) -> bool {
    // Runs for every file of every snapshot: compares in place instead of lowercasing a copy.
    let file = path.rsplit('/').next().unwrap_or(path);
    let ends_with = |suffix: &str| {
        file.len() >= suffix.len()
            && file.as_bytes()[file.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    let manifest = ends_with(".yaml") || ends_with(".yml") || ends_with(".json");
    let hidden = path.split('/').any(|part| part.starts_with('.'));
    manifest && !hidden
}

/// The largest Secret the API server stores (1 MiB, the etcd object limit it enforces).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

impl Classifier<'_> {
    /// A file too large to read.
    /// A file whose bytes could not be read again from the git cache.
    pub fn unreadable(&self, path: &str, reason: String) -> FileOutcome {
        FileOutcome {
            refused: vec![Refusal {
                path: path.to_string(),
                document: None,
                key: None,
                reason: Reason::Unreadable,
                message: format!(
                    "{reason}; its Secrets keep their last good values until the next fetch"
                ),
            }],
            ..Default::default()
        }
    }

    pub fn too_large(&self, path: &str, size: u64) -> FileOutcome {
        FileOutcome {
            refused: vec![Refusal {
                path: path.to_string(),
                document: None,
                key: None,
                reason: Reason::TooLarge,
                message: format!(
                    "file is {size} bytes, over the limit of {} bytes (raise --max-file-size if it is meant to be this large)",
                    self.max_file_size
                ),
            }],
            ..Default::default()
        }
    }

    /// Classifies every document of one file. `commit` is recorded as the source of its Secrets.
    pub fn classify(&self, path: &str, bytes: &[u8], commit: &str) -> FileOutcome {
        if bytes.len() as u64 > self.max_file_size {
            return self.too_large(path, bytes.len() as u64);
        }
        let format = if path.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Yaml
        };
        let file_refusal = |reason, message: String| FileOutcome {
            refused: vec![Refusal {
                path: path.to_string(),
                document: None,
                key: None,
                reason,
                message,
            }],
            ..Default::default()
        };
        let docs = match format.store().load_encrypted(bytes) {
            Ok(docs) => docs,
            Err(e) => {
                return file_refusal(
                    Reason::Parse,
                    format!("cannot parse as {}: {e}", format.name()),
                )
            }
        };
        // The YAML store refuses duplicate keys itself.
        if let Some(key) = (format == Format::Json)
            .then(|| duplicate_key(&docs))
            .flatten()
        {
            return file_refusal(
                Reason::Parse,
                format!("cannot parse as {}: key '{key}' is given twice (the Kubernetes API refuses a duplicate field, and readers disagree on which one counts)", format.name()),
            );
        }
        let mut out = FileOutcome::default();
        let sops_docs = docs
            .iter()
            .filter(|d| d.get(METADATA_KEY).is_some())
            .count();
        let identities = self.decryption.identities_for(path, self.identities);
        if sops_docs > 0 && sops_docs == docs.len() && shared_metadata(&docs) {
            // One sops file, possibly of several documents: one data key, one MAC over them all.
            let unbound: Vec<Option<String>> =
                docs.iter().map(|d| self.unbound(d, &identities)).collect();
            match file::decrypt_docs(docs, identities.identities()) {
                Ok(decrypted) => {
                    for (i, doc) in decrypted.docs().iter().enumerate() {
                        let why = unbound[i].clone();
                        if !self.bound(path, i + 1, doc, why, &identities, &mut out) {
                            continue;
                        }
                        self.document(path, i + 1, doc, commit, true, &mut out);
                    }
                }
                Err(e) => {
                    let (reason, message) = sops_failure(&e, &identities);
                    out.refused.push(Refusal {
                        path: path.to_string(),
                        document: None,
                        key: None,
                        reason,
                        message,
                    });
                }
            }
            return out;
        }
        // Documents encrypted one by one (as Flux decrypts them), or plain ones.
        for (i, doc) in docs.into_iter().enumerate() {
            let index = i + 1;
            if doc.get(METADATA_KEY).is_some() {
                let why = self.unbound(&doc, &identities);
                match file::decrypt_docs(vec![doc], identities.identities()) {
                    Ok(decrypted) => {
                        let doc = &decrypted.docs()[0];
                        if self.bound(path, index, doc, why, &identities, &mut out) {
                            self.document(path, index, doc, commit, true, &mut out)
                        }
                    }
                    Err(e) => {
                        let (reason, message) = sops_failure(&e, &identities);
                        out.refused.push(Refusal {
                            path: path.to_string(),
                            document: Some(index),
                            key: None,
                            reason,
                            message,
                        });
                    }
                }
            } else {
                self.document(path, index, &doc, commit, false, &mut out);
            }
        }
        out
    }

    /// Whether this path's encrypted documents must have their target bound by the MAC: a namespace
    /// policy divides the repository between teams, and no decryption rule scopes the path to one
    /// team's identities (with one, a file that decrypts here was encrypted for this team).
    fn guarded(&self, identities: &PathIdentities) -> bool {
        self.policy.has_rules() && !identities.is_scoped()
    }

    /// Before decryption: why the target of an encrypted document is outside its MAC, where that
    /// matters (see `guarded`).
    fn unbound(&self, raw: &Map, identities: &PathIdentities) -> Option<String> {
        if !self.guarded(identities) {
            return None;
        }
        let mac_only = Metadata::from_document(raw).is_ok_and(|m| m.rules.mac_only_encrypted);
        binding::unbound_target(raw, mac_only)
    }

    /// After decryption: refuses (into `out`) a Secret whose target its MAC does not bind. Answers
    /// whether the document may go on.
    fn bound(
        &self,
        path: &str,
        index: usize,
        doc: &Map,
        unbound: Option<String>,
        identities: &PathIdentities,
        out: &mut FileOutcome,
    ) -> bool {
        let is_secret = doc.get("apiVersion").and_then(Value::as_str) == Some("v1")
            && doc.get("kind").and_then(Value::as_str) == Some("Secret");
        if !is_secret {
            return true;
        }
        let why = unbound
            .or_else(|| binding::unknown_metadata_key(doc))
            .or_else(|| {
                self.guarded(identities)
                    .then(|| binding::missing_namespace(doc))
                    .flatten()
            });
        let Some(message) = why else {
            return true;
        };
        out.refused.push(Refusal {
            path: path.to_string(),
            document: Some(index),
            key: declared_key(doc, self.default_namespace),
            reason: Reason::Unbound,
            message,
        });
        false
    }

    fn document(
        &self,
        path: &str,
        index: usize,
        doc: &Map,
        commit: &str,
        was_encrypted: bool,
        out: &mut FileOutcome,
    ) {
        if doc.is_empty() {
            return;
        }
        let refuse = |reason, key: Option<SecretKey>, message: String| Refusal {
            path: path.to_string(),
            document: Some(index),
            key,
            reason,
            message,
        };
        let api_version = doc.get("apiVersion").and_then(Value::as_str);
        let kind = doc.get("kind").and_then(Value::as_str);
        // Kustomize files need neither apiVersion nor kind.
        if kustomize::is_kustomization(path)
            || api_version.is_some_and(|v| v.starts_with("kustomize.config.k8s.io/"))
        {
            match kustomize::refusal(doc) {
                Some(message) => out.refused.push(refuse(Reason::Invalid, None, message)),
                None => out.ignored.push(Ignored {
                    path: path.to_string(),
                    document: index,
                    api_version: api_version
                        .unwrap_or("kustomize.config.k8s.io/v1beta1")
                        .into(),
                    kind: kind.unwrap_or("Kustomization").into(),
                }),
            }
            return;
        }
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            out.refused.push(refuse(
                Reason::Invalid,
                None,
                "not a Kubernetes object (apiVersion and kind are required)".into(),
            ));
            return;
        };
        if external::classify(self, (path, index, commit), doc, was_encrypted, out) {
            return;
        }
        if kind == "Secret" && api_version != "v1" {
            // A typo that would otherwise drop the Secret silently: Secrets have one version.
            out.refused.push(refuse(
                Reason::Invalid,
                declared_key(doc, self.default_namespace),
                format!("kind Secret with apiVersion '{api_version}': a Kubernetes Secret is apiVersion v1"),
            ));
            return;
        }
        if api_version != "v1" || kind != "Secret" {
            if was_encrypted {
                // Encrypted for another tool to decrypt (Flux applies any kind): said at info, not
                // refused, so a repository shared with such a tool is not reported as failing.
                tracing::info!(
                    path,
                    document = index,
                    api_version,
                    kind,
                    "ignoring a SOPS-encrypted object: sealsync applies only v1 Secrets, so its decrypted values are not used"
                );
            } else {
                tracing::debug!(
                    path,
                    document = index,
                    api_version,
                    kind,
                    "ignoring an object sealsync does not manage"
                );
            }
            out.ignored.push(Ignored {
                path: path.to_string(),
                document: index,
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            });
            return;
        }
        match secret_from_document(doc, path, commit, self.default_namespace, was_encrypted) {
            Ok(secret) => {
                if !self.policy.allows(path, &secret.key.namespace) {
                    out.refused.push(refuse(
                        Reason::Policy,
                        Some(secret.key.clone()),
                        format!(
                            "namespace '{}' is not allowed for this path: it may target {}",
                            secret.key.namespace,
                            self.policy.describe(path)
                        ),
                    ));
                } else if secret.data_size() > MAX_SECRET_SIZE {
                    out.refused.push(refuse(
                        Reason::TooLarge,
                        Some(secret.key.clone()),
                        format!(
                            "the Secret's values total {} bytes, over Kubernetes' limit of {MAX_SECRET_SIZE}",
                            secret.data_size()
                        ),
                    ));
                } else {
                    out.secrets.push(Arc::new(secret));
                }
            }
            Err((reason, key, message)) => out.refused.push(refuse(reason, key, message)),
        }
    }
}

/// The Secret a document names, for a refusal (None when its name cannot be read).
fn declared_key(doc: &Map, default_namespace: &str) -> Option<SecretKey> {
    let Some(Value::Map(metadata)) = doc.get("metadata") else {
        return None;
    };
    let name = metadata.get("name").and_then(Value::as_str)?;
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace);
    Some(SecretKey::new(namespace, name))
}

/// The path of the first key a map holds twice. The JSON store keeps both entries, as sops does (the
/// YAML store refuses them, as go-yaml does); a manifest must not: `Map::get` reads the first, kubectl
/// the last, so the Secret a reviewer sees could differ from the one applied.
fn duplicate_key(docs: &[Map]) -> Option<String> {
    fn walk(map: &Map, path: &str) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        for (key, value) in map.entries() {
            let here = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            if !seen.insert(key) {
                return Some(here);
            }
            if let Some(found) = walk_value(value, &here) {
                return Some(found);
            }
        }
        None
    }
    fn walk_value(value: &Value, path: &str) -> Option<String> {
        match value {
            Value::Map(m) => walk(m, path),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk_value(v, &format!("{path}[{i}]"))),
            _ => None,
        }
    }
    docs.iter().find_map(|d| walk(d, ""))
}

/// Whether all documents carry the same sops metadata (one multi-document sops file).
fn shared_metadata(docs: &[Map]) -> bool {
    let first = docs.first().and_then(|d| Metadata::from_document(d).ok());
    match first {
        None => false,
        Some(first) => docs[1..]
            .iter()
            .all(|d| Metadata::from_document(d).is_ok_and(|m| m.mac == first.mac)),
    }
}

fn sops_failure(e: &SopsError, identities: &PathIdentities) -> (Reason, String) {
    let reason = match e {
        SopsError::MacMismatch | SopsError::BadMac(_) => Reason::Mac,
        SopsError::Keys(KeyGroupError::NoMatchingIdentity { .. })
        | SopsError::Keys(KeyGroupError::NotEnoughGroups { .. }) => Reason::NoKey,
        SopsError::Format { .. } | SopsError::Metadata(_) | SopsError::Empty => Reason::Parse,
        _ => Reason::Decrypt,
    };
    match (e, identities) {
        // The path's own identities do not open it: a file copied from another team's folder.
        (
            SopsError::Keys(KeyGroupError::NoMatchingIdentity { recipients, .. }),
            PathIdentities::Scoped { identities, globs },
        ) => (
            reason,
            format!(
                "cannot decrypt: encrypted for recipients this path may not use ({recipients}); --decryption-policy {} allows only the identities of {} here",
                globs.join(", "),
                identities.origins().join(", ")
            ),
        ),
        _ => (reason, format!("cannot decrypt: {e}")),
    }
}

/// Refuses every Secret declared more than once (both declarations are named), in place: the
/// recompute-everything model the incremental desired state is tested against.
#[cfg(test)]
pub(crate) fn refuse_duplicates(outcomes: &mut [(String, FileOutcome)]) {
    use std::collections::HashMap;
    let mut seen: HashMap<SecretKey, Vec<String>> = HashMap::new();
    for (path, outcome) in outcomes.iter() {
        for s in &outcome.secrets {
            seen.entry(s.key.clone()).or_default().push(path.clone());
        }
    }
    for (_, outcome) in outcomes.iter_mut() {
        let mut kept = Vec::new();
        for s in outcome.secrets.drain(..) {
            match seen.get(&s.key).filter(|paths| paths.len() > 1) {
                Some(paths) => outcome.refused.push(duplicate(&s, paths)),
                None => kept.push(s),
            }
        }
        outcome.secrets = kept;
    }
}

/// The refusal of `secret`, declared by each of `paths` (in path order, once per declaration).
pub fn duplicate(secret: &DesiredSecret, paths: &[String]) -> Refusal {
    Refusal {
        path: secret.source.path.clone(),
        document: None,
        key: Some(secret.key.clone()),
        reason: Reason::Duplicate,
        message: format!(
            "Secret {} is declared more than once ({}); none of them is applied",
            secret.key,
            paths.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod manifest_tests {
    #[test]
    fn which_files_are_manifests() {
        assert!(super::is_manifest("apps/team-a/db.yaml"));
        assert!(super::is_manifest("x.JSON"));
        assert!(super::is_manifest("a/B.Yml"));
        assert!(super::is_manifest("a/Kustomization.YAML"));
        assert!(!super::is_manifest("yaml"));
        assert!(!super::is_manifest(".sops.yaml"));
        assert!(!super::is_manifest(".github/workflows/ci.yml"));
        assert!(super::is_manifest("apps/kustomization.yaml"));
        assert!(!super::is_manifest("README.md"));
    }
}
