//! Reading the tree of a commit: the regular files under the configured paths, with their blob ids and
//! contents. After the first snapshot the next one is built from the previous by comparing the two
//! commits' trees, where equal subtree ids are skipped unread: a one-file commit in a repository of
//! 10,000 files reads the few trees on the way to that file, not 10,000 entries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gix::objs::tree::EntryKind;
use gix::ObjectId;

use super::config::Settings;
use super::error::{chain_text, GitError};
use super::{CacheRepo, Delta, FileContent, Snapshot, SourceFile, StoredBlob};

/// Reads `commit`'s files under `settings.paths`; also returns how many blobs had to be read.
///
/// With a `previous` snapshot whose commit is still in the cache, only the paths whose blob changed
/// between the two trees are read, and the rest is shared with `previous`. Otherwise the whole tree is
/// walked; a file at the same path with the same blob as in `previous` is then `Stored`, left in the
/// cache (whoever read `previous` has its result). Either way the snapshot's delta names what changed
/// since `previous`. Files above the size limit are measured from the object header and never loaded.
pub(crate) fn read_snapshot(
    cache: &Arc<CacheRepo>,
    shared: &gix::ThreadSafeRepository,
    settings: &Settings,
    commit: ObjectId,
    previous: Option<&Snapshot>,
) -> Result<(Snapshot, usize), GitError> {
    let repo = &shared.to_thread_local();
    let mut reader = Reader {
        repo,
        cache,
        settings,
        commit,
        blobs_read: 0,
        bytes_read: 0,
    };
    let root = reader.root_tree(commit)?;
    let previous_root = previous.and_then(|p| {
        let id = ObjectId::from_hex(p.commit.as_bytes()).ok()?;
        let root = reader.root_tree(id);
        if root.is_err() {
            tracing::debug!(commit = %p.commit, "the previous commit is not in the git cache: reading the whole tree");
        }
        root.ok()
    });
    let snapshot = match (previous, previous_root) {
        (Some(previous), Some(old_root)) => reader.diff(previous, old_root, root, commit)?,
        _ => reader.full(root, commit, previous)?,
    };
    Ok((snapshot, reader.blobs_read))
}

/// A path's state in one tree, as far as snapshots care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    Tree(ObjectId),
    File(ObjectId),
    /// Absent, or a symlink (which could point outside the configured paths) or a submodule (another
    /// repository): neither is part of the desired state.
    Nothing,
}

impl Node {
    fn of(kind: EntryKind, id: ObjectId) -> Node {
        match kind {
            EntryKind::Tree => Node::Tree(id),
            EntryKind::Blob | EntryKind::BlobExecutable => Node::File(id),
            EntryKind::Link | EntryKind::Commit => Node::Nothing,
        }
    }
}

/// A path that differs between the two trees: removed, or a file with this blob now.
enum Change {
    Removed,
    File(ObjectId),
}

struct Reader<'a> {
    repo: &'a gix::Repository,
    cache: &'a Arc<CacheRepo>,
    settings: &'a Settings,
    /// The commit being read, named by the errors on bounds of the whole snapshot.
    commit: ObjectId,
    /// Blobs whose header or content had to be read.
    blobs_read: usize,
    /// Bytes of content read so far (bounded by `settings.max_total_bytes`).
    bytes_read: u64,
}

