//! The reverse direction: the real `sops` binary decrypts what `sealctl` writes — every store, every
//! rule, several recipients, Shamir key groups — also after `rotate`, `updatekeys`, `set` and `edit`;
//! and `sealctl` keeps reading files after `sops` rewrote them.

use std::path::{Path, PathBuf};

use crate::support::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn copy_plain(dir: &Path, name: &str) -> PathBuf {
    let dest = dir.join(name);
    std::fs::copy(fixture(&format!("plain/{name}")), &dest).unwrap();
    dest
}

fn encrypt_in_place(file: &Path, extra: &[&str]) {
    ok(sealctl().arg("encrypt").arg("-i").args(extra).arg(file));
}

fn assert_sops_reads(file: &Path, keys: &Path, plain_fixture: &str) {
    let out = sops_decrypt(file, keys, &[]);
    let expected = std::fs::read(fixture(&format!("expected/{plain_fixture}"))).unwrap();
    assert_same_plaintext(
        format_of(plain_fixture),
        &out.stdout,
        &expected,
        plain_fixture,
    );
}

#[test]
fn sops_decrypts_every_store() {
    let dir = tmp();
    for name in [
        "app.json",
        "app.env",
        "app.ini",
        "blob.bin",
        "nested.yaml",
        "multi.yaml",
        "secret-data.yaml",
        "secret-stringdata.yaml",
        "suffix.yaml",
    ] {
        let file = copy_plain(dir.path(), name);
        encrypt_in_place(&file, &["--age", ONE]);
        let written = std::fs::read(&file).unwrap();
        let plain = std::fs::read(fixture(&format!("plain/{name}"))).unwrap();
        assert_ne!(written, plain, "{name} was not encrypted");
        assert_sops_reads(&file, &key("one.agekey"), name);
    }
}

