//! The prune guard, and the applier's partial passes against a sink model: whatever happens in git
//! and in the sink, a pass that visits only what changed must leave the sink as a full pass would.

use std::collections::BTreeMap;
use std::sync::Mutex;

use proptest::prelude::*;

use super::*;
use crate::desired::tests_support::sample;
use crate::desired::{FingerprintKey, SecretBytes};

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

/// A Secret held by the model sink.
#[derive(Clone, Debug, PartialEq)]
struct Held {
    value: Vec<u8>,
    source: String,
    /// Carries sealsync's marker; an unmanaged Secret is someone else's and must stay as it is.
    managed: bool,
}

/// A sink that records what it holds and, like the dir sink's watcher, which Secrets changed behind
/// its back since they were last applied or deleted.
#[derive(Default)]
struct ModelSink {
    state: Mutex<ModelState>,
}

#[derive(Default)]
struct ModelState {
    held: BTreeMap<SecretKey, Held>,
    /// Touched by someone else since sealsync last applied or deleted them (with the source they had).
    dirty: BTreeMap<SecretKey, Option<String>>,
    /// The next apply or delete of these fails.
    fail: BTreeSet<SecretKey>,
    /// Answer `list_changes` with a full listing (as the dir sink does when its watcher lost events).
    full: bool,
}

