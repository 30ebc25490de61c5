//! Applying desired state to a sink: create or update what differs, then prune managed Secrets whose
//! source left git — unless that would delete more than the allowed share of them at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use crate::desired::{DesiredSecret, SecretKey};
use crate::sink::{ApplyOutcome, Listing, ManagedSecret, Sink, SinkError};

use super::desired_state::DesiredState;

/// The fate of one desired Secret in a pass.
#[derive(Debug)]
pub enum SecretResult {
    Applied(ApplyOutcome),
    Failed(SinkError),
}

/// Which managed Secrets to delete, or why none are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PrunePlan {
    pub delete: Vec<SecretKey>,
    /// Set when the guard refused the deletion; `delete` is then empty.
    pub refused: Option<String>,
    /// What the guard held back (when it refused).
    pub held: Vec<SecretKey>,
}

/// What a pass did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// The Secrets this pass visited (applied, or found as desired): every desired Secret on a full
    /// pass except those skipped; on a partial pass, those that changed in git or in the sink.
    pub results: BTreeMap<SecretKey, SecretResult>,
    /// Desired Secrets not visited: the listing proved them as desired, or nothing changed them.
    pub skipped: usize,
    /// The pass visited only what changed since the previous one (`DesiredState::touched`, the
    /// sink's `Listing::Changes`, and what failed before); false for a full pass.
    pub partial: bool,
    pub pruned: Vec<SecretKey>,
    pub prune_failed: Vec<(SecretKey, SinkError)>,
    pub prune_refused: Option<String>,
    /// The Secrets the prune guard held back.
    pub prune_held: Vec<SecretKey>,
    /// Managed Secrets listed before the pass.
    pub managed_before: usize,
    /// `list_managed` failed: nothing was applied or pruned.
    pub list_error: Option<SinkError>,
}

impl ApplyReport {
    /// Desired Secrets with this outcome (skipped ones count as unchanged).
    pub fn count(&self, wanted: &ApplyOutcome) -> usize {
        let skipped = if *wanted == ApplyOutcome::Unchanged {
            self.skipped
        } else {
            0
        };
        self.results
            .values()
            .filter(|r| matches!(r, SecretResult::Applied(o) if o == wanted))
            .count()
            + skipped
    }

    pub fn failures(&self) -> usize {
        self.results
            .values()
            .filter(|r| matches!(r, SecretResult::Failed(_)))
            .count()
            + self.prune_failed.len()
            + usize::from(self.list_error.is_some())
    }
}

/// Managed Secrets not desired any more, except those from files that failed now (their source is
/// still in git, just unreadable). Refused as a whole when it would delete more than `max_share` of the
/// managed Secrets.
pub fn plan_prune(managed: &[ManagedSecret], state: &DesiredState, max_share: f64) -> PrunePlan {
    let delete: Vec<SecretKey> = managed
        .iter()
        .filter(|m| !state.secrets.contains_key(&m.key))
        .filter(|m| {
            m.source_path
                .as_ref()
                .is_none_or(|p| !state.failed_paths.contains(p))
        })
        .map(|m| m.key.clone())
        .collect();
    guard_prune(delete, managed.len(), max_share)
}

/// `delete`, unless it is more than `max_share` of the `managed` Secrets.
fn guard_prune(delete: Vec<SecretKey>, managed: usize, max_share: f64) -> PrunePlan {
    if delete.is_empty() {
        return PrunePlan::default();
    }
    let delete_count = delete.len();
    let share = delete_count as f64 / managed.max(1) as f64;
    if share > max_share {
        return PrunePlan {
            held: delete,
            delete: Vec::new(),
            refused: Some(format!(
                "refusing to prune {} of {} managed Secrets ({:.0}% > --prune-max-share {:.0}%) in one commit; if this is intended, raise --prune-max-share for one run or remove them in smaller commits",
                delete_count,
                managed,
                share * 100.0,
                max_share * 100.0
            )),
        };
    }
    PrunePlan {
        delete,
        refused: None,
        held: Vec::new(),
    }
}

