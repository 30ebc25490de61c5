//! Hostile input never makes `sealctl` panic, hang or use much memory: alias bombs, deep nesting, huge
//! values, truncated and non-UTF-8 files each get a clear error naming the file. Memory is bounded by
//! running under a 256 MiB address-space limit: exceeding it would abort the process.

use std::path::Path;
use std::process::Output;
use std::time::Instant;

use crate::support::*;

/// Runs `sealctl ARGS` under `ulimit -v` (KiB) and a wall-clock guard.
fn bounded(args: &[&str], dir: &Path) -> Output {
    let started = Instant::now();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 262144; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_sealctl"))
        .args(args)
        .current_dir(dir)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env("HOME", "/nonexistent-sealsync-test")
        .output()
        .unwrap();
    // Generous: only a hang would take this long.
    assert!(started.elapsed() < PATIENCE, "{args:?} took too long");
    out
}

fn assert_clean_failure(out: &Output, file: &str, code: i32, reason: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{file}: {err}");
    assert!(err.contains(file), "the error names the file: {err}");
    assert!(err.contains(reason), "the error says why ({reason}): {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn billion_laughs() -> String {
    let mut s = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let prev = i - 1;
        s.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    s
}

#[test]
fn hostile_plain_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let deep_yaml = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_json = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bomb.yaml",
            billion_laughs().into_bytes(),
            "too large or too deep",
        ),
        ("deep.yaml", deep_yaml.into_bytes(), "too large or too deep"),
        ("deep.json", deep_json.into_bytes(), "cannot parse"),
        (
            "truncated.yaml",
            b"a: \"unterminated\nb: [1, 2".to_vec(),
            "cannot parse",
        ),
        ("latin1.yaml", b"k: caf\xe9\n".to_vec(), "cannot parse"),
        ("truncated.json", b"{\"a\": [1, 2".to_vec(), "cannot parse"),
        ("bad.env", b"no equals sign here\n".to_vec(), "cannot parse"),
    ];
    for (name, bytes, reason) in cases {
        std::fs::write(dir.path().join(name), &bytes).unwrap();
        let out = bounded(&["encrypt", "--age", ONE, name], dir.path());
        assert_clean_failure(&out, name, 2, reason);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn oversize_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'a'; 6 * 1024 * 1024];
    let mut yaml = b"k: ".to_vec();
    yaml.extend_from_slice(&big);
    std::fs::write(dir.path().join("big.yaml"), &yaml).unwrap();
    let out = bounded(&["encrypt", "--age", ONE, "big.yaml"], dir.path());
    assert_clean_failure(
        &out,
        "big.yaml",
        2,
        "exceeds the size limit of 5242880 bytes",
    );
    // A huge value under a raised limit is fine, within the memory bound.
    let out = bounded(
        &[
            "encrypt",
            "--max-file-size",
            "8MiB",
            "--age",
            ONE,
            "big.yaml",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn damaged_encrypted_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(fixture("enc/secret-stringdata.yaml")).unwrap();
    let keyfile = key("one.agekey");
    let keyfile = keyfile.to_str().unwrap();
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("half.yaml", original[..original.len() / 2].to_vec(), 2),
        (
            "stripped.yaml",
            {
                let text = String::from_utf8(original.clone()).unwrap();
                text.split("sops:").next().unwrap().as_bytes().to_vec()
            },
            2,
        ),
        ("garbage.yaml", vec![0xff, 0xfe, 0x00, 0x01], 2),
    ];
    for (name, bytes, code) in cases {
        std::fs::write(dir.path().join(name), &bytes).unwrap();
        let out = bounded(&["decrypt", "--identity", keyfile, name], dir.path());
        assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(name));
        assert!(
            out.stdout.is_empty(),
            "{name}: nothing decrypted is printed"
        );
    }
}