impl ModelSink {
    fn state(&self) -> std::sync::MutexGuard<'_, ModelState> {
        self.state.lock().unwrap()
    }

    /// Someone else edits, deletes or creates a Secret.
    fn tamper(&self, key: SecretKey, edit: Tamper) {
        let mut s = self.state();
        let source = s.held.get(&key).map(|h| h.source.clone());
        if s.held.get(&key).is_some_and(|h| !h.managed) {
            return;
        }
        match edit {
            Tamper::Edit => match s.held.get_mut(&key) {
                Some(h) => h.value = b"edited by hand".to_vec(),
                None => return,
            },
            Tamper::Delete => {
                if s.held.remove(&key).is_none() {
                    return;
                }
            }
            Tamper::Create => {
                s.held.entry(key.clone()).or_insert(Held {
                    value: b"made by hand".to_vec(),
                    source: "elsewhere.yaml".into(),
                    managed: true,
                });
            }
        }
        let source = source.or(Some("elsewhere.yaml".into()));
        s.dirty.insert(key, source);
    }

    fn managed(&self) -> BTreeMap<SecretKey, (Vec<u8>, String)> {
        self.state()
            .held
            .iter()
            .filter(|(_, h)| h.managed)
            .map(|(k, h)| (k.clone(), (h.value.clone(), h.source.clone())))
            .collect()
    }

    fn unmanaged(&self) -> BTreeMap<SecretKey, Held> {
        let s = self.state();
        s.held
            .iter()
            .filter(|(_, h)| !h.managed)
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Tamper {
    Edit,
    Delete,
    Create,
}

fn value_of(d: &DesiredSecret) -> Vec<u8> {
    d.data.values().flat_map(|v| v.expose().to_vec()).collect()
}

impl Sink for ModelSink {
    async fn list_managed(&self) -> Result<Vec<ManagedSecret>, SinkError> {
        Ok(self
            .state()
            .held
            .iter()
            .filter(|(_, h)| h.managed)
            .map(|(k, h)| ManagedSecret {
                key: k.clone(),
                fingerprint: None,
                source_path: Some(h.source.clone()),
            })
            .collect())
    }

    async fn list_changes(&self) -> Result<Listing, SinkError> {
        if self.state().full {
            return self.list_managed().await.map(Listing::Full);
        }
        let s = self.state();
        Ok(Listing::Changes {
            changed: s
                .dirty
                .iter()
                .map(|(k, source)| ManagedSecret {
                    key: k.clone(),
                    fingerprint: None,
                    source_path: source.clone(),
                })
                .collect(),
            managed: s.held.values().filter(|h| h.managed).count(),
        })
    }

    fn fingerprint_key(&self) -> &FingerprintKey {
        static KEY: std::sync::LazyLock<FingerprintKey> =
            std::sync::LazyLock::new(|| FingerprintKey::new(vec![7; 32]));
        &KEY
    }

    async fn apply(&self, d: &Arc<DesiredSecret>) -> Result<ApplyOutcome, SinkError> {
        let mut s = self.state();
        if s.fail.remove(&d.key) {
            return Err(SinkError::Other(format!("{}: injected failure", d.key)));
        }
        let want = Held {
            value: value_of(d),
            source: d.source.path.clone(),
            managed: true,
        };
        let outcome = match s.held.get(&d.key) {
            Some(h) if !h.managed => return Ok(ApplyOutcome::RefusedUnmanaged),
            Some(h) if *h == want => ApplyOutcome::Unchanged,
            Some(_) => ApplyOutcome::Updated,
            None => ApplyOutcome::Created,
        };
        s.held.insert(d.key.clone(), want);
        s.dirty.remove(&d.key);
        Ok(outcome)
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SinkError> {
        let mut s = self.state();
        if s.fail.remove(key) {
            return Err(SinkError::Other(format!("{key}: injected failure")));
        }
        if s.held.get(key).is_some_and(|h| !h.managed) {
            return Err(SinkError::Conflict {
                key: key.to_string(),
                reason: "not managed".into(),
            });
        }
        s.held.remove(key);
        s.dirty.remove(key);
        Ok(())
    }
}

const NAMES: u8 = 6;

fn key(n: u8) -> SecretKey {
    SecretKey::new("ns", format!("s{n}"))
}

/// The next desired state: `values` (name → value), sharing the Secrets of `previous` whose value is
/// the same, with the touched keys an engine would report.
fn next_state(previous: &DesiredState, values: &BTreeMap<u8, u8>) -> DesiredState {
    let mut secrets = imbl::OrdMap::new();
    for (name, value) in values {
        let k = key(*name);
        let reused = previous
            .secrets
            .get(&k)
            .filter(|d| value_of(d) == vec![b'0' + value])
            .cloned();
        let d = reused.unwrap_or_else(|| {
            let mut d = sample();
            d.key = k.clone();
            d.source.path = format!("apps/{name}.yaml");
            d.data = [("v".to_string(), SecretBytes::new(vec![b'0' + value]))].into();
            Arc::new(d)
        });
        secrets.insert(k, d);
    }
    let touched = previous
        .secrets
        .keys()
        .chain(secrets.keys())
        .filter(|k| match (previous.secrets.get(*k), secrets.get(*k)) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            _ => true,
        })
        .cloned()
        .collect();
    DesiredState {
        commit: format!("c{}", previous.pass + 1),
        secrets,
        pass: previous.pass + 1,
        touched,
        ..DesiredState::default()
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// A commit: the new desired values.
    Commit(BTreeMap<u8, u8>),
    Tamper(u8, Tamper),
    /// The next apply or delete of this Secret fails.
    Fail(u8),
    /// The sink cannot tell what changed for one listing.
    FullListing,
}

fn step() -> impl Strategy<Value = Step> {
    let tamper = prop_oneof![
        Just(Tamper::Edit),
        Just(Tamper::Delete),
        Just(Tamper::Create)
    ];
    prop_oneof![
        3 => proptest::collection::btree_map(0..NAMES, 0u8..3, 0..=NAMES as usize).prop_map(Step::Commit),
        3 => (0..NAMES, tamper).prop_map(|(n, t)| Step::Tamper(n, t)),
        1 => (0..NAMES).prop_map(Step::Fail),
        1 => Just(Step::FullListing),
    ]
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn partial_passes_converge_like_full_ones(
        unmanaged in proptest::collection::btree_set(0..NAMES, 0..3),
        steps in proptest::collection::vec(step(), 1..25),
    ) {
        let sink = ModelSink::default();
        for n in &unmanaged {
            sink.state().held.insert(key(*n), Held { value: b"theirs".to_vec(), source: String::new(), managed: false });
        }
        let theirs = sink.unmanaged();
        let mut applier = Applier::new();
        let mut state = DesiredState::default();
        let mut passes = 0;
        run(async {
            for step in &steps {
                let mut values = None;
                match step {
                    Step::Commit(v) => values = Some(v.clone()),
                    Step::Tamper(n, t) => sink.tamper(key(*n), *t),
                    Step::Fail(n) => { sink.state().fail.insert(key(*n)); }
                    Step::FullListing => sink.state().full = true,
                }
                // Every step is followed by a pass (a poll with or without a new commit).
                let current: BTreeMap<u8, u8> = state.secrets.values().map(|d| {
                    let name: u8 = d.key.name[1..].parse().unwrap();
                    (name, value_of(d)[0] - b'0')
                }).collect();
                state = next_state(&state, values.as_ref().unwrap_or(&current));
                let failing = !sink.state().fail.is_empty();
                let report = applier.apply(&sink, &state, 1.0).await;
                sink.state().full = false;
                passes += 1;
                prop_assert_eq!(sink.unmanaged(), theirs.clone(), "someone else's Secrets are left alone");
                if failing || report.failures() > 0 {
                    continue;
                }
                let want: BTreeMap<SecretKey, (Vec<u8>, String)> = state
                    .secrets
                    .values()
                    .filter(|d| !theirs.contains_key(&d.key))
                    .map(|d| (d.key.clone(), (value_of(d), d.source.path.clone())))
                    .collect();
                prop_assert_eq!(sink.managed(), want, "after pass {} ({:?})", passes, step);
            }
            Ok(())
        })?;
    }
}

#[test]
fn a_partial_pass_visits_only_what_changed_and_holds_back_mass_prunes() {
    run(async {
        let sink = ModelSink::default();
        let mut applier = Applier::new();
        let all: BTreeMap<u8, u8> = (0..NAMES).map(|n| (n, 0)).collect();
        let first = next_state(&DesiredState::default(), &all);
        let report = applier.apply(&sink, &first, 0.5).await;
        assert!(!report.partial);
        assert_eq!(report.count(&ApplyOutcome::Created), NAMES as usize);

        // One value changes, one Secret is edited by hand: only those two are visited.
        let mut values = all.clone();
        values.insert(2, 1);
        let second = next_state(&first, &values);
        sink.tamper(key(4), Tamper::Edit);
        let report = applier.apply(&sink, &second, 0.5).await;
        assert!(report.partial);
        assert_eq!(
            report.results.keys().cloned().collect::<Vec<_>>(),
            [key(2), key(4)]
        );
        assert_eq!(report.skipped, NAMES as usize - 2);
        assert_eq!(sink.managed()[&key(4)].0, b"0");

        // Four of six removed in one commit: held back, and again on the next pass.
        let few: BTreeMap<u8, u8> = [(0, 0), (1, 0)].into();
        let third = next_state(&second, &few);
        let report = applier.apply(&sink, &third, 0.5).await;
        assert!(report.pruned.is_empty());
        assert!(report.prune_refused.unwrap().contains("4 of 6"));
        let fourth = next_state(&third, &few);
        let report = applier.apply(&sink, &fourth, 0.5).await;
        // Weighed again over a full listing (what exists now), and refused again.
        assert!(!report.partial && report.prune_refused.is_some());
        assert_eq!(sink.managed().len(), NAMES as usize);
        // Allowed now (as with a raised --prune-max-share): pruned.
        let fifth = next_state(&fourth, &few);
        let report = applier.apply(&sink, &fifth, 1.0).await;
        assert_eq!(report.pruned.len(), 4);
        assert_eq!(sink.managed().len(), 2);
    });
}

#[test]
fn a_held_back_prune_is_weighed_again_against_what_exists_now() {
    run(async {
        let sink = ModelSink::default();
        let mut applier = Applier::new();
        let all: BTreeMap<u8, u8> = (0..NAMES).map(|n| (n, 0)).collect();
        let first = next_state(&DesiredState::default(), &all);
        applier.apply(&sink, &first, 0.5).await;

        // Four of six leave git: held back.
        let few: BTreeMap<u8, u8> = [(0, 0), (1, 0)].into();
        let second = next_state(&first, &few);
        let report = applier.apply(&sink, &second, 0.5).await;
        assert!(report.prune_refused.unwrap().contains("4 of 6"));

        // One of them is deleted by hand: the next pass counts what is left, 3 of 5.
        sink.tamper(key(2), Tamper::Delete);
        let third = next_state(&second, &few);
        let report = applier.apply(&sink, &third, 0.5).await;
        let why = report.prune_refused.expect("still more than half");
        assert!(why.contains("3 of 5"), "{why}");
        assert_eq!(report.prune_held.len(), 3);

        // The others are deleted by hand too: nothing is left to refuse.
        for n in 3..NAMES {
            sink.tamper(key(n), Tamper::Delete);
        }
        let fourth = next_state(&third, &few);
        let report = applier.apply(&sink, &fourth, 0.5).await;
        assert_eq!(report.prune_refused, None);
        assert!(report.prune_held.is_empty());
        assert_eq!(report.failures(), 0);
        // And later passes stay quiet.
        let fifth = next_state(&fourth, &few);
        let report = applier.apply(&sink, &fifth, 0.5).await;
        assert_eq!(report.prune_refused, None);
    });
}
