//! The agent's process hardening, seen from outside: the age key given in `SOPS_AGE_KEY` reaches no
//! `git` child and leaves the agent's own `/proc/<pid>/environ`; core dumps are off and the process is
//! not dumpable (so not ptrace-attachable by its own user).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

use crate::agent_dir::{agent, two_team_repo};
use crate::git_servers::Fixture;
use crate::support::{key, poll_until};

/// The identity's secret line, as the agent would get it from a Secret mounted as an env variable.
fn age_key_text() -> String {
    std::fs::read_to_string(key("one.agekey")).unwrap()
}

fn secret_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("an identity line")
}

fn write_script(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn age_key_from_the_environment_reaches_no_git_child() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    // gix fetches a file:// remote by running `git-upload-pack` from PATH: this one records its
    // environment, then runs the real one.
    let bin = fx.scratch("bin");
    let dumps = fx.scratch("dumps");
    write_script(
        &bin.join("git-upload-pack"),
        &format!(
            "#!/bin/sh\nenv > {}/env.$$\nexec git upload-pack \"$@\"\n",
            dumps.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let key_text = age_key_text();
    let sink = fx.dir.path().join("secrets");
    let out = agent()
        .args(["run", "--once", "--repo", &fx.file_url()])
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--cache-dir")
        .arg(fx.dir.path().join("cache"))
        .env("PATH", path)
        .env("SOPS_AGE_KEY", &key_text)
        .env("SOPS_AGE_KEY_CMD", "cat /some/key")
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{logs}");
    // The key was read before it left the environment: the Secrets were decrypted with it.
    assert_eq!(
        std::fs::read_to_string(sink.join("team-a/db/password")).unwrap(),
        "s3cret-db-pass"
    );
    let envs: Vec<String> = std::fs::read_dir(&dumps)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!envs.is_empty(), "git-upload-pack ran through the wrapper");
    for env in envs {
        assert!(env.contains("PATH="), "a real environment dump:\n{env}");
        assert!(
            !env.contains("SOPS_AGE_KEY") && !env.contains(secret_line(&key_text)),
            "a git child inherited the age key:\n{env}"
        );
    }
}

#[test]
fn agent_disables_core_dumps_and_ptrace_and_scrubs_its_environ() {
    // Dumpability shows from outside as the owner of /proc/<pid>/environ: the process's user while
    // dumpable, root once not. So the agent must not run as root: as root, run it as `nobody`, in a
    // folder that user can write to.
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path();
    std::fs::set_permissions(shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let key_text = age_key_text();
    let mut cmd = agent();
    cmd.args(["run", "--repo", "git://127.0.0.1:1/unreachable.git"])
        .args(["--interval", "1h", "--listen", "127.0.0.1:0"])
        .arg("--sink")
        .arg(format!("dir:{}", shared.join("secrets").display()))
        .arg("--cache-dir")
        .arg(shared.join("cache"))
        .env("SOPS_AGE_KEY", &key_text)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    }
    let mut child = cmd.spawn().unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    let limits = || std::fs::read_to_string(format!("{proc_dir}/limits")).unwrap_or_default();
    let core_off = || {
        limits().lines().any(|l| {
            l.starts_with("Max core file size")
                && l.split_whitespace().skip(4).take(2).eq(["0", "0"])
        })
    };
    let real_uid = || {
        std::fs::read_to_string(format!("{proc_dir}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next()?.parse::<u32>().ok())
    };
    let not_dumpable = || {
        std::fs::metadata(format!("{proc_dir}/environ")).is_ok_and(|m| m.uid() == 0)
            && real_uid().is_some_and(|uid| uid != 0)
    };
    let environ_scrubbed = || {
        std::fs::read(format!("{proc_dir}/environ"))
            .is_ok_and(|e| !String::from_utf8_lossy(&e).contains(secret_line(&key_text)))
    };
    // The agent keeps running (retrying the unreachable remote) while it is looked at.
    poll_until("core dumps off", core_off);
    poll_until("the agent non-dumpable", not_dumpable);
    poll_until(
        "the age key gone from /proc/<pid>/environ",
        environ_scrubbed,
    );
    assert!(child.try_wait().unwrap().is_none(), "the agent still runs");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn agent_warns_about_an_identity_file_others_can_read() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    let identity = fx.dir.path().join("age.agekey");
    std::fs::copy(key("one.agekey"), &identity).unwrap();
    let run = |mode: u32| {
        std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = agent()
            .args(["run", "--once", "--repo", &fx.file_url()])
            .arg("--sink")
            .arg(format!("dir:{}", fx.dir.path().join("secrets").display()))
            .arg("--cache-dir")
            .arg(fx.dir.path().join("cache"))
            .arg("--identity")
            .arg(&identity)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let logs = run(0o644);
    assert!(
        logs.contains(&format!(
            "identity file '{}' is readable by every user",
            identity.display()
        )) && logs.contains("chmod 600"),
        "{logs}"
    );
    // The kubelet's mount of a Secret for the pod's fsGroup: group-readable, no warning.
    assert!(!run(0o440).contains("identity file"));
}
