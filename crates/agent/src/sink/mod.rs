//! Where desired Secrets are materialized, behind one small trait: a directory laid out like a mounted
//! Secret volume (`dir`), or a Kubernetes cluster (`kube`).

pub mod dir;

use std::future::Future;
use std::sync::Arc;

#[cfg(feature = "kube")]
pub mod kube;

use crate::desired::{DesiredSecret, FingerprintKey, SecretKey};
use crate::reason::Reason;

/// A Secret the sink manages now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedSecret {
    pub key: SecretKey,
    /// The fingerprint recorded when it was last applied (None if unknown).
    pub fingerprint: Option<String>,
    /// The source path recorded when it was last applied.
    pub source_path: Option<String>,
}

/// What `apply` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    Created,
    Updated,
    Unchanged,
    /// A Secret of that name exists and sealsync does not manage it: left alone.
    RefusedUnmanaged,
    /// A Secret of that name exists and may not be taken (another agent instance owns it, or its
    /// adoption is not allowed): left alone, for the reason given and explained.
    Refused(Reason, String),
}

/// What was done by hand to a managed Secret: the `kind` label of `sealsync_drift_reverted_total`, the
/// drift reports and the Event `action` of its revert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriftKind {
    /// Values, type or sealsync's labels or annotations changed.
    Edited,
    /// The `app.kubernetes.io/managed-by` label was removed.
    LabelRemoved,
    /// The Secret was deleted.
    Deleted,
}

impl DriftKind {
    pub const ALL: &'static [DriftKind] = &[
        DriftKind::Edited,
        DriftKind::LabelRemoved,
        DriftKind::Deleted,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Edited => "edited",
            DriftKind::LabelRemoved => "label_removed",
            DriftKind::Deleted => "deleted",
        }
    }

    /// The Event `action` of its revert: one Event series per kind of drift, each with its note.
    pub fn action(self) -> &'static str {
        match self {
            DriftKind::Edited => "RevertEdit",
            DriftKind::LabelRemoved => "RestoreLabel",
            DriftKind::Deleted => "Recreate",
        }
    }
}

impl std::fmt::Display for DriftKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a sink operation failed. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{key}: {reason}")]
    Io { key: String, reason: String },
    #[error("{key}: the API server refused the request: {reason}")]
    Api { key: String, reason: String },
    #[error("{key}: conflict: {reason}")]
    Conflict { key: String, reason: String },
    #[error("{0}")]
    Other(String),
}

/// What a sink reports of the Secrets it manages.
#[derive(Debug)]
pub enum Listing {
    /// Every managed Secret.
    Full(Vec<ManagedSecret>),
    /// Only these managed Secrets may differ from what this sink last listed, wrote or found intact
    /// (changed, created or removed by someone else since); `managed` counts them all. Listed without
    /// a fingerprint: they must be applied (or pruned) to be known intact again.
    Changes {
        changed: Vec<ManagedSecret>,
        managed: usize,
    },
}

/// A place Secrets are written to.
pub trait Sink: Send + Sync {
    /// Every Secret this sink manages now.
    fn list_managed(&self) -> impl Future<Output = Result<Vec<ManagedSecret>, SinkError>> + Send;

    /// What may have changed since the previous listing, for a pass that visits only that: a sink
    /// that learns of changes (the dir sink's watcher) answers `Listing::Changes`; the default, and a
    /// sink that cannot tell right now, lists everything.
    fn list_changes(&self) -> impl Future<Output = Result<Listing, SinkError>> + Send {
        async { self.list_managed().await.map(Listing::Full) }
    }

    /// Makes the Secret equal to `desired` (idempotent: `Unchanged` when it already is). Shared, so
    /// its fingerprint, computed once under [`fingerprint_key`](Self::fingerprint_key), serves the
    /// pass's comparison and the sink's write alike.
    fn apply(
        &self,
        desired: &Arc<DesiredSecret>,
    ) -> impl Future<Output = Result<ApplyOutcome, SinkError>> + Send;

    /// The key of the fingerprints this sink records ([`ManagedSecret::fingerprint`]).
    fn fingerprint_key(&self) -> &FingerprintKey;

    /// Deletes a managed Secret (pruning).
    fn delete(&self, key: &SecretKey) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// How many Secrets a pass applies at once.
    fn concurrency(&self) -> usize {
        16
    }

    /// True when a fingerprint in `list_managed` equal to the desired one proves the Secret is as
    /// desired, so `apply` can be skipped (the kube sink, whose drift watch keeps live objects equal to
    /// what it applied). False when `apply` must look every pass (the dir sink, whose files can be
    /// changed unobserved).
    fn listing_is_authoritative(&self) -> bool {
        false
    }
}
