//! What the dir sink knows to be intact on disk, so a pass re-reads only the Secrets that changed in
//! git or on disk: the Secrets it wrote or checked, each forgotten as soon as the file system reports a
//! change below it (its own inotify watch on Linux, `inotify_watch.rs`; `notify` elsewhere).
//!
//! A Secret is *verified* when this sink last inspected it and no event has touched its directory
//! since. Everything else is *dirty* and inspected by the next `apply` — a Secret just written
//! included: every write creates a new version directory, and a change by hand inside it in the
//! instant before the watcher has added its watch makes no event at all, so the pass after a write
//! reads it back once (its own events are no proof either way). The index trusts itself only while
//! the watcher runs: a lost event queue (`IN_Q_OVERFLOW`) or a change to the root itself sends it back
//! to a full listing, a change to a namespace directory to a listing of that directory, a watch limit
//! reached to inspecting everything every pass; and every `FULL_CHECK_EVERY` it re-inspects everything
//! anyway.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::desired::SecretKey;
use crate::sink::ManagedSecret;

/// How often every Secret is inspected again even though no event said it changed.
pub(super) const FULL_CHECK_EVERY: Duration = Duration::from_secs(600);

/// The watcher and what it has learnt. Dropping it stops the watcher thread.
pub(super) struct Index {
    state: Arc<Mutex<State>>,
    _watcher: Watcher,
}

/// What the file watcher reports.
pub(super) enum Change<'a> {
    /// Something happened at these paths (reads excluded).
    Paths(&'a [std::path::PathBuf]),
    /// Events were lost: everything may have changed.
    Overflow,
    /// The watch cannot go on (a watch limit reached, an I/O error): nothing more will be reported.
    Failed(String),
}

/// The sink's own inotify watch on Linux; notify's elsewhere.
#[cfg(target_os = "linux")]
type Watcher = super::inotify_watch::Watch;
#[cfg(not(target_os = "linux"))]
type Watcher = notify::RecommendedWatcher;

#[derive(Default)]
struct State {
    /// The watcher failed (a watch limit reached, an I/O error): from now on every pass looks at
    /// everything, as without an index.
    broken: bool,
    /// `managed` was filled by a full listing and events kept it current since.
    complete: bool,
    /// When the last full listing was made.
    listed_at: Option<Instant>,
    /// Every Secret directory sealsync manages, with what it recorded there (sorted, as listings are).
    managed: BTreeMap<SecretKey, Recorded>,
    /// Secrets to inspect on the next apply: touched by an event, not yet checked, or failed.
    dirty: HashSet<SecretKey>,
    /// Namespace directories an event touched: which Secrets they hold may have changed.
    namespaces: HashSet<String>,
    /// Every path reported so far, for tests to know the watcher has caught up (`Index::has_seen`).
    #[cfg(test)]
    seen: HashSet<std::path::PathBuf>,
}

#[derive(Clone)]
struct Recorded {
    fingerprint: Option<String>,
    source_path: Option<String>,
}

/// What `list_managed` should do next.
pub(super) enum Listing {
    /// The index is not to be trusted: list the disk and inspect everything.
    Disk,
    /// The index is trusted; these dirty Secrets it does not know yet must be looked up on disk (a
    /// directory created by hand, or one just deleted), and these namespace directories listed again
    /// (`Index::rescanned`).
    Index {
        unknown: Vec<SecretKey>,
        namespaces: Vec<String>,
    },
}

