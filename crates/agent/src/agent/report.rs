//! Publishes each pass to the operations endpoints: metrics, the `/status` document and readiness.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::desired::{DesiredSecret, SecretKey};
use crate::git::GitError;
use crate::ops::{OpsState, RefusedDocument, SecretState, SecretStatus, Timestamp};
use crate::reason::Reason;
use crate::reconcile::SecretResult;
use crate::sink::{ApplyOutcome, DriftKind};

use super::run::{Pass, PassObserver};

/// The dir sink's observer: every pass published to the operations endpoints, and the Secrets it put
/// back counted as drift reverted (the kube sink's drift watch counts its own).
pub struct Publisher<'a> {
    ops: &'a OpsState,
    /// A pass has computed a desired state before (the first one writes everything, and reverts
    /// nothing).
    computed: bool,
}

impl<'a> Publisher<'a> {
    pub fn new(ops: &'a OpsState) -> Publisher<'a> {
        Publisher {
            ops,
            computed: false,
        }
    }
}

impl PassObserver for Publisher<'_> {
    fn passed(&mut self, pass: &Pass, git_error: Option<&GitError>) {
        publish(self.ops, pass, git_error);
        if pass.state.commit.is_empty() {
            return;
        }
        if std::mem::replace(&mut self.computed, true) {
            for kind in drift_reverted(pass) {
                self.ops.metrics.drift_reverted(kind);
            }
        }
    }
}

/// What a pass after the first put back: a Secret written although git did not change it
/// (`DesiredState::touched`) had been changed in the sink — re-created if it was deleted, rewritten if
/// it was edited.
fn drift_reverted(pass: &Pass) -> impl Iterator<Item = DriftKind> + '_ {
    pass.report.results.iter().filter_map(|(key, result)| {
        if pass.state.touched.contains(key) {
            return None;
        }
        match result {
            SecretResult::Applied(ApplyOutcome::Created) => Some(DriftKind::Deleted),
            SecretResult::Applied(ApplyOutcome::Updated) => Some(DriftKind::Edited),
            _ => None,
        }
    })
}

/// Records a pass (and a fetch error, if the pass ran on the last good commit).
pub fn publish(ops: &OpsState, pass: &Pass, git_error: Option<&GitError>) {
    let now = Timestamp::now();
    let metrics = &ops.metrics;
    metrics.observe_git_fetch(pass.fetch_took);
    match git_error {
        Some(e) => {
            metrics.error(e.reason());
            ops.status.record_git_failure(e.reason(), e);
        }
        None if !pass.state.commit.is_empty() => ops.status.record_fetch(&pass.state.commit, now),
        None => {}
    }
    if pass.state.commit.is_empty() {
        return;
    }
    metrics.observe_reconcile(pass.took);
    let mut refused = Vec::new();
    for r in &pass.state.refused {
        metrics.error(r.reason);
        refused.push(RefusedDocument::new(
            r.path.clone(),
            r.document,
            r.reason,
            r.to_string(),
        ));
    }
    let report = &pass.report;
    let status_of = |key: &SecretKey, desired: &DesiredSecret| {
        let base = |state| {
            SecretStatus::new(key, desired.source.path.clone(), state)
                .with_commit(desired.source.commit.clone())
        };
        let failed_file = pass.state.failed_paths.contains(&desired.source.path);
        let kept = || {
            base(SecretState::Failed)
                .with_error("its file failed in this commit; the last good value stays")
        };
        match report.results.get(key) {
            Some(SecretResult::Applied(outcome)) => {
                metrics.record_apply(outcome);
                match outcome {
                    ApplyOutcome::Created | ApplyOutcome::Updated => {
                        base(SecretState::Applied).with_last_applied(now)
                    }
                    ApplyOutcome::Unchanged if failed_file => kept(),
                    ApplyOutcome::Unchanged => base(SecretState::Unchanged),
                    ApplyOutcome::Refused(_, why) => base(SecretState::Refused).with_error(why.clone()),
                    ApplyOutcome::RefusedUnmanaged => base(SecretState::Refused).with_error(
                        "a Secret of this name exists and is not managed by sealsync (annotate the document sealsync.dev/adopt: \"true\" to take it over)",
                    ),
                }
            }
            Some(SecretResult::Failed(e)) => {
                metrics.error(Reason::Sink);
                base(SecretState::Failed).with_error(e)
            }
            None if report.list_error.is_some() => base(SecretState::Pending),
            // Skipped: found as desired, or not changed since the last pass.
            None if failed_file => kept(),
            None => base(SecretState::Unchanged),
        }
    };
    let pruned = || {
        report
            .pruned
            .iter()
            .map(|key| SecretStatus::new(key, "", SecretState::Pruned).with_last_applied(now))
    };
    let mut removed = Vec::new();
    let mut secrets = Vec::new();
    if report.partial {
        // Only what this pass touched or visited; the other entries stay as they are.
        let keys: BTreeSet<&SecretKey> = pass
            .state
            .touched
            .iter()
            .chain(report.results.keys())
            .collect();
        for key in keys {
            match pass.state.secrets.get(key) {
                Some(desired) => secrets.push(status_of(key, desired)),
                None if report.pruned.contains(key) => {}
                None => removed.push(key.clone()),
            }
        }
    } else {
        secrets.extend(pass.state.secrets.iter().map(|(k, d)| status_of(k, d)));
    }
    secrets.extend(pruned());
    metrics.secrets_pruned(pass.report.pruned.len() as u64);
    for _ in &pass.report.prune_failed {
        metrics.error(Reason::Sink);
    }
    if let Some(why) = &pass.report.prune_refused {
        metrics.error(Reason::PruneRefused);
        refused.push(RefusedDocument::new(
            "(prune)",
            None,
            Reason::PruneRefused,
            why,
        ));
    }
    if let Some(e) = &pass.report.list_error {
        metrics.error(Reason::Sink);
        ops.status
            .record_git_error(format!("cannot list managed Secrets: {e}"));
    }
    metrics.set_managed_secrets(pass.state.secrets.len());
    // A success is a pass over a freshly fetched commit: while git is unreachable the agent keeps
    // serving the last good commit, and this timestamp must not say all is well.
    if pass.report.list_error.is_none() && git_error.is_none() {
        metrics.set_last_success(SystemTime::now());
    }
    let first_refusal = pass.state.refused.first().map(|r| r.to_string());
    ops.readiness
        .set_refused_all(crate::ops::readiness::refused_all(
            pass.state.secrets.len(),
            pass.state.refused.len(),
            first_refusal.as_deref(),
        ));
    let ignored = pass
        .state
        .ignored
        .iter()
        .take(crate::ops::status::MAX_IGNORED_SHOWN)
        .map(|i| crate::ops::status::IgnoredDocument {
            source: i.path.clone(),
            document: i.document,
            kind: format!("{}/{}", i.api_version, i.kind),
        })
        .collect();
    ops.status.set_ignored(ignored, pass.state.ignored.len());
    if report.partial {
        ops.status.record_partial(now, secrets, &removed, refused);
    } else {
        ops.status.record_reconcile(now, secrets, refused);
    }
    ops.mark_ready();
}
