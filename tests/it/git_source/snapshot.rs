//! Snapshots over file:// and local paths: which files, which commit a ref names, what a new commit
//! costs, size limits, and the cache's upkeep.

use std::time::Instant;

use sealsync_agent::git::{FileContent, Snapshot};

use super::harness::{config, data, paths, sample_repo, source};
use crate::git_servers::{git, Fixture};

#[test]
fn file_remote_returns_regular_files_under_the_paths() {
    let fx = sample_repo();
    let mut cfg = config(&fx, fx.file_url());
    cfg.paths = vec!["apps".into()];
    let mut src = source(cfg);
    let snap = src.fetch().expect("fetch");
    assert_eq!(snap.commit, fx.head());
    assert_eq!(
        paths(&snap),
        [
            "apps/api/notes.txt",
            "apps/api/secret.json",
            "apps/web/secret.yaml"
        ],
        "symlinks, submodules and files outside the paths are left out"
    );
    assert_eq!(
        data(&snap, "apps/web/secret.yaml"),
        b"kind: Secret\nmetadata: {name: web}\n"
    );
    assert_eq!(
        snap.file("apps/api/secret.json").unwrap().blob_id,
        fx.blob_id("HEAD", "apps/api/secret.json")
    );
    assert_eq!(src.last_good().unwrap().commit, snap.commit);
}

#[test]
fn whole_repository_and_overlapping_paths_and_single_files() {
    let fx = sample_repo();
    let mut whole = source(config(&fx, fx.file_url()));
    let snap = whole.fetch().unwrap();
    assert_eq!(snap.files.len(), 5, "{:?}", paths(&snap));

    let mut cfg = config(&fx, fx.file_url());
    cfg.paths = vec![
        "./apps/web/".into(),
        "apps".into(),
        "base/common.yml".into(),
    ];
    cfg.cache_dir = fx.scratch("cache-2");
    let snap = source(cfg).fetch().unwrap();
    assert_eq!(
        paths(&snap),
        [
            "apps/api/notes.txt",
            "apps/api/secret.json",
            "apps/web/secret.yaml",
            "base/common.yml"
        ]
    );
}