/// The value at `path` of the first YAML document of `file`, as text.
fn raw_yaml(file: &Path, path: &[&str]) -> String {
    let docs = yaml_docs(&std::fs::read_to_string(file).unwrap());
    let mut v = &docs[0];
    for p in path {
        v = &v[*p];
    }
    match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn sops_decrypts_every_rule() {
    let cases: [(&[&str], &[&str], &[&str]); 7] = [
        (
            &["--encrypted-regex", "^(name|tags)$"],
            &["service", "name"],
            &["service", "replicas"],
        ),
        (
            &["--unencrypted-regex", "^(replicas|ratio)$"],
            &["service", "name"],
            &["service", "replicas"],
        ),
        (
            &["--encrypted-suffix", "name"],
            &["service", "name"],
            &["service", "replicas"],
        ),
        (
            &["--unencrypted-suffix", "licas"],
            &["service", "name"],
            &["service", "replicas"],
        ),
        (
            &["--mac-only-encrypted", "--encrypted-regex", "^name$"],
            &["service", "name"],
            &["service", "ratio"],
        ),
        (
            &["--unencrypted-comment-regex", "service name"],
            &["service", "greeting"],
            &["service", "name"],
        ),
        (
            &["--encrypted-comment-regex", "service name"],
            &["service", "name"],
            &["service", "replicas"],
        ),
    ];
    for (flags, encrypted, plain) in cases {
        let dir = tmp();
        let file = copy_plain(dir.path(), "nested.yaml");
        let mut args = vec!["--age", ONE];
        args.extend_from_slice(flags);
        encrypt_in_place(&file, &args);
        assert!(
            raw_yaml(&file, encrypted).starts_with("ENC["),
            "{flags:?}: {encrypted:?} should be encrypted"
        );
        assert!(
            !raw_yaml(&file, plain).starts_with("ENC["),
            "{flags:?}: {plain:?} should stay plain"
        );
        assert_sops_reads(&file, &key("one.agekey"), "nested.yaml");
        // And sealctl reads its own file back identically.
        let out = ok(sealctl()
            .arg("decrypt")
            .arg("--identity")
            .arg(key("one.agekey"))
            .arg(&file));
        let expected = std::fs::read(fixture("expected/nested.yaml")).unwrap();
        assert_same_plaintext("yaml", &out.stdout, &expected, &format!("{flags:?}"));
    }
}

#[test]
fn several_recipients_each_decrypt_with_sops() {
    let dir = tmp();
    let file = copy_plain(dir.path(), "secret-stringdata.yaml");
    encrypt_in_place(&file, &["--age", &format!("{ONE},{TWO}"), "--age", THREE]);
    for k in ["one.agekey", "two.agekey", "three.agekey"] {
        assert_sops_reads(&file, &key(k), "secret-stringdata.yaml");
    }
    let out = sops()
        .env("SOPS_AGE_KEY_FILE", key("outsider.agekey"))
        .args(["--disable-version-check", "decrypt"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join(".sops.yaml"), text).unwrap();
}

#[test]
fn shamir_key_groups_from_sops_yaml() {
    let dir = tmp();
    write_config(
        dir.path(),
        &format!(
            "creation_rules:\n  - path_regex: .*\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{ONE}]\n      - age: [{TWO}]\n      - age: [{THREE}]\n"
        ),
    );
    let file = copy_plain(dir.path(), "secret-stringdata.yaml");
    ok(sealctl()
        .current_dir(dir.path())
        .args(["encrypt", "-i", "secret-stringdata.yaml"]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("shamir_threshold: 2") && text.contains("key_groups:"),
        "{text}"
    );
    assert_sops_reads(&file, &key("one-and-two.agekeys"), "secret-stringdata.yaml");
    let out = sops()
        .env("SOPS_AGE_KEY_FILE", key("three.agekey"))
        .args(["--disable-version-check", "decrypt"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "one group of three must not be enough"
    );
    // And sealctl agrees.
    let out = ok(sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("one-and-two.agekeys"))
        .arg(&file));
    let expected = std::fs::read(fixture("expected/secret-stringdata.yaml")).unwrap();
    assert_same_plaintext("yaml", &out.stdout, &expected, "sealctl shamir");
}

#[test]
fn creation_rule_is_found_from_a_subdirectory_and_picks_by_path() {
    let dir = tmp();
    write_config(
        dir.path(),
        &format!(
            "creation_rules:\n  - path_regex: ^prod/.*\n    age: {TWO}\n    encrypted_regex: ^(data|stringData)$\n  - age: {ONE}\n"
        ),
    );
    std::fs::create_dir_all(dir.path().join("prod/app")).unwrap();
    let file = dir.path().join("prod/app/secret.yaml");
    std::fs::copy(fixture("plain/secret-stringdata.yaml"), &file).unwrap();
    ok(sealctl()
        .current_dir(dir.path().join("prod/app"))
        .args(["encrypt", "-i", "secret.yaml"]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(TWO) && !text.contains(ONE),
        "the prod rule applies"
    );
    assert!(
        text.contains("name: db-credentials"),
        "metadata stays plain under encrypted_regex"
    );
    assert_sops_reads(&file, &key("two.agekey"), "secret-stringdata.yaml");
}

#[test]
fn rotate_draws_a_new_data_key_sops_reads() {
    let dir = tmp();
    let file = copy_plain(dir.path(), "nested.yaml");
    encrypt_in_place(&file, &["--age", &format!("{ONE},{TWO}")]);
    let before = std::fs::read_to_string(&file).unwrap();
    ok(sealctl()
        .arg("--identity")
        .arg(key("one.agekey"))
        .args(["rotate", "-i"])
        .arg(&file));
    let after = std::fs::read_to_string(&file).unwrap();
    assert_ne!(raw_yaml(&file, &["service", "name"]), {
        let d = yaml_docs(&before);
        d[0]["service"]["name"].as_str().unwrap().to_string()
    });
    assert!(
        after.contains(ONE) && after.contains(TWO),
        "same recipients"
    );
    assert_sops_reads(&file, &key("two.agekey"), "nested.yaml");
}

#[test]
fn rotate_a_whole_directory_reports_failures_at_the_end() {
    let dir = tmp();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    for (i, name) in ["app.json", "nested.yaml"].iter().enumerate() {
        let f = dir.path().join(if i == 0 { "a" } else { "a/b" }).join(name);
        std::fs::copy(fixture(&format!("plain/{name}")), &f).unwrap();
        encrypt_in_place(&f, &["--age", ONE]);
    }
    // Not a SOPS file: skipped. Encrypted for someone else: fails, and is reported.
    std::fs::write(dir.path().join("a/readme.txt"), "hello").unwrap();
    let foreign = dir.path().join("a/foreign.yaml");
    std::fs::copy(fixture("plain/suffix.yaml"), &foreign).unwrap();
    encrypt_in_place(&foreign, &["--age", THREE]);
    let foreign_before = std::fs::read(&foreign).unwrap();

    let out = sealctl()
        .arg("--identity")
        .arg(key("one.agekey"))
        .args(["rotate", "-i"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(20), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("rotated 2 of 4 files (1 failed)"), "{err}");
    assert!(err.contains("foreign.yaml"), "{err}");
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        foreign_before,
        "a failed file is untouched"
    );
    assert_sops_reads(
        &dir.path().join("a/app.json"),
        &key("one.agekey"),
        "app.json",
    );
    assert_sops_reads(
        &dir.path().join("a/b/nested.yaml"),
        &key("one.agekey"),
        "nested.yaml",
    );
}

#[test]
fn updatekeys_rewraps_for_the_rules_recipients() {
    let dir = tmp();
    write_config(dir.path(), &format!("creation_rules:\n  - age: {ONE}\n"));
    let file = copy_plain(dir.path(), "app.json");
    ok(sealctl()
        .current_dir(dir.path())
        .args(["encrypt", "-i", "app.json"]));
    write_config(
        dir.path(),
        &format!("creation_rules:\n  - age: {TWO},{THREE}\n"),
    );
    let out = ok(sealctl()
        .current_dir(dir.path())
        .arg("--identity")
        .arg(key("one.agekey"))
        .args(["updatekeys", "-y", "app.json"]));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("+ {TWO}")) && err.contains(&format!("- {ONE}")),
        "{err}"
    );
    assert_sops_reads(&file, &key("two.agekey"), "app.json");
    assert_sops_reads(&file, &key("three.agekey"), "app.json");
    let out = sops()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .args(["--disable-version-check", "decrypt"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the removed recipient can no longer decrypt"
    );
    // Without -y and without a terminal, updatekeys refuses instead of hanging.
    let out = sealctl()
        .current_dir(dir.path())
        .args(["updatekeys", "app.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn set_and_unset_are_read_by_sops() {
    let dir = tmp();
    let file = copy_plain(dir.path(), "secret-stringdata.yaml");
    encrypt_in_place(
        &file,
        &["--age", ONE, "--encrypted-regex", "^(data|stringData)$"],
    );
    ok(sealctl()
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg("set")
        .arg(&file)
        .args([r#"["stringData"]["password"]"#, r#""n3w-p4ss""#]));
    ok(sealctl()
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg("set")
        .arg(&file)
        .args([r#"["stringData"]["extra"]"#, "42"]));
    ok(sealctl()
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg("unset")
        .arg(&file)
        .arg(r#"["stringData"]["url"]"#));
    let out = sops_decrypt(&file, &key("one.agekey"), &[]);
    let docs = yaml_docs(&stdout(&out));
    assert_eq!(docs[0]["stringData"]["password"].as_str(), Some("n3w-p4ss"));
    assert_eq!(docs[0]["stringData"]["extra"].as_i64(), Some(42));
    assert!(docs[0]["stringData"].get("url").is_none());
    assert_eq!(
        docs[0]["stringData"]["username"].as_str(),
        Some("payments_rw")
    );
}

/// An editor script that applies a sed expression to the file it is given.
fn editor_script(dir: &Path, sed: &str) -> PathBuf {
    let script = dir.join("editor.sh");
    std::fs::write(&script, format!("#!/bin/sh\nsed -i '{sed}' \"$1\"\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}

#[test]
fn edit_reencrypts_and_leaves_no_plaintext_behind() {
    let dir = tmp();
    let scratch = tmp();
    let file = copy_plain(dir.path(), "nested.yaml");
    encrypt_in_place(&file, &["--age", ONE]);
    let script = editor_script(dir.path(), "s/checkout/cart/");
    ok(sealctl()
        .env("EDITOR", &script)
        .env("TMPDIR", scratch.path())
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg("edit")
        .arg(&file));
    let out = sops_decrypt(&file, &key("one.agekey"), &[]);
    let docs = yaml_docs(&stdout(&out));
    assert_eq!(docs[0]["service"]["name"].as_str(), Some("cart"));
    assert_eq!(docs[0]["service"]["replicas"].as_i64(), Some(3));
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "temporary files removed"
    );
}

#[test]
fn edit_refuses_to_save_an_invalid_result() {
    let dir = tmp();
    let scratch = tmp();
    let file = copy_plain(dir.path(), "nested.yaml");
    encrypt_in_place(&file, &["--age", ONE]);
    let before = std::fs::read(&file).unwrap();
    let script = editor_script(dir.path(), "1s/^/: : [broken/");
    let out = sealctl()
        .env("EDITOR", &script)
        .env("TMPDIR", scratch.path())
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg("edit")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not saved"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the original is untouched"
    );
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "temporary files removed"
    );
    assert!(
        !stderr(&out).contains("checkout"),
        "no plaintext in the error"
    );
}

#[test]
fn edit_creates_a_new_file_from_the_creation_rule() {
    let dir = tmp();
    write_config(dir.path(), &format!("creation_rules:\n  - age: {TWO}\n"));
    let script = editor_script(dir.path(), "s/example_value/brand-new/");
    ok(sealctl()
        .current_dir(dir.path())
        .env("EDITOR", &script)
        .args(["edit", "new.yaml"]));
    let out = sops_decrypt(&dir.path().join("new.yaml"), &key("two.agekey"), &[]);
    assert_eq!(
        yaml_docs(&stdout(&out))[0]["example_key"].as_str(),
        Some("brand-new")
    );
}

#[test]
fn create_secret_is_read_by_sops() {
    let dir = tmp();
    std::fs::write(dir.path().join("tls.key"), "-----BEGIN KEY-----\nabc\n").unwrap();
    std::fs::write(dir.path().join("app.env"), "# c\nA=1\nB=two=2\n").unwrap();
    let out = ok(sealctl().current_dir(dir.path()).args([
        "create",
        "secret",
        "db",
        "-n",
        "team-a",
        "--age",
        ONE,
        "--from-literal",
        "password=s3cr3t",
        "--from-file",
        "tls.key",
        "--from-env-file",
        "app.env",
        "--label",
        "app=db",
    ]));
    let file = dir.path().join("db.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("name: db") && text.contains("namespace: team-a"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"));
    let plain = stdout(&sops_decrypt(&file, &key("one.agekey"), &[]));
    let doc = &yaml_docs(&plain)[0];
    assert_eq!(doc["stringData"]["password"].as_str(), Some("s3cr3t"));
    assert_eq!(
        doc["stringData"]["tls.key"].as_str(),
        Some("-----BEGIN KEY-----\nabc\n")
    );
    assert_eq!(doc["stringData"]["B"].as_str(), Some("two=2"));
    assert_eq!(doc["metadata"]["labels"]["app"].as_str(), Some("db"));
}

#[test]
fn sealctl_reads_files_sops_rewrote() {
    let dir = tmp();
    let file = copy_plain(dir.path(), "nested.yaml");
    encrypt_in_place(&file, &["--age", ONE]);
    ok(sops()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .args(["--disable-version-check", "set"])
        .arg(&file)
        .args([r#"["service"]["name"]"#, r#""from-sops""#]));
    ok(sops()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .args(["--disable-version-check", "rotate", "-i"])
        .arg(&file));
    let out = ok(sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg(&file));
    let docs = yaml_docs(&stdout(&out));
    assert_eq!(docs[0]["service"]["name"].as_str(), Some("from-sops"));
    assert_eq!(docs[0]["service"]["ratio"].as_f64(), Some(0.75));
}
