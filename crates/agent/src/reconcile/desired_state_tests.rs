//! The engine against a model that recomputes everything from the whole history of snapshots: the
//! cache, the reuse of unchanged Secrets and the last good values must never change the result.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;

use super::{DesiredState, Engine, EngineSettings};
use crate::desired::{DesiredSecret, SecretKey};
use crate::documents::{self, Classifier, FileOutcome};
use crate::git::{Delta, FileContent, Snapshot, SourceFile};
use crate::keys::Identities;
use crate::policy::{Fallback, NamespacePolicy};

const PATHS: &[&str] = &["a.yaml", "b.yaml", "c/d.yaml", "c/e.yml", "notes.txt"];

/// What a file holds: a Secret (name, value), broken YAML, or an object sealsync ignores.
#[derive(Clone, Debug)]
enum Content {
    Secret(u8, u8),
    Broken,
    ConfigMap,
}

impl Content {
    fn text(&self) -> String {
        match self {
            Content::Secret(name, value) => format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{name}\n  namespace: ns\nstringData:\n  v: value-{value}\n"
            ),
            Content::Broken => "apiVersion: v1\nkind: Secret\nmetadata: [\n".into(),
            Content::ConfigMap => "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n".into(),
        }
    }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        6 => (0u8..3, 0u8..2).prop_map(|(n, v)| Content::Secret(n, v)),
        1 => Just(Content::Broken),
        1 => Just(Content::ConfigMap),
    ]
}

/// A snapshot: each path absent or holding some content.
fn files() -> impl Strategy<Value = Vec<Option<Content>>> {
    proptest::collection::vec(proptest::option::of(content()), PATHS.len())
}

fn snapshot(commit: usize, files: &[Option<Content>]) -> Snapshot {
    Snapshot::new(
        format!("commit-{commit}"),
        PATHS.iter().zip(files).filter_map(|(path, c)| {
            let text = c.as_ref()?.text();
            Some(SourceFile {
                path: path.to_string(),
                // Equal contents, equal blob ids, as in git.
                blob_id: text.clone(),
                content: FileContent::Data(text.into_bytes().into()),
            })
        }),
    )
}

/// `snap` with the delta the git source would give it against `previous`.
fn with_delta(mut snap: Snapshot, previous: &Snapshot) -> Snapshot {
    let changes = snap.changes_since(previous);
    let mut changed: Vec<String> = [changes.added, changes.modified, changes.removed].concat();
    changed.sort();
    snap.delta = Some(Delta {
        base: previous.commit.clone(),
        changed,
    });
    snap
}

fn settings() -> EngineSettings {
    EngineSettings {
        identities: Arc::new(Identities::default()),
        decryption: Default::default(),
        policy: NamespacePolicy::new(Vec::new(), Fallback::AllowAll),
        default_namespace: "default".into(),
        max_file_size: 1 << 20,
        cluster_store_paths: Default::default(),
    }
}

/// Desired state recomputed from scratch: classify every file, refuse duplicates, keep last good
/// values of failed files, and date each Secret by the commit its file's blob first appeared at (or
/// its last good value's, when only the encryption changed).
#[derive(Default)]
struct Model {
    last_good: HashMap<String, Vec<Arc<DesiredSecret>>>,
    /// Each path's blob and the commit it has been there since.
    since: HashMap<String, (String, String)>,
}

impl Model {
    fn desired(&mut self, snapshot: &Snapshot) -> DesiredState {
        let settings = settings();
        let classifier = Classifier {
            identities: &settings.identities,
            decryption: &settings.decryption,
            policy: &settings.policy,
            default_namespace: &settings.default_namespace,
            max_file_size: settings.max_file_size,
            cluster_store_paths: &Default::default(),
        };
        let mut per_file: Vec<(String, FileOutcome)> = snapshot
            .files
            .iter()
            .filter(|f| documents::is_manifest(&f.path))
            .map(|f| {
                let FileContent::Data(bytes) = &f.content else {
                    unreachable!()
                };
                let since = match self.since.get(&f.path) {
                    Some((blob, commit)) if *blob == f.blob_id => commit.clone(),
                    _ => snapshot.commit.clone(),
                };
                self.since
                    .insert(f.path.clone(), (f.blob_id.clone(), since.clone()));
                (f.path.clone(), classifier.classify(&f.path, bytes, &since))
            })
            .collect();
        self.since
            .retain(|path, _| per_file.iter().any(|(p, _)| p == path));
        self.last_good
            .retain(|path, _| per_file.iter().any(|(p, _)| p == path));
        documents::refuse_duplicates(&mut per_file);
        let mut state = DesiredState {
            commit: snapshot.commit.clone(),
            ..Default::default()
        };
        let mut current = BTreeMap::new();
        let mut kept = BTreeMap::new();
        let mut ignored = Vec::new();
        for (path, outcome) in per_file {
            let earlier = self.last_good.get(&path).cloned().unwrap_or_default();
            let secrets: Vec<Arc<DesiredSecret>> = outcome
                .secrets
                .iter()
                .map(|s| {
                    let before = earlier.iter().find(|p| {
                        let mut same = (***p).clone();
                        same.source.commit = s.source.commit.clone();
                        same == **s
                    });
                    before.cloned().unwrap_or_else(|| s.clone())
                })
                .collect();
            if outcome.refused.is_empty() {
                self.last_good.insert(path.clone(), secrets.clone());
            } else {
                state.failed_paths.insert(path.clone());
                for s in earlier {
                    kept.entry(s.key.clone()).or_insert(s);
                }
            }
            for s in secrets {
                current.insert(s.key.clone(), s);
            }
            state.refused.extend(outcome.refused);
            ignored.extend(outcome.ignored);
        }
        kept.extend(current);
        state.secrets = kept.into_iter().collect();
        state.ignored = Arc::new(ignored);
        state
    }
}

