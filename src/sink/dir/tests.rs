//! Tests of the dir sink on real temporary directories: layout, modes, atomic swaps, drift, ownership.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tempfile::TempDir;

use super::layout::{is_version_name, utc_stamp};
use super::DirSink;
use crate::desired::{DesiredSecret, FingerprintKey, SecretBytes, SecretKey, Source};
use crate::sink::{ApplyOutcome, ManagedSecret, Sink, SinkError};

const PASSWORD: &str = "correct-horse-battery-staple";
const USER: &str = "db-admin-7f3c9e";

fn secret(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> DesiredSecret {
    DesiredSecret {
        key: SecretKey::new(namespace, name),
        secret_type: "Opaque".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        data: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretBytes::new(v.as_bytes().to_vec())))
            .collect(),
        immutable: None,
        source: Source {
            path: "apps/team-a/db.sops.yaml".into(),
            commit: "0123abcd".into(),
        },
        adopt: false,
        memo: Default::default(),
    }
}

fn db() -> DesiredSecret {
    secret(
        "team-a",
        "db",
        &[("password", PASSWORD), ("username", USER)],
    )
}

fn key() -> FingerprintKey {
    FingerprintKey::new(vec![7; 32])
}

/// A sink whose root does not exist yet (the sink creates it).
fn sink() -> (TempDir, DirSink) {
    let tmp = tempfile::tempdir().unwrap();
    let sink = DirSink::with_key(tmp.path().join("secrets"), key()).unwrap();
    (tmp, sink)
}

fn dir_of(sink: &DirSink, secret: &DesiredSecret) -> PathBuf {
    sink.root()
        .join(&secret.key.namespace)
        .join(&secret.key.name)
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The entries of a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The version directory `..data` points to.
fn version_dir(dir: &Path) -> PathBuf {
    dir.join(fs::read_link(dir.join("..data")).unwrap())
}

/// Makes `path` (a key's file, behind its symlink) writable and writes `bytes` into it, as a
/// person editing it by hand would.
fn edit_by_hand(path: &Path, bytes: &[u8]) {
    let real = fs::canonicalize(path).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&real, bytes).unwrap();
}

#[tokio::test]
async fn creates_then_reads_back() {
    let (_tmp, sink) = sink();
    let desired = db();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Created);
    let dir = dir_of(&sink, &desired);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_eq!(fs::read(dir.join("username")).unwrap(), USER.as_bytes());

    // The kubelet's layout: keys are symlinks through `..data` into one version directory.
    let names = entries(&dir);
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().any(|n| is_version_name(n)), "{names:?}");
    assert!(names.contains(&"..data".to_string()));
    assert!(names.contains(&"..sealsync.json".to_string()));
    assert_eq!(
        fs::read_link(dir.join("password")).unwrap(),
        Path::new("..data/password")
    );
    assert_eq!(entries(&version_dir(&dir)), ["password", "username"]);

    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Unchanged);
    assert_eq!(
        sink.list_managed().await.unwrap(),
        [ManagedSecret {
            key: desired.key.clone(),
            fingerprint: Some(desired.fingerprint(&key())),
            source_path: Some("apps/team-a/db.sops.yaml".into()),
        }]
    );
}

#[tokio::test]
async fn dotted_keys_and_empty_secrets() {
    let (_tmp, sink) = sink();
    let docker = secret(
        "team-a",
        "pull",
        &[(".dockerconfigjson", "{}"), ("tls.crt", "")],
    );
    assert_eq!(sink.apply(&docker).await.unwrap(), ApplyOutcome::Created);
    let dir = dir_of(&sink, &docker);
    assert_eq!(fs::read(dir.join(".dockerconfigjson")).unwrap(), b"{}");
    assert_eq!(fs::read(dir.join("tls.crt")).unwrap(), b"");
    assert_eq!(sink.apply(&docker).await.unwrap(), ApplyOutcome::Unchanged);

    let empty = secret("team-a", "empty", &[]);
    assert_eq!(sink.apply(&empty).await.unwrap(), ApplyOutcome::Created);
    assert_eq!(sink.apply(&empty).await.unwrap(), ApplyOutcome::Unchanged);
    assert!(entries(&version_dir(&dir_of(&sink, &empty))).is_empty());
    assert_eq!(sink.list_managed().await.unwrap().len(), 2);
}

