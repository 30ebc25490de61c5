//! Tests of what the dir sink does with its root and with the leftovers of an interrupted write: a root
//! others can write to is tightened or refused; staging, half-deleted and stale version directories
//! (plaintext) do not survive the next pass.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use super::test_support::{db, dir_of, entries, key, mode, sink, version_dir, PASSWORD};
use super::DirSink;
use crate::sink::{ApplyOutcome, Sink};

/// Plants a directory holding a plaintext file (0400, directories 0700) as an interrupted write would.
fn plant(dir: &Path) {
    let version = dir.join("..2026_01_01_00_00_00.000000001");
    fs::create_dir_all(&version).unwrap();
    fs::write(version.join("password"), PASSWORD).unwrap();
    fs::set_permissions(version.join("password"), fs::Permissions::from_mode(0o400)).unwrap();
    fs::set_permissions(&version, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn leftovers_of_an_interrupted_create_or_delete_are_removed_when_the_sink_opens() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("secrets");
    let namespace = root.join("team-a");
    fs::create_dir_all(&namespace).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    plant(&namespace.join("..sealsync-new-0123456789abcdef"));
    plant(&namespace.join("..sealsync-old-0123456789abcdef"));
    // Not sealsync's: left alone.
    fs::create_dir(namespace.join("..someone-else")).unwrap();
    let sink = DirSink::with_key(root, key()).unwrap();
    assert_eq!(
        entries(&sink.root().join("team-a")),
        ["..someone-else"],
        "staging and half-deleted directories removed"
    );
}

#[tokio::test]
async fn a_stale_version_directory_is_rewritten_away() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    let dir = dir_of(&sink, &desired);
    // A crash between writing a new version and pruning the old one leaves two.
    let stale = dir.join("..2020_01_01_00_00_00.000000001");
    plant(&stale);
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert!(!stale.exists(), "the stale version directory is gone");
    let versions: Vec<_> = entries(&dir)
        .into_iter()
        .filter(|n| super::layout::is_version_name(n))
        .collect();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert!(version_dir(&dir).ends_with(&versions[0]));
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[test]
fn a_root_writable_by_others_is_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    for (given, tightened) in [
        (0o777, 0o750),
        (0o775, 0o750),
        (0o2777, 0o2750),
        (0o755, 0o755),
    ] {
        let root = tmp.path().join(format!("root-{given:o}"));
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(given)).unwrap();
        let sink = DirSink::with_key(root, key()).unwrap();
        assert_eq!(mode(sink.root()), tightened, "from {given:o}");
    }
}

#[test]
fn a_root_writable_by_others_that_is_not_the_agents_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let me = fs::metadata("/proc/self").unwrap().uid();
    // As root, a directory given to `nobody`; otherwise /tmp itself (root's, 1777).
    let root = if me == 0 {
        let root = tmp.path().join("emptydir");
        fs::create_dir(&root).unwrap();
        std::os::unix::fs::chown(&root, Some(65534), Some(65534)).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        root
    } else {
        "/tmp".into()
    };
    let err = DirSink::with_key(root.clone(), key())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be made private") && err.contains("owned by uid"),
        "{err}"
    );
    assert!(err.contains(&root.display().to_string()), "{err}");
    assert_eq!(mode(&root) & 0o777, 0o777, "left as it was");
}

#[test]
fn a_shared_sticky_root_is_refused_even_when_it_is_the_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shared");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o1777)).unwrap();
    let err = DirSink::with_key(root.clone(), key())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sticky"), "{err}");
    assert_eq!(mode(&root), 0o1777, "left as it was");
}