/// Applies desired states pass after pass. The first pass, and any pass after a gap (a failed
/// listing, a state that does not follow the last one applied, a sink that lists everything), is
/// full; the others visit only the Secrets that changed in git (`DesiredState::touched`) or in the
/// sink (`Listing::Changes`), and those that failed or were held back before. So the cost of a pass
/// follows the size of the change, not the number of Secrets.
#[derive(Default)]
pub struct Applier {
    /// The pass number and Secrets of the state applied last; None: the next pass is full.
    applied: Option<(u64, imbl::OrdMap<SecretKey, Arc<DesiredSecret>>)>,
    /// Visited by every pass until they succeed: failed applies and deletes, refused prunes, and
    /// Secrets that exist unmanaged.
    retry: BTreeSet<SecretKey>,
    /// Secrets found to exist without sealsync's label: never pruned on a partial pass.
    unmanaged: BTreeSet<SecretKey>,
}

impl Applier {
    pub fn new() -> Applier {
        Applier::default()
    }

    /// Applies `state` to `sink` and prunes what left git.
    pub async fn apply<S: Sink>(
        &mut self,
        sink: &S,
        state: &DesiredState,
        max_share: f64,
    ) -> ApplyReport {
        let follows = self
            .applied
            .as_ref()
            .is_some_and(|(pass, _)| *pass > 0 && pass + 1 == state.pass);
        let listing = if follows {
            sink.list_changes().await
        } else {
            sink.list_managed().await.map(Listing::Full)
        };
        let report = match listing {
            Err(e) => {
                self.applied = None;
                return ApplyReport {
                    list_error: Some(e),
                    ..ApplyReport::default()
                };
            }
            Ok(Listing::Full(managed)) => {
                apply_full(sink, state, max_share, managed, &BTreeSet::new()).await
            }
            Ok(Listing::Changes { changed, managed }) => {
                self.apply_partial(sink, state, max_share, changed, managed)
                    .await
            }
        };
        self.remember(state, &report);
        report
    }

    async fn apply_partial<S: Sink>(
        &self,
        sink: &S,
        state: &DesiredState,
        max_share: f64,
        changed: Vec<ManagedSecret>,
        managed: usize,
    ) -> ApplyReport {
        let before = self.applied.as_ref().map(|(_, secrets)| secrets);
        let listed: BTreeMap<&SecretKey, &ManagedSecret> =
            changed.iter().map(|m| (&m.key, m)).collect();
        let mut visit: BTreeSet<&SecretKey> = state.touched.iter().collect();
        visit.extend(&self.retry);
        visit.extend(listed.keys().copied());
        let mut todo = Vec::new();
        let mut delete = Vec::new();
        for k in visit {
            if let Some(d) = state.secrets.get(k) {
                todo.push(d);
                continue;
            }
            let was_desired = before.and_then(|b| b.get(k));
            // Only Secrets this sink holds: listed as changed, applied before, or retried.
            let held = listed.contains_key(k) || was_desired.is_some() || self.retry.contains(k);
            let source = listed
                .get(k)
                .and_then(|m| m.source_path.clone())
                .or_else(|| was_desired.map(|d| d.source.path.clone()));
            let protected = source.is_some_and(|p| state.failed_paths.contains(&p));
            // Keys merged into a Secret sealsync does not own stay when their document leaves.
            let merged = was_desired.is_some_and(|d| d.merge);
            if held && !protected && !merged && !self.unmanaged.contains(k) {
                delete.push(k.clone());
            }
        }
        let mut report = ApplyReport {
            partial: true,
            managed_before: managed,
            skipped: state.secrets.len() - todo.len(),
            ..ApplyReport::default()
        };
        report.results = apply_each(sink, todo).await.into_iter().collect();
        // Some candidates may not exist (a failed first apply, deleted by hand since it was held
        // back): counted among the managed, so the share stays a share.
        let weighed = managed.max(delete.len());
        let plan = guard_prune(delete, weighed, max_share);
        if plan.refused.is_none() {
            prune(sink, plan, &mut report).await;
            return report;
        }
        // A refusal is weighed against what exists now, never against candidates remembered from
        // earlier passes: the pass becomes a full one over a fresh listing, so Secrets deleted by
        // hand are not counted and the message's counts are those a full pass would give.
        match sink.list_managed().await {
            Ok(listed) => {
                let done: BTreeSet<SecretKey> = report.results.keys().cloned().collect();
                let mut full = apply_full(sink, state, max_share, listed, &done).await;
                full.results.extend(report.results);
                full.skipped = state.secrets.len() - full.results.len();
                full
            }
            Err(e) => {
                report.list_error = Some(e);
                report
            }
        }
    }

