//! Desired state from a snapshot, kept from pass to pass and patched where a commit changed it.
//!
//! Each file's classification is cached by blob id. A snapshot that says what changed since the one
//! the engine saw last (its git delta) costs work for the changed files, the files that declare the
//! same Secrets (their duplicate refusals may change), and those Secrets: not for the rest of the
//! repository. Without a usable delta the cache is compared with every file, as on a first pass. A
//! file that fails keeps its last good Secrets.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::desired::{DesiredSecret, SecretKey};
use crate::documents::{self, Classifier, FileOutcome, Ignored, Refusal};
use crate::git::{FileContent, Snapshot, SourceFile};
use crate::keys::Identities;
use crate::policy::{DecryptionPolicy, NamespacePolicy};

/// Fewer files than this per worker are not worth a thread.
const PER_WORKER_MIN: usize = 16;

/// Threads for classification: the cores this process may use (read once; it costs a cgroup read).
fn workers() -> usize {
    static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORKERS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
}

/// What classification needs, fixed for the agent's lifetime.
pub struct EngineSettings {
    /// The global identities (every path no decryption rule matches).
    pub identities: Arc<Identities>,
    /// Per-path identities; empty in single-tenant mode.
    pub decryption: DecryptionPolicy,
    pub policy: NamespacePolicy,
    pub default_namespace: String,
    pub max_file_size: u64,
    /// Where a ClusterSecretStore may be read from (`--cluster-store-path`).
    pub cluster_store_paths: documents::ClusterStorePaths,
}

struct CachedFile {
    blob_id: String,
    /// What classification found, before duplicates across files are refused.
    outcome: FileOutcome,
    /// What this file puts in the desired state now (read now, or kept from `last_good`).
    contributes: Vec<Arc<DesiredSecret>>,
    /// The Secrets the file yielded the last time it was read without error.
    last_good: Vec<Arc<DesiredSecret>>,
}

/// What the engine knows of one key: which files declare it, and what they put in the state.
#[derive(Default)]
struct KeyState {
    /// The files declaring it, in path order, once per declaration (two or more: all refused).
    declared: Vec<Arc<str>>,
    /// Its claims, in path order: the first fresh one wins, else the first kept one.
    claims: Vec<Claim>,
}

/// A value one file puts in the desired state for one key.
struct Claim {
    path: Arc<str>,
    /// Read from the file now; false for a last good value kept while the file fails.
    fresh: bool,
    secret: Arc<DesiredSecret>,
}

/// Computes desired state snapshot after snapshot.
pub struct Engine {
    settings: EngineSettings,
    /// Resolves the external references of each state (ExternalSecrets, AVP Secrets).
    pub resolver: crate::external::Resolver,
    /// Fetch every external reference at each pass (`run --once`).
    pub resolve_all: bool,
    /// Every manifest of the last snapshot, by path (each path held once, shared by its claims).
    cache: HashMap<Arc<str>, CachedFile>,
    /// Every key declared or claimed.
    keys: HashMap<SecretKey, KeyState>,
    /// The refusals and ignored documents of each file that has some.
    refused: BTreeMap<String, Vec<Refusal>>,
    ignored: BTreeMap<String, Vec<Ignored>>,
    /// The last result, patched by the next pass.
    state: DesiredState,
    /// Files classified (parsed and decrypted) since the engine started; for tests and benchmarks.
    pub files_classified: u64,
}

/// The outcome of one computation. Cloning is cheap: the Secrets are a persistent map shared with
/// the engine.
#[derive(Debug, Default, Clone)]
pub struct DesiredState {
    pub commit: String,
    pub secrets: imbl::OrdMap<SecretKey, Arc<DesiredSecret>>,
    pub refused: Vec<Refusal>,
    pub ignored: Arc<Vec<Ignored>>,
    /// Files that failed now: Secrets that came from them are kept (last good value) and never pruned.
    pub failed_paths: HashSet<String>,
    /// Files classified in this computation (the others came from the cache).
    pub files_classified: usize,
    /// Numbers this computation among the engine's (1, 2, ...; 0 for a state not made by an engine).
    pub pass: u64,
    /// The keys whose Secret, source or file status may differ from the engine's previous
    /// computation (`pass - 1`): everything else is as it was. Empty after the first computation,
    /// when everything is new.
    pub touched: BTreeSet<SecretKey>,
}