#[tokio::test]
async fn modes_are_exact() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    assert_modes(&sink, &desired);
    // And again after an update, which makes a new version directory.
    let mut changed = desired.clone();
    changed
        .data
        .insert("password".into(), SecretBytes::new(b"rotated".to_vec()));
    assert_eq!(sink.apply(&changed).await.unwrap(), ApplyOutcome::Updated);
    assert_modes(&sink, &changed);
}

fn assert_modes(sink: &DirSink, desired: &DesiredSecret) {
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

/// The umask belongs to the process: `umask_child` runs in a child test process under a umask that
/// takes away the owner's write and execute bits, which mkdir(2) and open(2) alone would obey.
#[test]
fn modes_do_not_depend_on_the_umask() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 277 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "--exact",
            "sink::dir::tests::umask_child",
            "--ignored",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "run by modes_do_not_depend_on_the_umask, under umask 0277"]
fn umask_child() {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sink = DirSink::with_key(tmp.path().join("secrets"), key()).unwrap();
        let desired = db();
        assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Created);
        assert_modes(&sink, &desired);
        let changed = secret("team-a", "db", &[("password", "other")]);
        assert_eq!(sink.apply(&changed).await.unwrap(), ApplyOutcome::Updated);
        assert_modes(&sink, &changed);
    });
}

/// Two keys that always hold the same value: a reader that resolves `..data` once (as a process
/// reading a mounted Secret volume should) never sees one key's old value beside the other's new one,
/// and a key read through its symlink is never torn nor missing for longer than a retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_swap_atomically_for_readers() {
    let (_tmp, sink) = sink();
    let version = |i: usize| {
        let value = format!("version-{i:04}-").repeat(512);
        secret("team-a", "pair", &[("a", &value), ("b", &value)])
    };
    sink.apply(&version(0)).await.unwrap();
    let dir = dir_of(&sink, &version(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let (dir, stop) = (dir.clone(), Arc::clone(&stop));
        move || {
            let well_formed = |v: &[u8]| {
                v.len() == 13 * 512
                    && v.chunks(13).all(|c| c == &v[..13])
                    && v.starts_with(b"version-")
            };
            let (mut consistent, mut seen) = (0, BTreeSet::new());
            while !stop.load(Ordering::Relaxed) {
                for key in ["a", "b"] {
                    // As with the kubelet, an open that resolved `..data` just before a swap can
                    // find the previous version already removed: that is transient, a retry reads.
                    let value = (0..100)
                        .find_map(|_| fs::read(dir.join(key)).ok())
                        .expect("a key is readable on a retry");
                    assert!(well_formed(&value), "a torn value");
                }
                let version = version_dir(&dir);
                // The version may be cleaned up between the two reads: then resolve again.
                if let (Ok(a), Ok(b)) = (fs::read(version.join("a")), fs::read(version.join("b"))) {
                    assert_eq!(a, b, "values of two versions mixed");
                    seen.insert(a);
                    consistent += 1;
                }
            }
            (consistent, seen.len())
        }
    });
    for i in 1..=150 {
        assert_eq!(
            sink.apply(&version(i)).await.unwrap(),
            ApplyOutcome::Updated
        );
    }
    stop.store(true, Ordering::Relaxed);
    let (consistent, versions_seen) = reader.join().unwrap();
    assert!(consistent > 0 && versions_seen > 0);
    // Old version directories are cleaned up: one remains.
    let versions = entries(&dir)
        .into_iter()
        .filter(|n| is_version_name(n))
        .count();
    assert_eq!(versions, 1);
}

