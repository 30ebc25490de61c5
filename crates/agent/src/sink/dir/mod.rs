//! The `dir` sink: Secrets materialized as files under a root folder, laid out and swapped atomically
//! the way the kubelet writes a mounted Secret volume.
//!
//! `root/<namespace>/<name>/<key>` reads as the value's raw bytes. Behind each key is the kubelet's
//! `AtomicWriter` layout:
//!
//! ```text
//! root/team-a/db/
//!   ..2026_11_22_06_00_00.123456789/   0700, the values of one version (files 0400)
//!   ..data -> ..2026_11_22_06_00_00.123456789
//!   password -> ..data/password
//!   ..sealsync.json                    0400, what sealsync applied: fingerprint, source, type
//! ```
//!
//! A new version is written into a fresh hidden directory and published by renaming a `..data_tmp`
//! symlink over `..data`, so a reader that resolves `..data` once sees one version, never a mix.
//! The metadata file marks the directory as managed; a directory without it is never written to
//! (unless the Secret asks to adopt it) nor deleted.

#[cfg(test)]
mod drift_tests;
mod index;
#[cfg(target_os = "linux")]
mod inotify_watch;
mod inspect;
mod layout;
#[cfg(test)]
mod layout_tests;
mod metadata;
mod root;
#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod watch_tests;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::desired::{DesiredSecret, FingerprintKey, SecretKey, PRUNE_ANNOTATION, PRUNE_DISABLED};
use crate::names;
use crate::reason::Reason;
use crate::sink::{ApplyOutcome, Listing as SinkListing, ManagedSecret, Sink, SinkError};

use index::{Index, Listing};
use inspect::OnDisk;
use metadata::{Marker, Record};

/// A sink writing Secrets under a root directory. Everything below `root/<ns>/<name>` that carries
/// sealsync's metadata file is managed by it; anything else under `root` is left alone.
pub struct DirSink {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    key: FingerprintKey,
    /// One lock per Secret: two applies of the same Secret never interleave their renames.
    locks: Mutex<HashMap<SecretKey, Arc<Mutex<()>>>>,
    /// What is known intact on disk, kept current by file system events (`DirSink::watched`).
    index: Option<Index>,
    /// Secret directories read and compared with their desired values since the sink was opened.
    inspected: AtomicU64,
}

/// Where one Secret lives, validated and checked to sit inside the root.
#[derive(Clone, Debug)]
struct Paths {
    secret: SecretKey,
    namespace_dir: PathBuf,
    secret_dir: PathBuf,
}

/// Why a filesystem step failed, before the Secret it concerns is attached (see `Failure::into_sink`).
#[derive(Debug)]
struct Failure(String);

impl Failure {
    fn into_sink(self, secret: &SecretKey) -> SinkError {
        SinkError::Io {
            key: secret.to_string(),
            reason: self.0,
        }
    }
}

/// Attaches what was being done, and to which entry, to an I/O error.
trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Failure>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Failure> {
        self.map_err(|err| Failure(format!("{}: {err}", what())))
    }
}

impl DirSink {
    /// A sink under `root` (created 0700 if missing) with a fresh random fingerprint key.
    pub fn new(root: PathBuf) -> Result<DirSink, SinkError> {
        DirSink::with_key(root, FingerprintKey::generate())
    }

    /// A sink under `root` whose fingerprints use `key` (so they stay comparable across restarts).
    /// Every pass inspects every Secret: right for one pass (`run --once`).
    pub fn with_key(root: PathBuf, key: FingerprintKey) -> Result<DirSink, SinkError> {
        DirSink::open(root, key, false)
    }

    /// Like `with_key`, for a long-running agent: a file watcher on the root tells which Secrets were
    /// touched since they were last checked, so a pass inspects only those and the ones git changed.
    /// Without file system notifications it works as `with_key` does (and says so in the log).
    pub fn watched(root: PathBuf, key: FingerprintKey) -> Result<DirSink, SinkError> {
        DirSink::open(root, key, true)
    }

