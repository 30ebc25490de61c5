//! How the git source fails: missing paths and refs, ambiguity, a vanished ref, refused configurations.

use sealsync_agent::git::{GitAuth, GitError, GitSource, GitSourceConfig};

use super::harness::{config, sample_repo, source};
use crate::git_servers::{git, Fixture};

#[test]
fn missing_paths_refs_and_ambiguity_are_reported() {
    let fx = sample_repo();
    git(&fx.work, &["tag", "main"]);
    fx.push();

    let mut cfg = config(&fx, fx.file_url());
    cfg.paths = vec!["nope".into()];
    let err = source(cfg).fetch().unwrap_err();
    assert!(
        matches!(err, GitError::PathNotFound { ref path, .. } if path == "nope"),
        "{err}"
    );

    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("no-such-branch".into());
    let err = source(cfg).fetch().unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");
    assert!(err.to_string().contains("no-such-branch"), "{err}");

    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("0000000000000000000000000000000000000001".into());
    let err = source(cfg).fetch().unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");

    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("main".into());
    let err = source(cfg).fetch().unwrap_err();
    assert_eq!(err.kind(), "ambiguous", "{err}");

    let empty = Fixture::new();
    let err = source(config(&empty, empty.file_url()))
        .fetch()
        .unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");
}

#[test]
fn vanished_ref_keeps_the_last_good_snapshot_also_after_a_restart() {
    let fx = sample_repo();
    git(&fx.work, &["checkout", "-q", "-b", "release"]);
    let release = fx.commit("release");
    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("release".into());
    cfg.paths = vec!["apps".into()];
    let mut src = source(cfg.clone());
    let good = src.fetch().unwrap();

    git(&fx.bare, &["branch", "-D", "release"]);
    let err = src.fetch().unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains(&fx.bare.display().to_string()),
        "names the remote: {err}"
    );
    assert_eq!(src.last_good().unwrap().commit, release);

    // A restarted agent finds the last good snapshot in its cache before any fetch.
    drop(src);
    let restarted = source(cfg);
    assert_eq!(
        *restarted.last_good().expect("remembered in the cache"),
        *good
    );
}

#[test]
fn missing_repository_is_unreachable() {
    let fx = Fixture::new();
    let url = format!("file://{}/nothing-here.git", fx.dir.path().display());
    let err = source(config(&fx, url)).fetch().unwrap_err();
    assert_eq!(err.kind(), "unreachable", "{err}");
}

#[test]
fn invalid_configurations_are_refused() {
    let fx = Fixture::new();
    let bad = |f: &dyn Fn(&mut GitSourceConfig)| {
        let mut cfg = config(&fx, "https://example.com/r.git".into());
        f(&mut cfg);
        GitSource::new(cfg).unwrap_err()
    };
    assert_eq!(
        bad(&|c| c.url = "https://u:hunter2@example.com/r.git".into()).kind(),
        "config"
    );
    assert!(
        !bad(&|c| c.url = "https://u:hunter2@example.com/r.git".into())
            .to_string()
            .contains("hunter2")
    );
    assert_eq!(bad(&|c| c.paths = vec!["../x".into()]).kind(), "config");
    assert_eq!(bad(&|c| c.reference = Some("a..b".into())).kind(), "config");
    assert_eq!(
        bad(&|c| c.auth = GitAuth::SshKeyFile("/k".into())).kind(),
        "config"
    );
    assert_eq!(bad(&|c| c.max_file_size = 0).kind(), "config");
}