#[tokio::test]
async fn a_key_removed_from_git_disappears() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    let fewer = secret("team-a", "db", &[("password", PASSWORD)]);
    assert_eq!(sink.apply(&fewer).await.unwrap(), ApplyOutcome::Updated);
    let dir = dir_of(&sink, &desired);
    assert!(fs::symlink_metadata(dir.join("username")).is_err());
    assert_eq!(entries(&version_dir(&dir)), ["password"]);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_eq!(sink.apply(&fewer).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn a_file_edited_by_hand_is_restored() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    let dir = dir_of(&sink, &desired);

    edit_by_hand(&dir.join("password"), b"hacked");
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_modes(&sink, &desired);

    // Same length, different bytes.
    edit_by_hand(
        &dir.join("username"),
        &USER.as_bytes().iter().map(|b| b ^ 1).collect::<Vec<_>>(),
    );
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(fs::read(dir.join("username")).unwrap(), USER.as_bytes());

    // The symlink replaced by a plain file.
    fs::remove_file(dir.join("password")).unwrap();
    fs::write(dir.join("password"), PASSWORD).unwrap();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert!(fs::symlink_metadata(dir.join("password"))
        .unwrap()
        .file_type()
        .is_symlink());

    // Only the mode changed.
    let real = fs::canonicalize(dir.join("password")).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_modes(&sink, &desired);

    // A file added among the keys.
    fs::write(dir.join("extra"), "x").unwrap();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert!(!dir.join("extra").exists());
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn a_file_deleted_by_hand_is_restored() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    let dir = dir_of(&sink, &desired);

    fs::remove_file(dir.join("password")).unwrap();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());

    fs::remove_file(version_dir(&dir).join("username")).unwrap();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(fs::read(dir.join("username")).unwrap(), USER.as_bytes());

    fs::remove_file(dir.join("..data")).unwrap();
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    let versions = entries(&dir)
        .into_iter()
        .filter(|n| is_version_name(n))
        .count();
    assert_eq!(versions, 1, "the orphaned version directory is cleaned up");
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn a_secret_directory_deleted_by_hand_is_recreated() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    fs::remove_dir_all(sink.root().join("team-a")).unwrap();
    assert!(sink.list_managed().await.unwrap().is_empty());
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Created);
    let dir = dir_of(&sink, &desired);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_modes(&sink, &desired);
    // No staging directory is left behind.
    assert_eq!(entries(&sink.root().join("team-a")), ["db"]);
}

#[tokio::test]
async fn foreign_directories_are_ignored_and_left_alone() {
    let (_tmp, sink) = sink();
    sink.apply(&db()).await.unwrap();
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
        sink.apply(&legacy).await.unwrap(),
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
    assert_eq!(sink.apply(&adopt).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(fs::read(root.join("team-a/legacy/token")).unwrap(), b"ours");
    assert_eq!(sink.apply(&legacy).await.unwrap(), ApplyOutcome::Unchanged);
    assert_eq!(sink.list_managed().await.unwrap().len(), 2);
}

#[tokio::test]
async fn delete_removes_only_managed_directories() {
    let (_tmp, sink) = sink();
    let root = sink.root().to_path_buf();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    sink.apply(&secret("team-b", "api", &[("token", "t")]))
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
        let err = sink.apply(&desired).await.unwrap_err();
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
async fn the_metadata_file_holds_no_value() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    let text = fs::read_to_string(dir_of(&sink, &desired).join("..sealsync.json")).unwrap();
    for value in [PASSWORD, USER] {
        assert!(!text.contains(value), "{text}");
    }
    // Nor a plain hash of them: the fingerprint is the keyed HMAC.
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["fingerprint"], desired.fingerprint(&key()));
    assert_eq!(json["type"], "Opaque");
    assert_eq!(json["source"]["path"], "apps/team-a/db.sops.yaml");
    assert_eq!(json["source"]["commit"], "0123abcd");
}