    fn open(root: PathBuf, key: FingerprintKey, watch: bool) -> Result<DirSink, SinkError> {
        let fail = |reason: String| SinkError::Io {
            key: root.display().to_string(),
            reason,
        };
        match std::fs::symlink_metadata(&root) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                layout::create_dir_all(&root)
                    .map_err(|err| fail(format!("creating the sink's root directory: {err}")))?;
            }
            Err(err) => return Err(fail(format!("reading the sink's root directory: {err}"))),
        }
        // The root is configuration, trusted as given (it may be a symlink such as /var/run); every
        // path below it is not, so resolve it once and compare against the resolved form.
        let root = root
            .canonicalize()
            .map_err(|err| fail(format!("resolving the sink's root directory: {err}")))?;
        if !root.is_dir() {
            return Err(fail("the sink's root is not a directory".into()));
        }
        root::secure(&root).map_err(fail)?;
        root::sweep(&root);
        let index = if watch {
            Index::watch(&root)
                .inspect_err(|err| {
                    tracing::warn!(root = %root.display(), "cannot watch the sink's root ({err}): every pass inspects every Secret")
                })
                .ok()
        } else {
            None
        };
        Ok(DirSink {
            inner: Arc::new(Inner {
                root,
                key,
                locks: Mutex::new(HashMap::new()),
                index,
                inspected: AtomicU64::new(0),
            }),
        })
    }

    /// The (resolved) root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// How many times a Secret's files were read and compared with what git wants (what the index
    /// saves; for tests and benchmarks).
    pub fn inspected(&self) -> u64 {
        self.inner.inspected.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for DirSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirSink")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl Sink for DirSink {
    async fn list_managed(&self) -> Result<Vec<ManagedSecret>, SinkError> {
        let inner = Arc::clone(&self.inner);
        let listing = blocking(move || inner.listing(false)).await?;
        Ok(match listing {
            SinkListing::Full(managed) => managed,
            SinkListing::Changes { changed, .. } => changed,
        })
    }

    /// While the watcher runs, only the Secrets an event touched since they were last written or
    /// checked (and those not yet known intact).
    async fn list_changes(&self) -> Result<SinkListing, SinkError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.listing(true)).await
    }

    async fn apply(&self, desired: &Arc<DesiredSecret>) -> Result<ApplyOutcome, SinkError> {
        if desired.merge {
            let why = "creationPolicy Merge writes keys into an existing Kubernetes Secret, which the directory sink does not have: use creationPolicy Owner or Orphan here".to_string();
            tracing::warn!(secret = %desired.key, path = %desired.source.path, reason = %Reason::MergeTarget, "not written: {why}");
            return Ok(ApplyOutcome::Refused(Reason::MergeTarget, why));
        }
        let paths = self.inner.paths(&desired.key)?;
        validate_keys(desired)?;
        let fingerprint = desired.shared_fingerprint(&self.inner.key);
        let inner = Arc::clone(&self.inner);
        // The blocking task holds the shared values (zeroized when the last holder drops them). It
        // runs to completion even if this future is dropped, so a cancelled apply never leaves half
        // a swap.
        let desired = Arc::clone(desired);
        blocking(move || inner.apply_indexed(&paths, &desired, fingerprint)).await
    }

    fn fingerprint_key(&self) -> &FingerprintKey {
        &self.inner.key
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SinkError> {
        let paths = self.inner.paths(key)?;
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            inner.delete(&paths)?;
            if let Some(index) = &inner.index {
                index.removed(&paths.secret);
            }
            Ok(())
        })
        .await
    }

    /// While the watcher runs, the listing reports a fingerprint only for Secrets verified intact since
    /// the last event below them, so those can be skipped.
    fn listing_is_authoritative(&self) -> bool {
        self.inner.index.as_ref().is_some_and(Index::trusted)
    }
}

/// Runs filesystem work on tokio's blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SinkError> + Send + 'static,
) -> Result<T, SinkError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| Err(SinkError::Other(format!("dir sink task failed: {err}"))))
}

/// A managed Secret as its metadata file describes it.
fn listed(key: SecretKey, record: Option<Record>) -> ManagedSecret {
    ManagedSecret {
        fingerprint: record.as_ref().map(|r| r.fingerprint.clone()),
        source_path: record.map(|r| r.source.path),
        key,
    }
}

fn invalid(secret: &SecretKey, what: &str, value: &str, reason: impl fmt::Display) -> SinkError {
    SinkError::Other(format!("{secret}: invalid {what} {value:?}: {reason}"))
}

/// Every key must be a valid Secret key, and must not start with `..`: the kubelet refuses such keys
/// too, since `..data`, `..data_tmp` and the hidden version directories live beside the keys.
fn validate_keys(desired: &DesiredSecret) -> Result<(), SinkError> {
    for key in desired.data.keys() {
        names::secret_key(key).map_err(|reason| invalid(&desired.key, "key", key, reason))?;
        if key.starts_with("..") {
            return Err(invalid(
                &desired.key,
                "key",
                key,
                "must not start with '..' (reserved for the atomic-writer layout, as in the kubelet)",
            ));
        }
    }
    Ok(())
}

