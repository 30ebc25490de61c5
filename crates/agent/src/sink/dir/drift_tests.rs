//! Tests of the dir sink against changes by hand: drift restored, foreign directories left alone,
//! refused names, and the errors it reports.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::sync::Arc;

use super::layout::is_version_name;
use super::test_support::{
    assert_modes, db, dir_of, edit_by_hand, entries, secret, sink, version_dir, PASSWORD, USER,
};
use crate::desired::{DesiredSecret, SecretKey};
use crate::sink::{ApplyOutcome, Sink, SinkError};

#[tokio::test]
async fn a_file_edited_by_hand_is_restored() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    let dir = dir_of(&sink, &desired);

    edit_by_hand(&dir.join("password"), b"hacked");
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_modes(&sink, &desired);

    // Same length, different bytes.
    edit_by_hand(
        &dir.join("username"),
        &USER.as_bytes().iter().map(|b| b ^ 1).collect::<Vec<_>>(),
    );
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(fs::read(dir.join("username")).unwrap(), USER.as_bytes());

    // The symlink replaced by a plain file.
    fs::remove_file(dir.join("password")).unwrap();
    fs::write(dir.join("password"), PASSWORD).unwrap();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert!(fs::symlink_metadata(dir.join("password"))
        .unwrap()
        .file_type()
        .is_symlink());

    // Only the mode changed.
    let real = fs::canonicalize(dir.join("password")).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_modes(&sink, &desired);

    // A file added among the keys.
    fs::write(dir.join("extra"), "x").unwrap();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert!(!dir.join("extra").exists());
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[tokio::test]
async fn a_file_deleted_by_hand_is_restored() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    let dir = dir_of(&sink, &desired);

    fs::remove_file(dir.join("password")).unwrap();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());

    fs::remove_file(version_dir(&dir).join("username")).unwrap();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(fs::read(dir.join("username")).unwrap(), USER.as_bytes());

    fs::remove_file(dir.join("..data")).unwrap();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    let versions = entries(&dir)
        .into_iter()
        .filter(|n| is_version_name(n))
        .count();
    assert_eq!(versions, 1, "the orphaned version directory is cleaned up");
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[tokio::test]
async fn a_secret_directory_deleted_by_hand_is_recreated() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    fs::remove_dir_all(sink.root().join("team-a")).unwrap();
    assert!(sink.list_managed().await.unwrap().is_empty());
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
    let dir = dir_of(&sink, &desired);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_modes(&sink, &desired);
    // No staging directory is left behind.
    assert_eq!(entries(&sink.root().join("team-a")), ["db"]);
}

