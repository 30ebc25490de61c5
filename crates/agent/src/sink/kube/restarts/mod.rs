//! Restarts of the workloads that opted in, when a Secret they use was updated: changes are gathered
//! for a debounce window, then each opted-in Deployment, StatefulSet and DaemonSet of the changed
//! Secrets' namespaces gets the HMAC of its Secrets' data patched into its pod template — only if
//! that value differs from the one it carries, so equal data never restarts anything.

mod workload;
mod workloads;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::Client;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::desired::{FingerprintKey, SecretKey};

use super::events::Recorder;

pub use workload::{
    restart_value, secret_digest, secrets_used, watched, MAX_WATCHED, RELOADER_AUTO,
    RELOADER_SECRET_AUTO, RELOADER_SECRET_RELOAD, RESTARTED_FOR_ANNOTATION, RESTART_ON_CHANGE,
};

/// A window never stays open longer than this many debounce periods, so a Secret changing without
/// pause still restarts its workloads.
const MAX_WINDOWS: u32 = 10;

/// The kinds of workload restarted (all `apps/v1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 3] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
    ];

    /// The `kind` of the object.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// What happened to one workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartOutcome {
    /// Its pod template got the new value: the controller rolls its pods.
    Restarted,
    /// Not restarted, for the reason given (a missing permission, an unreadable Secret, ...).
    Failed(String),
}

/// One workload restarted, or not, for a change of the Secrets named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartReport {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// The changed Secrets it watches.
    pub secrets: Vec<String>,
    pub outcome: RestartOutcome,
}

/// Feeds updated Secrets to the restart task. Cheap to clone; dropping every clone ends the task.
#[derive(Clone, Debug)]
pub struct Restarter {
    tx: mpsc::UnboundedSender<SecretKey>,
}

impl Restarter {
    /// Starts the task: after `debounce` without a further change (at most ten such periods after
    /// the first), the workloads watching any changed Secret are restarted and each is reported on
    /// `reports` (and by a log line and an Event on the workload). Ends on `cancel`.
    pub fn spawn(
        client: Client,
        key: FingerprintKey,
        recorder: Recorder,
        debounce: Duration,
        reports: mpsc::UnboundedSender<RestartReport>,
        cancel: CancellationToken,
    ) -> (Restarter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let restarts = workloads::Workloads {
            client,
            key,
            recorder,
            reports,
        };
        let task = tokio::spawn(run(rx, restarts, debounce, cancel));
        (Restarter { tx }, task)
    }

    /// A Secret was updated (not created: a first creation restarts nothing).
    pub fn changed(&self, key: SecretKey) {
        // The task is gone only at shutdown; nothing is left to restart then.
        let _ = self.tx.send(key);
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<SecretKey>,
    restarts: workloads::Workloads,
    debounce: Duration,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            key = rx.recv() => key,
            _ = cancel.cancelled() => None,
        };
        let Some(first) = first else { return };
        // Distinct keys only: bounded by the number of managed Secrets however often they change.
        let mut pending = BTreeSet::from([first]);
        let closes_at = Instant::now() + debounce * MAX_WINDOWS;
        loop {
            let quiet_until = (Instant::now() + debounce).min(closes_at);
            tokio::select! {
                key = rx.recv() => match key {
                    Some(key) => { pending.insert(key); }
                    None => break,
                },
                _ = tokio::time::sleep_until(quiet_until) => break,
                _ = cancel.cancelled() => return,
            }
        }
        let mut by_namespace: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for key in pending {
            by_namespace
                .entry(key.namespace)
                .or_default()
                .insert(key.name);
        }
        for (namespace, names) in &by_namespace {
            tokio::select! {
                _ = restarts.namespace(namespace, names) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }
}
