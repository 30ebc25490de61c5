//! The size limit of `sealctl` applies to plaintext: a file within it is encrypted, and its ciphertext
//! (several times larger) is read back by every command; the limit is raised by flag or environment, and
//! an over-large standard input is reported as such.

use std::io::Write;
use std::process::Stdio;

use crate::support::*;

/// A YAML file of about `bytes` bytes made of many short values: the case where ciphertext grows most.
fn big_yaml(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 64);
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(&format!("key{i}: value-{i}\n"));
        i += 1;
    }
    s
}

#[test]
fn a_file_within_the_limit_is_readable_after_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, big_yaml(900 * 1024)).unwrap();
    let sealctl = || {
        let mut cmd = sealctl();
        cmd.env("SEALCTL_MAX_FILE_SIZE", "1MiB");
        cmd
    };
    ok(sealctl().args(["encrypt", "-i", "--age", ONE]).arg(&file));
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        size > 4 * 1024 * 1024,
        "the ciphertext outgrows the limit: {size}"
    );
    let out = ok(sealctl()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .args(["decrypt", "--extract", r#"["key7"]"#])
        .arg(&file));
    assert_eq!(stdout(&out), "value-7");
    ok(sealctl()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .args(["rotate", "-i"])
        .arg(&file));
}

#[test]
fn the_limit_is_raised_by_the_environment_and_stdin_is_reported_right() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.yaml");
    std::fs::write(&file, big_yaml(2048)).unwrap();
    let out = sealctl()
        .env("SEALCTL_MAX_FILE_SIZE", "1KiB")
        .args(["encrypt", "--age", ONE])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let why = stderr(&out);
    assert!(
        why.contains("small.yaml")
            && why.contains("1024 bytes")
            && why.contains("SEALCTL_MAX_FILE_SIZE"),
        "{why}"
    );
    ok(sealctl()
        .env("SEALCTL_MAX_FILE_SIZE", "4KiB")
        .args(["encrypt", "--age", ONE])
        .arg(&file));

    let mut child = sealctl()
        .env("SEALCTL_MAX_FILE_SIZE", "1KiB")
        .args(["encrypt", "--input-type", "yaml", "--age", ONE, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader stops past the limit: a broken pipe here is expected.
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(big_yaml(64 * 1024).as_bytes());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let why = stderr(&out);
    assert!(
        why.contains("standard input") || why.contains("-: more than 1024 bytes"),
        "{why}"
    );
    assert!(why.contains("more than 1024 bytes"), "{why}");
}
