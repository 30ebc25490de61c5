//! Drift: one metadata-only watch per permitted namespace over the managed Secrets; whatever was
//! edited, unlabelled or deleted by hand is put back at once, with an Event, a report and a log line.
//!
//! Only metadata flows through the watch (no values, no cache of objects): a modification whose
//! `resourceVersion` is not the one sealsync's own last write produced costs one GET of the full
//! object, which is compared and dropped (zeroized). A Secret this process never wrote or checked is
//! left to the reconcile loop, so a restart does not report every Secret as drift.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, watcher, Event};
use kube::Api;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::apply::{matches, owner_of, short_commit, written_of, Owner};
use super::events::{secret_ref, EventKind};
use super::fight::Fights;
use super::watch_problem::watch_problem;
use super::{
    Backoff, KubeSink, COMMIT_ANNOTATION, FIELD_MANAGER, FINGERPRINT_ANNOTATION, MANAGED_BY_LABEL,
    SOURCE_ANNOTATION,
};
use crate::desired::{DesiredSecret, SecretKey};
use crate::sink::{DriftKind, Sink, SinkError};

use super::desired_store::DesiredStore;

/// What became of a drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriftOutcome {
    /// Put back.
    Reverted,
    /// Put back, and the same Secret keeps being changed by another writer: its next reverts wait
    /// this long, then longer (up to the cap). Reported once per fight.
    HeldOff(std::time::Duration),
    /// Putting it back failed (the message names the cause, never a value); retried with backoff.
    /// Reported once per run of failures.
    Failed(String),
}

/// One drift handled (the caller counts reverts in its metrics and shows each on `/status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftReport {
    pub key: SecretKey,
    pub kind: DriftKind,
    pub at: SystemTime,
    /// The file in git and the commit the Secret is restored from.
    pub source: String,
    pub commit: String,
    pub outcome: DriftOutcome,
}

/// Starts watching every permitted namespace of `sink`; the task ends when `shutdown` is cancelled.
pub fn spawn_drift_watch(
    sink: KubeSink,
    desired: DesiredStore,
    reports: UnboundedSender<DriftReport>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    spawn_drift_watch_with(sink, desired, reports, shutdown, Backoff::default())
}

/// As [`spawn_drift_watch`], with the retry schedule of failed reverts and failed watches.
pub fn spawn_drift_watch_with(
    sink: KubeSink,
    desired: DesiredStore,
    reports: UnboundedSender<DriftReport>,
    shutdown: CancellationToken,
    retry: Backoff,
) -> JoinHandle<()> {
    let reverter = Arc::new(Reverter {
        sink,
        desired,
        reports,
        shutdown,
        retry,
        pending: Mutex::new(HashMap::new()),
        fights: Mutex::new(Fights::default()),
    });
    let namespaces = reverter.sink.namespaces().map(str::to_string);
    reverter.sink.feed().running(true, namespaces);
    tokio::spawn(async move {
        let mut watches = JoinSet::new();
        for ns in reverter.sink.namespaces() {
            watches.spawn(watch_namespace(reverter.clone(), ns.to_string()));
        }
        while watches.join_next().await.is_some() {}
        reverter.sink.feed().running(false, std::iter::empty());
    })
}

