//! Snapshots: the files under the configured paths at one commit, each held as bytes, as "too large",
//! or as a blob left in the local git cache (read on demand), and how two snapshots differ.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

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
    /// The file was `Stored` and the git cache could not give it back when it was loaded
    /// ([`Snapshot::loaded`]; the cache was rebuilt since): why, for the report on the file.
    Unreadable(String),
}

/// A blob in the local git cache, read on demand: snapshots after the first hold the bytes of the
/// files a commit changed, not of every file (3 KiB per Secret is most of a large repository's memory).
#[derive(Clone)]
pub struct StoredBlob {
    pub(super) cache: Arc<CacheRepo>,
    pub(super) id: gix::ObjectId,
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
    pub(super) fn new(dir: std::path::PathBuf, options: gix::open::Options) -> Arc<CacheRepo> {
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
    pub(super) fn open(&self) -> Result<Arc<gix::ThreadSafeRepository>, Box<gix::open::Error>> {
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
    pub(super) fn set(&self, repo: Arc<gix::ThreadSafeRepository>) {
        *self.slot() = Some(repo);
    }

    /// Drops this handle's repository: its packs are unmapped once no reader holds it.
    pub(super) fn close(&self) {
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
            FileContent::Unreadable(why) => write!(f, "Unreadable({why})"),
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

impl SourceFile {
    /// A file read from a folder rather than from a commit (`sealctl render`), under the id git would
    /// give its bytes (`git hash-object`), so the engine treats it as it treats a committed file.
    pub fn from_bytes(path: impl Into<String>, bytes: Arc<[u8]>) -> SourceFile {
        let path = path.into();
        let blob_id =
            match gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, &bytes) {
                Ok(id) => id.to_string(),
                // SHA-1 collision detection refused the bytes: still an id no other file shares.
                Err(_) => format!("unhashed:{path}"),
            };
        SourceFile {
            path,
            blob_id,
            content: FileContent::Data(bytes),
        }
    }
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
    pub(super) fn under<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a SourceFile> + 'a {
        let prefix = format!("{dir}/");
        self.0
            .range(prefix.clone()..)
            .take_while(move |(path, _)| path.starts_with(&prefix))
            .map(|(_, f)| f)
    }

    pub(super) fn insert(&mut self, file: SourceFile) {
        self.0.insert(file.path.clone(), file);
    }

    pub(super) fn remove(&mut self, path: &str) {
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
    pub(super) fn stored(&self, cache: &Arc<CacheRepo>) -> Snapshot {
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

    /// The same snapshot with the files at `paths` read from the git cache (`Stored` becomes `Data`,
    /// or `Unreadable` if the cache lost the blob); the rest, and the delta, as they are. This is the
    /// git I/O a reader of the snapshot needs, done before it reads (`Engine::unread` names the files).
    pub fn loaded(&self, paths: &[String]) -> Cow<'_, Snapshot> {
        if paths.is_empty() {
            return Cow::Borrowed(self);
        }
        let mut files = self.files.clone();
        for path in paths {
            let Some(file) = self.files.get(path) else {
                continue;
            };
            let FileContent::Stored(blob) = &file.content else {
                continue;
            };
            let content = match blob.load() {
                Ok(bytes) => FileContent::Data(bytes),
                Err(why) => FileContent::Unreadable(why),
            };
            files.insert(SourceFile {
                path: file.path.clone(),
                blob_id: file.blob_id.clone(),
                content,
            });
        }
        Cow::Owned(Snapshot {
            commit: self.commit.clone(),
            files,
            delta: self.delta.clone(),
        })
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
    fn a_file_from_a_folder_has_its_git_blob_id() {
        let f = SourceFile::from_bytes("a.yaml", Arc::from(b"hello\n".as_slice()));
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(f.blob_id, "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn debug_never_prints_file_bytes() {
        let f = FileContent::Data(b"password: hunter2".as_slice().into());
        assert_eq!(format!("{f:?}"), "Data(17 bytes)");
    }
}
