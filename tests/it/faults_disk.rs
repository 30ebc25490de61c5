//! The disk under the dir sink full (a small tmpfs, filled up): writes fail with ENOSPC, `/status`
//! says so, the last good files stay whole, and the agent converges once space is freed; the time it
//! takes is printed (`cargo test --test it faults_disk -- --nocapture`). Mounting needs root (or
//! CAP_SYS_ADMIN): where it is not permitted, the test says so and passes without running.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::agent_dir::encrypted;
use crate::agent_dir_daemon::Daemon;
use crate::faults_common::{recovered, secret_status};
use crate::git_servers::Fixture;
use crate::support::ONE;

/// A tmpfs of a fixed size, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

const NAMES: [&str; 3] = ["a", "b", "c"];

/// A value of about 48 KiB whose first bytes name its version.
fn value(version: u32, name: &str) -> String {
    format!("v{version}-{name}-{}", "x".repeat(48 * 1024))
}

fn commit_version(fx: &Fixture, version: u32) {
    for name in NAMES {
        fx.write(
            &format!("apps/{name}.yaml"),
            encrypted("app", name, &[("password", &value(version, name))], ONE),
        );
    }
    fx.commit(&format!("version {version}"));
}

/// Every Secret holds `version`, whole.
fn all_hold(sink: &Path, version: u32) -> bool {
    NAMES.iter().all(|name| {
        std::fs::read_to_string(sink.join("app").join(name).join("password")).ok()
            == Some(value(version, name))
    })
}

/// Fills the file system of `path` with a file there until a write fails with ENOSPC.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        if let Err(e) = file.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            return;
        }
    }
}

#[test]
fn a_full_disk_under_the_dir_sink_keeps_the_last_files_and_recovers_when_space_is_freed() {
    let fx = Fixture::new();
    let mount = fx.dir.path().join("small-disk");
    let _tmpfs = match Tmpfs::mount(&mount, "1m") {
        Ok(t) => t,
        Err(why) => {
            println!("skipped: cannot mount a tmpfs here ({why}); run as root to test a full disk");
            return;
        }
    };
    commit_version(&fx, 1);
    let sink = mount.join("secrets");
    let agent = Daemon::spawn(&fx, &fx.file_url(), &sink, "1s");
    agent.wait_until(|| all_hold(&sink, 1), "the first sync");

    let filler = mount.join("filler");
    fill(&filler);
    commit_version(&fx, 2);
    let mut told = String::new();
    agent.wait_until(
        || {
            let (_, status) = agent.get("/status");
            match secret_status(&status, "app", "a") {
                Some((state, error)) if state == "failed" => {
                    told = error;
                    true
                }
                _ => false,
            }
        },
        "the failed writes reported",
    );
    assert!(
        told.contains("No space left on device") || told.contains("os error 28"),
        "{told}"
    );
    assert!(all_hold(&sink, 1), "the last good files stay, whole");
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    agent.wait_until(|| all_hold(&sink, 2), "converged once space was freed");
    recovered(
        "disk full under the dir sink (ENOSPC), space freed",
        freed.elapsed(),
        &format!("/status a failed: {told}"),
    );
    // Nothing half-made is left: one version directory per Secret, no staging directory.
    for name in NAMES {
        let versions = std::fs::read_dir(sink.join("app").join(name))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
            .count();
        assert_eq!(versions, 1, "{name}");
    }
    let staging = std::fs::read_dir(sink.join("app"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("..sealsync-"))
        .count();
    assert_eq!(staging, 0);
    drop(agent);
}
