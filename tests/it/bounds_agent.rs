//! A hostile commit never takes the agent near its memory limit: `sealsync run --once --sink dir:` runs
//! as a child on commits built with the real `git`, and its peak RSS is read from `wait4`'s rusage after
//! it exits (deterministic, unlike any sampling); the bad file is named, the good ones are applied.

use std::path::Path;

use crate::git_servers::Fixture;

/// Far under the shipped 128 Mi limit.
const PEAK_LIMIT_KIB: i64 = 64 * 1024;

const GOOD: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: good\nstringData:\n  a: b\n";

/// What one `run --once` did: exit code, stderr, peak resident memory (KiB).
struct Run {
    code: i32,
    stderr: String,
    peak_kib: i64,
}

fn run_once(fx: &Fixture, work: &Path, extra: &[&str]) -> Run {
    let err_path = work.join("stderr.log");
    let err = std::fs::File::create(&err_path).unwrap();
    // Reaped below by wait4, which std's wait() cannot replace: it alone returns the child's rusage.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sealsync"))
        .args(["run", "--once", "--repo"])
        .arg(&fx.bare)
        .arg("--sink")
        .arg(format!("dir:{}", work.join("out").display()))
        .arg("--cache-dir")
        .arg(work.join("cache"))
        .args(extra)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    Run {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        stderr: std::fs::read_to_string(&err_path).unwrap(),
        peak_kib: usage.ru_maxrss,
    }
}

fn assert_bounded(run: &Run, what: &str) {
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    assert!(
        run.peak_kib < PEAK_LIMIT_KIB,
        "{what}: peak RSS {} KiB (limit {PEAK_LIMIT_KIB} KiB)",
        run.peak_kib
    );
}

fn good_applied(work: &Path) -> bool {
    work.join("out/default/good/a").exists()
}

#[test]
fn yaml_alias_bomb_is_refused_and_the_rest_applied() {
    let fx = Fixture::new();
    let mut bomb = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    fx.write("secrets/bomb.yaml", bomb);
    fx.write("secrets/good.yaml", GOOD);
    fx.commit("bomb");
    let work = tempfile::tempdir().unwrap();
    let run = run_once(&fx, work.path(), &[]);
    assert!(
        run.stderr.contains("secrets/bomb.yaml")
            && run.stderr.contains("aliases expand to more than"),
        "{}",
        run.stderr
    );
    assert!(good_applied(work.path()), "{}", run.stderr);
    assert_bounded(&run, "alias bomb");
}

#[test]
fn a_commit_of_too_many_files_is_refused_and_the_last_good_stays() {
    let fx = Fixture::new();
    fx.write("secrets/good.yaml", GOOD);
    fx.commit("good");
    let work = tempfile::tempdir().unwrap();
    let first = run_once(&fx, work.path(), &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(good_applied(work.path()));
    // One more file than the default bound, each tiny.
    for i in 0..sealsync_agent::git::DEFAULT_MAX_FILES {
        fx.write(&format!("secrets/many/f{i}.yaml"), format!("k: {i}\n"));
    }
    let head = fx.commit("many");
    let run = run_once(&fx, work.path(), &[]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than 20000 files") && run.stderr.contains(&head),
        "the error names the commit and the reason: {}",
        run.stderr
    );
    assert!(good_applied(work.path()), "the last good state stays");
    assert_bounded(&run, "too many files");
}
