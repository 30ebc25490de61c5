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

/// A file `sops` wrote, cut inside its first value (a bad merge, a copy that stopped short): no `sops`
/// metadata is left and the only value is ciphertext without its end. Before, only whole ciphertext values were
/// recognized, so a cut file that is not a Secret passed as "no problems found".
#[test]
fn a_file_cut_inside_a_value_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("app.yaml");
    std::fs::write(&plain, "a: one\nb: two\n").unwrap();
    let enc = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .arg(&plain))
    .stdout;
    let text = String::from_utf8(enc).unwrap();
    let cut = &text[..text.find("a: ENC[AES256_GCM,data:").unwrap() + 30];
    let file = dir.path().join("cut.yaml");
    std::fs::write(&file, cut).unwrap();
    std::fs::remove_file(plain).unwrap();
    let out = sealctl().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cut.yaml: value 'a' is SOPS ciphertext"),
        "{}",
        stdout(&out)
    );
}
