//! `sealctl edit` under signals: its scratch directory is private (0700, the file 0600) while the
//! editor runs; SIGTERM and SIGHUP wipe it and end sealctl by that signal; SIGINT during the editor is
//! the editor's business (sealctl survives it and saves the edit), as with git.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{key, ok, poll_until, sealctl, sops_decrypt, stdout, yaml_docs, ONE};

/// An edit in progress: the editor has recorded the scratch file's path and waits for `go`.
struct Editing {
    dir: tempfile::TempDir,
    file: PathBuf,
    scratch_file: PathBuf,
    editor_pid: u32,
    sealctl: Child,
}

impl Editing {
    fn start() -> Editing {
        let dir = tempfile::tempdir().unwrap();
        let tmpdir = dir.path().join("tmp");
        std::fs::create_dir(&tmpdir).unwrap();
        let file = dir.path().join("app.yaml");
        std::fs::write(&file, "service:\n    name: checkout\n").unwrap();
        ok(sealctl().args(["encrypt", "-i", "--age", ONE]).arg(&file));
        // The editor records its file and pid, waits for `go`, then edits and exits 0.
        let script = dir.path().join("editor.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho $$ > {d}/pid\necho \"$1\" > {d}/path.tmp && mv {d}/path.tmp {d}/path\n\
                 while [ ! -e {d}/go ]; do sleep 0.05; done\nsed -i s/checkout/cart/ \"$1\"\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sealctl = sealctl()
            .env("EDITOR", &script)
            .env("TMPDIR", &tmpdir)
            .arg("--identity")
            .arg(key("one.agekey"))
            .arg("edit")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let recorded = dir.path().join("path");
        poll_until("the editor to start", || recorded.exists());
        let scratch_file = PathBuf::from(std::fs::read_to_string(&recorded).unwrap().trim());
        let editor_pid = std::fs::read_to_string(dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Editing {
            dir,
            file,
            scratch_file,
            editor_pid,
            sealctl,
        }
    }

    fn scratch_dir(&self) -> &Path {
        self.scratch_file.parent().unwrap()
    }

    fn signal(&self, pid: u32, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(st.success(), "kill -{sig} {pid}");
    }

    fn go(&self) {
        std::fs::write(self.dir.path().join("go"), "").unwrap();
    }

    /// The scratch directory and everything in it are gone, and nothing else is left in TMPDIR.
    fn assert_wiped(&self) {
        assert!(!self.scratch_file.exists(), "the plaintext file is removed");
        assert!(
            !self.scratch_dir().exists(),
            "the scratch directory is removed"
        );
        let left: Vec<_> = std::fs::read_dir(self.dir.path().join("tmp"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "TMPDIR is empty: {left:?}");
    }
}

impl Drop for Editing {
    fn drop(&mut self) {
        // Whatever happened, let the editor script end and reap sealctl.
        self.go();
        let _ = self.sealctl.kill();
        let _ = self.sealctl.wait();
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Whether `/proc/<pid>` shows a process that is gone or a zombie.
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn terminated_by(sig: &str, number: i32) {
    let mut edit = Editing::start();
    assert_eq!(mode(edit.scratch_dir()), 0o700, "scratch directory mode");
    assert_eq!(mode(&edit.scratch_file), 0o600, "scratch file mode");
    assert!(std::fs::read_to_string(&edit.scratch_file)
        .unwrap()
        .contains("checkout"));
    let before = std::fs::read(&edit.file).unwrap();
    edit.signal(edit.sealctl.id(), sig);
    let status = edit.sealctl.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(number),
        "sealctl ends by {sig}: {status}"
    );
    edit.assert_wiped();
    assert!(ended(edit.editor_pid), "the editor was stopped too");
    assert_eq!(std::fs::read(&edit.file).unwrap(), before, "nothing saved");
}

#[test]
fn edit_scratch_is_private_and_wiped_on_sigterm() {
    terminated_by("TERM", 15);
}

#[test]
fn edit_scratch_is_private_and_wiped_on_sighup() {
    terminated_by("HUP", 1);
}

/// Bit of `sig` in a /proc signal mask.
fn in_mask(status: &str, field: &str, sig: u32) -> Option<bool> {
    let hex = status.lines().find_map(|l| l.strip_prefix(field))?.trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(mask & (1 << (sig - 1)) != 0)
}

/// `sig` sent to `pid` has been taken and handled: it is no longer pending, and a thread waits for
/// signals again (while in sigwait(2) a thread's blocked mask lacks the awaited signals) - or it
/// ended the process.
fn signal_handled(pid: u32, sig: u32) -> bool {
    if ended(pid) {
        return true;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    if in_mask(&status, "ShdPnd:", sig) != Some(false) {
        return false;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("status"))
            .ok()
            .and_then(|s| in_mask(&s, "SigBlk:", sig))
            == Some(false)
    })
}

#[test]
fn edit_survives_sigint_while_the_editor_runs_and_saves() {
    let mut edit = Editing::start();
    let pid = edit.sealctl.id();
    edit.signal(pid, "INT");
    poll_until("sealctl to take SIGINT", || signal_handled(pid, 2));
    edit.go();
    let status = edit.sealctl.wait().unwrap();
    assert!(status.success(), "sealctl saved the edit: {status}");
    edit.assert_wiped();
    let out = sops_decrypt(&edit.file, &key("one.agekey"), &[]);
    assert_eq!(
        yaml_docs(&stdout(&out))[0]["service"]["name"].as_str(),
        Some("cart")
    );
}

#[test]
fn edit_is_wiped_when_the_editor_dies_of_sigint() {
    let mut edit = Editing::start();
    // Ctrl-C at the terminal reaches both; the editor dies of it, sealctl ignores it.
    let pid = edit.sealctl.id();
    edit.signal(pid, "INT");
    poll_until("sealctl to take SIGINT", || signal_handled(pid, 2));
    edit.signal(edit.editor_pid, "INT");
    let status = edit.sealctl.wait().unwrap();
    assert!(
        status.code().is_some_and(|c| c != 0),
        "the edit failed: {status}"
    );
    edit.assert_wiped();
}