impl Reader<'_> {
    fn root_tree(&self, commit: ObjectId) -> Result<ObjectId, GitError> {
        Ok(self
            .repo
            .find_commit(commit)
            .map_err(|e| self.corrupt(format!("commit {commit} is missing"), &e))?
            .tree_id()
            .map_err(|e| self.corrupt(format!("commit {commit} cannot be decoded"), &e))?
            .detach())
    }

    /// The configured paths in `root`, each with its node, or None where the tree has no entry; the
    /// whole tree when none is configured.
    fn lookup(&self, root: ObjectId) -> Result<Vec<(String, Option<Node>)>, GitError> {
        if self.settings.paths.is_empty() {
            return Ok(vec![(String::new(), Some(Node::Tree(root)))]);
        }
        let tree = self
            .repo
            .find_tree(root)
            .map_err(|e| self.corrupt(format!("root tree {root} is missing"), &e))?;
        let mut found = Vec::new();
        for path in &self.settings.paths {
            let entry = tree
                .lookup_entry_by_path(path)
                .map_err(|e| self.corrupt(format!("cannot look up {path:?}"), &e))?;
            let node = entry.map(|e| Node::of(e.mode().kind(), e.object_id()));
            found.push((path.clone(), node));
        }
        Ok(found)
    }

    /// As `lookup`, for the commit being read: a configured path missing from it is an error.
    fn roots(&self, root: ObjectId, commit: ObjectId) -> Result<Vec<(String, Node)>, GitError> {
        self.lookup(root)?
            .into_iter()
            .map(|(path, node)| match node {
                Some(node) => Ok((path, node)),
                None => Err(GitError::PathNotFound {
                    url: self.settings.display_url.clone(),
                    commit: commit.to_string(),
                    path,
                }),
            })
            .collect()
    }

    /// Every file under the configured paths, read unless `previous` has the same blob at the path.
    fn full(
        &mut self,
        root: ObjectId,
        commit: ObjectId,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, GitError> {
        let mut found = BTreeMap::new();
        for (path, node) in self.roots(root, commit)? {
            self.collect(node, path, &mut found)?;
        }
        let mut files = Vec::with_capacity(found.len());
        for (path, id) in found {
            let blob_id = id.to_string();
            let unchanged = previous
                .and_then(|p| p.file(&path))
                .filter(|f| f.blob_id == blob_id);
            files.push(match unchanged {
                Some(before) => SourceFile {
                    content: match &before.content {
                        FileContent::TooLarge { size } => FileContent::TooLarge { size: *size },
                        _ => self.stored(id),
                    },
                    path,
                    blob_id,
                },
                None => self.read_file(id, path)?,
            });
        }
        let mut snapshot = Snapshot::new(commit.to_string(), files);
        if let Some(previous) = previous {
            let changes = snapshot.changes_since(previous);
            let mut changed = changes.added;
            changed.extend(changes.modified);
            changed.extend(changes.removed);
            changed.sort();
            snapshot.delta = Some(Delta {
                base: previous.commit.clone(),
                changed,
            });
        }
        Ok(snapshot)
    }

    /// `previous` with what changed between its tree (`old_root`) and `root` read and patched in.
    fn diff(
        &mut self,
        previous: &Snapshot,
        old_root: ObjectId,
        root: ObjectId,
        commit: ObjectId,
    ) -> Result<Snapshot, GitError> {
        let old_roots: HashMap<String, Node> = self
            .lookup(old_root)?
            .into_iter()
            .map(|(path, node)| (path, node.unwrap_or(Node::Nothing)))
            .collect();
        let mut changes = BTreeMap::new();
        for (path, node) in self.roots(root, commit)? {
            let old = old_roots.get(&path).copied().unwrap_or(Node::Nothing);
            self.compare(old, node, &path, previous, &mut changes)?;
        }
        let mut files = previous.files.clone();
        // The size of the new snapshot, known before any blob is read.
        let mut count = files.len();
        for (path, change) in &changes {
            match (change, files.get(path).is_some()) {
                (Change::Removed, true) => count -= 1,
                (Change::File(_), false) => count += 1,
                _ => {}
            }
        }
        if count > self.settings.max_files {
            return Err(self.too_many_files());
        }
        let mut changed = Vec::with_capacity(changes.len());
        for (path, change) in changes {
            match change {
                Change::Removed => files.remove(&path),
                Change::File(id) => files.insert(self.read_file(id, path.clone())?),
            }
            changed.push(path);
        }
        Ok(Snapshot {
            commit: commit.to_string(),
            files,
            delta: Some(Delta {
                base: previous.commit.clone(),
                changed,
            }),
        })
    }

    /// Records how `path` changed from `old` to `new`; equal trees are not looked into.
    fn compare(
        &self,
        old: Node,
        new: Node,
        path: &str,
        previous: &Snapshot,
        changes: &mut BTreeMap<String, Change>,
    ) -> Result<(), GitError> {
        match (old, new) {
            (Node::Tree(a), Node::Tree(b)) if a == b => Ok(()),
            (Node::Tree(a), Node::Tree(b)) => self.compare_trees(a, b, path, previous, changes),
            (Node::File(a), Node::File(b)) if a == b => Ok(()),
            (old, new) => {
                // What was there is gone (a file, or every file of a directory), what is there now
                // is new; a path in both ends up changed.
                match old {
                    Node::Tree(_) if path.is_empty() => previous.files.iter().for_each(|f| {
                        changes.insert(f.path.clone(), Change::Removed);
                    }),
                    Node::Tree(_) => previous.files.under(path).for_each(|f| {
                        changes.insert(f.path.clone(), Change::Removed);
                    }),
                    Node::File(_) => {
                        changes.insert(path.to_string(), Change::Removed);
                    }
                    Node::Nothing => {}
                }
                let mut added = BTreeMap::new();
                self.collect(new, path.to_string(), &mut added)?;
                for (path, id) in added {
                    changes.insert(path, Change::File(id));
                }
                Ok(())
            }
        }
    }

    fn compare_trees(
        &self,
        old: ObjectId,
        new: ObjectId,
        prefix: &str,
        previous: &Snapshot,
        changes: &mut BTreeMap<String, Change>,
    ) -> Result<(), GitError> {
        let mut before: HashMap<String, Node> = self.entries(old)?.into_iter().collect();
        for (name, node) in self.entries(new)? {
            let old = before.remove(&name).unwrap_or(Node::Nothing);
            self.compare(old, node, &join(prefix, &name), previous, changes)?;
        }
        for (name, node) in before {
            self.compare(node, Node::Nothing, &join(prefix, &name), previous, changes)?;
        }
        Ok(())
    }

    /// The files at or below `node`, by path.
    fn collect(
        &self,
        node: Node,
        path: String,
        found: &mut BTreeMap<String, ObjectId>,
    ) -> Result<(), GitError> {
        match node {
            Node::File(id) => {
                found.insert(path, id);
                // Checked as entries are met, so a tree of a million files costs at most this many.
                if found.len() > self.settings.max_files {
                    return Err(self.too_many_files());
                }
            }
            Node::Tree(id) => {
                for (name, child) in self.entries(id)? {
                    self.collect(child, join(&path, &name), found)?;
                }
            }
            Node::Nothing => {}
        }
        Ok(())
    }

    /// A tree's entries with UTF-8 names (others are skipped with a warning).
    fn entries(&self, id: ObjectId) -> Result<Vec<(String, Node)>, GitError> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| self.corrupt(format!("tree {id} is missing"), &e))?;
        let mut entries = Vec::new();
        for entry in tree.iter() {
            let entry =
                entry.map_err(|e| self.corrupt(format!("tree {id} cannot be decoded"), &e))?;
            let Ok(name) = std::str::from_utf8(entry.filename()) else {
                tracing::warn!(tree = %id, "skipping a git entry whose name is not UTF-8");
                continue;
            };
            let node = Node::of(entry.mode().kind(), entry.object_id());
            if node == Node::Nothing {
                tracing::debug!(tree = %id, entry = name, "skipping a symlink or submodule");
            }
            entries.push((name.to_owned(), node));
        }
        Ok(entries)
    }

    fn stored(&self, id: ObjectId) -> FileContent {
        FileContent::Stored(StoredBlob {
            cache: Arc::clone(self.cache),
            id,
        })
    }

    /// The file at `path` with blob `id`: its bytes, or only its size when it is over the limit.
    fn read_file(&mut self, id: ObjectId, path: String) -> Result<SourceFile, GitError> {
        self.blobs_read += 1;
        let header = self
            .repo
            .find_header(id)
            .map_err(|e| self.corrupt(format!("blob {id} ({path}) is missing"), &e))?;
        let size = header.size();
        let content = if size > self.settings.max_file_size {
            FileContent::TooLarge { size }
        } else {
            // Checked from the header, before the blob is inflated.
            self.bytes_read = self.bytes_read.saturating_add(size);
            if self.bytes_read > self.settings.max_total_bytes {
                return Err(self.too_large(format!(
                    "its files hold more than {} bytes (reached at {path})",
                    self.settings.max_total_bytes
                )));
            }
            let mut blob = self
                .repo
                .find_blob(id)
                .map_err(|e| self.corrupt(format!("blob {id} ({path}) is missing"), &e))?;
            FileContent::Data(blob.take_data().into())
        };
        Ok(SourceFile {
            path,
            blob_id: id.to_string(),
            content,
        })
    }

    fn too_many_files(&self) -> GitError {
        self.too_large(format!(
            "it has more than {} files under the configured paths (max files)",
            self.settings.max_files
        ))
    }

    fn too_large(&self, reason: String) -> GitError {
        GitError::TooLarge {
            url: self.settings.display_url.clone(),
            commit: self.commit.to_string(),
            reason,
        }
    }

    fn corrupt(&self, what: String, e: &(dyn std::error::Error + 'static)) -> GitError {
        GitError::Corrupt {
            path: self.settings.repo_dir.clone(),
            reason: format!("{what}: {}", chain_text(e, &[])),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}
