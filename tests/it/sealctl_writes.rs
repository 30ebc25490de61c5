//! In-place writes by every `sealctl` command that rewrites a file (`encrypt -i`, `set`, `unset`,
//! `edit`, `rotate -i`, `updatekeys`): through a symbolic link to its target, keeping hard links,
//! owner and mode, and never leaving plaintext behind a link.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

use crate::support::*;

const PLAIN: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret-linked\n";

struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    /// `real/secret.yaml`, a symlink `link.yaml -> real/secret.yaml`, a hard link `hard.yaml`, owned by
    /// another user with mode 0640 (the tests run as root, which may hand files to anyone).
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/secret.yaml");
        std::fs::write(&real, PLAIN).unwrap();
        std::os::unix::fs::symlink("real/secret.yaml", dir.path().join("link.yaml")).unwrap();
        std::fs::write(
            dir.path().join(".sops.yaml"),
            format!("creation_rules:\n  - age: {ONE}\n    encrypted_regex: ^(data|stringData)$\n"),
        )
        .unwrap();
        Layout { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn real(&self) -> PathBuf {
        self.path("real/secret.yaml")
    }

    fn sealctl(&self) -> Command {
        let mut cmd = sealctl();
        cmd.current_dir(self.dir.path())
            .arg("--identity")
            .arg(key("one.agekey"));
        cmd
    }

    fn assert_link_kept_and_encrypted(&self, what: &str) {
        let link = std::fs::symlink_metadata(self.path("link.yaml")).unwrap();
        assert!(
            link.file_type().is_symlink(),
            "{what}: the link was replaced"
        );
        let text = std::fs::read_to_string(self.real()).unwrap();
        assert!(
            !text.contains("s3cret-linked") && text.contains("ENC[AES256_GCM"),
            "{what}: the target holds plaintext:\n{text}"
        );
    }
}

fn run(cmd: &mut Command) {
    ok(cmd);
}

#[test]
fn every_in_place_command_writes_through_a_symlink() {
    let l = Layout::new();
    run(l.sealctl().args(["encrypt", "-i", "link.yaml"]));
    l.assert_link_kept_and_encrypted("encrypt -i");
    run(l.sealctl().args([
        "set",
        "link.yaml",
        r#"["stringData"]["user"]"#,
        r#""admin""#,
    ]));
    l.assert_link_kept_and_encrypted("set");
    run(l
        .sealctl()
        .args(["unset", "link.yaml", r#"["stringData"]["user"]"#]));
    l.assert_link_kept_and_encrypted("unset");
    run(l.sealctl().args(["rotate", "-i", "link.yaml"]));
    l.assert_link_kept_and_encrypted("rotate -i");
    std::fs::write(
        l.path(".sops.yaml"),
        format!("creation_rules:\n  - age: {ONE},{TWO}\n"),
    )
    .unwrap();
    run(l.sealctl().args(["updatekeys", "-y", "link.yaml"]));
    l.assert_link_kept_and_encrypted("updatekeys");
    let editor = l.path("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/s3cret-linked/s3cret-edited/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(l
        .sealctl()
        .env("EDITOR", &editor)
        .args(["edit", "link.yaml"]));
    l.assert_link_kept_and_encrypted("edit");
    // The real sops reads the target, which holds the edit.
    let out = sops_decrypt(&l.real(), &key("two.agekey"), &[]);
    assert!(stdout(&out).contains("s3cret-edited"), "{}", stdout(&out));
    // No temporary file is left in either directory.
    for dir in [l.dir.path().to_path_buf(), l.path("real")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(!name.to_string_lossy().starts_with(".sealctl-"), "{name:?}");
        }
    }
}

#[test]
fn hard_links_owner_and_mode_are_kept() {
    let l = Layout::new();
    std::fs::hard_link(l.real(), l.path("hard.yaml")).unwrap();
    run(l.sealctl().args(["encrypt", "-i", "real/secret.yaml"]));
    let a = std::fs::read(l.real()).unwrap();
    let b = std::fs::read(l.path("hard.yaml")).unwrap();
    assert_eq!(a, b, "both names of the file see the ciphertext");
    assert_eq!(
        std::fs::metadata(l.real()).unwrap().ino(),
        std::fs::metadata(l.path("hard.yaml")).unwrap().ino()
    );

    // Owner and mode of a file that is replaced atomically.
    let solo = l.path("solo.yaml");
    std::fs::write(&solo, PLAIN).unwrap();
    std::os::unix::fs::chown(&solo, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&solo, std::fs::Permissions::from_mode(0o640)).unwrap();
    run(l.sealctl().args(["encrypt", "-i", "solo.yaml"]));
    let meta = std::fs::metadata(&solo).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "owner kept");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "mode kept");
    assert!(!std::fs::read_to_string(&solo)
        .unwrap()
        .contains("s3cret-linked"));
}

#[test]
fn a_link_loop_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    std::os::unix::fs::symlink("b.yaml", &a).unwrap();
    std::os::unix::fs::symlink("a.yaml", dir.path().join("b.yaml")).unwrap();
    let out = sealctl()
        .current_dir(dir.path())
        .args(["encrypt", "-i", "--age", ONE, "a.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a.yaml"), "{}", stderr(&out));
}
