//! `sealctl create secret` as a sops user runs it: redirected into a file that a path-based
//! `.sops.yaml` rule covers.

use crate::support::*;

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