/// What must agree: every Secret with its values and source, every refusal and failed file.
fn view(state: &DesiredState) -> impl PartialEq + std::fmt::Debug {
    let secrets: Vec<(SecretKey, String, String, Vec<u8>)> = state
        .secrets
        .values()
        .map(|s| {
            let values = s.data.values().flat_map(|v| v.expose().to_vec()).collect();
            (
                s.key.clone(),
                s.source.path.clone(),
                s.source.commit.clone(),
                values,
            )
        })
        .collect();
    let refused: Vec<(String, String)> = state
        .refused
        .iter()
        .map(|r| (r.path.clone(), r.message.clone()))
        .collect();
    let mut failed: Vec<&String> = state.failed_paths.iter().collect();
    failed.sort();
    let ignored = state.ignored.len();
    format!("{secrets:?}\n{refused:?}\n{failed:?}\n{ignored}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_cached_engine_agrees_with_a_full_recomputation(history in proptest::collection::vec(files(), 1..8)) {
        // One engine is given no deltas (it compares every file), one the deltas git would give.
        let mut engine = Engine::new(settings());
        let mut incremental = Engine::new(settings());
        let mut model = Model::default();
        let mut previous: Option<(Snapshot, DesiredState)> = None;
        for (commit, files) in history.iter().enumerate() {
            let snap = snapshot(commit, files);
            let got = engine.desired(&snap);
            let want = model.desired(&snap);
            prop_assert_eq!(view(&got), view(&want), "at commit {}", commit);
            let delta_snap = match &previous {
                Some((before, _)) => with_delta(snap.clone(), before),
                None => snap.clone(),
            };
            let patched = incremental.desired(&delta_snap);
            prop_assert_eq!(view(&patched), view(&want), "with a delta, at commit {}", commit);
            if let Some((_, before)) = &previous {
                // Every Secret that differs from the previous pass is among the touched keys.
                let keys: std::collections::BTreeSet<&SecretKey> =
                    before.secrets.keys().chain(got.secrets.keys()).collect();
                for key in keys {
                    let same = match (before.secrets.get(key), patched.secrets.get(key)) {
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        (None, None) => true,
                        _ => false,
                    };
                    prop_assert!(same || patched.touched.contains(key), "{} changed untouched at commit {}", key, commit);
                }
            }
            previous = Some((snap, patched));
        }
    }
}

#[test]
fn only_changed_files_are_classified_again() {
    let mut engine = Engine::new(settings());
    let mut files = vec![
        Some(Content::Secret(0, 0)),
        Some(Content::Secret(1, 0)),
        Some(Content::Secret(2, 0)),
        None,
        None,
    ];
    assert_eq!(engine.desired(&snapshot(0, &files)).files_classified, 3);
    assert_eq!(engine.desired(&snapshot(1, &files)).files_classified, 0);
    files[1] = Some(Content::Secret(1, 1));
    let state = engine.desired(&snapshot(2, &files));
    assert_eq!(state.files_classified, 1);
    let s1 = &state.secrets[&SecretKey::new("ns", "s1")];
    assert_eq!(s1.source.commit, "commit-2");
    let s0 = &state.secrets[&SecretKey::new("ns", "s0")];
    assert_eq!(
        s0.source.commit, "commit-0",
        "an untouched Secret keeps its commit"
    );
}

#[test]
fn many_files_are_classified_in_parallel_with_the_same_result() {
    let files: Vec<SourceFile> = (0..300)
        .map(|i| {
            let text = if i % 50 == 7 {
                Content::Broken.text()
            } else {
                format!(
                    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s{i}\n  namespace: ns\nstringData:\n  v: value-{i}\n"
                )
            };
            SourceFile {
                path: format!("apps/f{i:03}.yaml"),
                blob_id: text.clone(),
                content: FileContent::Data(text.into_bytes().into()),
            }
        })
        .collect();
    let snap = Snapshot::new("c", files);
    let got = Engine::new(settings()).desired(&snap);
    assert_eq!(got.files_classified, 300);
    assert_eq!(got.secrets.len(), 294);
    assert_eq!(got.refused.len(), 6);
    assert_eq!(view(&got), view(&Model::default().desired(&snap)));
}