impl Inner {
    /// Validates the namespace and name, then builds `root/<ns>/<name>` and checks it is inside root.
    fn paths(&self, secret: &SecretKey) -> Result<Paths, SinkError> {
        names::dns_label(&secret.namespace)
            .map_err(|reason| invalid(secret, "namespace", &secret.namespace, reason))?;
        names::dns_subdomain(&secret.name)
            .map_err(|reason| invalid(secret, "name", &secret.name, reason))?;
        let namespace_dir = self.root.join(&secret.namespace);
        let secret_dir = namespace_dir.join(&secret.name);
        // Validation already rules out '/', '.' and '..'; this keeps it true whatever the rules become.
        let inside = secret_dir.strip_prefix(&self.root).is_ok_and(|rest| {
            rest.components().count() == 2
                && rest.components().all(|c| matches!(c, Component::Normal(_)))
        });
        if !inside {
            return Err(SinkError::Other(format!(
                "{secret}: resolves outside the sink's root directory"
            )));
        }
        Ok(Paths {
            secret: secret.clone(),
            namespace_dir,
            secret_dir,
        })
    }

    fn lock(&self, secret: &SecretKey) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(secret.clone()).or_default())
    }

    /// The managed Secrets: from the index while it is trusted, else from the disk. With
    /// `changes_only`, a listing from the index holds only the Secrets that may have changed.
    fn listing(&self, changes_only: bool) -> Result<SinkListing, SinkError> {
        let Some(index) = &self.index else {
            return self.list_managed().map(SinkListing::Full);
        };
        match index.plan_listing() {
            Listing::Disk => {
                let listed = self
                    .list_managed()
                    .inspect_err(|_| index.listing_failed())?;
                index.replace(&listed);
                Ok(SinkListing::Full(index.list(&[], Vec::new())))
            }
            Listing::Index {
                mut unknown,
                namespaces,
            } => {
                for namespace in namespaces {
                    let on_disk = self
                        .secret_dirs(&namespace)
                        .inspect_err(|_| index.listing_failed())?;
                    unknown.extend(index.rescanned(&namespace, &on_disk));
                }
                let found = unknown
                    .iter()
                    .filter_map(|key| self.managed_on_disk(key).transpose())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if changes_only {
                    let (changed, managed) = index.changes(&unknown, found);
                    SinkListing::Changes { changed, managed }
                } else {
                    SinkListing::Full(index.list(&unknown, found))
                })
            }
        }
    }

    /// The Secret directory of `key` if it exists and carries sealsync's metadata file.
    fn managed_on_disk(&self, key: &SecretKey) -> Result<Option<ManagedSecret>, SinkError> {
        let Ok(paths) = self.paths(key) else {
            return Ok(None);
        };
        let in_sink = |failure: Failure| failure.into_sink(key);
        if !inspect::existing_dir(&paths.namespace_dir, &paths.secret_dir).map_err(in_sink)? {
            return Ok(None);
        }
        Ok(match metadata::read(&paths.secret_dir).map_err(in_sink)? {
            Marker::Missing => None,
            Marker::Present(record) => Some(listed(key.clone(), record)),
        })
    }

    /// `apply`, keeping the index current.
    fn apply_indexed(
        &self,
        paths: &Paths,
        desired: &DesiredSecret,
        fingerprint: String,
    ) -> Result<ApplyOutcome, SinkError> {
        let Some(index) = &self.index else {
            return self
                .apply(paths, desired, fingerprint)
                .map_err(|failure| failure.into_sink(&paths.secret));
        };
        index.begin(&paths.secret);
        let result = self.apply(paths, desired, fingerprint.clone());
        let source = desired.source.path.clone();
        match &result {
            Ok(ApplyOutcome::RefusedUnmanaged | ApplyOutcome::Refused(..)) => {
                index.unverified(&paths.secret, false)
            }
            Ok(ApplyOutcome::Unchanged) => index.verified(&paths.secret, fingerprint, source),
            Ok(ApplyOutcome::Created | ApplyOutcome::Updated) => {
                index.written(&paths.secret, fingerprint, source)
            }
            Err(_) => index.unverified(&paths.secret, true),
        }
        result.map_err(|failure| failure.into_sink(&paths.secret))
    }

    /// The directories in a namespace directory; none when it does not exist (removed since the root
    /// was listed, its last Secret deleted meanwhile).
    fn secret_dirs(&self, namespace: &str) -> Result<Vec<String>, SinkError> {
        match layout::subdirectories(&self.root.join(namespace)) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            listed => listed
                .context(|| "listing the namespace directory".into())
                .map_err(|failure| SinkError::Io {
                    key: namespace.to_string(),
                    reason: failure.0,
                }),
        }
    }

    fn list_managed(&self) -> Result<Vec<ManagedSecret>, SinkError> {
        let root_error = |failure: Failure| SinkError::Io {
            key: self.root.display().to_string(),
            reason: failure.0,
        };
        let mut managed = Vec::new();
        for namespace in layout::subdirectories(&self.root)
            .context(|| "listing the sink's root directory".into())
            .map_err(root_error)?
        {
            if names::dns_label(&namespace).is_err() {
                continue;
            }
            let namespace_dir = self.root.join(&namespace);
            for name in self.secret_dirs(&namespace)? {
                if names::dns_subdomain(&name).is_err() {
                    continue;
                }
                let key = SecretKey::new(namespace.clone(), name);
                let marker = metadata::read(&namespace_dir.join(&key.name))
                    .map_err(|failure| failure.into_sink(&key))?;
                if let Marker::Present(record) = marker {
                    managed.push(listed(key, record));
                }
            }
        }
        managed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(managed)
    }

    fn apply(
        &self,
        paths: &Paths,
        desired: &DesiredSecret,
        fingerprint: String,
    ) -> Result<ApplyOutcome, Failure> {
        let lock = self.lock(&paths.secret);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let record = Record::new(desired, fingerprint);
        self.inspected.fetch_add(1, Ordering::Relaxed);
        match inspect::inspect(&paths.namespace_dir, &paths.secret_dir, &desired.data)? {
            OnDisk::Absent => {
                layout::create(
                    &paths.namespace_dir,
                    &paths.secret_dir,
                    &desired.data,
                    &record,
                )?;
                Ok(ApplyOutcome::Created)
            }
            OnDisk::Unmanaged if !desired.adopt => Ok(ApplyOutcome::RefusedUnmanaged),
            OnDisk::Unmanaged => {
                tracing::info!(secret = %paths.secret, "adopting a directory sealsync did not manage");
                layout::write(&paths.secret_dir, &desired.data, &record)?;
                Ok(ApplyOutcome::Updated)
            }
            OnDisk::Managed { recorded, drift } => {
                let drift = drift.or_else(|| match &recorded {
                    None => Some("its metadata file is unreadable".into()),
                    Some(r) if r.secret_type != record.secret_type => {
                        Some("the Secret type changed".into())
                    }
                    Some(_) => None,
                });
                let Some(drift) = drift else {
                    // What a reader sees is already right. The fingerprint may still differ (a new
                    // key after a restart, or labels and annotations, which this sink does not
                    // materialize): record the new one without rewriting any value.
                    if recorded.as_ref() != Some(&record) {
                        metadata::write(&paths.secret_dir, &record)?;
                    }
                    return Ok(ApplyOutcome::Unchanged);
                };
                if recorded.as_ref().map(|r| &r.fingerprint) == Some(&record.fingerprint) {
                    tracing::info!(secret = %paths.secret, %drift, "restoring files changed outside sealsync");
                } else {
                    tracing::debug!(secret = %paths.secret, %drift, "updating");
                }
                layout::write(&paths.secret_dir, &desired.data, &record)?;
                Ok(ApplyOutcome::Updated)
            }
        }
    }

    fn delete(&self, paths: &Paths) -> Result<(), SinkError> {
        let lock = self.lock(&paths.secret);
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let in_sink = |failure: Failure| failure.into_sink(&paths.secret);
        if !inspect::existing_dir(&paths.namespace_dir, &paths.secret_dir).map_err(in_sink)? {
            return Ok(());
        }
        match metadata::read(&paths.secret_dir).map_err(in_sink)? {
            Marker::Missing => {
                return Err(SinkError::Conflict {
                    key: paths.secret.to_string(),
                    reason: format!(
                        "the directory has no {} file: sealsync does not manage it, left alone",
                        metadata::FILE
                    ),
                })
            }
            Marker::Present(Some(record)) if record.keep => {
                metadata::remove(&paths.secret_dir).map_err(in_sink)?;
                tracing::info!(secret = %paths.secret, "its source left git; released, not deleted ({PRUNE_ANNOTATION}: {PRUNE_DISABLED}): sealsync no longer manages it");
                return Ok(());
            }
            Marker::Present(_) => {}
        }
        layout::remove(&paths.namespace_dir, &paths.secret_dir).map_err(in_sink)
    }
}
