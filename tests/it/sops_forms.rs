//! The command forms sops users type from memory, run through both tools: `-d`/`-e`/`-r` and a bare
//! file, `set --value-file` / `--value-stdin` / `--idempotent`, `unset --idempotent`, `--ignore-mac`,
//! `rotate --add-age/--rm-age`, and `exec-env` / `exec-file`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;

/// A file the real sops encrypted for ONE, holding `a: hunter2` and `n: 5`.
fn encrypted(dir: &Path, name: &str) -> PathBuf {
    let plain = dir.join(format!("plain-{name}"));
    std::fs::write(&plain, "a: hunter2\nn: 5\n").unwrap();
    let out = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .arg(&plain));
    let file = dir.join(name);
    std::fs::write(&file, out.stdout).unwrap();
    file
}

fn with_key(mut cmd: Command) -> Command {
    cmd.env("SOPS_AGE_KEY_FILE", key("one.agekey"));
    cmd
}

fn sops_cmd() -> Command {
    let mut cmd = with_key(sops());
    cmd.arg("--disable-version-check");
    cmd
}

fn run(mut cmd: Command, args: &[&str], file: &Path) -> Output {
    cmd.args(args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn short_forms_and_a_bare_file_are_the_commands_sops_users_mean() {
    let dir = tempfile::tempdir().unwrap();
    let file = encrypted(dir.path(), "f.yaml");
    let by_sops = run(sops_cmd(), &["-d"], &file);
    let by_sealctl = run(with_key(sealctl()), &["-d"], &file);
    assert!(by_sealctl.status.success(), "{}", stderr(&by_sealctl));
    assert_eq!(stdout(&by_sealctl), stdout(&by_sops));

    let plain = dir.path().join("p.yaml");
    std::fs::write(&plain, "x: z\n").unwrap();
    ok(sealctl().args(["-i", "-e", "--age", ONE]).arg(&plain));
    assert!(stdout(&sops_decrypt(&plain, &key("one.agekey"), &[])).contains("x: z"));
    ok(with_key(sealctl()).args(["-r", "-i"]).arg(&plain));
    assert!(stdout(&sops_decrypt(&plain, &key("one.agekey"), &[])).contains("x: z"));

    // `sealctl FILE` edits it.
    let editor = dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/hunter2/hunter3/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ok(with_key(sealctl()).env("EDITOR", &editor).arg(&file));
    assert!(stdout(&sops_decrypt(&file, &key("one.agekey"), &[])).contains("a: hunter3"));
}

#[test]
fn set_and_unset_take_values_and_idempotence_as_sops_does() {
    let dir = tempfile::tempdir().unwrap();
    let value = dir.path().join("value.json");
    std::fs::write(&value, "\"from-a-file\"").unwrap();
    for tool in ["sops", "sealctl"] {
        let file = encrypted(dir.path(), &format!("{tool}.yaml"));
        let cmd = || {
            if tool == "sops" {
                sops_cmd()
            } else {
                with_key(sealctl())
            }
        };
        // --value-file: VALUE names a file holding the JSON value.
        let mut c = cmd();
        c.arg("set")
            .arg("--value-file")
            .arg(&file)
            .arg(r#"["a"]"#)
            .arg(&value);
        ok(&mut c);
        assert!(stdout(&sops_decrypt(&file, &key("one.agekey"), &[])).contains("a: from-a-file"));
        // --value-stdin.
        let mut child = cmd()
            .args(["set", "--value-stdin"])
            .arg(&file)
            .arg(r#"["b"]"#)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"\"from-stdin\"")
            .unwrap();
        assert!(child.wait().unwrap().success(), "{tool}");
        assert!(stdout(&sops_decrypt(&file, &key("one.agekey"), &[])).contains("b: from-stdin"));
        // --idempotent leaves the file untouched when nothing changes.
        let before = std::fs::read(&file).unwrap();
        let mut c = cmd();
        c.args(["set", "--idempotent"])
            .arg(&file)
            .args([r#"["a"]"#, r#""from-a-file""#]);
        ok(&mut c);
        let mut c = cmd();
        c.args(["unset", "--idempotent"])
            .arg(&file)
            .arg(r#"["missing"]"#);
        ok(&mut c);
        assert_eq!(std::fs::read(&file).unwrap(), before, "{tool}: rewritten");
    }
}

#[test]
fn ignore_mac_recovers_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let file = encrypted(dir.path(), "f.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("a: ENC", "added_unencrypted: 1\na: ENC", 1),
    )
    .unwrap();
    assert_eq!(
        run(with_key(sealctl()), &["decrypt"], &file).status.code(),
        Some(51)
    );
    let by_sops = run(sops_cmd(), &["decrypt", "--ignore-mac"], &file);
    let by_sealctl = run(with_key(sealctl()), &["decrypt", "--ignore-mac"], &file);
    assert!(by_sealctl.status.success(), "{}", stderr(&by_sealctl));
    assert_eq!(stdout(&by_sealctl), stdout(&by_sops));
    assert!(
        stderr(&by_sealctl).contains("MAC is NOT verified"),
        "{}",
        stderr(&by_sealctl)
    );
    // Recovery: a change with --ignore-mac writes a file whose MAC holds again.
    ok(with_key(sealctl())
        .args(["unset", "--ignore-mac"])
        .arg(&file)
        .arg(r#"["added_unencrypted"]"#));
    assert!(run(with_key(sealctl()), &["decrypt"], &file)
        .status
        .success());
}

#[test]
fn rotate_adds_and_removes_age_recipients() {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["sops", "sealctl"] {
        let file = encrypted(dir.path(), &format!("{tool}.yaml"));
        let mut cmd = if tool == "sops" {
            sops_cmd()
        } else {
            with_key(sealctl())
        };
        ok(cmd
            .args(["rotate", "-i", "--add-age", TWO, "--rm-age", ONE])
            .arg(&file));
        assert!(
            stdout(&sops_decrypt(&file, &key("two.agekey"), &[])).contains("hunter2"),
            "{tool}"
        );
        let old = sops()
            .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
            .args(["--disable-version-check", "decrypt"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            !old.status.success(),
            "{tool}: the removed recipient still decrypts"
        );
    }
}

#[test]
fn exec_env_and_exec_file_never_write_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let file = encrypted(dir.path(), "f.yaml");
    let scratch = dir.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let both = |args: &[&str]| {
        let go = |mut cmd: Command| {
            cmd.env("TMPDIR", &scratch)
                .args(&args[..1])
                .arg(&file)
                .args(&args[1..])
                .output()
                .unwrap()
        };
        (go(sops_cmd()), go(with_key(sealctl())))
    };
    let (by_sops, by_sealctl) = both(&["exec-env", "echo \"$a/$n\""]);
    assert_eq!(
        stdout(&by_sealctl),
        "hunter2/5\n",
        "{}",
        stderr(&by_sealctl)
    );
    assert_eq!(stdout(&by_sealctl), stdout(&by_sops));
    let (by_sops, by_sealctl) = both(&["exec-file", "cat {}"]);
    assert!(by_sealctl.status.success(), "{}", stderr(&by_sealctl));
    assert_eq!(stdout(&by_sealctl), stdout(&by_sops));
    // The command's exit code is sealctl's.
    let (_, by_sealctl) = both(&["exec-env", "exit 7"]);
    assert_eq!(by_sealctl.status.code(), Some(7));
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
