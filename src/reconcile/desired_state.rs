//! Desired state from a snapshot. Results are cached per file by blob id, so a reconcile after a commit
//! costs work in proportion to the files that changed; a file that fails keeps its last good Secrets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::desired::{DesiredSecret, SecretKey};
use crate::documents::{self, Classifier, FileOutcome, Ignored, Refusal};
use crate::git::{FileContent, Snapshot};
use crate::keys::Identities;
use crate::policy::NamespacePolicy;

/// What classification needs, fixed for the agent's lifetime.
pub struct EngineSettings {
    pub identities: Arc<Identities>,
    pub policy: NamespacePolicy,
    pub default_namespace: String,
    pub max_file_size: u64,
}

struct CachedFile {
    blob_id: String,
    secrets: Vec<Arc<DesiredSecret>>,
    refused: Vec<Refusal>,
    ignored: Vec<Ignored>,
}

/// Computes desired state snapshot after snapshot.
pub struct Engine {
    settings: EngineSettings,
    cache: HashMap<String, CachedFile>,
    /// The Secrets each file yielded the last time it was read without error.
    last_good: HashMap<String, Vec<Arc<DesiredSecret>>>,
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
            files_classified: 0,
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    pub fn desired(&mut self, snapshot: &Snapshot) -> DesiredState {
        let classifier = Classifier {
            identities: &self.settings.identities,
            policy: &self.settings.policy,
            default_namespace: &self.settings.default_namespace,
            max_file_size: self.settings.max_file_size,
        };
        let mut state = DesiredState {
            commit: snapshot.commit.clone(),
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut per_file: Vec<(String, FileOutcome)> = Vec::new();
        for file in snapshot
            .files
            .iter()
            .filter(|f| documents::is_manifest(&f.path))
        {
            seen.insert(file.path.clone());
            let cached = self
                .cache
                .get(&file.path)
                .filter(|c| c.blob_id == file.blob_id);
            let outcome = match cached {
                Some(c) => FileOutcome {
                    secrets: c.secrets.clone(),
                    refused: c.refused.clone(),
                    ignored: c.ignored.clone(),
                },
                None => {
                    state.files_classified += 1;
                    self.files_classified += 1;
                    let outcome = match &file.content {
                        FileContent::Data(bytes) => {
                            classifier.classify(&file.path, bytes, &snapshot.commit)
                        }
                        FileContent::TooLarge { size } => classifier.too_large(&file.path, *size),
                    };
                    self.cache.insert(
                        file.path.clone(),
                        CachedFile {
                            blob_id: file.blob_id.clone(),
                            secrets: outcome.secrets.clone(),
                            refused: outcome.refused.clone(),
                            ignored: outcome.ignored.clone(),
                        },
                    );
                    outcome
                }
            };
            per_file.push((file.path.clone(), outcome));
        }
        self.cache.retain(|path, _| seen.contains(path));
        self.last_good.retain(|path, _| seen.contains(path));

        documents::refuse_duplicates(&mut per_file);
        for (path, outcome) in per_file {
            let failed = !outcome.refused.is_empty();
            if failed {
                state.failed_paths.insert(path.clone());
                // The last good value stays: a failure never blanks or deletes a Secret.
                if let Some(previous) = self.last_good.get(&path) {
                    for s in previous {
                        if !outcome.secrets.iter().any(|n| n.key == s.key) {
                            state
                                .secrets
                                .entry(s.key.clone())
                                .or_insert_with(|| s.clone());
                        }
                    }
                }
            }
            let secrets: Vec<Arc<DesiredSecret>> = outcome
                .secrets
                .into_iter()
                .map(|s| self.reuse(&path, s))
                .collect();
            if !failed {
                self.last_good.insert(path.clone(), secrets.clone());
            }
            for s in secrets {
                state.secrets.insert(s.key.clone(), s);
            }
            state.refused.extend(outcome.refused);
            state.ignored.extend(outcome.ignored);
        }
        state
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
