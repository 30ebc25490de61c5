//! Tests of the watched dir sink: a pass inspects only what git or a change on disk touched.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use super::test_support::{self, key};
use super::DirSink;
use crate::desired::{DesiredSecret, SecretKey};
use crate::reconcile::{self, DesiredState, SecretResult};
use crate::sink::{ApplyOutcome, Listing, Sink};

/// A Secret `team-a/NAME` holding one password (the shared helper, with one key).
fn secret(name: &str, password: &str) -> DesiredSecret {
    test_support::secret("team-a", name, &[("password", password)])
}

fn state(secrets: &[DesiredSecret]) -> DesiredState {
    let mut state = DesiredState::default();
    for s in secrets {
        state.secrets.insert(s.key.clone(), Arc::new(s.clone()));
    }
    state
}

fn watched() -> (TempDir, DirSink) {
    let tmp = tempfile::tempdir().unwrap();
    let sink = DirSink::watched(tmp.path().join("secrets"), key()).unwrap();
    assert!(sink.listing_is_authoritative(), "inotify is available here");
    (tmp, sink)
}

/// A watched sink holding `count` Secrets `PREFIX0..` with `password`, settled.
async fn settled(prefix: &str, count: usize, password: &str) -> (TempDir, DirSink, DesiredState) {
    let (tmp, sink) = watched();
    let secrets: Vec<_> = (0..count)
        .map(|i| secret(&format!("{prefix}{i}"), password))
        .collect();
    let desired = state(&secrets);
    settle(&sink, &desired).await;
    (tmp, sink, desired)
}

/// The HMAC over a Secret's values is computed once: the pass's comparison with the listing and the
/// sink's write share it, pass after pass, because the Secret is shared and the sink owns the key.
#[tokio::test]
async fn each_secret_is_fingerprinted_once_across_passes() {
    let (_tmp, sink) = watched();
    let secrets: Vec<_> = (0..3).map(|i| secret(&format!("s{i}"), "pw")).collect();
    let desired = state(&secrets);
    let before = crate::desired::tests_support::fingerprints();
    settle(&sink, &desired).await;
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(report.failures(), 0);
    assert_eq!(
        crate::desired::tests_support::fingerprints() - before,
        3,
        "one HMAC per Secret"
    );
}