#[tokio::test]
async fn foreign_directories_are_ignored_and_left_alone() {
    let (_tmp, sink) = sink();
    sink.apply(&Arc::new(db())).await.unwrap();
    let root = sink.root().to_path_buf();
    // A directory that looks like a Secret but has no metadata, invalid names, a file, a symlink.
    fs::create_dir_all(root.join("team-a/legacy")).unwrap();
    fs::write(root.join("team-a/legacy/token"), "theirs").unwrap();
    fs::create_dir_all(root.join("Not_A_Namespace/db")).unwrap();
    fs::write(root.join("Not_A_Namespace/db/..sealsync.json"), "{}").unwrap();
    fs::create_dir_all(root.join("team-b/under_score")).unwrap();
    fs::write(root.join("team-b/under_score/..sealsync.json"), "{}").unwrap();
    fs::write(root.join("README"), "hello").unwrap();
    symlink(root.join("team-a"), root.join("team-c")).unwrap();

    let listed: Vec<_> = sink
        .list_managed()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key.to_string())
        .collect();
    assert_eq!(listed, ["team-a/db"]);

    let legacy = secret("team-a", "legacy", &[("token", "ours")]);
    assert_eq!(
        sink.apply(&Arc::new(legacy.clone())).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    assert_eq!(entries(&root.join("team-a/legacy")), ["token"]);
    assert_eq!(
        fs::read(root.join("team-a/legacy/token")).unwrap(),
        b"theirs"
    );

    // Asked to adopt it, sealsync takes it over.
    let adopt = DesiredSecret {
        adopt: true,
        memo: Default::default(),
        ..legacy.clone()
    };
    assert_eq!(
        sink.apply(&Arc::new(adopt.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(fs::read(root.join("team-a/legacy/token")).unwrap(), b"ours");
    assert_eq!(
        sink.apply(&Arc::new(legacy.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    assert_eq!(sink.list_managed().await.unwrap().len(), 2);
}

#[tokio::test]
async fn delete_removes_only_managed_directories() {
    let (_tmp, sink) = sink();
    let root = sink.root().to_path_buf();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    sink.apply(&Arc::new(secret("team-b", "api", &[("token", "t")])))
        .await
        .unwrap();
    fs::create_dir_all(root.join("team-b/legacy")).unwrap();
    fs::write(root.join("team-b/legacy/token"), "theirs").unwrap();

    sink.delete(&desired.key).await.unwrap();
    assert!(
        !root.join("team-a").exists(),
        "the empty namespace directory goes too"
    );
    // Deleting what is already gone is not an error.
    sink.delete(&desired.key).await.unwrap();

    let err = sink
        .delete(&SecretKey::new("team-b", "legacy"))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("team-b/legacy"), "{err}");
    assert_eq!(
        fs::read(root.join("team-b/legacy/token")).unwrap(),
        b"theirs"
    );

    sink.delete(&SecretKey::new("team-b", "api")).await.unwrap();
    assert_eq!(entries(&root.join("team-b")), ["legacy"]);
    assert!(sink.list_managed().await.unwrap().is_empty());
}

/// `sealsync.dev/prune: disabled` (an ExternalSecret's creationPolicy Orphan): pruning releases the
/// directory — its values stay, it is no longer sealsync's — instead of deleting it.
#[tokio::test]
async fn pruning_releases_a_secret_kept_on_removal() {
    let (_tmp, sink) = sink();
    let mut kept = db();
    kept.annotations.insert(
        crate::desired::PRUNE_ANNOTATION.into(),
        crate::desired::PRUNE_DISABLED.into(),
    );
    sink.apply(&Arc::new(kept.clone())).await.unwrap();
    assert_eq!(sink.list_managed().await.unwrap().len(), 1);

    sink.delete(&kept.key).await.unwrap();
    let dir = dir_of(&sink, &kept);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert!(!dir.join(super::metadata::FILE).exists(), "released");
    assert!(sink.list_managed().await.unwrap().is_empty());
    // Released means left alone: a later delete refuses, as for any foreign directory.
    assert!(sink.delete(&kept.key).await.is_err());
}

/// creationPolicy Merge writes into an existing Kubernetes Secret: the dir sink refuses it, naming why.
#[tokio::test]
async fn the_dir_sink_refuses_to_merge() {
    let (_tmp, sink) = sink();
    let mut merge = db();
    merge.merge = true;
    match sink.apply(&Arc::new(merge.clone())).await.unwrap() {
        ApplyOutcome::Refused(crate::reason::Reason::MergeTarget, why) => {
            assert!(why.contains("creationPolicy Merge"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir_of(&sink, &merge).exists());
}

#[tokio::test]
async fn invalid_names_and_keys_are_refused() {
    let (_tmp, sink) = sink();
    let cases = [
        (secret("Team_A", "db", &[("k", "v")]), "\"Team_A\""),
        (secret("..", "db", &[("k", "v")]), "\"..\""),
        (
            secret("team-a", "../../etc", &[("k", "v")]),
            "\"../../etc\"",
        ),
        (secret("team-a", "a/b", &[("k", "v")]), "\"a/b\""),
        (secret("team-a", "db", &[("a/b", "v")]), "\"a/b\""),
        (secret("team-a", "db", &[("..", "v")]), "\"..\""),
        (secret("team-a", "db", &[("..data", "v")]), "\"..data\""),
        (
            secret("team-a", "db", &[("..sealsync.json", "v")]),
            "\"..sealsync.json\"",
        ),
        (secret("team-a", "db", &[("", "v")]), "\"\""),
    ];
    for (desired, named) in cases {
        let err = sink.apply(&Arc::new(desired.clone())).await.unwrap_err();
        let message = err.to_string();
        assert!(message.contains(named), "{message}");
        assert!(!message.contains("\"v\""), "{message}");
    }
    let err = sink
        .delete(&SecretKey::new("team-a", ".."))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"..\""), "{err}");
    assert!(entries(sink.root()).is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_corrupt_metadata_file_is_rewritten() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    let file = dir_of(&sink, &desired).join("..sealsync.json");
    fs::remove_file(&file).unwrap();
    fs::write(&file, "not json").unwrap();
    let listed = sink.list_managed().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].fingerprint, None);
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[tokio::test]
async fn symlinks_out_of_the_root_are_not_followed() {
    let (tmp, sink) = sink();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    symlink(&outside, sink.root().join("team-a")).unwrap();
    let err = sink.apply(&Arc::new(db())).await.unwrap_err();
    assert!(matches!(err, SinkError::Io { .. }), "{err}");
    assert!(err.to_string().starts_with("team-a/db: "), "{err}");
    assert!(entries(&outside).is_empty());

    // The same at the Secret level, with the metadata file in place: delete must not follow it.
    fs::remove_file(sink.root().join("team-a")).unwrap();
    fs::create_dir(sink.root().join("team-a")).unwrap();
    fs::write(outside.join("..sealsync.json"), "{}").unwrap();
    fs::write(outside.join("keep"), "x").unwrap();
    symlink(&outside, sink.root().join("team-a/db")).unwrap();
    assert!(sink.apply(&Arc::new(db())).await.is_err());
    assert!(sink.delete(&db().key).await.is_err());
    assert!(sink.list_managed().await.unwrap().is_empty());
    assert_eq!(entries(&outside), ["..sealsync.json", "keep"]);
}

#[tokio::test]
async fn io_errors_name_the_secret_and_the_reason() {
    let (_tmp, sink) = sink();
    // A file where the namespace directory should be.
    fs::write(sink.root().join("team-a"), "").unwrap();
    let err = sink.apply(&Arc::new(db())).await.unwrap_err();
    let SinkError::Io { key, reason } = &err else {
        panic!("{err}");
    };
    assert_eq!(key, "team-a/db");
    assert!(reason.contains("namespace directory"), "{reason}");
    assert!(!err.to_string().contains(PASSWORD));

    // Permission denied (root is never denied, so only checked as another user).
    use std::os::unix::fs::MetadataExt;
    if fs::metadata(sink.root()).unwrap().uid() != 0 {
        fs::remove_file(sink.root().join("team-a")).unwrap();
        fs::create_dir(sink.root().join("team-a")).unwrap();
        fs::set_permissions(
            sink.root().join("team-a"),
            fs::Permissions::from_mode(0o500),
        )
        .unwrap();
        let err = sink.apply(&Arc::new(db())).await.unwrap_err();
        fs::set_permissions(
            sink.root().join("team-a"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        assert!(err.to_string().starts_with("team-a/db: "), "{err}");
        assert!(err.to_string().contains("ermission denied"), "{err}");
    }
}
