//! `sealctl check` never calls a file it could not verify clean: without an identity, or with one that
//! does not load, a SOPS file (here a tampered one written by the real `sops`) is reported as not
//! verified and the check fails, unless `--no-verify` asks for structure and recipients only.

use std::path::Path;

use crate::support::*;

/// A file `sops` encrypted, then a value changed after encryption.
fn tampered(dir: &Path) -> std::path::PathBuf {
    let plain = dir.join("app.yaml");
    std::fs::write(&plain, "a: one\nb: two\n").unwrap();
    let enc = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .arg(&plain))
    .stdout;
    let text = String::from_utf8(enc).unwrap();
    // An unencrypted value added after encryption: every value still decrypts, only the MAC tells.
    let file = dir.join("tampered.yaml");
    std::fs::write(
        &file,
        text.replacen("a: ENC", "extra_unencrypted: x\na: ENC", 1),
    )
    .unwrap();
    std::fs::remove_file(plain).unwrap();
    file
}

#[test]
fn an_unverified_mac_is_never_reported_as_no_problems() {
    let dir = tempfile::tempdir().unwrap();
    let file = tampered(dir.path());
    let check = |extra: &[&str]| {
        sealctl()
            .arg("check")
            .args(extra)
            .arg(&file)
            .output()
            .unwrap()
    };
    // No identity at all.
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("MAC not verified: no identity"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("no problems"));
    // A broken identity source.
    let out = sealctl()
        .env("SOPS_AGE_KEY_FILE", dir.path().join("missing.agekey"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("identities could not be loaded"),
        "{}",
        stdout(&out)
    );
    // The right identity finds the tampering.
    let out = sealctl()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(stdout(&out).contains("MAC mismatch"), "{}", stdout(&out));
    // Structure and recipients only, on request.
    let out = check(&["--no-verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
