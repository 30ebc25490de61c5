//! The `/status` view: what the agent last fetched and applied, per Secret and per refused document,
//! held on a shared board the reconcile loop writes and the HTTP server reads.
//!
//! # Contract: no values here
//!
//! Every string on the board (`SecretStatus::last_error`, `RefusedDocument::message`,
//! `Status::git_error`) is written by the reconciler from its typed errors, whose `Display` names a
//! file, a document, a key path, a resource and a reason — never a secret value, a decrypted byte, a
//! private key or a credential (STYLE.md, habit 3). The board is served to anyone who can reach the
//! operations port, so a message that could hold a value must not be put here. As a second line of
//! defence against one common leak, credentials in URLs (`https://user:token@host/`, `?token=…`)
//! are redacted from every message on its way in, by the one URL redactor git uses too.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::desired::SecretKey;
use crate::git::redact_url;
use crate::reason::Reason;

/// A point in time with one-second resolution, serialized as RFC 3339 (`2024-05-01T12:00:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_seconds: u64,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    #[cfg(test)]
    pub(crate) fn from_unix_seconds(unix_seconds: u64) -> Timestamp {
        Timestamp { unix_seconds }
    }

    pub fn unix_seconds(self) -> u64 {
        self.unix_seconds
    }
}

impl From<SystemTime> for Timestamp {
    fn from(at: SystemTime) -> Timestamp {
        let unix_seconds = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Timestamp { unix_seconds }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(at: Timestamp) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(at.unix_seconds)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_rfc3339_seconds(SystemTime::from(*self)).fmt(f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text)
            .map(Timestamp::from)
            .map_err(serde::de::Error::custom)
    }
}

/// Where one Secret stands after the last reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretState {
    /// Created or updated by the last reconcile.
    Applied,
    /// Already as git says; nothing written.
    Unchanged,
    /// Its document failed (decrypt, fetch, sink); the last good value stays in place.
    Failed,
    /// Not written on purpose: an unmanaged Secret is in the way, or policy forbids the target.
    Refused,
    /// Deleted because its source left git.
    Pruned,
    /// Declared in git, not yet reconciled (or pruning was refused and it awaits a decision).
    Pending,
}

impl SecretState {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretState::Applied => "applied",
            SecretState::Unchanged => "unchanged",
            SecretState::Failed => "failed",
            SecretState::Refused => "refused",
            SecretState::Pruned => "pruned",
            SecretState::Pending => "pending",
        }
    }
}

impl fmt::Display for SecretState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Secret the agent manages or tried to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretStatus {
    pub namespace: String,
    pub name: String,
    /// The file in git it comes from, relative to the repository root.
    pub source: String,
    /// The commit that file was read at.
    pub commit: Option<String>,
    pub state: SecretState,
    /// Why the last attempt failed or was refused. Names causes, never values (see the module docs).
    pub last_error: Option<String>,
    /// When it was last written to the sink (kept across reconciles that leave it unchanged or fail).
    pub last_applied: Option<Timestamp>,
}

impl SecretStatus {
    pub fn new(key: &SecretKey, source: impl Into<String>, state: SecretState) -> SecretStatus {
        SecretStatus {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            source: source.into(),
            commit: None,
            state,
            last_error: None,
            last_applied: None,
        }
    }

    pub fn with_commit(mut self, commit: impl Into<String>) -> SecretStatus {
        self.commit = Some(commit.into());
        self
    }

    /// Sets the error message; it must name a cause, never a value (see the module docs).
    pub fn with_error(mut self, message: impl fmt::Display) -> SecretStatus {
        self.last_error = Some(message.to_string());
        self
    }

    pub fn with_last_applied(mut self, at: Timestamp) -> SecretStatus {
        self.last_applied = Some(at);
        self
    }

    fn key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

/// A document in git that produced no Secret, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedDocument {
    /// The file in git, relative to the repository root.
    pub source: String,
    /// The zero-based index of the document within a multi-document file, when known.
    pub document: Option<usize>,
    /// The refusal's [`Reason`] code, as the `reason` of `sealsync_errors_total` and the logs spell it.
    pub reason_code: String,
    /// A sentence for a person. Names causes, never values (see the module docs).
    pub message: String,
}