#[test]
fn new_commit_changes_only_the_changed_blob() {
    let fx = sample_repo();
    let mut src = source(config(&fx, fx.file_url()));
    let first = src.fetch().unwrap();

    fx.write(
        "apps/web/secret.yaml",
        "kind: Secret\nmetadata: {name: web2}\n",
    );
    let second_commit = fx.commit("change web");
    let started = Instant::now();
    let second = src.fetch().unwrap();
    eprintln!("incremental file:// fetch: {:?}", started.elapsed());

    assert_eq!(second.commit, second_commit);
    assert_ne!(second.commit, first.commit);
    let changes = second.changes_since(&first);
    assert_eq!(changes.modified, ["apps/web/secret.yaml"]);
    assert!(
        changes.added.is_empty() && changes.removed.is_empty(),
        "{changes:?}"
    );
    for f in &second.files {
        let before = first.file(&f.path).unwrap();
        assert_eq!(
            f.blob_id == before.blob_id,
            f.path != "apps/web/secret.yaml",
            "{}",
            f.path
        );
    }
    // The cost follows the change: a commit, three trees on the path and one blob came over the wire,
    // and only that blob was read.
    let stats = src.last_fetch_stats().unwrap();
    assert!(stats.objects_received <= 5, "{stats:?}");
    assert_eq!(stats.blobs_read, 1, "{stats:?}");
    assert_eq!(stats.resolved_ref, "HEAD");

    // Nothing new: the same snapshot, nothing received, nothing read.
    let third = src.fetch().unwrap();
    assert_eq!(*third, *second);
    let stats = src.last_fetch_stats().unwrap();
    assert_eq!(
        (stats.objects_received, stats.blobs_read),
        (0, 0),
        "{stats:?}"
    );

    // History rewritten on the remote (a force-push): the new tip is fetched all the same.
    git(&fx.work, &["commit", "-q", "--amend", "-m", "rewritten"]);
    fx.push();
    let rewritten = src.fetch().unwrap();
    assert_eq!(rewritten.commit, fx.head());
    let ids = |s: &Snapshot| -> Vec<(String, String)> {
        s.files
            .iter()
            .map(|f| (f.path.clone(), f.blob_id.clone()))
            .collect()
    };
    assert_eq!(ids(&rewritten), ids(&second));
    // Files unchanged since the snapshot before are left in the cache, and read from it on demand.
    for f in &rewritten.files {
        let FileContent::Stored(blob) = &f.content else {
            panic!("{}: expected a stored blob, got {:?}", f.path, f.content);
        };
        let earlier = match &second.file(&f.path).unwrap().content {
            FileContent::Data(d) => d.clone(),
            FileContent::Stored(b) => b.load().unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(blob.load().unwrap(), earlier, "{}", f.path);
    }
}

#[test]
fn tags_full_ref_names_and_commit_ids_resolve() {
    let fx = Fixture::new();
    fx.write("app.yaml", "v: 1\n");
    let c1 = fx.commit("one");
    git(&fx.work, &["tag", "-a", "-m", "release 1", "v1"]);
    git(&fx.work, &["tag", "light1"]);
    fx.write("app.yaml", "v: 2\n");
    let c2 = fx.commit("two");
    git(&fx.work, &["checkout", "-q", "-b", "feature"]);
    fx.write("app.yaml", "v: 3\n");
    let c3 = fx.commit("three");
    git(&fx.work, &["checkout", "-q", "main"]);

    for (reference, commit, content) in [
        (None, &c2, "v: 2\n"),
        (Some("main"), &c2, "v: 2\n"),
        (Some("feature"), &c3, "v: 3\n"),
        (Some("refs/heads/feature"), &c3, "v: 3\n"),
        (Some("v1"), &c1, "v: 1\n"),
        (Some("refs/tags/v1"), &c1, "v: 1\n"),
        (Some("light1"), &c1, "v: 1\n"),
        (Some(c1.as_str()), &c1, "v: 1\n"),
        (Some(c3.as_str()), &c3, "v: 3\n"),
    ] {
        let mut cfg = config(&fx, fx.file_url());
        cfg.reference = reference.map(str::to_owned);
        let snap = source(cfg)
            .fetch()
            .unwrap_or_else(|e| panic!("{reference:?}: {e}"));
        assert_eq!(&snap.commit, commit, "{reference:?}");
        assert_eq!(data(&snap, "app.yaml"), content.as_bytes(), "{reference:?}");
    }
}

#[test]
fn an_older_commit_that_no_ref_points_at_resolves() {
    let fx = Fixture::new();
    fx.write("app.yaml", "v: 1\n");
    let c1 = fx.commit("one");
    fx.write("app.yaml", "v: 2\n");
    fx.commit("two");
    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some(c1.clone());
    let snap = source(cfg)
        .fetch()
        .expect("protocol v2 lets a client want any reachable commit");
    assert_eq!(snap.commit, c1);
}

#[test]
fn plain_local_path_works() {
    let fx = sample_repo();
    let snap = source(config(&fx, fx.bare.display().to_string()))
        .fetch()
        .unwrap();
    assert_eq!(snap.commit, fx.head());
}

#[test]
fn files_over_the_limit_are_never_read() {
    let fx = Fixture::new();
    fx.write("small.yaml", "0123456789");
    fx.write("big.yaml", "0123456789A");
    fx.commit("sizes");
    let mut cfg = config(&fx, fx.file_url());
    cfg.max_file_size = 10;
    let snap = source(cfg).fetch().unwrap();
    assert_eq!(data(&snap, "small.yaml"), b"0123456789");
    assert_eq!(
        snap.file("big.yaml").unwrap().content,
        FileContent::TooLarge { size: 11 }
    );
    assert_eq!(
        snap.file("big.yaml").unwrap().blob_id,
        fx.blob_id("HEAD", "big.yaml")
    );
}

// ------------------------------------------------------------------------------------- cache upkeep

#[test]
fn the_cache_is_rebuilt_when_packs_pile_up() {
    let fx = Fixture::new();
    fx.write("n.yaml", "0");
    fx.commit("0");
    let mut src = source(config(&fx, fx.file_url()));
    src.fetch().unwrap();
    let started = Instant::now();
    for i in 1..=70 {
        fx.write("n.yaml", i.to_string());
        git(&fx.work, &["commit", "-q", "-am", &i.to_string()]);
        git(&fx.work, &["push", "-q", "origin", "main"]);
        let snap = src.fetch().unwrap();
        assert_eq!(data(&snap, "n.yaml"), i.to_string().as_bytes());
    }
    eprintln!("70 incremental file:// fetches: {:?}", started.elapsed());
    let packs = std::fs::read_dir(fx.dir.path().join("cache"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "git"))
        .map(|e| {
            std::fs::read_dir(e.path().join("objects/pack"))
                .unwrap()
                .count()
        })
        .sum::<usize>();
    // Each pack has a .pack, an .idx (and briefly a .keep): without rebuilds there would be 71 packs.
    assert!(
        packs < 2 * 64,
        "{packs} pack files: the cache was never rebuilt"
    );
}

#[test]
fn the_cache_is_closed_between_fetches() {
    let fx = sample_repo();
    let cfg = config(&fx, fx.file_url());
    let cache = std::fs::canonicalize(&cfg.cache_dir).unwrap_or(cfg.cache_dir.clone());
    let mut src = source(cfg);
    let mapped = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| l.contains(cache.to_str().unwrap()) && l.contains("/objects/pack/"))
            .count()
    };
    let first = src.fetch().unwrap();
    assert_eq!(
        mapped(),
        0,
        "no pack of the cache stays mapped after a fetch"
    );
    fx.write(
        "apps/web/secret.yaml",
        "kind: Secret\nmetadata: {name: w3}\n",
    );
    fx.commit("again");
    let second = src.fetch().unwrap();
    assert_eq!(mapped(), 0);
    // Blobs left in the cache are still read on demand (the cache opens for that).
    let last = src.last_good().unwrap();
    let FileContent::Stored(blob) = &last.file("apps/api/secret.json").unwrap().content else {
        panic!("expected a stored blob");
    };
    assert_eq!(&*blob.load().unwrap(), br#"{"kind":"Secret"}"#);
    assert_ne!(first.commit, second.commit);
}
