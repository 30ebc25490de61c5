//! The dir sink's own recursive inotify watch (Linux), with a watch-descriptor table so every event
//! costs the same whatever the tree's size.
//!
//! notify's backend, on every deleted watched directory, scans all its watched paths to drop those
//! below it; each write of a Secret deletes its old version directory, so at 10,000 Secrets (20,000
//! watched directories) one write cost milliseconds of CPU and a commit re-encrypting every file
//! minutes. Here a deleted directory's watch is simply forgotten when the kernel says so
//! (`IN_IGNORED`); the directories below it were deleted first and said so themselves.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::index::Change;

/// How often the watch thread looks whether it should stop.
const POLL: Duration = Duration::from_millis(250);

/// Directory changes and file writes, not reads.
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

/// A running watch; dropping it stops the thread.
pub(super) struct Watch {
    stop: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Tree {
    inotify: Inotify,
    paths: HashMap<WatchDescriptor, PathBuf>,
}

impl Tree {
    /// Watches `dir` and every directory below it (symlinks are not followed).
    fn add(&mut self, dir: &Path) -> io::Result<()> {
        let wd = self.inotify.watches().add(dir, mask())?;
        self.paths.insert(wd, dir.to_path_buf());
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            // Gone again already: its own events say so.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        let children: Vec<PathBuf> = entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .map(|entry| entry.path())
            .collect();
        self.add_all(&children)
    }

    /// Watches each of `dirs` and everything below them. One that is gone by now (renamed or deleted
    /// since it was listed or reported) is skipped, and the others are still watched: its parent was
    /// already watched when it went, so the parent's event reports it, and a new name is watched
    /// when that event arrives. Any other failure is returned: a directory that cannot be watched
    /// would hide changes below it.
    fn add_all(&mut self, dirs: &[PathBuf]) -> io::Result<()> {
        for dir in dirs {
            match self.add(dir) {
                Err(err) if gone(&err) => {}
                other => other?,
            }
        }
        Ok(())
    }
}

/// The error of watching a directory that is no longer there, or no longer a directory.
fn gone(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// Watches `root` recursively; `report` is called on the watch's thread for every change.
pub(super) fn watch(
    root: &Path,
    mut report: impl FnMut(Change<'_>) + Send + 'static,
) -> io::Result<Watch> {
    let mut tree = Tree {
        inotify: Inotify::init()?,
        paths: HashMap::new(),
    };
    tree.add(root)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("sealsync-dir-watch".into())
        .spawn(move || run(tree, &stopped, &mut report))?;
    Ok(Watch { stop })
}

fn run(mut tree: Tree, stop: &AtomicBool, report: &mut impl FnMut(Change<'_>)) {
    let mut buffer = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match readable(&tree.inotify) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(err) => return report(Change::Failed(format!("waiting for events: {err}"))),
        }
        let events = match tree.inotify.read_events(&mut buffer) {
            Ok(events) => events,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return report(Change::Failed(format!("reading events: {err}"))),
        };
        let mut changed: Vec<PathBuf> = Vec::new();
        let mut new_dirs: Vec<PathBuf> = Vec::new();
        let mut overflow = false;
        for event in events {
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                overflow = true;
                continue;
            }
            if event.mask.contains(EventMask::IGNORED) {
                tree.paths.remove(&event.wd);
                continue;
            }
            let Some(dir) = tree.paths.get(&event.wd) else {
                continue;
            };
            let path = match event.name {
                Some(name) => dir.join::<&OsStr>(name),
                None => dir.clone(),
            };
            let appeared = EventMask::CREATE | EventMask::MOVED_TO;
            if event.mask.contains(EventMask::ISDIR) && event.mask.intersects(appeared) {
                new_dirs.push(path.clone());
            }
            changed.push(path);
        }
        if let Err(err) = tree.add_all(&new_dirs) {
            return report(Change::Failed(
                if err.raw_os_error() == Some(libc::ENOSPC) {
                    "the inotify watch limit was reached (fs.inotify.max_user_watches)".into()
                } else {
                    format!("watching a new directory: {err}")
                },
            ));
        }
        if overflow {
            report(Change::Overflow);
        }
        if !changed.is_empty() {
            report(Change::Paths(&changed));
        }
    }
}

/// Whether events are waiting, after at most `POLL`.
fn readable(inotify: &Inotify) -> io::Result<bool> {
    let mut fds = [libc::pollfd {
        fd: inotify.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd for a descriptor `inotify` owns, its count given.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, POLL.as_millis() as libc::c_int) };
    match n {
        -1 => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Collects reported paths until one ends with `name`, at most 60 s (generous: a loaded machine
    /// may starve the watch thread; only a missing event takes that long).
    fn wait_for(rx: &mpsc::Receiver<Vec<PathBuf>>, name: &str) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(paths) if paths.iter().any(|p| p.ends_with(name)) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// A directory listed (or reported) but gone by the time it is watched does not stop the others
    /// from being watched. Before: the first such directory ended the loop. A Secret directory renamed
    /// into place before its namespace directory was watched has no event of its own, only the
    /// listing; left behind a staging directory renamed in between, it stayed unwatched and a change
    /// by hand inside it was never seen (until the full check ten minutes later).
    #[test]
    fn a_directory_gone_before_it_is_watched_does_not_stop_the_others() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("team-a/db/..v1")).unwrap();
        let mut tree = Tree {
            inotify: Inotify::init().unwrap(),
            paths: HashMap::new(),
        };
        let listed = [root.join("team-a/..sealsync-new-0"), root.join("team-a/db")];
        tree.add_all(&listed).unwrap();
        let watched: Vec<&PathBuf> = tree.paths.values().collect();
        assert!(
            watched.contains(&&root.join("team-a/db/..v1")),
            "watched: {watched:?}"
        );
    }

    #[test]
    fn new_directories_are_watched_and_deleted_ones_forgotten() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir(root.join("existing")).unwrap();
        let (tx, rx) = mpsc::channel();
        let watch = watch(&root, move |change| {
            if let Change::Paths(paths) = change {
                let _ = tx.send(paths.to_vec());
            }
        })
        .unwrap();
        // A file in a directory that was there before the watch started.
        std::fs::write(root.join("existing/a"), "1").unwrap();
        assert!(wait_for(&rx, "existing/a"));
        // A file in directories created since: each new directory is watched as it appears.
        // A directory is watched before its creation is reported: wait for that, one level at a
        // time, not for a clock.
        for dir in ["ns", "ns/name", "ns/name/..v1"] {
            std::fs::create_dir(root.join(dir)).unwrap();
            assert!(wait_for(&rx, dir), "{dir} is reported");
        }
        std::fs::write(root.join("ns/name/..v1/key"), "2").unwrap();
        assert!(
            wait_for(&rx, "ns/name/..v1/key"),
            "a file in a new directory is seen"
        );
        // A deleted tree, then one created again at the same place.
        std::fs::remove_dir_all(root.join("ns/name")).unwrap();
        assert!(wait_for(&rx, "ns/name"));
        for dir in ["ns/name", "ns/name/..v2"] {
            std::fs::create_dir(root.join(dir)).unwrap();
            assert!(wait_for(&rx, dir), "{dir} is reported");
        }
        std::fs::write(root.join("ns/name/..v2/key"), "3").unwrap();
        assert!(wait_for(&rx, "ns/name/..v2/key"));
        drop(watch);
    }
}
