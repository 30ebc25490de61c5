//! The Kubernetes sink: desired Secrets written by server-side apply (field manager `sealsync`) into the
//! permitted namespaces, never touching a Secret that sealsync does not manage.
//!
//! Concerns live in their own files: `client` (the agent's Kubernetes client), `accounts` (service
//! account tokens for store logins), `apply` (writing, listing and deleting Secrets), `drift` (the
//! metadata watch that puts back what was changed by hand), `events` (Kubernetes Events), `hmac_key`
//! (the fingerprint key kept in the cluster), `backoff` (the retry schedule both watch and reverts
//! use) and `restarts` (restarting the workloads that opted in when a Secret they use changes).

pub mod accounts;
mod apply;
mod backoff;
pub mod client;
mod desired_store;
pub mod drift;
pub mod events;
mod failed_files;
mod feed;
mod fight;
pub mod hmac_key;
pub mod restarts;
mod watch_problem;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::desired::{FingerprintKey, SecretKey};
use crate::sink::SinkError;

pub use apply::{owner_of, Owner};
pub use backoff::Backoff;
pub use desired_store::{DesiredStore, Secrets};
pub use drift::{spawn_drift_watch, DriftOutcome, DriftReport};
pub use events::{EventKind, Recorder};
pub use restarts::{RestartOutcome, RestartReport, Restarter, WorkloadKind};

/// The field manager of every write sealsync makes (`managedFields[].manager`).
pub const FIELD_MANAGER: &str = "sealsync";
/// The label that marks a Secret as managed by sealsync (Kubernetes recommended labels).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "sealsync";
/// The label selector of every managed Secret; lists and watches never go wider than this.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=sealsync";
/// The agent instance that owns a managed Secret: several agents (repositories, shards) share a
/// cluster and each prunes, adopts and reverts only its own. A managed Secret without it was written
/// before instances existed and belongs to the instance named after its agent's namespace.
pub const INSTANCE_LABEL: &str = "sealsync.dev/instance";
/// The file in git the Secret was declared in.
pub const SOURCE_ANNOTATION: &str = "sealsync.dev/source";
/// The commit the current content was written from.
pub const COMMIT_ANNOTATION: &str = "sealsync.dev/commit";
/// HMAC of the applied content (see [`crate::desired::DesiredSecret::fingerprint`]); never a plain hash.
pub const FINGERPRINT_ANNOTATION: &str = "sealsync.dev/fingerprint";

/// Identity of a Secret sealsync wrote or checked last: its uid and the `resourceVersion` the API
/// server answered. A watch event carrying that resourceVersion is sealsync's own write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub uid: String,
    pub resource_version: String,
}

/// Materializes desired Secrets in a cluster. Cheap to clone (shared state).
#[derive(Clone)]
pub struct KubeSink {
    inner: Arc<Inner>,
}

/// Who this sink is among the agents of a cluster, and what it may take over.
#[derive(Clone, Debug)]
pub struct Ownership {
    /// The value of `sealsync.dev/instance` on every Secret it writes (a valid label value).
    pub instance: String,
    /// Whether managed Secrets without the instance label (written before instances existed) are
    /// this instance's: true for the default instance, named after the agent's own namespace.
    pub claims_unlabelled: bool,
    /// `--allow-adopt`: a document's `sealsync.dev/adopt` annotation may take over an existing Secret.
    pub allow_adopt: bool,
}

impl Ownership {
    /// The default for an agent in `own_namespace`: the instance named after it, no adoption.
    pub fn default_for(own_namespace: &str) -> Ownership {
        Ownership {
            instance: own_namespace.to_string(),
            claims_unlabelled: true,
            allow_adopt: false,
        }
    }
}

struct Inner {
    client: Client,
    own_namespace: String,
    ownership: Ownership,
    /// `managed-by=sealsync,sealsync.dev/instance=NAME`: lists and watches never go wider.
    selector: String,
    namespaces: BTreeSet<String>,
    key: FingerprintKey,
    recorder: Recorder,
    /// Per Secret, what sealsync's last write (or check) produced; only a resourceVersion and a uid,
    /// never the object, so memory stays flat however large the Secrets are.
    written: Mutex<HashMap<SecretKey, Written>>,
    /// Unmanaged Secrets already warned about (by uid and resourceVersion), so a reconcile every
    /// minute does not write an Event every minute about the same refusal.
    warned: Mutex<HashMap<SecretKey, Written>>,
    /// What the drift watch learnt for the next pass.
    feed: Mutex<feed::Feed>,
    /// Decryption failures already told by an Event, per Secret.
    told: Mutex<failed_files::Told>,
    /// Why a namespace's drift watch does not run (a missing permission), by namespace.
    watch_problems: tokio::sync::watch::Sender<BTreeMap<String, String>>,
}

impl KubeSink {
    /// `namespaces` are the namespaces this agent may write to; everything else is refused.
    pub fn new(
        client: Client,
        own_namespace: impl Into<String>,
        namespaces: Vec<String>,
        key: FingerprintKey,
        recorder: Recorder,
    ) -> KubeSink {
        let own_namespace = own_namespace.into();
        let ownership = Ownership::default_for(&own_namespace);
        KubeSink::with_ownership(client, own_namespace, namespaces, key, recorder, ownership)
    }

