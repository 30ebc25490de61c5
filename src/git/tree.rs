//! Reading the tree of a commit: the regular files under the configured paths, with their blob ids and contents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gix::objs::tree::EntryKind;

use super::config::Settings;
use super::error::{chain_text, GitError};
use super::{FileContent, Snapshot, SourceFile, StoredBlob};

/// Reads `commit`'s files under `settings.paths`; also returns how many blobs had to be read.
///
/// A file at the same path with the same blob as in `previous` is not read: it is `Stored`, left in the
/// cache (whoever read `previous` has its result). A known blob at another path reuses `previous`'s
/// bytes. So building the snapshot after a small change reads and holds little more than the change.
/// Files above the size limit are measured from the object header and never loaded.
pub(crate) fn read_snapshot(
    shared: &Arc<gix::ThreadSafeRepository>,
    settings: &Settings,
    commit: gix::ObjectId,
    previous: Option<&Snapshot>,
) -> Result<(Snapshot, usize), GitError> {
    let repo = &shared.to_thread_local();
    let corrupt = |what: String, e: &(dyn std::error::Error + 'static)| GitError::Corrupt {
        path: settings.repo_dir.clone(),
        reason: format!("{what}: {}", chain_text(e, &[])),
    };
    let root = repo
        .find_commit(commit)
        .map_err(|e| corrupt(format!("commit {commit} is missing"), &e))?
        .tree_id()
        .map_err(|e| corrupt(format!("commit {commit} cannot be decoded"), &e))?
        .detach();

    let known: HashMap<&str, &FileContent> = previous
        .map(|p| {
            p.files
                .iter()
                .filter(|f| matches!(f.content, FileContent::Data(_)))
                .map(|f| (f.blob_id.as_str(), &f.content))
                .collect()
        })
        .unwrap_or_default();
    let mut walker = Walker {
        repo,
        shared,
        settings,
        previous,
        known,
        files: BTreeMap::new(),
        blobs_read: 0,
    };

    if settings.paths.is_empty() {
        walker.walk_tree(root, "")?;
    }
    for path in &settings.paths {
        let root_tree = repo
            .find_tree(root)
            .map_err(|e| corrupt(format!("root tree {root} is missing"), &e))?;
        let entry = root_tree
            .lookup_entry_by_path(path)
            .map_err(|e| corrupt(format!("cannot look up {path:?}"), &e))?
            .ok_or_else(|| GitError::PathNotFound {
                url: settings.display_url.clone(),
                commit: commit.to_string(),
                path: path.clone(),
            })?;
        walker.visit(entry.mode().kind(), entry.object_id(), path.clone())?;
    }
    let blobs_read = walker.blobs_read;
    let snapshot = Snapshot {
        commit: commit.to_string(),
        files: walker.files.into_values().collect(),
    };
    Ok((snapshot, blobs_read))
}

struct Walker<'a> {
    repo: &'a gix::Repository,
    shared: &'a Arc<gix::ThreadSafeRepository>,
    settings: &'a Settings,
    previous: Option<&'a Snapshot>,
    /// Contents already read, by blob id.
    known: HashMap<&'a str, &'a FileContent>,
    /// Keyed by path: overlapping configured paths (`apps`, `apps/web`) list a file once, in a stable order.
    files: BTreeMap<String, SourceFile>,
    /// Blobs whose header or content had to be read (not known from the previous snapshot).
    blobs_read: usize,
}

impl Walker<'_> {
    fn visit(&mut self, kind: EntryKind, id: gix::ObjectId, path: String) -> Result<(), GitError> {
        match kind {
            EntryKind::Tree => self.walk_tree(id, &path),
            EntryKind::Blob | EntryKind::BlobExecutable => self.add_blob(id, path),
            // A symlink could point outside the configured paths, and a submodule is another repository:
            // neither is part of the desired state.
            EntryKind::Link | EntryKind::Commit => {
                tracing::debug!(path = %path, kind = ?kind, "skipping non-regular git entry");
                Ok(())
            }
        }
    }

    fn walk_tree(&mut self, id: gix::ObjectId, prefix: &str) -> Result<(), GitError> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| self.corrupt(format!("tree {id} is missing"), &e))?;
        let mut children = Vec::new();
        for entry in tree.iter() {
            let entry =
                entry.map_err(|e| self.corrupt(format!("tree {id} cannot be decoded"), &e))?;
            let Ok(name) = std::str::from_utf8(entry.filename()) else {
                tracing::warn!(tree = %id, "skipping a git entry whose name is not UTF-8");
                continue;
            };
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            children.push((entry.mode().kind(), entry.object_id(), path));
        }
        for (kind, id, path) in children {
            self.visit(kind, id, path)?;
        }
        Ok(())
    }

    fn add_blob(&mut self, id: gix::ObjectId, path: String) -> Result<(), GitError> {
        let blob_id = id.to_string();
        let unchanged = self
            .previous
            .and_then(|p| p.file(&path))
            .filter(|f| f.blob_id == blob_id);
        let content = match (unchanged, self.known.get(blob_id.as_str())) {
            (Some(before), _) => match &before.content {
                FileContent::TooLarge { size } => FileContent::TooLarge { size: *size },
                _ => FileContent::Stored(StoredBlob {
                    repo: Arc::clone(self.shared),
                    id,
                }),
            },
            (None, Some(content)) => (*content).clone(),
            (None, None) => {
                self.blobs_read += 1;
                let header = self
                    .repo
                    .find_header(id)
                    .map_err(|e| self.corrupt(format!("blob {id} ({path}) is missing"), &e))?;
                let size = header.size();
                if size > self.settings.max_file_size {
                    FileContent::TooLarge { size }
                } else {
                    let mut blob = self
                        .repo
                        .find_blob(id)
                        .map_err(|e| self.corrupt(format!("blob {id} ({path}) is missing"), &e))?;
                    FileContent::Data(blob.take_data().into())
                }
            }
        };
        self.files.insert(
            path.clone(),
            SourceFile {
                path,
                blob_id,
                content,
            },
        );
        Ok(())
    }

    fn corrupt(&self, what: String, e: &(dyn std::error::Error + 'static)) -> GitError {
        GitError::Corrupt {
            path: self.settings.repo_dir.clone(),
            reason: format!("{what}: {}", chain_text(e, &[])),
        }
    }
}