/// One namespace's watch of managed Secrets. kube-rs' watcher resumes from the last resourceVersion
/// after a dropped connection and lists again after `410 Gone`; the list is then checked for managed
/// Secrets that went missing while nobody was watching.
async fn watch_namespace(rev: Arc<Reverter>, namespace: String) {
    let api: Api<PartialObjectMeta<Secret>> =
        Api::namespaced(rev.sink.client().clone(), &namespace);
    // This instance's Secrets only: another agent's are never reverted (nor even seen).
    let config = watcher::Config::default().labels(rev.sink.selector());
    // Not kube's `StreamBackoff`: it resets on every item, and the watcher yields `Init` before each
    // list, so a list refused with 403 was retried every 100 ms forever. Here only a completed list
    // or an event resets the schedule.
    let mut stream = pin!(watcher(api, config));
    let mut backoff = rev.retry.start();
    let mut listed: Option<HashSet<String>> = None;
    // What was last said about a failing watch: each problem is said once, not on every retry.
    let mut told: Option<String> = None;
    tracing::debug!(namespace, "watching managed Secrets");
    loop {
        let next = tokio::select! {
            _ = rev.shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        if matches!(
            next,
            Some(Ok(Event::InitDone | Event::Apply(_) | Event::Delete(_)))
        ) {
            kube::runtime::utils::Backoff::reset(&mut backoff);
        }
        if matches!(next, Some(Ok(_))) && told.take().is_some() {
            tracing::info!(namespace, "the watch of managed Secrets runs again");
            rev.sink.set_watch_problem(&namespace, None);
        }
        match next {
            None => return,
            Some(Err(err)) => {
                let problem = watch_problem(&namespace, &err);
                if told.as_ref() != Some(&problem) {
                    tracing::error!(namespace, error = %err, "{problem}");
                    rev.sink
                        .set_watch_problem(&namespace, Some(problem.clone()));
                    told = Some(problem);
                } else {
                    tracing::debug!(namespace, error = %err, "the watch of managed Secrets still fails");
                }
                let delay = backoff.next().unwrap_or(rev.retry.max());
                tokio::select! {
                    _ = rev.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Some(Ok(Event::Init)) => {
                rev.sink.feed().listing(&namespace);
                listed = Some(HashSet::new());
            }
            Some(Ok(Event::InitApply(meta))) => {
                if let (Some(seen), Some(name)) = (listed.as_mut(), meta.metadata.name.clone()) {
                    seen.insert(name);
                }
                rev.on_present(&namespace, &meta);
            }
            Some(Ok(Event::InitDone)) => {
                let seen = listed.take().unwrap_or_default();
                for key in rev.desired.keys_in(&namespace) {
                    if !seen.contains(&key.name) && rev.sink.written(&key).is_some() {
                        rev.schedule(key);
                    }
                }
                rev.sink.feed().listed(&namespace, seen);
            }
            Some(Ok(Event::Apply(meta))) => rev.on_present(&namespace, &meta),
            // Deleted, or no longer matching the selector (its label was removed).
            Some(Ok(Event::Delete(meta))) => rev.on_gone(&namespace, &meta),
        }
    }
}

struct Reverter {
    sink: KubeSink,
    desired: DesiredStore,
    reports: UnboundedSender<DriftReport>,
    shutdown: CancellationToken,
    retry: Backoff,
    /// Keys with a revert under way; `true` asks it to look once more when done, so a change that
    /// lands while it runs is never lost.
    pending: Mutex<HashMap<SecretKey, bool>>,
    /// Secrets another writer keeps changing: their reverts are held off.
    fights: Mutex<Fights>,
}

impl Reverter {
    fn key_of(namespace: &str, meta: &PartialObjectMeta<Secret>) -> Option<SecretKey> {
        meta.metadata
            .name
            .as_ref()
            .map(|n| SecretKey::new(namespace, n.clone()))
    }

    /// Added or modified: ours unless its resourceVersion differs from what sealsync last wrote. A
    /// Secret not desired, or not written by this process, is left to the next pass (the feed).
    fn on_present(self: &Arc<Self>, namespace: &str, meta: &PartialObjectMeta<Secret>) {
        let Some(key) = Self::key_of(namespace, meta) else {
            return;
        };
        let written = self.sink.written(&key);
        let desired = self.desired.contains(&key);
        let for_pass = !desired || written.is_none();
        self.sink.feed().present(&key, source_of(meta), for_pass);
        if !desired {
            return;
        }
        match written {
            None => {}
            Some(w) if Some(&w.resource_version) == meta.metadata.resource_version.as_ref() => {}
            Some(_) => self.schedule(key),
        }
    }

    fn on_gone(self: &Arc<Self>, namespace: &str, meta: &PartialObjectMeta<Secret>) {
        let Some(key) = Self::key_of(namespace, meta) else {
            return;
        };
        let desired = self.desired.contains(&key);
        let ours = desired && self.sink.written(&key).is_some();
        self.sink
            .feed()
            .gone(&key, source_of(meta), desired && !ours);
        if ours {
            self.schedule(key);
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<SecretKey, bool>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `key` (and reverts it if needed) in its own task, one task per key at a time, so the
    /// watch never waits on a slow or failing revert.
    fn schedule(self: &Arc<Self>, key: SecretKey) {
        let mut pending = self.lock_pending();
        if let Some(again) = pending.get_mut(&key) {
            *again = true;
            return;
        }
        pending.insert(key.clone(), false);
        tokio::spawn(self.clone().run(key));
    }

    async fn run(self: Arc<Self>, key: SecretKey) {
        loop {
            let hold = self.lock_fights().wait(&key);
            if let Some(hold) = hold {
                tracing::debug!(secret = %key, ?hold, "holding off the next revert");
                tokio::select! {
                    _ = self.shutdown.cancelled() => {
                        self.lock_pending().remove(&key);
                        return;
                    }
                    _ = tokio::time::sleep(hold) => {}
                }
            }
            let mut backoff = self.retry.start();
            let mut told = false;
            while let Err(err) = self.check(&key).await {
                let delay = backoff.next().unwrap_or(self.retry.max());
                tracing::warn!(secret = %key, error = %err, retry_in = ?delay, "putting back a Secret changed by hand failed; retrying");
                if !told {
                    told = true;
                    self.report_failure(&key, &err);
                }
                tokio::select! {
                    _ = self.shutdown.cancelled() => {
                        self.lock_pending().remove(&key);
                        return;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            let mut pending = self.lock_pending();
            if pending.get(&key) == Some(&true) {
                pending.insert(key.clone(), false);
                continue;
            }
            pending.remove(&key);
            return;
        }
    }

    fn lock_fights(&self) -> std::sync::MutexGuard<'_, Fights> {
        self.fights.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the agent that a revert fails (once per run of failures), so `/status` says so.
    fn report_failure(&self, key: &SecretKey, err: &SinkError) {
        let Some(desired) = self.desired.get(key) else {
            return;
        };
        let _ = self.reports.send(DriftReport {
            key: key.clone(),
            kind: DriftKind::Edited,
            at: SystemTime::now(),
            source: desired.source.path.clone(),
            commit: desired.source.commit.clone(),
            outcome: DriftOutcome::Failed(format!("putting it back failed: {err}")),
        });
    }

    /// Compares the live Secret with the desired one and puts it back when they differ. Ok when
    /// nothing is left to do, including when the key is no longer desired.
    #[tracing::instrument(skip_all, fields(secret = %key))]
    async fn check(&self, key: &SecretKey) -> Result<(), SinkError> {
        let Some(desired) = self.desired.get(key) else {
            return Ok(());
        };
        let Some(known) = self.sink.written(key) else {
            return Ok(());
        };
        let fingerprint = desired.shared_fingerprint(self.sink.fingerprint_key());
        let live = self.sink.get_live(key).await?;
        let kind = match live.as_deref() {
            None => DriftKind::Deleted,
            Some(l) if owner_of(&l.metadata, self.sink.ownership()) != Owner::Us => {
                if l.metadata.uid.as_deref() != Some(known.uid.as_str()) {
                    // Deleted and created again by someone else (a person, another instance): not
                    // this instance's to take.
                    tracing::warn!(secret = %key, "a Secret this instance managed was replaced by one it does not own; left alone");
                    self.sink.forget(key);
                    return Ok(());
                }
                DriftKind::LabelRemoved
            }
            Some(l) if matches(l, &desired, &fingerprint, &self.sink.ownership().instance) => {
                self.sink.remember(key, written_of(&l.metadata));
                return Ok(());
            }
            Some(_) => DriftKind::Edited,
        };
        let managers = live
            .as_deref()
            .map(|l| changed_by(l, &desired))
            .unwrap_or_default();
        let written = self.sink.write(&desired, live.as_deref()).await?;
        drop(live);

        let note = revert_note(kind, &managers, &desired);
        tracing::info!(
            secret = %key,
            kind = kind.as_str(),
            managers = ?managers,
            source = %desired.source.path,
            commit = short_commit(&desired.source.commit),
            "drift reverted"
        );
        let regarding = secret_ref(
            &key.namespace,
            &key.name,
            Some(written.uid),
            Some(written.resource_version),
        );
        // Repeats about this Secret aggregate into one Event series (count, last seen).
        self.sink
            .recorder()
            .publish(
                &regarding,
                EventKind::Normal,
                "DriftReverted",
                kind.action(),
                &note,
            )
            .await;
        let held = self.lock_fights().reverted(key);
        let outcome = match held {
            None => DriftOutcome::Reverted,
            Some(hold) => {
                let note = fight_note(&managers, hold);
                tracing::warn!(secret = %key, managers = ?managers, "{note}");
                self.sink
                    .recorder()
                    .publish(
                        &regarding,
                        EventKind::Warning,
                        "RevertsHeldOff",
                        "Revert",
                        &note,
                    )
                    .await;
                DriftOutcome::HeldOff(hold)
            }
        };
        // The receiver may be gone during shutdown; the revert itself is done.
        let _ = self.reports.send(DriftReport {
            key: key.clone(),
            kind,
            at: SystemTime::now(),
            source: desired.source.path.clone(),
            commit: desired.source.commit.clone(),
            outcome,
        });
        Ok(())
    }
}

/// The announcement of a fight: who keeps changing the Secret and how the reverts are spaced out.
pub fn fight_note(managers: &[String], hold: std::time::Duration) -> String {
    let who = match managers {
        [] => "another writer".to_string(),
        many => format!("another writer ({})", many.join(", ")),
    };
    format!(
        "{who} keeps changing this Secret: reverts are held off, {} doubling up to {}, until it is left alone for 10m; stop the other writer or remove the Secret from git",
        humantime::format_duration(hold),
        humantime::format_duration(Fights::cap())
    )
}

/// The source annotation of a watched Secret.
fn source_of(meta: &PartialObjectMeta<Secret>) -> Option<String> {
    meta.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SOURCE_ANNOTATION))
        .cloned()
}

/// The field managers other than sealsync that own fields sealsync sets (newest first); if none does
/// (a removal leaves no owner), the newest manager other than sealsync.
fn changed_by(live: &Secret, desired: &DesiredSecret) -> Vec<String> {
    let mut others: Vec<&ManagedFieldsEntry> = live
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.manager.as_deref().is_some_and(|m| m != FIELD_MANAGER))
        .collect();
    others.sort_by(|a, b| {
        b.time
            .as_ref()
            .map(|t| t.0)
            .cmp(&a.time.as_ref().map(|t| t.0))
    });
    let ours = |e: &&ManagedFieldsEntry| {
        e.fields_v1
            .as_ref()
            .is_some_and(|f| touches_ours(&f.0, desired))
    };
    let chosen: Vec<&ManagedFieldsEntry> =
        match others.iter().copied().filter(ours).collect::<Vec<_>>() {
            relevant if !relevant.is_empty() => relevant,
            _ => others.into_iter().take(1).collect(),
        };
    let mut names: Vec<String> = Vec::new();
    for e in chosen {
        let name: String = e
            .manager
            .clone()
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect();
        if !names.contains(&name) && names.len() < 3 {
            names.push(name);
        }
    }
    names
}

/// Whether a managedFields set (structured-merge-diff `FieldsV1`) holds a field sealsync sets.
fn touches_ours(fields: &Value, desired: &DesiredSecret) -> bool {
    let has = |v: &Value, name: &str| v.get(format!("f:{name}")).is_some();
    if ["data", "stringData", "type", "immutable"]
        .iter()
        .any(|f| has(fields, f))
    {
        return true;
    }
    let Some(meta) = fields.get("f:metadata") else {
        return false;
    };
    let labels = meta.get("f:labels");
    let annotations = meta.get("f:annotations");
    let label_names = desired
        .labels
        .keys()
        .map(String::as_str)
        .chain([MANAGED_BY_LABEL]);
    let annotation_names = desired.annotations.keys().map(String::as_str).chain([
        SOURCE_ANNOTATION,
        COMMIT_ANNOTATION,
        FINGERPRINT_ANNOTATION,
    ]);
    label_names
        .into_iter()
        .any(|n| labels.is_some_and(|l| has(l, n)))
        || annotation_names
            .into_iter()
            .any(|n| annotations.is_some_and(|a| has(a, n)))
}

/// The Event message: what happened, who did it, where the restored content came from. Built from
/// names, paths and commits only — never a value.
fn revert_note(kind: DriftKind, managers: &[String], desired: &DesiredSecret) -> String {
    let who = match managers {
        [] => String::new(),
        [one] => format!("manager \"{one}\""),
        many => format!(
            "managers {}",
            many.iter()
                .map(|m| format!("\"{m}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let what = match (kind, who.is_empty()) {
        (DriftKind::Edited, false) => format!("edited by hand (fields changed by {who})"),
        (DriftKind::Edited, true) => "edited by hand".to_string(),
        (DriftKind::LabelRemoved, false) => {
            format!("label {MANAGED_BY_LABEL} removed by hand (last changed by {who})")
        }
        (DriftKind::LabelRemoved, true) => format!("label {MANAGED_BY_LABEL} removed by hand"),
        (DriftKind::Deleted, _) => "deleted by hand".to_string(),
    };
    format!(
        "{what}; restored from {} at {}",
        desired.source.path,
        short_commit(&desired.source.commit)
    )
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
