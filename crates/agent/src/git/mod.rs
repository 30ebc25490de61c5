//! The git source: fetch a branch, tag or commit of a remote (shallow, cached) and read the files under the configured paths.
//!
//! ```text
//! GitSourceConfig --validate--> GitSource --fetch()--> Snapshot { commit, files[path, blob_id, content] }
//!                                          \--last_good()--> the previous Snapshot when a fetch fails
//! ```
//!
//! Fetching is blocking (gix's blocking client); from async code call it through `spawn_blocking`.
//! Remotes: `file://` and local paths, `git://`, smart HTTP(S) (optionally with a token file, sent as
//! basic auth) and ssh (with a private key file, through the system `ssh` program).

mod auth;
mod config;
mod error;
mod fetch;
mod redact;
mod tree;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use auth::DEFAULT_TOKEN_USER;
pub use config::{
    GitAuth, GitSourceConfig, DEFAULT_MAX_FILES, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_TOTAL_BYTES,
};
pub use error::GitError;
pub use redact::redact_url;

use config::Settings;

/// The content of one file of a snapshot.
#[derive(Clone, PartialEq, Eq)]
pub enum FileContent {
    /// The bytes of the file (at most the configured maximum size).
    Data(Arc<[u8]>),
    /// The file exceeds the maximum size; its content was never read.
    TooLarge { size: u64 },
    /// The file is unchanged since the previous snapshot (same path, same blob), whose reader has
    /// classified it already: the bytes stay in the git cache and are read again only if asked for.
    Stored(StoredBlob),
}

/// A blob in the local git cache, read on demand: snapshots after the first hold the bytes of the
/// files a commit changed, not of every file (3 KiB per Secret is most of a large repository's memory).
#[derive(Clone)]
pub struct StoredBlob {
    cache: Arc<CacheRepo>,
    id: gix::ObjectId,
}

impl StoredBlob {
    /// The blob's bytes. Fails if the cache lost it (it was rebuilt since): the caller reports the file.
    pub fn load(&self) -> Result<Arc<[u8]>, String> {
        let unreadable =
            |e: &dyn std::fmt::Display| format!("reading blob {} from the git cache: {e}", self.id);
        let shared = self.cache.open().map_err(|e| unreadable(&e))?;
        let repo = shared.to_thread_local();
        repo.find_blob(self.id)
            .map(|mut blob| blob.take_data().into())
            .map_err(|e| unreadable(&e))
    }
}

/// The cache repository, open only while it is used. A fetch opens it and closes it when done, so the
/// pack files it read are not kept mapped (and resident) while the agent waits for the next commit;
/// a blob read on demand opens it again for as long as it takes.
pub(crate) struct CacheRepo {
    dir: std::path::PathBuf,
    options: gix::open::Options,
    open: Mutex<Option<Arc<gix::ThreadSafeRepository>>>,
}

impl CacheRepo {
    fn new(dir: std::path::PathBuf, options: gix::open::Options) -> Arc<CacheRepo> {
        Arc::new(CacheRepo {
            dir,
            options,
            open: Mutex::new(None),
        })
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<gix::ThreadSafeRepository>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The repository, opened if it is closed.
    fn open(&self) -> Result<Arc<gix::ThreadSafeRepository>, Box<gix::open::Error>> {
        if let Some(repo) = self.slot().as_ref() {
            return Ok(Arc::clone(repo));
        }
        let repo = Arc::new(gix::ThreadSafeRepository::open_opts(
            &self.dir,
            self.options.clone(),
        )?);
        Ok(Arc::clone(self.slot().get_or_insert(repo)))
    }

    /// Uses `repo` (just opened or rebuilt) until `close`.
    fn set(&self, repo: Arc<gix::ThreadSafeRepository>) {
        *self.slot() = Some(repo);
    }

    /// Drops this handle's repository: its packs are unmapped once no reader holds it.
    fn close(&self) {
        self.slot().take();
    }
}

impl PartialEq for StoredBlob {
    fn eq(&self, other: &StoredBlob) -> bool {
        self.id == other.id
    }
}

impl Eq for StoredBlob {}

impl std::fmt::Debug for FileContent {
    // Files may be secrets in plain text by mistake: debug output shows sizes, never bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileContent::Data(d) => write!(f, "Data({} bytes)", d.len()),
            FileContent::TooLarge { size } => write!(f, "TooLarge {{ size: {size} }}"),
            FileContent::Stored(blob) => write!(f, "Stored({})", blob.id),
        }
    }
}

/// One regular file of the repository at the fetched commit. Two are equal when they are the same
/// blob at the same path: the bytes may be held (`Data`) in one and left in the cache (`Stored`) in the
/// other.
#[derive(Debug, Clone, Eq)]
pub struct SourceFile {
    /// Repository-relative, '/'-separated.
    pub path: String,
    /// The git blob id (hex): equal ids mean equal contents, so unchanged files need no new work.
    pub blob_id: String,
    pub content: FileContent,
}

impl PartialEq for SourceFile {
    fn eq(&self, other: &SourceFile) -> bool {
        let too_large = |f: &SourceFile| match f.content {
            FileContent::TooLarge { size } => Some(size),
            _ => None,
        };
        self.path == other.path
            && self.blob_id == other.blob_id
            && too_large(self) == too_large(other)
    }
}

/// The files of a snapshot by path. A persistent map: the next snapshot shares every entry a commit
/// did not change, so building it costs what changed, not the size of the repository.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Files(imbl::OrdMap<String, SourceFile>);