#[tokio::test]
async fn a_new_fingerprint_key_rewrites_only_the_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let desired = db();
    let first = DirSink::with_key(tmp.path().join("s"), key()).unwrap();
    first.apply(&desired).await.unwrap();
    let dir = dir_of(&first, &desired);
    let version = version_dir(&dir);

    // A restart draws a new random key: nothing a reader sees changes.
    let second = DirSink::new(tmp.path().join("s")).unwrap();
    assert_eq!(
        second.apply(&desired).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    assert_eq!(version_dir(&dir), version);
    let listed = second.list_managed().await.unwrap();
    assert_ne!(listed[0].fingerprint, Some(desired.fingerprint(&key())));

    // A new commit is recorded too, still without a rewrite.
    let mut moved = desired.clone();
    moved.source.commit = "4567ef".into();
    assert_eq!(first.apply(&moved).await.unwrap(), ApplyOutcome::Unchanged);
    assert_eq!(version_dir(&dir), version);
    assert_eq!(
        first.list_managed().await.unwrap()[0].fingerprint,
        Some(desired.fingerprint(&key()))
    );
    let text = fs::read_to_string(dir.join("..sealsync.json")).unwrap();
    assert!(text.contains("4567ef"), "{text}");
}

#[tokio::test]
async fn a_type_change_is_an_update() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    let tls = DesiredSecret {
        secret_type: "kubernetes.io/basic-auth".into(),
        ..desired.clone()
    };
    assert_eq!(sink.apply(&tls).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(sink.apply(&tls).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn a_corrupt_metadata_file_is_rewritten() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&desired).await.unwrap();
    let file = dir_of(&sink, &desired).join("..sealsync.json");
    fs::remove_file(&file).unwrap();
    fs::write(&file, "not json").unwrap();
    let listed = sink.list_managed().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].fingerprint, None);
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Updated);
    assert_eq!(sink.apply(&desired).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn symlinks_out_of_the_root_are_not_followed() {
    let (tmp, sink) = sink();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    symlink(&outside, sink.root().join("team-a")).unwrap();
    let err = sink.apply(&db()).await.unwrap_err();
    assert!(matches!(err, SinkError::Io { .. }), "{err}");
    assert!(err.to_string().starts_with("team-a/db: "), "{err}");
    assert!(entries(&outside).is_empty());

    // The same at the Secret level, with the metadata file in place: delete must not follow it.
    fs::remove_file(sink.root().join("team-a")).unwrap();
    fs::create_dir(sink.root().join("team-a")).unwrap();
    fs::write(outside.join("..sealsync.json"), "{}").unwrap();
    fs::write(outside.join("keep"), "x").unwrap();
    symlink(&outside, sink.root().join("team-a/db")).unwrap();
    assert!(sink.apply(&db()).await.is_err());
    assert!(sink.delete(&db().key).await.is_err());
    assert!(sink.list_managed().await.unwrap().is_empty());
    assert_eq!(entries(&outside), ["..sealsync.json", "keep"]);
}

#[tokio::test]
async fn io_errors_name_the_secret_and_the_reason() {
    let (_tmp, sink) = sink();
    // A file where the namespace directory should be.
    fs::write(sink.root().join("team-a"), "").unwrap();
    let err = sink.apply(&db()).await.unwrap_err();
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
        let err = sink.apply(&db()).await.unwrap_err();
        fs::set_permissions(
            sink.root().join("team-a"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        assert!(err.to_string().starts_with("team-a/db: "), "{err}");
        assert!(err.to_string().contains("ermission denied"), "{err}");
    }
}

#[test]
fn version_directories_are_named_like_the_kubelet_does() {
    assert_eq!(
        utc_stamp(UNIX_EPOCH + Duration::from_secs(1_795_327_200)),
        "2026_11_22_06_00_00"
    );
    assert_eq!(
        utc_stamp(UNIX_EPOCH + Duration::from_secs(951_868_799)),
        "2000_02_29_23_59_59"
    );
    assert_eq!(utc_stamp(UNIX_EPOCH), "1970_01_01_00_00_00");
    assert!(is_version_name("..2026_11_22_06_00_00.123456789"));
    assert!(is_version_name("..2026_11_22_06_00_00.1"));
    assert!(!is_version_name("..data"));
    assert!(!is_version_name("..2026_11_22_06_00_00."));
    assert!(!is_version_name("..2026-11-22_06_00_00.1"));
    assert!(!is_version_name("2026_11_22_06_00_00.1"));
}