impl Index {
    /// Starts watching `root` (recursively). Fails when the platform or the file system has no
    /// notifications, or the watch limit is too low for the tree already there.
    pub(super) fn watch(root: &Path) -> std::io::Result<Index> {
        let state = Arc::new(Mutex::new(State::default()));
        let events = Arc::clone(&state);
        let base = root.to_path_buf();
        #[cfg(target_os = "linux")]
        let watcher =
            super::inotify_watch::watch(root, move |change| on_change(&events, &base, change))?;
        #[cfg(not(target_os = "linux"))]
        let watcher = {
            use notify::{EventKind, RecursiveMode, Watcher as _};
            let mut watcher =
                notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    let change = match &event {
                        Err(err) => Change::Failed(err.to_string()),
                        Ok(e) if e.need_rescan() => Change::Overflow,
                        // Reads by the application (open, close without writing) change nothing.
                        Ok(e) if matches!(e.kind, EventKind::Access(_)) => return,
                        Ok(e) => Change::Paths(&e.paths),
                    };
                    on_change(&events, &base, change)
                })
                .map_err(std::io::Error::other)?;
            watcher
                .watch(root, RecursiveMode::Recursive)
                .map_err(std::io::Error::other)?;
            watcher
        };
        Ok(Index {
            state,
            _watcher: watcher,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a listing from the index proves what it says (false once the watcher failed).
    pub(super) fn trusted(&self) -> bool {
        !self.state().broken
    }

    /// How the next listing is made.
    pub(super) fn plan_listing(&self) -> Listing {
        let mut state = self.state();
        let stale = state
            .listed_at
            .is_none_or(|at| at.elapsed() >= FULL_CHECK_EVERY);
        if state.broken || !state.complete || stale {
            // Set before the disk is listed: an event during the listing clears it again.
            state.complete = true;
            state.listed_at = Some(Instant::now());
            state.namespaces.clear();
            return Listing::Disk;
        }
        let unknown = state
            .dirty
            .iter()
            .filter(|k| !state.managed.contains_key(*k))
            .cloned()
            .collect();
        let namespaces = state.namespaces.drain().collect();
        Listing::Index {
            unknown,
            namespaces,
        }
    }

    /// `namespace` was listed again and holds the Secret directories `on_disk`: every Secret it held
    /// or holds becomes dirty; the directories it does not know are returned, to be looked up.
    ///
    /// Those still there are inspected too: an event on the namespace directory itself may be its
    /// creation (or a move into place) reported late, and the watch below it was added only then, so
    /// a change by hand made meanwhile inside a Secret already verified left no event of its own.
    /// The sink touches a namespace directory only when it creates it, so this is rare.
    pub(super) fn rescanned(&self, namespace: &str, on_disk: &[String]) -> Vec<SecretKey> {
        let mut state = self.state();
        let held: Vec<SecretKey> = state
            .managed
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect();
        state.dirty.extend(held);
        state.dirty.extend(
            on_disk
                .iter()
                .map(|name| SecretKey::new(namespace, name.as_str())),
        );
        on_disk
            .iter()
            .map(|name| SecretKey::new(namespace, name.as_str()))
            .filter(|k| !state.managed.contains_key(k))
            .collect()
    }

    /// The full listing planned by `plan_listing` failed: the next one lists the disk again.
    pub(super) fn listing_failed(&self) {
        self.state().complete = false;
    }

    /// Takes a full listing of the disk: everything in it is dirty until inspected. What events
    /// marked dirty stays so: an event during the listing may name a Secret directory made after its
    /// namespace was read (looked up by the next listing, `Listing::Index::unknown`).
    pub(super) fn replace(&self, listed: &[ManagedSecret]) {
        let mut state = self.state();
        state.managed = listed
            .iter()
            .map(|m| (m.key.clone(), Recorded::of(m)))
            .collect();
        state.dirty.extend(listed.iter().map(|m| m.key.clone()));
    }

    /// Merges what was found on disk for the keys looked up (`Listing::Index`), then lists the index.
    /// Dirty Secrets are listed without a fingerprint, so they are inspected.
    pub(super) fn list(
        &self,
        unknown: &[SecretKey],
        found: Vec<ManagedSecret>,
    ) -> Vec<ManagedSecret> {
        let mut state = self.state();
        state.merge(unknown, found);
        state
            .managed
            .iter()
            .map(|(key, r)| ManagedSecret {
                key: key.clone(),
                fingerprint: if state.dirty.contains(key) {
                    None
                } else {
                    r.fingerprint.clone()
                },
                source_path: r.source_path.clone(),
            })
            .collect()
    }

    /// Merges what was found on disk for the keys looked up (`Listing::Index`), then lists only the
    /// dirty Secrets (without a fingerprint), with the number of managed Secrets.
    pub(super) fn changes(
        &self,
        unknown: &[SecretKey],
        found: Vec<ManagedSecret>,
    ) -> (Vec<ManagedSecret>, usize) {
        let mut state = self.state();
        state.merge(unknown, found);
        let mut changed: Vec<ManagedSecret> = state
            .dirty
            .iter()
            .filter_map(|key| {
                let r = state.managed.get(key)?;
                Some(ManagedSecret {
                    key: key.clone(),
                    fingerprint: None,
                    source_path: r.source_path.clone(),
                })
            })
            .collect();
        changed.sort_by(|a, b| a.key.cmp(&b.key));
        (changed, state.managed.len())
    }

    /// An apply of `key` begins: events from now on mark it dirty again.
    pub(super) fn begin(&self, key: &SecretKey) {
        self.state().dirty.remove(key);
    }

    /// `key` was found intact with `fingerprint`. It stays dirty if an event came meanwhile (that
    /// event may be a change by hand made during the apply).
    pub(super) fn verified(&self, key: &SecretKey, fingerprint: String, source_path: String) {
        self.state().managed.insert(
            key.clone(),
            Recorded {
                fingerprint: Some(fingerprint),
                source_path: Some(source_path),
            },
        );
    }

    /// `key` was just written with `fingerprint`: dirty until the next pass has read it back (module
    /// documentation: a change by hand before the new version directory is watched leaves no event).
    pub(super) fn written(&self, key: &SecretKey, fingerprint: String, source_path: String) {
        let mut state = self.state();
        state.managed.insert(
            key.clone(),
            Recorded {
                fingerprint: Some(fingerprint),
                source_path: Some(source_path),
            },
        );
        state.dirty.insert(key.clone());
    }

    /// `key` is not sealsync's, or the apply failed: look again next time.
    pub(super) fn unverified(&self, key: &SecretKey, managed: bool) {
        let mut state = self.state();
        if !managed {
            state.managed.remove(key);
        }
        state.dirty.insert(key.clone());
    }

    /// Whether the watcher has reported `path`: events are reported in order, so every change made
    /// before it has been too.
    #[cfg(test)]
    pub(super) fn has_seen(&self, path: &Path) -> bool {
        self.state().seen.contains(path)
    }

    /// `key` was deleted.
    pub(super) fn removed(&self, key: &SecretKey) {
        let mut state = self.state();
        state.managed.remove(key);
        state.dirty.remove(key);
    }
}

impl State {
    /// Of the dirty `unknown` keys looked up on disk, `found` are managed Secrets (known from now on);
    /// the others are not sealsync's, or gone, and no longer dirty.
    fn merge(&mut self, unknown: &[SecretKey], found: Vec<ManagedSecret>) {
        for key in unknown {
            if !found.iter().any(|m| &m.key == key) {
                self.dirty.remove(key);
            }
        }
        for m in found {
            self.managed.insert(m.key.clone(), Recorded::of(&m));
        }
    }
}

impl Recorded {
    fn of(m: &ManagedSecret) -> Recorded {
        Recorded {
            fingerprint: m.fingerprint.clone(),
            source_path: m.source_path.clone(),
        }
    }
}

fn on_change(state: &Mutex<State>, root: &Path, change: Change<'_>) {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let paths = match change {
        Change::Paths(paths) => paths,
        Change::Failed(err) => {
            if !state.broken {
                tracing::warn!(root = %root.display(), "the dir sink's file watcher failed ({err}): every pass now inspects every Secret (raise fs.inotify.max_user_watches if the limit was reached)");
            }
            state.broken = true;
            return;
        }
        Change::Overflow => {
            tracing::warn!(root = %root.display(), "file system events were lost: the next pass inspects every Secret");
            state.complete = false;
            return;
        }
    };
    #[cfg(test)]
    state.seen.extend(paths.iter().cloned());
    for path in paths {
        match place_of(root, path) {
            Place::Secret(key) => {
                state.dirty.insert(key);
            }
            Place::Namespace(namespace) => {
                state.namespaces.insert(namespace);
            }
            Place::Root => state.complete = false,
        }
    }
}