    /// As [`KubeSink::new`], as the instance `ownership` names.
    pub fn with_ownership(
        client: Client,
        own_namespace: impl Into<String>,
        namespaces: Vec<String>,
        key: FingerprintKey,
        recorder: Recorder,
        ownership: Ownership,
    ) -> KubeSink {
        let selector = format!("{MANAGED_SELECTOR},{INSTANCE_LABEL}={}", ownership.instance);
        KubeSink {
            inner: Arc::new(Inner {
                client,
                own_namespace: own_namespace.into(),
                ownership,
                selector,
                namespaces: namespaces.into_iter().collect(),
                key,
                recorder,
                written: Mutex::new(HashMap::new()),
                warned: Mutex::new(HashMap::new()),
                feed: Mutex::new(feed::Feed::default()),
                watch_problems: tokio::sync::watch::Sender::new(BTreeMap::new()),
                told: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The namespace the agent runs in (where its Lease and fingerprint key live).
    pub fn own_namespace(&self) -> &str {
        &self.inner.own_namespace
    }

    pub fn ownership(&self) -> &Ownership {
        &self.inner.ownership
    }

    /// The label selector of this instance's managed Secrets.
    pub fn selector(&self) -> &str {
        &self.inner.selector
    }

    /// The permitted target namespaces.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.inner.namespaces.iter().map(String::as_str)
    }

    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    pub(crate) fn secrets(&self, namespace: &str) -> Api<Secret> {
        Api::namespaced(self.inner.client.clone(), namespace)
    }

    /// Refuses a Secret outside the permitted namespaces before any request is made.
    pub(crate) fn check_permitted(&self, key: &SecretKey) -> Result<(), SinkError> {
        if self.inner.namespaces.contains(&key.namespace) {
            Ok(())
        } else {
            Err(SinkError::Other(format!(
                "{key}: namespace {:?} is not among the namespaces this agent may write to",
                key.namespace
            )))
        }
    }

    /// What sealsync last wrote or checked for `key` (None: not known to this process).
    pub(crate) fn written(&self, key: &SecretKey) -> Option<Written> {
        self.lock_written().get(key).cloned()
    }

    pub(crate) fn remember(&self, key: &SecretKey, written: Written) {
        self.lock_written().insert(key.clone(), written);
    }

    pub(crate) fn forget(&self, key: &SecretKey) {
        self.lock_written().remove(key);
    }

    /// Whether this is the first refusal of `key` in this state (and notes it).
    pub(crate) fn first_warning(&self, key: &SecretKey, state: Written) -> bool {
        let mut warned = self
            .inner
            .warned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        warned.insert(key.clone(), state.clone()) != Some(state)
    }

    /// Why the drift watch of a namespace does not run, by namespace (empty while all run); the
    /// receiver sees every change.
    pub fn watch_problems(&self) -> tokio::sync::watch::Receiver<BTreeMap<String, String>> {
        self.inner.watch_problems.subscribe()
    }

    /// Sets (or clears, with None) the problem of `namespace`'s watch.
    pub(crate) fn set_watch_problem(&self, namespace: &str, problem: Option<String>) {
        self.inner
            .watch_problems
            .send_if_modified(|all| match problem {
                Some(p) => all.insert(namespace.to_string(), p.clone()) != Some(p),
                None => all.remove(namespace).is_some(),
            });
    }

    pub(crate) fn lock_told(&self) -> std::sync::MutexGuard<'_, failed_files::Told> {
        // Single inserts and retains: a panic elsewhere leaves it consistent.
        self.inner
            .told
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn feed(&self) -> std::sync::MutexGuard<'_, feed::Feed> {
        // Each update is a single insert or removal: a panic elsewhere leaves it consistent.
        self.inner
            .feed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_written(&self) -> std::sync::MutexGuard<'_, HashMap<SecretKey, Written>> {
        // A panic elsewhere cannot leave the map half-updated (single inserts and removes).
        self.inner
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for KubeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSink")
            .field("own_namespace", &self.inner.own_namespace)
            .field("namespaces", &self.inner.namespaces)
            .field("instance", &self.inner.ownership.instance)
            .finish_non_exhaustive()
    }
}

/// A kube-rs error as a [`SinkError`] naming the Secret and the action; never a value (API errors
/// quote names and fields, not Secret data).
pub(crate) fn api_error(key: &SecretKey, action: &str, err: kube::Error) -> SinkError {
    match err {
        kube::Error::Api(status) if status.code == 409 => SinkError::Conflict {
            key: key.to_string(),
            reason: format!("{action}: {}", status.message),
        },
        kube::Error::Api(status) => SinkError::Api {
            key: key.to_string(),
            reason: format!(
                "{action}: HTTP {} {}: {}",
                status.code, status.reason, status.message
            ),
        },
        other => SinkError::Api {
            key: key.to_string(),
            reason: format!("{action}: {other}"),
        },
    }
}

/// The HTTP status of an API error, if it is one.
pub(crate) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
