//! Tests of the watched dir sink: a pass inspects only what git or a change on disk touched.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use tempfile::TempDir;

use super::test_support::{self, caught_up, key};
use super::DirSink;
use crate::desired::{DesiredSecret, SecretKey};
use crate::reconcile::{Applier, ApplyReport, DesiredState, SecretResult};
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

/// The agent's reconcile loop over one sink, as `agent::run` drives it: the production `Applier`,
/// one pass after another (the first full, the next ones fed by the sink's change listing).
struct Passes {
    sink: DirSink,
    applier: Applier,
    desired: DesiredState,
}

impl Passes {
    fn new(sink: DirSink, secrets: &[DesiredSecret]) -> Passes {
        Passes {
            sink,
            applier: Applier::new(),
            desired: state(secrets),
        }
    }

    /// The next pass; `changed` are the Secrets git changed since the previous one.
    async fn pass_with(&mut self, changed: &[DesiredSecret]) -> ApplyReport {
        self.desired.pass += 1;
        self.desired.touched.clear();
        for d in changed {
            self.desired.touched.insert(d.key.clone());
            self.desired
                .secrets
                .insert(d.key.clone(), Arc::new(d.clone()));
        }
        let report = self.applier.apply(&self.sink, &self.desired, 0.5).await;
        assert_eq!(report.failures(), 0, "{report:?}");
        report
    }

    /// The next pass, nothing changed in git.
    async fn pass(&mut self) -> ApplyReport {
        self.pass_with(&[]).await
    }

    /// Passes until one, made after the watcher reported everything, inspects nothing.
    async fn settle(&mut self) {
        for _ in 0..100 {
            caught_up(&self.sink).await;
            let before = self.sink.inspected();
            self.pass().await;
            if self.sink.inspected() == before {
                return;
            }
        }
        panic!("the sink never settled");
    }

    /// Passes, each after the watcher reported everything, until `done` holds; returns what they
    /// visited. One pass should do: the rest is margin for a change still being made.
    async fn until(&mut self, done: impl Fn() -> bool) -> Vec<SecretResult> {
        let mut results = Vec::new();
        for _ in 0..10 {
            caught_up(&self.sink).await;
            let report = self.pass().await;
            results.extend(report.results.into_values());
            if done() {
                return results;
            }
        }
        panic!("the condition never held");
    }
}

/// The HMAC over a Secret's values is computed once: the pass's comparison with the listing and the
/// sink's write share it, pass after pass, because the Secret is shared and the sink owns the key.
#[tokio::test]
async fn each_secret_is_fingerprinted_once_across_passes() {
    let (_tmp, sink) = watched();
    let secrets: Vec<_> = (0..3).map(|i| secret(&format!("s{i}"), "pw")).collect();
    let before = crate::desired::tests_support::fingerprints();
    let mut passes = Passes::new(sink, &secrets);
    passes.settle().await;
    passes.pass().await;
    assert_eq!(
        crate::desired::tests_support::fingerprints() - before,
        3,
        "one HMAC per Secret"
    );
}

/// A watched sink holding `count` Secrets `PREFIX0..` with `password`, settled.
async fn settled(prefix: &str, count: usize, password: &str) -> (TempDir, Passes) {
    let (tmp, sink) = watched();
    let secrets: Vec<_> = (0..count)
        .map(|i| secret(&format!("{prefix}{i}"), password))
        .collect();
    let mut passes = Passes::new(sink, &secrets);
    passes.settle().await;
    (tmp, passes)
}

fn read(root: &Path, name: &str) -> String {
    fs::read_to_string(root.join("team-a").join(name).join("password")).unwrap()
}

/// Makes `name`'s password file writable and writes `value` into it, as a person would.
fn edit(root: &Path, name: &str, value: &str) {
    test_support::edit_by_hand(
        &root.join("team-a").join(name).join("password"),
        value.as_bytes(),
    );
}