impl Engine {
    pub fn new(settings: EngineSettings) -> Engine {
        Engine {
            settings,
            resolver: crate::external::Resolver::default(),
            resolve_all: false,
            cache: HashMap::new(),
            keys: HashMap::new(),
            refused: BTreeMap::new(),
            ignored: BTreeMap::new(),
            state: DesiredState::default(),
            files_classified: 0,
        }
    }

    /// Every reference document of the last snapshot (ExternalSecrets, stores, AVP Secrets), in path
    /// order; shared with the cache, so an unchanged file yields the very same objects.
    pub fn external_objects(&self) -> Vec<Arc<documents::ExternalObject>> {
        let mut files: Vec<(&Arc<str>, &CachedFile)> =
            self.cache.iter().filter(|(_, f)| !f.is_gone()).collect();
        files.sort_by(|a, b| a.0.cmp(b.0));
        files
            .into_iter()
            .flat_map(|(_, f)| f.outcome.external.iter().cloned())
            .collect()
    }

    /// The desired state of `snapshot` with its external references resolved (see `crate::external`).
    pub async fn desired_resolved(&mut self, snapshot: &Snapshot) -> DesiredState {
        let mut state = self.desired(snapshot);
        let objects = self.external_objects();
        if !objects.is_empty() || self.resolver.next_due().is_some() {
            self.resolver
                .resolve(&objects, &mut state, self.resolve_all)
                .await;
        }
        state
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The desired state of `snapshot`. Only files whose blob changed are classified again, and only
    /// what they (and the files declaring the same Secrets) put in the state is recomputed.
    pub fn desired(&mut self, snapshot: &Snapshot) -> DesiredState {
        let first = self.state.pass == 0;
        let changed = self.changed_files(snapshot);
        let todo: Vec<&SourceFile> = changed.iter().filter_map(|(_, f)| *f).collect();
        let classified = todo.len();
        let outcomes = self.classify_all(snapshot, &todo);
        let files = self.replace_files(&changed, todo.into_iter().zip(outcomes));

        let mut touched = BTreeSet::new();
        let (mut refusals_changed, mut ignored_changed) = (false, false);
        for path in &files {
            refusals_changed |= self.refused.remove(path).is_some();
            ignored_changed |= self.ignored.remove(path).is_some();
            let (added, removed) = self.recontribute(path);
            touched.extend(removed);
            touched.extend(added);
            refusals_changed |= self.refused.contains_key(path);
            ignored_changed |= self.ignored.contains_key(path);
        }
        for (path, file) in &changed {
            if file.is_none() {
                self.cache.remove(path.as_str());
            }
        }
        for key in &touched {
            self.settle(key);
        }

        let state = &mut self.state;
        if refusals_changed {
            state.refused = self.refused.values().flatten().cloned().collect();
            state.failed_paths = self.refused.keys().cloned().collect();
        }
        if ignored_changed {
            state.ignored = Arc::new(self.ignored.values().flatten().cloned().collect());
        }
        state.commit = snapshot.commit.clone();
        state.files_classified = classified;
        state.pass += 1;
        state.touched = if first { BTreeSet::new() } else { touched };
        self.files_classified += classified as u64;
        self.state.clone()
    }

    /// Puts the changed files' new classifications in the cache (a file gone from the snapshot stays
    /// until its claims are withdrawn) and returns the files whose contribution must be recomputed:
    /// the changed ones, and every file declaring a key they declared or declare now (its duplicate
    /// refusals may change).
    fn replace_files<'s>(
        &mut self,
        changed: &[(String, Option<&'s SourceFile>)],
        classified: impl Iterator<Item = (&'s SourceFile, FileOutcome)>,
    ) -> BTreeSet<String> {
        let mut affected = HashSet::new();
        let mut files: BTreeSet<String> = BTreeSet::new();
        for (path, _) in changed {
            if let Some((shared, old)) = self.cache.remove_entry(path.as_str()) {
                for s in &old.outcome.secrets {
                    self.undeclare(&s.key, path);
                    affected.insert(s.key.clone());
                }
                // Until the pass withdraws its claims; a file still there keeps its last good values.
                self.cache.insert(shared, old.into_gone());
            }
            files.insert(path.clone());
        }
        for (file, outcome) in classified {
            let (shared, before) = match self.cache.remove_entry(file.path.as_str()) {
                Some((shared, before)) => (shared, before),
                None => (Arc::from(file.path.as_str()), CachedFile::gone()),
            };
            for s in &outcome.secrets {
                self.declare(&s.key, &shared);
                affected.insert(s.key.clone());
            }
            self.cache.insert(
                shared,
                CachedFile {
                    blob_id: file.blob_id.clone(),
                    outcome,
                    ..before
                },
            );
        }
        for key in &affected {
            if let Some(state) = self.keys.get(key) {
                files.extend(state.declared.iter().map(|p| p.to_string()));
            }
        }
        files
    }

    /// Sets `key` in the desired state to its winning claim (the first fresh one in path order, else
    /// the first kept one), or removes it; forgets a key nothing declares or claims any more.
    fn settle(&mut self, key: &SecretKey) {
        let winner = self.keys.get(key).and_then(|k| {
            k.claims
                .iter()
                .find(|c| c.fresh)
                .or_else(|| k.claims.first())
                .map(|c| &c.secret)
        });
        let secrets = &mut self.state.secrets;
        match winner {
            Some(s) if secrets.get(key).is_some_and(|now| Arc::ptr_eq(now, s)) => {}
            Some(s) => {
                secrets.insert(key.clone(), Arc::clone(s));
            }
            None => {
                if self.keys.get(key).is_some_and(|k| k.declared.is_empty()) {
                    self.keys.remove(key);
                }
                secrets.remove(key);
            }
        }
    }

    /// The files [`desired`](Self::desired) will read whose bytes the last fetch left in the git cache
    /// (unchanged since the snapshot before, but not in this engine's cache: it started since). The
    /// engine does no git I/O: load them first, with [`Snapshot::loaded`].
    pub fn unread(&self, snapshot: &Snapshot) -> Vec<String> {
        self.changed_files(snapshot)
            .into_iter()
            .filter(|(_, f)| f.is_some_and(|f| matches!(f.content, FileContent::Stored(_))))
            .map(|(path, _)| path)
            .collect()
    }

    /// The manifests to look at again: `(path, Some(file))` for a new or changed blob, `(path, None)`
    /// for a file that left the snapshot. From the snapshot's delta when it is relative to the commit
    /// this engine saw last, else by comparing every file with the cache.
    fn changed_files<'s>(&self, snapshot: &'s Snapshot) -> Vec<(String, Option<&'s SourceFile>)> {
        let differs = |f: &SourceFile| {
            self.cache
                .get(f.path.as_str())
                .is_none_or(|c| c.blob_id != f.blob_id)
        };
        let usable = snapshot
            .delta
            .as_ref()
            .filter(|d| self.state.pass > 0 && d.base == self.state.commit);
        if let Some(delta) = usable {
            return delta
                .changed
                .iter()
                .filter(|p| documents::is_manifest(p))
                .filter_map(|p| match snapshot.file(p) {
                    Some(f) => differs(f).then(|| (p.clone(), Some(f))),
                    None => self
                        .cache
                        .contains_key(p.as_str())
                        .then(|| (p.clone(), None)),
                })
                .collect();
        }
        let mut changed: Vec<(String, Option<&SourceFile>)> = snapshot
            .files
            .iter()
            .filter(|f| documents::is_manifest(&f.path) && differs(f))
            .map(|f| (f.path.clone(), Some(f)))
            .collect();
        changed.extend(
            self.cache
                .keys()
                .filter(|p| snapshot.file(p).is_none())
                .map(|p| (p.to_string(), None)),
        );
        changed
    }

    /// Recomputes what the file at `path` puts in the desired state (nothing, if it is gone): its
    /// claims, last good values, refusals and ignored documents. Returns the keys it claims now and
    /// those it claimed before.
    fn recontribute(&mut self, path: &str) -> (Vec<SecretKey>, Vec<SecretKey>) {
        let Some((shared, _)) = self.cache.get_key_value(path) else {
            return (Vec::new(), Vec::new());
        };
        let shared = Arc::clone(shared);
        let file = self.cache.get_mut(path).expect("looked up above");
        let before = std::mem::take(&mut file.contributes);
        let before_keys: Vec<SecretKey> = before.iter().map(|s| s.key.clone()).collect();
        for key in &before_keys {
            if let Some(state) = self.keys.get_mut(key) {
                state.claims.retain(|c| *c.path != *path);
            }
        }
        let file = &self.cache[path];
        if file.is_gone() {
            return (Vec::new(), before_keys);
        }
        let mut fresh = Vec::new();
        let mut refused = file.outcome.refused.clone();
        for s in &file.outcome.secrets {
            let declared = self.keys.get(&s.key).map(|k| &k.declared);
            match declared.filter(|paths| paths.len() > 1) {
                Some(paths) => {
                    let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
                    refused.push(documents::duplicate(s, &paths));
                }
                None => fresh.push(Arc::clone(s)),
            }
        }
        let mut now: Vec<(Arc<DesiredSecret>, bool)> = Vec::new();
        let ignored = file.outcome.ignored.clone();
        let file = self.cache.get_mut(path).expect("looked up above");
        if refused.is_empty() {
            if !same_secrets(&file.last_good, &fresh) {
                file.last_good = fresh.clone();
            }
        } else {
            // The last good value stays: a failure never blanks or deletes a Secret.
            for s in &file.last_good {
                if !fresh.iter().any(|n| n.key == s.key) {
                    now.push((Arc::clone(s), false));
                }
            }
            self.refused.insert(path.to_string(), refused);
        }
        if !ignored.is_empty() {
            self.ignored.insert(path.to_string(), ignored);
        }
        now.extend(fresh.into_iter().map(|s| (s, true)));
        file.contributes = now.iter().map(|(s, _)| Arc::clone(s)).collect();
        let keys: Vec<SecretKey> = now.iter().map(|(s, _)| s.key.clone()).collect();
        for (secret, fresh) in now {
            let claims = &mut self.keys.entry(secret.key.clone()).or_default().claims;
            let at = claims.partition_point(|c| &*c.path < path);
            claims.insert(
                at,
                Claim {
                    path: Arc::clone(&shared),
                    fresh,
                    secret,
                },
            );
        }
        (keys, before_keys)
    }

    fn declare(&mut self, key: &SecretKey, path: &Arc<str>) {
        let paths = &mut self.keys.entry(key.clone()).or_default().declared;
        let at = paths.partition_point(|p| **p <= **path);
        paths.insert(at, Arc::clone(path));
    }

    fn undeclare(&mut self, key: &SecretKey, path: &str) {
        if let Some(state) = self.keys.get_mut(key) {
            if let Some(at) = state.declared.iter().position(|p| **p == *path) {
                state.declared.remove(at);
            }
            if state.declared.is_empty() && state.claims.is_empty() {
                self.keys.remove(key);
            }
        }
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
            decryption: &self.settings.decryption,
            policy: &self.settings.policy,
            default_namespace: &self.settings.default_namespace,
            max_file_size: self.settings.max_file_size,
            cluster_store_paths: &self.settings.cluster_store_paths,
        };
        let mut outcome = match &file.content {
            FileContent::Data(bytes) => classifier.classify(&file.path, bytes, &snapshot.commit),
            FileContent::TooLarge { size } => classifier.too_large(&file.path, *size),
            FileContent::Unreadable(reason) => classifier.unreadable(&file.path, reason.clone()),
            // Left in the git cache: the caller did not load it (`unread`), and the engine reads no git.
            FileContent::Stored(_) => classifier.unreadable(
                &file.path,
                "not loaded from the git cache before the pass".into(),
            ),
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
            .cache
            .get(path)
            .and_then(|file| file.last_good.iter().find(|p| p.key == secret.key))
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

impl CachedFile {
    /// A file not (or no longer) read: kept for the rest of the pass so its claims can be withdrawn.
    fn gone() -> CachedFile {
        CachedFile {
            blob_id: String::new(),
            outcome: FileOutcome::default(),
            contributes: Vec::new(),
            last_good: Vec::new(),
        }
    }

    /// This file's claims and last good values, without its classification.
    fn into_gone(self) -> CachedFile {
        CachedFile {
            contributes: self.contributes,
            last_good: self.last_good,
            ..CachedFile::gone()
        }
    }

    fn is_gone(&self) -> bool {
        self.blob_id.is_empty()
    }
}

/// Whether two lists hold the very same shared Secrets.
fn same_secrets(a: &[Arc<DesiredSecret>], b: &[Arc<DesiredSecret>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

#[cfg(test)]
#[path = "desired_state_tests.rs"]
mod tests;