impl RefusedDocument {
    pub fn new(
        source: impl Into<String>,
        document: Option<usize>,
        reason: Reason,
        message: impl fmt::Display,
    ) -> RefusedDocument {
        RefusedDocument {
            source: source.into(),
            document,
            reason_code: reason.code().to_string(),
            message: message.to_string(),
        }
    }
}

/// The whole `/status` document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The commit the last successful fetch resolved to.
    pub commit: Option<String>,
    pub last_fetch: Option<Timestamp>,
    pub last_reconcile: Option<Timestamp>,
    pub leader: bool,
    /// True once the first reconcile completed (even if some documents failed).
    pub ready: bool,
    pub secrets: Vec<SecretStatus>,
    pub refused: Vec<RefusedDocument>,
    /// Why the last fetch failed; cleared by the next successful fetch. The agent keeps serving the
    /// Secrets of the last good commit meanwhile.
    pub git_error: Option<String>,
    /// The [`Reason`] code of `git_error`: `git` for a failed fetch, `unsigned_commit` or
    /// `untrusted_signature` for a commit refused by `--allowed-signers`.
    #[serde(default)]
    pub git_error_reason: Option<String>,
    /// Why `/readyz` answers 503, when it does.
    #[serde(default)]
    pub not_ready_reason: Option<String>,
    /// Whether `/hooks/git` is served, and if not why.
    #[serde(default)]
    pub webhook: WebhookStatus,
    /// Why the drift watch of a namespace does not run (a missing permission, naming the verb, the
    /// resource and the namespace); empty while every watch runs.
    #[serde(default)]
    pub watch_errors: Vec<String>,
    /// Documents read and left alone because they are not Secrets (Kustomize files, Deployments, ...):
    /// the answer to "why is nothing happening" for a file sealsync does not handle. At most
    /// [`MAX_IGNORED_SHOWN`]; `ignored_total` counts them all.
    #[serde(default)]
    pub ignored: Vec<IgnoredDocument>,
    #[serde(default)]
    pub ignored_total: usize,
}

/// How many ignored documents `/status` lists (the count is always complete).
pub const MAX_IGNORED_SHOWN: usize = 200;

/// A document that is not a Secret, left alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredDocument {
    /// The file in git, relative to the repository root.
    pub source: String,
    /// The one-based index of the document within its file.
    pub document: usize,
    /// `apiVersion/kind`.
    pub kind: String,
}

/// Whether the git webhook receiver is on (`--webhook-secret-file` names a readable, non-empty file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStatus {
    pub enabled: bool,
    /// Why it is off (no file configured, or the file is missing), and how to turn it on.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The shared, cheaply cloned status board.
#[derive(Clone, Debug, Default)]
pub struct StatusBoard {
    inner: Arc<RwLock<Status>>,
}