/// Runs passes until one inspects nothing (the events of the sink's own writes have arrived and
/// been checked), at most 100 times.
async fn settle(sink: &DirSink, state: &DesiredState) {
    for _ in 0..100 {
        let before = sink.inspected();
        let report = reconcile::apply(sink, state, 0.5).await;
        assert_eq!(report.failures(), 0);
        if sink.inspected() == before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the sink never settled");
}

/// Runs passes until `done` holds, at most 100 times; returns what the passes inspected.
async fn pass_until(
    sink: &DirSink,
    state: &DesiredState,
    done: impl Fn() -> bool,
) -> Vec<SecretResult> {
    let mut results = Vec::new();
    for _ in 0..100 {
        let report = reconcile::apply(sink, state, 0.5).await;
        results.extend(report.results.into_values());
        if done() {
            return results;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the condition never held");
}

fn read(root: &Path, name: &str) -> String {
    fs::read_to_string(root.join("team-a").join(name).join("password")).unwrap()
}

#[tokio::test]
async fn a_settled_pass_inspects_nothing_and_a_change_in_git_only_its_secret() {
    let (_tmp, sink) = watched();
    let secrets: Vec<_> = (0..20).map(|i| secret(&format!("s{i}"), "one")).collect();
    let mut desired = state(&secrets);
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(report.count(&ApplyOutcome::Created), 20);

    // A write is read back once by the next pass (a change by hand inside a version directory before
    // its watch exists makes no event); after that, a pass reads nothing.
    let before = sink.inspected();
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(sink.inspected(), before + 20, "the 20 writes read back");
    assert_eq!(report.count(&ApplyOutcome::Unchanged), 20);
    settle(&sink, &desired).await;
    let before = sink.inspected();
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(sink.inspected(), before, "nothing changed: nothing read");
    assert_eq!(report.count(&ApplyOutcome::Unchanged), 20);

    let changed = secret("s7", "two");
    desired
        .secrets
        .insert(changed.key.clone(), Arc::new(changed));
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(sink.inspected(), before + 1, "only the Secret git changed");
    assert_eq!(report.count(&ApplyOutcome::Updated), 1);
    assert_eq!(read(sink.root(), "s7"), "two");
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(
        sink.inspected(),
        before + 2,
        "its write read back, nothing else"
    );
    assert_eq!(report.count(&ApplyOutcome::Unchanged), 20);
}

/// An edit by hand right after a write, when the new version directory may not be watched yet, is
/// restored by the very next pass: that pass reads the write back whatever the watcher saw.
#[tokio::test]
async fn an_edit_right_after_a_write_is_restored_by_the_next_pass() {
    let (_tmp, sink) = watched();
    let desired = state(&[secret("s0", "orig")]);
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(report.count(&ApplyOutcome::Created), 1);
    let real = fs::canonicalize(sink.root().join("team-a/s0/password")).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&real, "hacked").unwrap();
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(report.count(&ApplyOutcome::Updated), 1);
    assert_eq!(read(sink.root(), "s0"), "orig");
}

#[tokio::test]
async fn edits_and_deletions_by_hand_are_seen_and_restored() {
    let (_tmp, sink, desired) = settled("s", 5, "orig").await;
    let root = sink.root().to_path_buf();

    // A value rewritten in place.
    let real = fs::canonicalize(root.join("team-a/s1/password")).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&real, "hacked").unwrap();
    let results = pass_until(&sink, &desired, || read(&root, "s1") == "orig").await;
    assert!(results
        .iter()
        .any(|r| matches!(r, SecretResult::Applied(ApplyOutcome::Updated))));
    settle(&sink, &desired).await;

    // A whole Secret directory removed.
    fs::remove_dir_all(root.join("team-a/s3")).unwrap();
    pass_until(&sink, &desired, || root.join("team-a/s3/password").exists()).await;
    assert_eq!(read(&root, "s3"), "orig");
    settle(&sink, &desired).await;

    // The whole namespace directory removed: a full listing, everything recreated.
    fs::remove_dir_all(root.join("team-a")).unwrap();
    pass_until(&sink, &desired, || {
        (0..5).all(|i| root.join(format!("team-a/s{i}/password")).exists())
    })
    .await;
}

#[tokio::test]
async fn a_managed_directory_that_appears_on_disk_is_listed_and_pruned() {
    let (_tmp, sink, desired) = settled("keep", 4, "v").await;

    // A Secret directory made by another sink instance with the same root (a restore from backup,
    // a second agent): sealsync's mark is on it, git no longer declares it.
    let other = DirSink::with_key(sink.root().to_path_buf(), key()).unwrap();
    other
        .apply(&Arc::new(secret("stale", "old")))
        .await
        .unwrap();
    let stale = sink.root().join("team-a/stale");
    for _ in 0..100 {
        let listed = sink.list_managed().await.unwrap();
        if listed.iter().any(|m| m.key.name == "stale") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(report.pruned, vec![SecretKey::new("team-a", "stale")]);
    assert!(!stale.exists());
}

#[tokio::test]
async fn an_unwatched_sink_inspects_every_secret_every_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = DirSink::with_key(tmp.path().join("secrets"), key()).unwrap();
    assert!(!sink.listing_is_authoritative());
    let secrets: Vec<_> = (0..3).map(|i| secret(&format!("s{i}"), "v")).collect();
    let desired = state(&secrets);
    reconcile::apply(&sink, &desired, 0.5).await;
    let before = sink.inspected();
    reconcile::apply(&sink, &desired, 0.5).await;
    assert_eq!(sink.inspected(), before + 3);
}

/// Lists changes until `done` holds for them, at most 100 times.
async fn changes_until(
    sink: &DirSink,
    done: impl Fn(&[SecretKey]) -> bool,
) -> (Vec<SecretKey>, usize) {
    for _ in 0..100 {
        match sink.list_changes().await.unwrap() {
            Listing::Changes { changed, managed } => {
                let keys: Vec<SecretKey> = changed.into_iter().map(|m| m.key).collect();
                if done(&keys) {
                    return (keys, managed);
                }
            }
            Listing::Full(_) => panic!("a trusted index lists changes"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the change feed never showed what was expected");
}

#[tokio::test]
async fn the_change_feed_names_only_what_changed_on_disk_and_a_partial_pass_repairs_it() {
    let (_tmp, sink, mut desired) = settled("s", 10, "orig").await;
    let root = sink.root().to_path_buf();
    let (quiet, managed) = changes_until(&sink, |k| k.is_empty()).await;
    assert_eq!((quiet.len(), managed), (0, 10));
    let mut applier = reconcile::Applier::new();
    desired.pass = 1;
    let report = applier.apply(&sink, &desired, 0.5).await;
    assert!(!report.partial, "an applier's first pass is full");

    let real = fs::canonicalize(root.join("team-a/s3/password")).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&real, "hacked").unwrap();
    fs::remove_dir_all(root.join("team-a/s5")).unwrap();
    let other = DirSink::with_key(root.clone(), key()).unwrap();
    other.apply(&Arc::new(secret("stray", "x"))).await.unwrap();
    let want = [
        SecretKey::new("team-a", "s3"),
        SecretKey::new("team-a", "s5"),
        SecretKey::new("team-a", "stray"),
    ];
    let (changed, managed) = changes_until(&sink, |k| want.iter().all(|w| k.contains(w))).await;
    assert_eq!(changed, want, "only the Secrets touched on disk");
    assert_eq!(managed, 11);

    // The next pass, with nothing changed in git, visits just those three.
    desired.pass = 2;
    let report = applier.apply(&sink, &desired, 0.5).await;
    assert!(report.partial);
    assert_eq!(
        report.results.keys().cloned().collect::<Vec<_>>(),
        want[..2]
    );
    assert_eq!(report.pruned, want[2..]);
    assert_eq!(read(&root, "s3"), "orig");
    assert_eq!(read(&root, "s5"), "orig");
    assert!(!root.join("team-a/stray").exists());
}
