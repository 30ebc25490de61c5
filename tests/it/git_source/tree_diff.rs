//! Snapshots built from the previous one by comparing trees must equal snapshots read whole: every
//! kind of change (nested folders added and removed, a file becoming a folder and back, renames,
//! symlinks, submodules, mode changes, changes outside the paths), with and without configured paths.

use std::collections::BTreeMap;

use sealsync_agent::git::{FileContent, GitSourceConfig, Snapshot};

use super::harness::{config, source};
use crate::git_servers::{git, Fixture};

/// Path → blob id, and the bytes of every file the snapshot holds.
fn files(s: &Snapshot) -> BTreeMap<String, (String, Vec<u8>)> {
    s.files
        .iter()
        .map(|f| {
            let bytes = match &f.content {
                FileContent::Data(d) => d.to_vec(),
                FileContent::Stored(b) => b.load().unwrap().to_vec(),
                FileContent::TooLarge { size } => format!("too large: {size}").into_bytes(),
                FileContent::Unreadable(why) => panic!("{}: {why}", f.path),
            };
            (f.path.clone(), (f.blob_id.clone(), bytes))
        })
        .collect()
}

/// A change to the work tree, committed after it.
type Step = (&'static str, Box<dyn Fn(&Fixture)>);

/// The steps, in order.
fn steps() -> Vec<Step> {
    vec![
        (
            "one file changed deep down",
            Box::new(|fx| fx.write("apps/a/b/c/deep.yaml", "v: 2\n")),
        ),
        (
            "a nested folder added",
            Box::new(|fx| {
                fx.write("apps/new/x/one.yaml", "one\n");
                fx.write("apps/new/x/two.yaml", "two\n");
                fx.write("apps/new/three.yaml", "three\n");
            }),
        ),
        (
            "a file renamed, unchanged",
            Box::new(|fx| {
                git(&fx.work, &["mv", "apps/new/three.yaml", "apps/three.yaml"]);
            }),
        ),
        (
            "a file becomes a folder",
            Box::new(|fx| {
                fx.remove("apps/web.yaml");
                fx.write("apps/web.yaml/inner.yaml", "inner\n");
            }),
        ),
        (
            "the folder becomes a file again",
            Box::new(|fx| {
                fx.remove("apps/web.yaml");
                fx.write("apps/web.yaml", "web again\n");
            }),
        ),
        ("a folder removed", Box::new(|fx| fx.remove("apps/new"))),
        (
            "a file becomes a symlink, a submodule appears",
            Box::new(|fx| {
                fx.remove("apps/api.yaml");
                fx.symlink("web.yaml", "apps/api.yaml");
                // A repository inside the work tree is recorded as a submodule entry (a gitlink).
                let sub = fx.work.join("apps/vendored");
                std::fs::create_dir_all(&sub).unwrap();
                git(&sub, &["init", "-q"]);
                let who = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"];
                git(
                    &sub,
                    &[&who[..], &["commit", "-q", "--allow-empty", "-m", "sub"]].concat(),
                );
            }),
        ),
        (
            "the symlink becomes a file, the submodule a folder",
            Box::new(|fx| {
                fx.remove("apps/api.yaml");
                fx.write("apps/api.yaml", "api\n");
                git(&fx.work, &["rm", "-q", "--cached", "apps/vendored"]);
                std::fs::remove_dir_all(fx.work.join("apps/vendored")).unwrap();
                fx.write("apps/vendored/file.yaml", "vendored\n");
            }),
        ),
        (
            "a mode change only",
            Box::new(|fx| {
                use std::os::unix::fs::PermissionsExt;
                let file = fx.work.join("apps/api.yaml");
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
            }),
        ),
        (
            "changes outside the paths only",
            Box::new(|fx| {
                fx.write("README.md", "# changed\n");
                fx.write("other/x.yaml", "x\n");
            }),
        ),
        (
            "a large file and a removal in the same commit",
            Box::new(|fx| {
                fx.write("apps/big.yaml", vec![b'a'; 4096]);
                fx.remove("apps/a/b/c/deep.yaml");
            }),
        ),
        ("nothing (an empty commit)", Box::new(|_| {})),
    ]
}

fn check_against_full_reads(paths: &[&str]) {
    let fx = Fixture::new();
    fx.write("apps/a/b/c/deep.yaml", "v: 1\n");
    fx.write("apps/a/b/keep.yaml", "keep\n");
    fx.write("apps/web.yaml", "web\n");
    fx.write("apps/api.yaml", "api\n");
    fx.write("base/common.yaml", "common\n");
    fx.write("README.md", "# sample\n");
    fx.commit("initial");
    let with_paths = |mut cfg: GitSourceConfig| {
        cfg.paths = paths.iter().map(|p| p.to_string()).collect();
        cfg.max_file_size = 1024;
        cfg
    };
    let mut incremental = source(with_paths(config(&fx, fx.file_url())));
    let mut previous = incremental.fetch().expect("first fetch");
    for (i, (what, change)) in steps().into_iter().enumerate() {
        change(&fx);
        let commit = fx.commit(what);
        let next = incremental
            .fetch()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut cfg = with_paths(config(&fx, fx.file_url()));
        cfg.cache_dir = fx.scratch(&format!("fresh-{i}"));
        let whole = source(cfg).fetch().unwrap();
        assert_eq!(next.commit, commit, "{what}");
        assert_eq!(files(&next), files(&whole), "{what}: paths {paths:?}");

        let delta = next
            .delta
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no delta"));
        assert_eq!(delta.base, previous.commit, "{what}");
        let changes = next.changes_since(&previous);
        let mut want: Vec<String> = [changes.added, changes.modified, changes.removed].concat();
        want.sort();
        assert_eq!(delta.changed, want, "{what}: paths {paths:?}");
        // Only what changed is read from the cache.
        let read = incremental.last_fetch_stats().unwrap().blobs_read;
        let removed = delta
            .changed
            .iter()
            .filter(|p| next.file(p).is_none())
            .count();
        assert_eq!(read, delta.changed.len() - removed, "{what}");
        previous = next;
    }
}

#[test]
fn tree_diffs_equal_full_reads_over_the_whole_repository() {
    check_against_full_reads(&[]);
}

#[test]
fn tree_diffs_equal_full_reads_with_configured_and_overlapping_paths() {
    check_against_full_reads(&["apps", "apps/a/b", "base/common.yaml"]);
}
