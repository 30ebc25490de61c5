//! The git source: a remote followed at one reference, fetched into a local cache, with the last good
//! snapshot kept (and remembered by the cache across restarts).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::{GitSourceConfig, Settings};
use super::error::{self, GitError};
use super::signature::{self, CommitToVerify, SignatureRefusal};
use super::snapshot::{CacheRepo, Snapshot};
use super::{fetch, tree};

/// HTTPS remotes go through reqwest on rustls, which takes the process-wide crypto provider: ring,
/// the one the kube client uses too. Installed once; a provider installed earlier by the embedding
/// program stays.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A git remote followed at one reference, with a local cache and the last good snapshot.
pub struct GitSource {
    settings: Settings,
    cache: Arc<CacheRepo>,
    last_good: Option<Arc<Snapshot>>,
    last_stats: Option<FetchStats>,
    /// The flag gix's fetch polls to abort; nothing sets it today (a shutdown lets a fetch finish).
    interrupt: AtomicBool,
}

/// What one successful fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchStats {
    pub commit: String,
    /// The remote ref followed (`refs/heads/main`), or the commit id when one is configured.
    pub resolved_ref: String,
    /// Objects in the pack the remote sent (0 when nothing changed).
    pub objects_received: u64,
    /// Blobs read from the cache, i.e. not reused from the previous snapshot.
    pub blobs_read: usize,
    /// Files in the snapshot.
    pub files: usize,
    pub elapsed: Duration,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("url", &self.settings.display_url)
            .field("reference", &self.settings.reference.describe())
            .field(
                "last_good",
                &self.last_good.as_ref().map(|s| s.commit.as_str()),
            )
            .finish()
    }
}

impl GitSource {
    /// Validates `config` and opens (or creates) the cache repository.
    ///
    /// If the cache remembers a last good commit for this reference, its snapshot is read from the cache, so
    /// [`last_good`](Self::last_good) answers even before the first fetch after a restart.
    pub fn new(config: GitSourceConfig) -> Result<Self, GitError> {
        install_tls_provider();
        let settings = Settings::from_config(config)?;
        let repo = Arc::new(fetch::open_cache(&settings)?);
        let cache = CacheRepo::new(settings.repo_dir.clone(), fetch::open_options(&settings));
        let mut source = GitSource {
            settings,
            cache,
            last_good: None,
            last_stats: None,
            interrupt: AtomicBool::new(false),
        };
        source.last_good = source.load_last_good_from_cache(&repo);
        Ok(source)
    }

    /// The remote URL with credentials redacted, for logs and status.
    pub fn display_url(&self) -> &str {
        &self.settings.display_url
    }

    /// Fetches the configured reference and reads the configured paths at its commit.
    ///
    /// On success the snapshot becomes the last good one. On failure nothing changes: the error names the
    /// (redacted) remote and the reason, and [`last_good`](Self::last_good) still returns the previous snapshot.
    pub fn fetch(&mut self) -> Result<Arc<Snapshot>, GitError> {
        let result = self.fetch_inner(Instant::now());
        self.cache.close();
        match (&result, &self.last_stats) {
            (Ok(_), Some(stats)) => tracing::info!(
                url = %self.settings.display_url,
                reference = %stats.resolved_ref,
                commit = %stats.commit,
                files = stats.files,
                objects_received = stats.objects_received,
                blobs_read = stats.blobs_read,
                elapsed_ms = stats.elapsed.as_millis() as u64,
                "git fetch succeeded"
            ),
            (Ok(_), None) => {}
            (Err(e), _) => tracing::warn!(
                url = %self.settings.display_url,
                reason = e.kind(),
                error = %e,
                last_good = self.last_good.as_ref().map(|s| s.commit.as_str()).unwrap_or("none"),
                "git fetch failed"
            ),
        }
        result
    }

    fn fetch_inner(&mut self, started: Instant) -> Result<Arc<Snapshot>, GitError> {
        if fetch::needs_repack(&self.settings) {
            // gix writes one pack per fetch and cannot repack: start over with a fresh cache, which costs one
            // full depth-1 fetch every MAX_PACKS changes and keeps lookups fast. The snapshot in memory stays.
            tracing::info!(cache = %self.settings.repo_dir.display(), "rebuilding the git cache (too many packs)");
            self.cache
                .set(Arc::new(fetch::reset_cache(&self.settings)?));
        }
        let shared = match self.cache.open() {
            Ok(repo) => repo,
            // Damaged since (or never opened): open_cache rebuilds what cannot be opened.
            Err(_) => {
                let repo = Arc::new(fetch::open_cache(&self.settings)?);
                self.cache.set(Arc::clone(&repo));
                repo
            }
        };
        let repo = shared.to_thread_local();
        let fetched = fetch::fetch_commit(&repo, &self.settings, &self.interrupt)?;
        // Before anything in the commit is read: a refused commit is never decrypted nor applied.
        self.check_signature(&repo, fetched.commit)?;
        let previous = self.last_good.clone();
        let (snapshot, blobs_read) = match previous {
            Some(p) if fetched.commit == p.commit => (p, 0),
            p => {
                let (snapshot, blobs_read) = tree::read_snapshot(
                    &self.cache,
                    &shared,
                    &self.settings,
                    fetched.commit,
                    p.as_deref(),
                )?;
                (Arc::new(snapshot), blobs_read)
            }
        };
        self.remember_last_good(&repo, fetched.commit);
        // Kept without the bytes: whoever reads the returned snapshot classifies them once, and the
        // next snapshot reads again from the cache only what it lacks.
        self.last_good = Some(Arc::new(snapshot.stored(&self.cache)));
        self.last_stats = Some(FetchStats {
            commit: snapshot.commit.clone(),
            resolved_ref: fetched.resolved_ref,
            objects_received: fetched.objects_received,
            blobs_read,
            files: snapshot.files.len(),
            elapsed: started.elapsed(),
        });
        Ok(snapshot)
    }

