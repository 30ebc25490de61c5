//! Tests of the dir sink's layout on real temporary directories: the kubelet's `..data` layout, exact
//! modes, atomic swaps, and the metadata file.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::layout::{is_version_name, utc_stamp};
use super::test_support::{
    assert_modes, db, dir_of, entries, key, secret, sink, version_dir, PASSWORD, USER,
};
use super::DirSink;
use crate::desired::{DesiredSecret, SecretBytes};
use crate::sink::{ApplyOutcome, ManagedSecret, Sink};

#[tokio::test]
async fn creates_then_reads_back() {
    let (_tmp, sink) = sink();
    let desired = db();
    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
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

    assert_eq!(
        sink.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
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
    assert_eq!(
        sink.apply(&Arc::new(docker.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
    let dir = dir_of(&sink, &docker);
    assert_eq!(fs::read(dir.join(".dockerconfigjson")).unwrap(), b"{}");
    assert_eq!(fs::read(dir.join("tls.crt")).unwrap(), b"");
    assert_eq!(
        sink.apply(&Arc::new(docker.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );

    let empty = secret("team-a", "empty", &[]);
    assert_eq!(
        sink.apply(&Arc::new(empty.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
    assert_eq!(
        sink.apply(&Arc::new(empty.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    assert!(entries(&version_dir(&dir_of(&sink, &empty))).is_empty());
    assert_eq!(sink.list_managed().await.unwrap().len(), 2);
}

#[tokio::test]
async fn modes_are_exact() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    assert_modes(&sink, &desired);
    // And again after an update, which makes a new version directory.
    let mut changed = desired.clone();
    changed
        .data
        .insert("password".into(), SecretBytes::new(b"rotated".to_vec()));
    assert_eq!(
        sink.apply(&Arc::new(changed.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_modes(&sink, &changed);
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
            // This module's path without the crate's name, as the test harness names tests.
            concat!(module_path!(), "::umask_child")
                .split_once("::")
                .unwrap()
                .1,
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
        assert_eq!(
            sink.apply(&Arc::new(desired.clone())).await.unwrap(),
            ApplyOutcome::Created
        );
        assert_modes(&sink, &desired);
        let changed = secret("team-a", "db", &[("password", "other")]);
        assert_eq!(
            sink.apply(&Arc::new(changed.clone())).await.unwrap(),
            ApplyOutcome::Updated
        );
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
    sink.apply(&Arc::new(version(0))).await.unwrap();
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
            sink.apply(&Arc::new(version(i))).await.unwrap(),
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
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    let fewer = secret("team-a", "db", &[("password", PASSWORD)]);
    assert_eq!(
        sink.apply(&Arc::new(fewer.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let dir = dir_of(&sink, &desired);
    assert!(fs::symlink_metadata(dir.join("username")).is_err());
    assert_eq!(entries(&version_dir(&dir)), ["password"]);
    assert_eq!(fs::read(dir.join("password")).unwrap(), PASSWORD.as_bytes());
    assert_eq!(
        sink.apply(&Arc::new(fewer.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[tokio::test]
async fn the_metadata_file_holds_no_value() {
    let (_tmp, sink) = sink();
    let desired = db();
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
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
    first.apply(&Arc::new(desired.clone())).await.unwrap();
    let dir = dir_of(&first, &desired);
    let version = version_dir(&dir);

    // A restart draws a new random key: nothing a reader sees changes.
    let second = DirSink::new(tmp.path().join("s")).unwrap();
    assert_eq!(
        second.apply(&Arc::new(desired.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    assert_eq!(version_dir(&dir), version);
    let listed = second.list_managed().await.unwrap();
    assert_ne!(listed[0].fingerprint, Some(desired.fingerprint(&key())));

    // A new commit is recorded too, still without a rewrite.
    let mut moved = desired.clone();
    moved.source.commit = "4567ef".into();
    assert_eq!(
        first.apply(&Arc::new(moved.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
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
    sink.apply(&Arc::new(desired.clone())).await.unwrap();
    let tls = DesiredSecret {
        secret_type: "kubernetes.io/basic-auth".into(),
        ..desired.clone()
    };
    assert_eq!(
        sink.apply(&Arc::new(tls.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    assert_eq!(
        sink.apply(&Arc::new(tls.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
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
