//! `sealctl create secret` with values kept out of the process list (files, directories, standard
//! input), and the warning about an identity file other users can read.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::support::{key, ok, sealctl, sops_decrypt, stderr, stdout, yaml_docs, ONE, TWO};

/// Runs `sealctl create secret db --age ONE ARGS`, feeding `input` on standard input.
fn create(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = sealctl()
        .current_dir(dir)
        .args(["create", "secret", "db", "-n", "team-a", "--age", ONE])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // sealctl may refuse its arguments without reading standard input (a broken pipe then).
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

#[test]
fn create_secret_reads_values_from_stdin_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("tls.crt"), "CERT-s3cr3t").unwrap();
    std::fs::write(certs.join("tls.key"), "KEY-s3cr3t").unwrap();
    std::fs::create_dir(certs.join("nested")).unwrap();
    std::fs::write(dir.path().join("user.txt"), "admin").unwrap();
    let out = create(
        dir.path(),
        &[
            "--from-file",
            "password=-",
            "--from-file",
            "certs",
            "--from-file",
            "username=user.txt",
        ],
        b"stdin-s3cr3t\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("s3cr3t"), "values are encrypted:\n{text}");
    let file = dir.path().join("db.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    let plain = stdout(&sops_decrypt(&file, &key("one.agekey"), &[]));
    let data = &yaml_docs(&plain)[0]["stringData"];
    assert_eq!(data["password"].as_str(), Some("stdin-s3cr3t\n"));
    assert_eq!(data["tls.crt"].as_str(), Some("CERT-s3cr3t"));
    assert_eq!(data["tls.key"].as_str(), Some("KEY-s3cr3t"));
    assert_eq!(data["username"].as_str(), Some("admin"));
    assert!(data.get("nested").is_none(), "subdirectories are skipped");
}

#[test]
fn create_secret_env_file_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(
        dir.path(),
        &["--from-env-file", "-"],
        b"# db\nUSER=app\nPASSWORD=env-s3cr3t\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let file = dir.path().join("db.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    let plain = stdout(&sops_decrypt(&file, &key("one.agekey"), &[]));
    let data = &yaml_docs(&plain)[0]["stringData"];
    assert_eq!(data["PASSWORD"].as_str(), Some("env-s3cr3t"));
    assert_eq!(data["USER"].as_str(), Some("app"));
}

#[test]
fn create_secret_reads_standard_input_once_and_needs_a_key_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = create(
        dir.path(),
        &["--from-file", "a=-", "--from-env-file", "-"],
        b"x",
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("--from-env-file -: standard input is already read by --from-file a=-"),
        "{}",
        stderr(&out)
    );
    let out = create(dir.path(), &["--from-file", "-"], b"x");
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--from-file KEY=-"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_identity_file_others_can_read_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("s.yaml");
    std::fs::write(&secret, "password: s3cr3t\n").unwrap();
    ok(sealctl().args(["encrypt", "-i", "--age", ONE]).arg(&secret));
    let identity = dir.path().join("keys.txt");
    std::fs::copy(key("one.agekey"), &identity).unwrap();
    let decrypt = |mode: u32| {
        std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(mode)).unwrap();
        ok(sealctl()
            .arg("decrypt")
            .arg("--identity")
            .arg(&identity)
            .arg(&secret))
    };
    let out = decrypt(0o644);
    assert!(stdout(&out).contains("s3cr3t"), "still decrypts");
    let warning = stderr(&out);
    assert!(
        warning.contains(&format!("warning: identity file '{}'", identity.display()))
            && warning.contains("readable by every user")
            && warning.contains(&format!("chmod 600 {}", identity.display())),
        "{warning}"
    );
    // Group-readable is how the kubelet mounts a Secret for the pod's fsGroup: no warning.
    for quiet in [0o600, 0o440] {
        let out = decrypt(quiet);
        assert_eq!(stderr(&out), "", "mode {quiet:o}");
    }
}

/// `create secret NAME … > apps/db.yaml` matches a path-based `.sops.yaml` rule against the file the
/// output is redirected to; into a pipe, the error says to pass `-o`.
#[test]
fn create_secret_into_a_redirect_matches_path_based_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("apps")).unwrap();
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - path_regex: ^apps/.*\\.yaml$\n    age: {TWO}\n"),
    )
    .unwrap();
    let line = format!(
        "'{}' create secret db -n team-a --from-literal password=s3cret > apps/db.yaml",
        env!("CARGO_BIN_EXE_sealctl")
    );
    let out = std::process::Command::new("sh")
        .current_dir(dir.path())
        .env_remove("SOPS_AGE_KEY_FILE")
        .args(["-c", &line])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let written = dir.path().join("apps/db.yaml");
    assert!(stdout(&sops_decrypt(&written, &key("two.agekey"), &[])).contains("s3cret"));

    let out = sealctl()
        .current_dir(dir.path())
        .args([
            "create",
            "secret",
            "db",
            "-n",
            "team-a",
            "--from-literal",
            "password=x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("-o FILE"), "{}", stderr(&out));
}