    /// What the last successful fetch cost (for metrics and logs).
    pub fn last_fetch_stats(&self) -> Option<&FetchStats> {
        self.last_stats.as_ref()
    }

    /// The snapshot of the last successful fetch (or the one remembered by the cache), if any.
    pub fn last_good(&self) -> Option<Arc<Snapshot>> {
        self.last_good.clone()
    }

    /// With allowed signers configured, refuses `commit` unless its signature is accepted.
    fn check_signature(
        &self,
        repo: &gix::Repository,
        commit: gix::ObjectId,
    ) -> Result<(), GitError> {
        let Some(allowed) = &self.settings.allowed_signers else {
            return Ok(());
        };
        let refused = |refusal| GitError::Untrusted {
            url: self.settings.display_url.clone(),
            commit: commit.to_string(),
            refusal: Box::new(refusal),
        };
        let object = repo.find_commit(commit).map_err(|e| GitError::Corrupt {
            path: self.settings.repo_dir.clone(),
            reason: format!(
                "the commit {commit} cannot be read: {}",
                error::chain_text(&e, &[])
            ),
        })?;
        let malformed = |e: &dyn std::error::Error| {
            refused(SignatureRefusal::Malformed(format!(
                "the commit cannot be parsed: {e}"
            )))
        };
        let signed = object.signature().map_err(|e| malformed(&e))?;
        let committed_at = object.time().map_err(|e| malformed(&e))?;
        let payload = signed.as_ref().map(|(_, payload)| payload.to_bstring());
        let to_verify = CommitToVerify {
            signature: signed.as_ref().map(|(sig, _)| sig.as_ref().as_ref()),
            payload: payload.as_ref().map_or(&[][..], |p| p.as_ref()),
            committed_at: std::time::UNIX_EPOCH
                + Duration::from_secs(u64::try_from(committed_at.seconds).unwrap_or(0)),
        };
        let signer = signature::verify(&to_verify, allowed, std::time::SystemTime::now())
            .map_err(refused)?;
        let known = self.last_good.as_ref().is_some_and(|s| s.commit == commit);
        if !known {
            tracing::info!(
                commit = %commit,
                key = %signer.fingerprint,
                principals = %signer.principals,
                "commit signature accepted"
            );
        }
        Ok(())
    }

    /// Keeps the commit reachable in the cache (and known as good across restarts). Failing to write the ref
    /// only loses the restart convenience, so it is logged, not returned.
    fn remember_last_good(&self, repo: &gix::Repository, commit: gix::ObjectId) {
        let name = self.settings.last_good_ref();
        if let Err(e) = repo.reference(
            name.as_str(),
            commit,
            gix::refs::transaction::PreviousValue::Any,
            "sealsync: last good",
        ) {
            tracing::warn!(
                cache = %self.settings.repo_dir.display(),
                error = %error::chain_text(&e, &[]),
                "cannot record the last good commit in the git cache"
            );
        }
    }

    fn load_last_good_from_cache(
        &self,
        shared: &gix::ThreadSafeRepository,
    ) -> Option<Arc<Snapshot>> {
        let repo = shared.to_thread_local();
        let name = self.settings.last_good_ref();
        let commit = repo
            .try_find_reference(name.as_str())
            .ok()
            .flatten()?
            .into_fully_peeled_id()
            .ok()?
            .detach();
        if let Err(e) = self.check_signature(&repo, commit) {
            tracing::warn!(
                url = %self.settings.display_url,
                reason = e.kind(),
                error = %e,
                "the last good commit in the git cache is not accepted now; waiting for a fetch"
            );
            return None;
        }
        match tree::read_snapshot(&self.cache, shared, &self.settings, commit, None) {
            Ok((snapshot, _)) => Some(Arc::new(snapshot.stored(&self.cache))),
            Err(e) => {
                tracing::warn!(
                    url = %self.settings.display_url,
                    error = %e,
                    "the last good commit in the git cache cannot be read; waiting for a fetch"
                );
                None
            }
        }
    }
}
