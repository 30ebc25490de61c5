//! Identities as sops users have them, each checked against the real `sops` where sops reads the same
//! source: `SOPS_AGE_KEY_CMD`, the default SSH keys, plugin lines beside real keys, a broken source
//! beside a working one, and passphrase-protected SSH keys and age-encrypted identity files (asked on a
//! terminal, a clear error without one).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;

const VALUE: &str = "s3cret-identity";

/// A file encrypted by the real sops for `recipient`.
fn encrypted_for(dir: &Path, recipient: &str) -> PathBuf {
    let plain = dir.join("plain.yaml");
    std::fs::write(&plain, format!("a: {VALUE}\n")).unwrap();
    let out = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", recipient])
        .arg(&plain));
    let file = dir.join("enc.yaml");
    std::fs::write(&file, out.stdout).unwrap();
    file
}

fn decrypts(out: &Output) -> bool {
    out.status.success() && stdout(out).contains(VALUE)
}

/// Both tools decrypt `file` with the environment `env` (and HOME set to `home`).
fn both_decrypt(file: &Path, home: &Path, env: &[(&str, &Path)]) -> (Output, Output) {
    let run = |mut cmd: Command| {
        cmd.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.arg(file).stdin(Stdio::null()).output().unwrap()
    };
    let mut s = sops();
    s.args(["--disable-version-check", "decrypt"]);
    let mut t = sealctl();
    t.arg("decrypt");
    (run(s), run(t))
}

#[test]
fn a_broken_source_never_hides_a_working_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = encrypted_for(dir.path(), ONE);
    let keys = std::fs::read_to_string(key("one.agekey")).unwrap();
    let out = sealctl()
        .env("SOPS_AGE_KEY_FILE", dir.path().join("missing.agekey"))
        .env("SOPS_AGE_KEY", keys.trim())
        .arg("decrypt")
        .arg(&file)
        .output()
        .unwrap();
    assert!(decrypts(&out), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing.agekey"),
        "the broken source is named: {}",
        stderr(&out)
    );

    // A plugin identity in a key file is skipped with a warning; the key beside it works.
    let with_plugin = dir.path().join("keys.txt");
    std::fs::write(
        &with_plugin,
        format!(
            "# a YubiKey\nAGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQ\n{}",
            keys
        ),
    )
    .unwrap();
    let out = sealctl()
        .env("SOPS_AGE_KEY_FILE", &with_plugin)
        .arg("decrypt")
        .arg(&file)
        .output()
        .unwrap();
    assert!(decrypts(&out), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("line 2") && stderr(&out).contains("plugin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn key_command_and_default_ssh_keys_are_read_as_sops_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    // SOPS_AGE_KEY_CMD: split into words, no shell, as sops runs it.
    let file = encrypted_for(dir.path(), ONE);
    let command = dir.path().join("key cmd.sh");
    std::fs::write(
        &command,
        format!("#!/bin/sh\ncat '{}'\n", key("one.agekey").display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &command,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // The path has a space: quoted, as a shell user writes it.
    let cmd_value = format!("'{}'", command.display());
    let run = |mut cmd: Command| {
        cmd.env("HOME", &home)
            .env("SOPS_AGE_KEY_CMD", &cmd_value)
            .arg(&file)
            .output()
            .unwrap()
    };
    let mut s = sops();
    s.args(["--disable-version-check", "decrypt"]);
    let mut t = sealctl();
    t.arg("decrypt");
    let (by_sops, by_sealctl) = (run(s), run(t));
    assert!(decrypts(&by_sops), "{}", stderr(&by_sops));
    assert!(decrypts(&by_sealctl), "{}", stderr(&by_sealctl));

    // ~/.ssh/id_ed25519 without SOPS_AGE_SSH_PRIVATE_KEY_FILE.
    let ssh_key = home.join(".ssh/id_ed25519");
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(&ssh_key));
    let public = std::fs::read_to_string(home.join(".ssh/id_ed25519.pub")).unwrap();
    let file = encrypted_for(dir.path(), public.trim());
    let (by_sops, by_sealctl) = both_decrypt(&file, &home, &[]);
    assert!(decrypts(&by_sops), "{}", stderr(&by_sops));
    assert!(decrypts(&by_sealctl), "{}", stderr(&by_sealctl));
}

/// Runs sealctl under a pseudo-terminal (`script`), typing `typed` at it.
fn with_terminal(args: &str, env: &[(&str, &Path)], typed: &str) -> Output {
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} {args}", env!("CARGO_BIN_EXE_sealctl")),
        "/dev/null",
    ]);
    for var in [
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", "/nonexistent-sealsync-test");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs sealctl in a new session: no controlling terminal.
fn without_terminal(file: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("setsid");
    cmd.arg("--wait")
        .arg(env!("CARGO_BIN_EXE_sealctl"))
        .arg("decrypt")
        .arg(file);
    for var in [
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", "/nonexistent-sealsync-test");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn passphrase_protected_keys_are_asked_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let ssh_key = dir.path().join("id_locked");
    ok(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "pa55phrase",
            "-C",
            "test",
            "-f",
        ])
        .arg(&ssh_key));
    let public = std::fs::read_to_string(dir.path().join("id_locked.pub")).unwrap();
    let file = encrypted_for(dir.path(), public.trim());
    let env = [("SOPS_AGE_SSH_PRIVATE_KEY_FILE", ssh_key.as_path())];
    let out = with_terminal(
        &format!("decrypt '{}'", file.display()),
        &env,
        "pa55phrase\n",
    );
    assert!(
        stdout(&out).contains(VALUE),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = without_terminal(&file, &env);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("id_locked") && stderr(&out).contains("no terminal"),
        "{}",
        stderr(&out)
    );

    // An age-encrypted identity file (what `age -p` writes), with the passphrase on the terminal.
    let identity = std::fs::read(key("one.agekey")).unwrap();
    let encryptor =
        age::Encryptor::with_user_passphrase(secrecy::SecretString::from("id-pa55".to_string()));
    let mut sealed = Vec::new();
    let armored =
        age::armor::ArmoredWriter::wrap_output(&mut sealed, age::armor::Format::AsciiArmor)
            .unwrap();
    let mut writer = encryptor.wrap_output(armored).unwrap();
    writer.write_all(&identity).unwrap();
    writer.finish().unwrap().finish().unwrap();
    let sealed_file = dir.path().join("keys.age");
    std::fs::write(&sealed_file, sealed).unwrap();
    let file = encrypted_for(dir.path(), ONE);
    let env = [("SOPS_AGE_KEY_FILE", sealed_file.as_path())];
    let out = with_terminal(&format!("decrypt '{}'", file.display()), &env, "id-pa55\n");
    assert!(
        stdout(&out).contains(VALUE),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = without_terminal(&file, &env);
    assert_eq!(out.status.code(), Some(128));
    assert!(stderr(&out).contains("no terminal"), "{}", stderr(&out));
}