    /// What the next pass must visit again, and the state it follows.
    fn remember(&mut self, state: &DesiredState, report: &ApplyReport) {
        self.retry.clear();
        for (k, result) in &report.results {
            match result {
                SecretResult::Applied(
                    ApplyOutcome::RefusedUnmanaged | ApplyOutcome::Refused(..),
                ) => {
                    self.unmanaged.insert(k.clone());
                    self.retry.insert(k.clone());
                }
                SecretResult::Applied(_) => {
                    self.unmanaged.remove(k);
                }
                SecretResult::Failed(_) => {
                    self.retry.insert(k.clone());
                }
            }
        }
        for k in &report.pruned {
            self.unmanaged.remove(k);
        }
        self.retry
            .extend(report.prune_failed.iter().map(|(k, _)| k.clone()));
        // Held back, not forgotten: the next pass weighs them again.
        self.retry.extend(report.prune_held.iter().cloned());
        self.unmanaged.retain(|k| state.secrets.contains_key(k));
        self.applied = Some((state.pass, state.secrets.clone()));
    }
}

async fn apply_full<S: Sink>(
    sink: &S,
    state: &DesiredState,
    max_share: f64,
    mut managed: Vec<ManagedSecret>,
    done: &BTreeSet<SecretKey>,
) -> ApplyReport {
    let mut report = ApplyReport {
        managed_before: managed.len(),
        ..ApplyReport::default()
    };
    if !managed.is_sorted_by(|a, b| a.key <= b.key) {
        managed.sort_by(|a, b| a.key.cmp(&b.key));
    }
    let authoritative = sink.listing_is_authoritative();
    let key = sink.fingerprint_key();
    // Both lists are sorted by key: one walk pairs each desired Secret with its listing, without a
    // lookup table (this runs for every Secret on a full pass).
    let mut listed = managed.iter().peekable();
    let mut todo: Vec<&Arc<DesiredSecret>> = Vec::new();
    for d in state.secrets.values() {
        while listed.next_if(|m| m.key < d.key).is_some() {}
        let known = listed.next_if(|m| m.key == d.key);
        let skip = authoritative
            && known.is_some_and(|m| {
                m.fingerprint.is_some()
                    && m.source_path.as_deref() == Some(d.source.path.as_str())
                    && m.fingerprint.as_deref() == Some(d.shared_fingerprint(key).as_str())
            });
        if done.contains(&d.key) {
            // Applied earlier in this pass.
        } else if skip {
            report.skipped += 1;
        } else {
            todo.push(d);
        }
    }
    report.results = apply_each(sink, todo).await.into_iter().collect();
    prune(sink, plan_prune(&managed, state, max_share), &mut report).await;
    report
}

/// Applies each of `todo`, several at once.
async fn apply_each<S: Sink>(
    sink: &S,
    todo: Vec<&Arc<DesiredSecret>>,
) -> Vec<(SecretKey, SecretResult)> {
    stream::iter(todo)
        .map(|d| async move {
            let result = match sink.apply(d).await {
                Ok(outcome) => SecretResult::Applied(outcome),
                Err(e) => SecretResult::Failed(e),
            };
            (d.key.clone(), result)
        })
        .buffer_unordered(sink.concurrency().max(1))
        .collect()
        .await
}

async fn prune<S: Sink>(sink: &S, plan: PrunePlan, report: &mut ApplyReport) {
    report.prune_refused = plan.refused;
    report.prune_held = plan.held;
    for k in plan.delete {
        match sink.delete(&k).await {
            Ok(()) => report.pruned.push(k),
            Err(e) => report.prune_failed.push((k, e)),
        }
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
