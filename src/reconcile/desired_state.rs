//! Desired state from a snapshot. Results are cached per file by blob id, so a reconcile after a commit
//! costs work in proportion to the files that changed; a file that fails keeps its last good Secrets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::desired::{DesiredSecret, SecretKey};
use crate::documents::{self, Classifier, FileOutcome, Ignored, Refusal};
use crate::git::{FileContent, Snapshot, SourceFile};
use crate::keys::Identities;
use crate::policy::NamespacePolicy;

/// Fewer files than this per worker are not worth a thread.
const PER_WORKER_MIN: usize = 16;

/// Threads for classification: the cores this process may use (read once; it costs a cgroup read).
fn workers() -> usize {
    static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORKERS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
}

/// What classification needs, fixed for the agent's lifetime.
pub struct EngineSettings {
    pub identities: Arc<Identities>,
    pub policy: NamespacePolicy,
    pub default_namespace: String,
    pub max_file_size: u64,
}

struct CachedFile {
    blob_id: String,
    outcome: FileOutcome,
    /// The pass that last saw the file in a snapshot (older entries are dropped).
    seen_in: u64,
}

/// Computes desired state snapshot after snapshot.
pub struct Engine {
    settings: EngineSettings,
    cache: HashMap<String, CachedFile>,
    /// The Secrets each file yielded the last time it was read without error.
    last_good: HashMap<String, Vec<Arc<DesiredSecret>>>,
    /// Counts passes, to tell the cached files a snapshot still holds from those it dropped.
    pass: u64,
    /// Files classified (parsed and decrypted) since the engine started; for tests and benchmarks.
    pub files_classified: u64,
}

/// The outcome of one computation.
#[derive(Debug, Default, Clone)]
pub struct DesiredState {
    pub commit: String,
    pub secrets: BTreeMap<SecretKey, Arc<DesiredSecret>>,
    pub refused: Vec<Refusal>,
    pub ignored: Vec<Ignored>,
    /// Files that failed now: Secrets that came from them are kept (last good value) and never pruned.
    pub failed_paths: HashSet<String>,
    /// Files classified in this computation (the others came from the cache).
    pub files_classified: usize,
}

impl Engine {
    pub fn new(settings: EngineSettings) -> Engine {
        Engine {
            settings,
            cache: HashMap::new(),
            last_good: HashMap::new(),
            pass: 0,
            files_classified: 0,
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The desired state of `snapshot`. Only files whose blob changed are classified again; the
    /// rest of a pass is a walk over cached results that allocates little, since it runs for every
    /// file on every commit.
    pub fn desired(&mut self, snapshot: &Snapshot) -> DesiredState {
        self.pass += 1;
        let mut state = DesiredState {
            commit: snapshot.commit.clone(),
            ..Default::default()
        };
        let manifests = || {
            snapshot
                .files
                .iter()
                .filter(|f| documents::is_manifest(&f.path))
        };
        let mut todo = Vec::new();
        for file in manifests() {
            match self.cache.get_mut(&file.path) {
                Some(cached) if cached.blob_id == file.blob_id => cached.seen_in = self.pass,
                _ => todo.push(file),
            }
        }
        state.files_classified = todo.len();
        let outcomes = self.classify_all(snapshot, &todo);
        for (file, outcome) in todo.into_iter().zip(outcomes) {
            self.cache.insert(
                file.path.clone(),
                CachedFile {
                    blob_id: file.blob_id.clone(),
                    outcome,
                    seen_in: self.pass,
                },
            );
        }
        self.files_classified += state.files_classified as u64;
        let before = self.cache.len();
        self.cache.retain(|_, c| c.seen_in == self.pass);
        if self.cache.len() < before {
            let cache = &self.cache;
            self.last_good.retain(|path, _| cache.contains_key(path));
        }

        // Snapshot order (by path), so refusals and ignored documents are listed stably.
        let files: Vec<(&str, &FileOutcome)> = manifests()
            .filter_map(|f| Some((f.path.as_str(), &self.cache.get(&f.path)?.outcome)))
            .collect();
        let mut claimed = HashSet::with_capacity(files.len());
        let duplicates = files
            .iter()
            .flat_map(|(_, o)| &o.secrets)
            .any(|s| !claimed.insert(&s.key));
        let mut per_file: Vec<(String, FileOutcome)>;
        let mut outcomes: Vec<(&str, &FileOutcome)> = files;
        if duplicates {
            // Rare: the refusals depend on every file, so work on copies.
            per_file = outcomes
                .iter()
                .map(|(path, o)| {
                    let copy = FileOutcome {
                        secrets: o.secrets.clone(),
                        refused: o.refused.clone(),
                        ignored: o.ignored.clone(),
                    };
                    (path.to_string(), copy)
                })
                .collect();
            documents::refuse_duplicates(&mut per_file);
            outcomes = per_file.iter().map(|(p, o)| (p.as_str(), o)).collect();
        }

        let mut secrets = Vec::with_capacity(claimed.len());
        let mut good: Vec<(&str, &Vec<Arc<DesiredSecret>>)> = Vec::new();
        for (path, outcome) in &outcomes {
            if outcome.refused.is_empty() {
                let known = self.last_good.get(*path);
                if !known.is_some_and(|k| same_secrets(k, &outcome.secrets)) {
                    good.push((path, &outcome.secrets));
                }
            } else {
                state.failed_paths.insert(path.to_string());
                // The last good value stays: a failure never blanks or deletes a Secret.
                for s in self.last_good.get(*path).into_iter().flatten() {
                    if !outcome.secrets.iter().any(|n| n.key == s.key) {
                        secrets.push((s.key.clone(), s.clone(), false));
                    }
                }
            }
            for s in &outcome.secrets {
                secrets.push((s.key.clone(), s.clone(), true));
            }
            state.refused.extend(outcome.refused.iter().cloned());
            state.ignored.extend(outcome.ignored.iter().cloned());
        }
        // A Secret read now wins over a last good value kept for the same key.
        secrets.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        secrets.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same && later.2 && !earlier.2 {
                std::mem::swap(later, earlier);
            }
            same
        });
        state.secrets = secrets.into_iter().map(|(k, s, _)| (k, s)).collect();
        let good: Vec<(String, Vec<Arc<DesiredSecret>>)> = good
            .into_iter()
            .map(|(p, s)| (p.to_string(), s.clone()))
            .collect();
        self.last_good.extend(good);
        state
    }

