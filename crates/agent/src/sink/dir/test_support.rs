//! What the dir sink's tests share: desired Secrets, a sink on a temporary directory, a look at its
//! layout, and waiting for its file watcher without a clock.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::DirSink;
use crate::desired::{tests_support, DesiredSecret, FingerprintKey};

pub(super) const PASSWORD: &str = "correct-horse-battery-staple";
pub(super) const USER: &str = "db-admin-7f3c9e";

/// A Secret holding `pairs`, from the file the dir sink's tests name.
pub(super) fn secret(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> DesiredSecret {
    tests_support::secret(namespace, name)
        .with_data(pairs)
        .with_source("apps/team-a/db.sops.yaml", "0123abcd")
}

pub(super) fn db() -> DesiredSecret {
    secret(
        "team-a",
        "db",
        &[("password", PASSWORD), ("username", USER)],
    )
}

pub(super) fn key() -> FingerprintKey {
    FingerprintKey::new(vec![7; 32])
}

/// A sink whose root does not exist yet (the sink creates it).
pub(super) fn sink() -> (TempDir, DirSink) {
    let tmp = tempfile::tempdir().unwrap();
    let sink = DirSink::with_key(tmp.path().join("secrets"), key()).unwrap();
    (tmp, sink)
}

pub(super) fn dir_of(sink: &DirSink, secret: &DesiredSecret) -> PathBuf {
    sink.root()
        .join(&secret.key.namespace)
        .join(&secret.key.name)
}

pub(super) fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The entries of a directory, sorted.
pub(super) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The version directory `..data` points to.
pub(super) fn version_dir(dir: &Path) -> PathBuf {
    dir.join(fs::read_link(dir.join("..data")).unwrap())
}

/// Makes `path` (a key's file, behind its symlink) writable and writes `bytes` into it, as a
/// person editing it by hand would.
pub(super) fn edit_by_hand(path: &Path, bytes: &[u8]) {
    let real = fs::canonicalize(path).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&real, bytes).unwrap();
}

pub(super) fn assert_modes(sink: &DirSink, desired: &DesiredSecret) {
    let dir = dir_of(sink, desired);
    assert_eq!(mode(sink.root()), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir), 0o700);
    let version = version_dir(&dir);
    assert_eq!(mode(&version), 0o700);
    for key in desired.data.keys() {
        assert_eq!(mode(&version.join(key)), 0o400, "{key}");
    }
    assert_eq!(mode(&dir.join("..sealsync.json")), 0o400);
}

/// How long a test waits for the file watcher: generous, for a loaded machine; reached only when
/// something is broken.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits until the watcher of `sink` has reported every change made below its root so far: makes one
/// more (a file in a directory `.probe` that no namespace can be named) and waits for it, since events
/// are reported in order. What a pass then sees no longer depends on how fast the watch thread runs.
pub(super) async fn caught_up(sink: &DirSink) {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let index = sink.inner.index.as_ref().expect("a watched sink");
    let seen = |path: PathBuf| async move {
        let start = Instant::now();
        while !index.has_seen(&path) {
            assert!(
                start.elapsed() < PATIENCE,
                "the watcher did not report {} within {PATIENCE:?}",
                path.display()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    // A file made in a new directory before the watcher has watched it makes no event.
    let dir = sink.root().join(".probe");
    if fs::create_dir(&dir).is_ok() {
        seen(dir.clone()).await;
    }
    let probe = dir.join(format!(".probe-{}", PROBES.fetch_add(1, Ordering::Relaxed)));
    fs::write(&probe, b"").unwrap();
    seen(probe).await;
}
