//! `sealctl edit` never saves a wrong result: bytes that are not UTF-8 survive an edit (as
//! `!!binary`, like sops), an emptied buffer or an untouched template is not saved, a new file's
//! recipients are checked before the editor opens, and `$EDITOR` may carry arguments and a quoted
//! path, as git runs it.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

/// An executable shell script `body` at `dir/name`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

fn edit(dir: &Path, editor: &str, file: &str, extra: &[&str]) -> Output {
    sealctl()
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .env("EDITOR", editor)
        .arg("edit")
        .args(extra)
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn bytes_that_are_not_utf8_survive_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), "k: !!binary /w==\nn: one\n").unwrap();
    let enc = ok(sops().current_dir(dir.path()).args([
        "--disable-version-check",
        "encrypt",
        "--age",
        ONE,
        "p.yaml",
    ]));
    std::fs::write(dir.path().join("f.yaml"), enc.stdout).unwrap();
    let file = dir.path().join("f.yaml");
    let reference = stdout(&sops_decrypt(&file, &key("one.agekey"), &[]));
    let ours = ok(sealctl()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .arg("decrypt")
        .arg(&file));
    assert_eq!(stdout(&ours), reference, "decrypt prints what sops prints");
    let editor = script(dir.path(), "ed.sh", "sed -i 's/one/two/' \"$1\"");
    let out = edit(dir.path(), editor.to_str().unwrap(), "f.yaml", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = stdout(&sops_decrypt(&file, &key("one.agekey"), &[]));
    assert_eq!(
        after,
        reference.replace("one", "two"),
        "the binary value is intact"
    );
}

#[test]
fn an_emptied_buffer_or_an_untouched_template_is_never_saved() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.yaml");
    std::fs::write(dir.path().join("p.yaml"), "a: b1\n").unwrap();
    ok(sealctl()
        .current_dir(dir.path())
        .args(["encrypt", "--age", ONE, "--output", "f.yaml", "p.yaml"]));
    let before = std::fs::read(&file).unwrap();
    let empty = script(dir.path(), "empty.sh", ": > \"$1\"");
    let out = edit(dir.path(), empty.to_str().unwrap(), "f.yaml", &[]);
    assert_eq!(out.status.code(), Some(92), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap(), before);

    let out = edit(dir.path(), "true", "new.yaml", &["--age", ONE]);
    assert_eq!(out.status.code(), Some(200), "{}", stderr(&out));
    assert!(!dir.path().join("new.yaml").exists());
}

#[test]
fn a_new_file_without_recipients_fails_before_the_editor_opens() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("editor-ran");
    let editor = script(
        dir.path(),
        "ed.sh",
        &format!("touch '{}'", marker.display()),
    );
    let out = edit(dir.path(), editor.to_str().unwrap(), "new.yaml", &[]);
    assert_eq!(out.status.code(), Some(111), "{}", stderr(&out));
    assert!(
        !marker.exists(),
        "the editor ran, and what was typed would be lost"
    );
}

#[test]
fn editor_with_arguments_and_a_quoted_path_runs_as_git_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let spaced = dir.path().join("my editors");
    std::fs::create_dir(&spaced).unwrap();
    let editor = script(
        &spaced,
        "ed.sh",
        "[ \"$1\" = --wait ] || exit 3\nsed -i 's/b1/b2/' \"$2\"",
    );
    std::fs::write(dir.path().join("p.yaml"), "a: b1\n").unwrap();
    ok(sealctl()
        .current_dir(dir.path())
        .args(["encrypt", "--age", ONE, "--output", "f.yaml", "p.yaml"]));
    let out = edit(
        dir.path(),
        &format!("'{}' --wait", editor.display()),
        "f.yaml",
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let after = stdout(&sops_decrypt(
        &dir.path().join("f.yaml"),
        &key("one.agekey"),
        &[],
    ));
    assert!(after.contains("a: b2"), "{after}");
}