/// What an event's path concerns.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// Something at or below `root/<namespace>/<name>`.
    Secret(SecretKey),
    /// `root/<namespace>` itself.
    Namespace(String),
    /// The root, or a path that cannot be placed.
    Root,
}

fn place_of(root: &Path, path: &Path) -> Place {
    let Ok(rest) = path.strip_prefix(root) else {
        return Place::Root;
    };
    let mut parts = rest.components().map(|c| match c {
        Component::Normal(part) => part.to_str(),
        _ => None,
    });
    match (parts.next(), parts.next()) {
        (Some(Some(namespace)), Some(Some(name))) => Place::Secret(SecretKey::new(namespace, name)),
        (Some(Some(namespace)), None) => Place::Namespace(namespace.to_string()),
        _ => Place::Root,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_the_secret_below_them() {
        let root = Path::new("/run/secrets");
        let at = |p: &str| place_of(root, Path::new(p));
        let db = || Place::Secret(SecretKey::new("team-a", "db"));
        assert_eq!(
            at("/run/secrets/team-a/db/..2026_11_22_06_00_00.1/password"),
            db()
        );
        assert_eq!(at("/run/secrets/team-a/db"), db());
        assert_eq!(at("/run/secrets/team-a"), Place::Namespace("team-a".into()));
        assert_eq!(at("/run/secrets"), Place::Root);
        assert_eq!(at("/elsewhere/team-a/db"), Place::Root);
    }

    /// A write is no proof of what is on disk: the next listing of changes names the Secret until an
    /// inspection has found it intact, whatever events arrive (here none: nothing touches the disk).
    #[test]
    fn a_written_secret_stays_dirty_until_it_is_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let index = Index::watch(tmp.path()).unwrap();
        let key = SecretKey::new("team-a", "db");
        let changed = |index: &Index| -> Vec<SecretKey> {
            let (listed, _) = index.changes(&[], Vec::new());
            listed.into_iter().map(|m| m.key).collect()
        };
        index.begin(&key);
        index.written(&key, "fp".into(), "apps/db.yaml".into());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(changed(&index), std::slice::from_ref(&key));
        index.begin(&key);
        index.verified(&key, "fp".into(), "apps/db.yaml".into());
        assert_eq!(changed(&index), Vec::<SecretKey>::new());
    }

    /// The watch thread may report a namespace directory's creation after the Secrets in it were
    /// written and read back (it lags on a loaded machine); the watch below it exists only from then
    /// on, so an edit by hand made in between left no event. The late event must send those Secrets
    /// to the next pass (before the fix: never, until the full check ten minutes later).
    #[test]
    fn a_namespace_directory_reported_late_has_its_secrets_inspected_again() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let index = Index::watch(root).unwrap();
        assert!(matches!(index.plan_listing(), Listing::Disk));
        index.replace(&[]);
        let key = SecretKey::new("team-a", "db");
        index.begin(&key);
        index.written(&key, "fp".into(), "apps/db.yaml".into());
        index.begin(&key);
        index.verified(&key, "fp".into(), "apps/db.yaml".into());
        assert_eq!(index.changes(&[], Vec::new()).0.len(), 0, "verified");

        // The creation of `team-a`, delivered now (the watcher runs on an empty root: nothing else).
        on_change(&index.state, root, Change::Paths(&[root.join("team-a")]));
        let Listing::Index {
            mut unknown,
            namespaces,
        } = index.plan_listing()
        else {
            panic!("the index stays trusted");
        };
        assert_eq!(namespaces, ["team-a"]);
        unknown.extend(index.rescanned("team-a", &["db".to_string()]));
        let (changed, managed) = index.changes(&unknown, Vec::new());
        let changed: Vec<SecretKey> = changed.into_iter().map(|m| m.key).collect();
        assert_eq!((changed, managed), (vec![key], 1));
    }

    /// An event that arrives while the disk is being listed, for a Secret directory made after its
    /// namespace was read, is not lost when the listing replaces the index: the next listing looks
    /// the directory up (before the fix it stayed unknown until the next full check).
    #[test]
    fn an_event_during_a_full_listing_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let index = Index::watch(root).unwrap();
        assert!(matches!(index.plan_listing(), Listing::Disk));
        on_change(
            &index.state,
            root,
            Change::Paths(&[root.join("team-a/stray/..sealsync.json")]),
        );
        index.replace(&[]);
        let Listing::Index { unknown, .. } = index.plan_listing() else {
            panic!("the index stays trusted");
        };
        assert_eq!(unknown, [SecretKey::new("team-a", "stray")]);
    }
}