    /// Classifies `files` (in their order), on all cores when there are many: an initial sync or a
    /// large commit is mostly X25519 unwraps and parsing, independent from file to file.
    fn classify_all(&self, snapshot: &Snapshot, files: &[&SourceFile]) -> Vec<FileOutcome> {
        let workers = workers().min(files.len().div_ceil(PER_WORKER_MIN));
        if workers <= 1 {
            return files.iter().map(|f| self.classify(snapshot, f)).collect();
        }
        let chunk = files.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let running: Vec<_> = files
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|f| self.classify(snapshot, f))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            running
                .into_iter()
                .flat_map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// Classifies one file, keeping the Secrets it yielded before where they did not change.
    fn classify(&self, snapshot: &Snapshot, file: &SourceFile) -> FileOutcome {
        let classifier = Classifier {
            identities: &self.settings.identities,
            policy: &self.settings.policy,
            default_namespace: &self.settings.default_namespace,
            max_file_size: self.settings.max_file_size,
        };
        let mut outcome = match &file.content {
            FileContent::Data(bytes) => classifier.classify(&file.path, bytes, &snapshot.commit),
            FileContent::TooLarge { size } => classifier.too_large(&file.path, *size),
            // Unchanged since the last snapshot, but not in this engine's cache (it started since).
            FileContent::Stored(blob) => match blob.load() {
                Ok(bytes) => classifier.classify(&file.path, &bytes, &snapshot.commit),
                Err(reason) => classifier.unreadable(&file.path, reason),
            },
        };
        outcome.secrets = std::mem::take(&mut outcome.secrets)
            .into_iter()
            .map(|s| self.reuse(&file.path, s))
            .collect();
        outcome
    }

    /// Keeps the commit a Secret was first read at while its content is unchanged, so a new commit that
    /// does not touch a file does not rewrite its Secret.
    fn reuse(&self, path: &str, secret: Arc<DesiredSecret>) -> Arc<DesiredSecret> {
        if let Some(previous) = self
            .last_good
            .get(path)
            .and_then(|list| list.iter().find(|p| p.key == secret.key))
        {
            if Arc::ptr_eq(previous, &secret) {
                return secret;
            }
            let mut same = (**previous).clone();
            same.source.commit = secret.source.commit.clone();
            if same == *secret {
                return previous.clone();
            }
        }
        secret
    }
}

/// Whether two lists hold the very same shared Secrets.
fn same_secrets(a: &[Arc<DesiredSecret>], b: &[Arc<DesiredSecret>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

#[cfg(test)]
#[path = "desired_state_tests.rs"]
mod tests;