impl Files {
    /// The file at `path`, if there is one.
    pub fn get(&self, path: &str) -> Option<&SourceFile> {
        self.0.get(path)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every file, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = &SourceFile> + '_ {
        self.0.values()
    }

    /// The files below the directory `dir` (repository-relative, no trailing '/').
    fn under<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a SourceFile> + 'a {
        let prefix = format!("{dir}/");
        self.0
            .range(prefix.clone()..)
            .take_while(move |(path, _)| path.starts_with(&prefix))
            .map(|(_, f)| f)
    }

    fn insert(&mut self, file: SourceFile) {
        self.0.insert(file.path.clone(), file);
    }

    fn remove(&mut self, path: &str) {
        self.0.remove(path);
    }
}

impl FromIterator<SourceFile> for Files {
    fn from_iter<I: IntoIterator<Item = SourceFile>>(files: I) -> Files {
        Files(files.into_iter().map(|f| (f.path.clone(), f)).collect())
    }
}

impl<'a> IntoIterator for &'a Files {
    type Item = &'a SourceFile;
    type IntoIter =
        imbl::ordmap::Values<'a, String, SourceFile, imbl::shared_ptr::DefaultSharedPtr>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.values()
    }
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// How a snapshot differs from an earlier one, as the git trees told (unchanged subtrees skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The commit of the earlier snapshot.
    pub base: String,
    /// The paths added, modified or removed since `base`, sorted, each once.
    pub changed: Vec<String>,
}

/// The files under the configured paths at one commit, sorted by path.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The commit id (hex).
    pub commit: String,
    pub files: Files,
    /// What changed since an earlier snapshot, when the git source knows; a reader that processed
    /// `delta.base` last need only look at `delta.changed`.
    pub delta: Option<Delta>,
}

impl PartialEq for Snapshot {
    /// The same files at the same commit (however each was built).
    fn eq(&self, other: &Snapshot) -> bool {
        self.commit == other.commit && self.files == other.files
    }
}

impl Eq for Snapshot {}

/// How the files of two snapshots differ, by path and blob id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotChanges {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
}

impl Snapshot {
    /// A snapshot of `files` at `commit`, with no delta.
    pub fn new(commit: impl Into<String>, files: impl IntoIterator<Item = SourceFile>) -> Snapshot {
        Snapshot {
            commit: commit.into(),
            files: files.into_iter().collect(),
            delta: None,
        }
    }

    /// The same snapshot with the bytes of the files its delta names (or of every file, without a
    /// delta) left in the git cache (`FileContent::Stored`); its delta is empty, against itself, so a
    /// reader that processed this commit sees nothing to do when it is handed this snapshot again.
    fn stored(&self, cache: &Arc<CacheRepo>) -> Snapshot {
        let store = |f: &SourceFile| -> Option<SourceFile> {
            let id = gix::ObjectId::from_hex(f.blob_id.as_bytes()).ok()?;
            matches!(f.content, FileContent::Data(_)).then(|| SourceFile {
                path: f.path.clone(),
                blob_id: f.blob_id.clone(),
                content: FileContent::Stored(StoredBlob {
                    cache: Arc::clone(cache),
                    id,
                }),
            })
        };
        let mut files = self.files.clone();
        let converted: Vec<SourceFile> = match &self.delta {
            Some(delta) => delta
                .changed
                .iter()
                .filter_map(|p| store(self.files.get(p)?))
                .collect(),
            None => self.files.iter().filter_map(store).collect(),
        };
        for f in converted {
            files.insert(f);
        }
        Snapshot {
            commit: self.commit.clone(),
            files,
            delta: Some(Delta {
                base: self.commit.clone(),
                changed: Vec::new(),
            }),
        }
    }

    /// The file at `path`, if the snapshot has it.
    pub fn file(&self, path: &str) -> Option<&SourceFile> {
        self.files.get(path)
    }

    /// The paths added, modified (other blob) and removed since `previous`, by comparing every file:
    /// only these need decrypting again.
    pub fn changes_since(&self, previous: &Snapshot) -> SnapshotChanges {
        let mut changes = SnapshotChanges::default();
        for f in &self.files {
            match previous.file(&f.path) {
                None => changes.added.push(f.path.clone()),
                Some(old) if old.blob_id != f.blob_id => changes.modified.push(f.path.clone()),
                Some(_) => {}
            }
        }
        changes.removed = previous
            .files
            .iter()
            .filter(|f| self.file(&f.path).is_none())
            .map(|f| f.path.clone())
            .collect();
        changes
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, blob: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            blob_id: blob.into(),
            content: FileContent::Data(Arc::from(Vec::new())),
        }
    }

    #[test]
    fn changes_follow_blob_ids() {
        let old = Snapshot::new(
            "a",
            [
                file("a.yaml", "1"),
                file("b.yaml", "2"),
                file("c.yaml", "3"),
            ],
        );
        let new = Snapshot::new(
            "b",
            [
                file("a.yaml", "1"),
                file("b.yaml", "9"),
                file("d.yaml", "4"),
            ],
        );
        let c = new.changes_since(&old);
        assert_eq!(c.added, vec!["d.yaml"]);
        assert_eq!(c.modified, vec!["b.yaml"]);
        assert_eq!(c.removed, vec!["c.yaml"]);
        assert_eq!(new.file("b.yaml").unwrap().blob_id, "9");
        assert!(new.file("c.yaml").is_none());
    }

    #[test]
    fn debug_never_prints_file_bytes() {
        let f = FileContent::Data(b"password: hunter2".as_slice().into());
        assert_eq!(format!("{f:?}"), "Data(17 bytes)");
    }
}