impl StatusBoard {
    pub fn new() -> StatusBoard {
        StatusBoard::default()
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> Status {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update<T>(&self, change: impl FnOnce(&mut Status) -> T) -> T {
        // A panic elsewhere while holding the lock leaves a status that is at worst stale: keep serving.
        let mut status = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut status)
    }

    /// A fetch succeeded and resolved to `commit`; clears any git error.
    pub fn record_fetch(&self, commit: impl Into<String>, at: Timestamp) {
        let commit = commit.into();
        self.update(|s| {
            s.commit = Some(commit);
            s.last_fetch = Some(at);
            s.git_error = None;
            s.git_error_reason = None;
        });
    }

    /// A fetch failed. The message must name a cause, never a credential; URL user information is
    /// redacted here regardless.
    pub fn record_git_error(&self, message: impl fmt::Display) {
        self.record_git_failure(Reason::Git, message);
    }

    /// A fetch failed, or its commit was refused, for `reason` (see [`record_git_error`](Self::record_git_error)).
    pub fn record_git_failure(&self, reason: Reason, message: impl fmt::Display) {
        let message = redact_url(&message.to_string());
        self.update(|s| {
            s.git_error = Some(message);
            s.git_error_reason = Some(reason.code().to_string());
        });
    }

    /// The documents the last pass left alone (the first [`MAX_IGNORED_SHOWN`], and how many in all).
    pub fn set_ignored(&self, mut ignored: Vec<IgnoredDocument>, total: usize) {
        ignored.truncate(MAX_IGNORED_SHOWN);
        self.update(|s| {
            s.ignored = ignored;
            s.ignored_total = total;
        });
    }

    /// A reconcile completed: replaces the per-Secret and refused lists with this pass's results.
    ///
    /// A Secret this pass did not write (unchanged, failed, refused) keeps the `last_applied` it had,
    /// so "when did this last change" survives a failure. Secrets absent from `secrets` are dropped.
    pub fn record_reconcile(
        &self,
        at: Timestamp,
        mut secrets: Vec<SecretStatus>,
        refused: Vec<RefusedDocument>,
    ) {
        for secret in &mut secrets {
            if let Some(error) = &secret.last_error {
                secret.last_error = Some(redact_url(error));
            }
        }
        let refused = redacted_documents(refused);
        self.update(|s| {
            let previous: HashMap<(&str, &str), Timestamp> = s
                .secrets
                .iter()
                .filter_map(|p| Some((p.key(), p.last_applied?)))
                .collect();
            for secret in &mut secrets {
                if secret.last_applied.is_none() {
                    secret.last_applied = previous.get(&secret.key()).copied();
                }
            }
            secrets.sort_by(|a, b| a.key().cmp(&b.key()));
            s.secrets = secrets;
            s.refused = refused;
            s.last_reconcile = Some(at);
        });
    }

    /// A reconcile that visited only what changed completed: updates (or adds) the entries of
    /// `updated`, drops those of `removed` and those the pass before pruned, and replaces the refused
    /// list. The other entries stay.
    pub fn record_partial(
        &self,
        at: Timestamp,
        updated: Vec<SecretStatus>,
        removed: &[SecretKey],
        refused: Vec<RefusedDocument>,
    ) {
        let refused = redacted_documents(refused);
        self.update(|s| {
            // As after a full pass, a pruned Secret is shown by the pass that pruned it only.
            s.secrets.retain(|p| p.state != SecretState::Pruned);
            for secret in updated {
                upsert(&mut s.secrets, secret);
            }
            for key in removed {
                let key = (key.namespace.as_str(), key.name.as_str());
                if let Ok(at) = s.secrets.binary_search_by(|p| p.key().cmp(&key)) {
                    s.secrets.remove(at);
                }
            }
            s.refused = refused;
            s.last_reconcile = Some(at);
        });
    }

    /// Updates or inserts one Secret's entry (for drift reverted between reconciles).
    pub fn upsert_secret(&self, secret: SecretStatus) {
        self.update(|s| upsert(&mut s.secrets, secret));
    }

    /// Replaces the drift watch problems (one sentence per failing namespace).
    pub fn set_watch_errors(&self, errors: Vec<String>) {
        self.update(|s| s.watch_errors = errors);
    }

    pub fn set_leader(&self, leader: bool) {
        self.update(|s| s.leader = leader);
    }

    pub fn set_webhook(&self, webhook: WebhookStatus) {
        self.update(|s| s.webhook = webhook);
    }
}

/// Puts `secret` in the sorted `list`, keeping the `last_applied` of the entry it replaces when it
/// has none.
fn upsert(list: &mut Vec<SecretStatus>, mut secret: SecretStatus) {
    if let Some(error) = &secret.last_error {
        secret.last_error = Some(redact_url(error));
    }
    match list.binary_search_by(|p| p.key().cmp(&secret.key())) {
        Ok(at) => {
            if secret.last_applied.is_none() {
                secret.last_applied = list[at].last_applied;
            }
            list[at] = secret;
        }
        Err(at) => list.insert(at, secret),
    }
}

fn redacted_documents(refused: Vec<RefusedDocument>) -> Vec<RefusedDocument> {
    refused
        .into_iter()
        .map(|mut doc| {
            doc.message = redact_url(&doc.message);
            doc
        })
        .collect()
}

#[cfg(test)]
#[path = "status_tests.rs"]
pub(crate) mod tests;
