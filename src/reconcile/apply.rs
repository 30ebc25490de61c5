//! Applying desired state to a sink: create or update what differs, then prune managed Secrets whose
//! source left git — unless that would delete more than the allowed share of them at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt};

use crate::desired::{DesiredSecret, FingerprintKey, SecretKey};
use crate::sink::{ApplyOutcome, ManagedSecret, Sink, SinkError};

use super::desired_state::DesiredState;

/// How many Secrets are written at once.
const CONCURRENCY: usize = 16;

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
}

/// What a pass did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub results: BTreeMap<SecretKey, SecretResult>,
    pub pruned: Vec<SecretKey>,
    pub prune_failed: Vec<(SecretKey, SinkError)>,
    pub prune_refused: Option<String>,
    /// Managed Secrets listed before the pass.
    pub managed_before: usize,
    /// `list_managed` failed: nothing was applied or pruned.
    pub list_error: Option<SinkError>,
}

impl ApplyReport {
    pub fn count(&self, wanted: &ApplyOutcome) -> usize {
        self.results
            .values()
            .filter(|r| matches!(r, SecretResult::Applied(o) if o == wanted))
            .count()
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
    if delete.is_empty() {
        return PrunePlan::default();
    }
    let share = delete.len() as f64 / managed.len().max(1) as f64;
    if share > max_share {
        return PrunePlan {
            delete: Vec::new(),
            refused: Some(format!(
                "refusing to prune {} of {} managed Secrets ({:.0}% > --prune-max-share {:.0}%) in one commit; if this is intended, raise --prune-max-share for one run or remove them in smaller commits",
                delete.len(),
                managed.len(),
                share * 100.0,
                max_share * 100.0
            )),
        };
    }
    PrunePlan {
        delete,
        refused: None,
    }
}

/// Applies `state` to `sink` and prunes what left git.
pub async fn apply<S: Sink>(
    sink: &S,
    state: &DesiredState,
    key: &FingerprintKey,
    max_share: f64,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    let managed = match sink.list_managed().await {
        Ok(m) => m,
        Err(e) => {
            report.list_error = Some(e);
            return report;
        }
    };
    report.managed_before = managed.len();
    let mut managed = managed;
    if !managed.is_sorted_by(|a, b| a.key <= b.key) {
        managed.sort_by(|a, b| a.key.cmp(&b.key));
    }
    let authoritative = sink.listing_is_authoritative();
    // Both lists are sorted by key: one walk pairs each desired Secret with its listing, without a
    // lookup table (this runs for every Secret on every pass).
    let mut listed = managed.iter().peekable();
    let mut unchanged = Vec::new();
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
        if skip {
            unchanged.push((
                d.key.clone(),
                SecretResult::Applied(ApplyOutcome::Unchanged),
            ));
        } else {
            todo.push(d);
        }
    }
    report.results = unchanged.into_iter().collect();
    let results: Vec<(SecretKey, SecretResult)> = stream::iter(todo)
        .map(|d| async move {
            let result = match sink.apply(d).await {
                Ok(outcome) => SecretResult::Applied(outcome),
                Err(e) => SecretResult::Failed(e),
            };
            (d.key.clone(), result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    report.results.extend(results);

    let plan = plan_prune(&managed, state, max_share);
    report.prune_refused = plan.refused;
    for k in plan.delete {
        match sink.delete(&k).await {
            Ok(()) => report.pruned.push(k),
            Err(e) => report.prune_failed.push((k, e)),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed(keys: &[(&str, &str)]) -> Vec<ManagedSecret> {
        keys.iter()
            .map(|(name, path)| ManagedSecret {
                key: SecretKey::new("ns", *name),
                fingerprint: None,
                source_path: Some(path.to_string()),
            })
            .collect()
    }

    #[test]
    fn prune_guard_refuses_mass_deletion() {
        let m = managed(&[
            ("a", "a.yaml"),
            ("b", "b.yaml"),
            ("c", "c.yaml"),
            ("d", "d.yaml"),
        ]);
        let state = DesiredState::default();
        let plan = plan_prune(&m, &state, 0.5);
        assert!(plan.delete.is_empty());
        assert!(plan.refused.unwrap().contains("4 of 4"));
    }

    #[test]
    fn prune_within_share_and_failed_files_protected() {
        let m = managed(&[
            ("a", "a.yaml"),
            ("b", "b.yaml"),
            ("c", "c.yaml"),
            ("d", "d.yaml"),
        ]);
        let mut state = DesiredState::default();
        for name in ["a", "b"] {
            let mut d = crate::desired::tests_support::sample();
            d.key = SecretKey::new("ns", name);
            state.secrets.insert(d.key.clone(), Arc::new(d));
        }
        state.failed_paths.insert("c.yaml".into());
        let plan = plan_prune(&m, &state, 0.5);
        assert_eq!(plan.delete, vec![SecretKey::new("ns", "d")]);
        assert!(plan.refused.is_none());
    }
}