#[tokio::test]
async fn a_settled_pass_inspects_nothing_and_a_change_in_git_only_its_secret() {
    let (_tmp, sink) = watched();
    let secrets: Vec<_> = (0..20).map(|i| secret(&format!("s{i}"), "one")).collect();
    let mut passes = Passes::new(sink, &secrets);
    let report = passes.pass().await;
    assert!(!report.partial, "an applier's first pass is full");
    assert_eq!(report.count(&ApplyOutcome::Created), 20);

    // A write is read back once by the next pass (a change by hand inside a version directory before
    // its watch exists makes no event); after that, a pass reads nothing.
    let before = passes.sink.inspected();
    let report = passes.pass().await;
    assert!(report.partial);
    assert_eq!(
        passes.sink.inspected(),
        before + 20,
        "the 20 writes read back"
    );
    assert_eq!(report.count(&ApplyOutcome::Unchanged), 20);
    passes.settle().await;
    caught_up(&passes.sink).await;
    let before = passes.sink.inspected();
    let report = passes.pass().await;
    assert_eq!(
        passes.sink.inspected(),
        before,
        "nothing changed: nothing read"
    );
    assert_eq!(report.count(&ApplyOutcome::Unchanged), 20);

    let report = passes.pass_with(&[secret("s7", "two")]).await;
    assert_eq!(
        passes.sink.inspected(),
        before + 1,
        "only the Secret git changed"
    );
    assert_eq!(report.count(&ApplyOutcome::Updated), 1);
    assert_eq!(read(passes.sink.root(), "s7"), "two");
    let report = passes.pass().await;
    assert_eq!(
        passes.sink.inspected(),
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
    let mut passes = Passes::new(sink, &[secret("s0", "orig")]);
    let report = passes.pass().await;
    assert_eq!(report.count(&ApplyOutcome::Created), 1);
    edit(passes.sink.root(), "s0", "hacked");
    let report = passes.pass().await;
    assert_eq!(report.count(&ApplyOutcome::Updated), 1);
    assert_eq!(read(passes.sink.root(), "s0"), "orig");
}

#[tokio::test]
async fn edits_and_deletions_by_hand_are_seen_and_restored() {
    let (_tmp, mut passes) = settled("s", 5, "orig").await;
    let root = passes.sink.root().to_path_buf();

    // A value rewritten in place.
    edit(&root, "s1", "hacked");
    let results = passes.until(|| read(&root, "s1") == "orig").await;
    assert!(results
        .iter()
        .any(|r| matches!(r, SecretResult::Applied(ApplyOutcome::Updated))));
    passes.settle().await;

    // A whole Secret directory removed.
    fs::remove_dir_all(root.join("team-a/s3")).unwrap();
    passes
        .until(|| root.join("team-a/s3/password").exists())
        .await;
    assert_eq!(read(&root, "s3"), "orig");
    passes.settle().await;

    // The whole namespace directory removed: everything recreated.
    fs::remove_dir_all(root.join("team-a")).unwrap();
    passes
        .until(|| (0..5).all(|i| root.join(format!("team-a/s{i}/password")).exists()))
        .await;
    assert!((0..5).all(|i| read(&root, &format!("s{i}")) == "orig"));
}

/// Every Secret of a namespace directory created by a pass is watched, however the watcher's adding
/// of that directory interleaves with the pass renaming Secret directories into place: an edit in
/// place in each of them is seen, and put back by the first pass after the watcher caught up. Before
/// the fix this failed now and then (a Secret directory left unwatched; `inotify_watch`'s
/// `a_directory_gone_before_it_is_watched_does_not_stop_the_others` shows the cause every time).
#[tokio::test]
async fn an_edit_in_any_secret_of_a_new_namespace_is_seen() {
    const COUNT: usize = 60;
    let (_tmp, mut passes) = settled("s", COUNT, "orig").await;
    let root = passes.sink.root().to_path_buf();
    for i in 0..COUNT {
        edit(&root, &format!("s{i}"), "hacked");
    }
    caught_up(&passes.sink).await;
    let report = passes.pass().await;
    let unseen: Vec<String> = (0..COUNT)
        .map(|i| format!("s{i}"))
        .filter(|name| read(&root, name) != "orig")
        .collect();
    assert!(unseen.is_empty(), "edits never seen: {unseen:?}");
    assert_eq!(report.count(&ApplyOutcome::Updated), COUNT);
}

#[tokio::test]
async fn a_managed_directory_that_appears_on_disk_is_listed_and_pruned() {
    let (_tmp, mut passes) = settled("keep", 4, "v").await;

    // A Secret directory made by another sink instance with the same root (a restore from backup,
    // a second agent): sealsync's mark is on it, git no longer declares it.
    let other = DirSink::with_key(passes.sink.root().to_path_buf(), key()).unwrap();
    other
        .apply(&Arc::new(secret("stale", "old")))
        .await
        .unwrap();
    let stale = passes.sink.root().join("team-a/stale");
    caught_up(&passes.sink).await;
    let report = passes.pass().await;
    assert!(report.partial);
    assert_eq!(report.pruned, vec![SecretKey::new("team-a", "stale")]);
    assert!(!stale.exists());
}

#[tokio::test]
async fn an_unwatched_sink_inspects_every_secret_every_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = DirSink::with_key(tmp.path().join("secrets"), key()).unwrap();
    assert!(!sink.listing_is_authoritative());
    let secrets: Vec<_> = (0..3).map(|i| secret(&format!("s{i}"), "v")).collect();
    let mut passes = Passes::new(sink, &secrets);
    passes.pass().await;
    let before = passes.sink.inspected();
    let report = passes.pass().await;
    assert!(!report.partial, "without a watch every pass is full");
    assert_eq!(passes.sink.inspected(), before + 3);
}

/// The change listing, once the watcher has reported everything made so far.
async fn changes(sink: &DirSink) -> (Vec<SecretKey>, usize) {
    caught_up(sink).await;
    match sink.list_changes().await.unwrap() {
        Listing::Changes { changed, managed } => {
            (changed.into_iter().map(|m| m.key).collect(), managed)
        }
        Listing::Full(_) => panic!("a trusted index lists changes"),
    }
}

#[tokio::test]
async fn the_change_feed_names_only_what_changed_on_disk_and_a_partial_pass_repairs_it() {
    let (_tmp, mut passes) = settled("s", 10, "orig").await;
    let root = passes.sink.root().to_path_buf();
    assert_eq!(changes(&passes.sink).await, (vec![], 10));

    edit(&root, "s3", "hacked");
    fs::remove_dir_all(root.join("team-a/s5")).unwrap();
    let other = DirSink::with_key(root.clone(), key()).unwrap();
    other.apply(&Arc::new(secret("stray", "x"))).await.unwrap();
    let want = [
        SecretKey::new("team-a", "s3"),
        SecretKey::new("team-a", "s5"),
        SecretKey::new("team-a", "stray"),
    ];
    let (changed, managed) = changes(&passes.sink).await;
    assert_eq!(changed, want, "only the Secrets touched on disk");
    assert_eq!(managed, 11);

    // The next pass, with nothing changed in git, visits just those three.
    let report = passes.pass().await;
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
