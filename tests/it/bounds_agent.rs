//! A hostile commit never takes the agent near its memory limit: `sealsync run --once --sink dir:` runs
//! on commits built with the real `git`, and its peak RSS is read from `wait4`'s rusage after it exits
//! (deterministic, unlike any sampling); the bad file is named, the good ones are applied.

use std::path::Path;

use crate::git_servers::{git_daemon, Fixture};

/// Far under the shipped 128 Mi limit.
const PEAK_LIMIT_KIB: i64 = 64 * 1024;

const GOOD: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: good\nstringData:\n  a: b\n";

/// What one `run --once` did: exit code, stderr, peak resident memory (KiB).
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stderr: String,
    pub(crate) peak_kib: i64,
}

fn run_once(fx: &Fixture, work: &Path, extra: &[&str]) -> Run {
    run_once_from(fx.bare.as_os_str(), work, extra)
}

/// Starts argv[1..] and prints its peak RSS (KiB) and exit code once it exits. The agent must not be a
/// direct child of the test binary: a child started by `vfork` (as std's `Command` does) records the
/// parent's peak RSS when it execs, and the test binary, running every test at once, is far larger than
/// the agent. This small parent keeps the floor at its own size.
const MEASURE: &str = r#"
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
print(usage.ru_maxrss, code)
"#;

/// [`run_once`] against any remote. `wait4` counts the agent's children too: with a `file://` remote
/// that includes the `git upload-pack` serving it, so commits whose server side is large are served by
/// `git daemon` instead.
pub(crate) fn run_once_from(repo: &std::ffi::OsStr, work: &Path, extra: &[&str]) -> Run {
    let err_path = work.join("stderr.log");
    let err = std::fs::File::create(&err_path).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", MEASURE, env!("CARGO_BIN_EXE_sealsync")])
        .args(["run", "--once", "--repo"])
        .arg(repo)
        .arg("--sink")
        .arg(format!("dir:{}", work.join("out").display()))
        .arg("--cache-dir")
        .arg(work.join("cache"))
        .args(extra)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .stderr(err)
        .output()
        .expect("run python3");
    let measured = String::from_utf8_lossy(&out.stdout);
    // The agent's own stdout comes first (the pass summary); the measurement is the last line.
    let last = measured.lines().last().unwrap_or_default();
    let (peak, code) = last
        .split_once(' ')
        .unwrap_or_else(|| panic!("no measurement from the wrapper: {measured}"));
    Run {
        code: code.trim().parse().expect("an exit code"),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
        peak_kib: peak.trim().parse().expect("a peak RSS"),
    }
}

fn assert_bounded(run: &Run, what: &str) {
    eprintln!("{what}: peak RSS {} KiB", run.peak_kib);
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

/// Writes `len` bytes of `byte` at `rel` in the fixture's work tree without holding them in memory.
fn write_big(fx: &Fixture, rel: &str, len: u64, byte: u8) {
    use std::io::Write;
    let path = fx.work.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let chunk = vec![byte; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
}

/// Applies a good commit, then commits what `change` writes and runs again: the second run must be
/// refused for `reason`, bounded, with the first run's state still in place.
fn refused_after_good(change: impl FnOnce(&Fixture), extra: &[&str], reason: &str, what: &str) {
    let fx = Fixture::new();
    fx.write("secrets/good.yaml", GOOD);
    fx.commit("good");
    let daemon = git_daemon(&fx);
    let url = std::ffi::OsString::from(format!("git://127.0.0.1:{}/repo.git", daemon.port));
    let work = tempfile::tempdir().unwrap();
    let mut args = vec!["--path", "secrets"];
    args.extend_from_slice(extra);
    let first = run_once_from(&url, work.path(), &args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    change(&fx);
    fx.commit(what);
    let run = run_once_from(&url, work.path(), &args);
    assert_ne!(run.code, 0, "{what}: {}", run.stderr);
    assert!(
        run.stderr.contains("is refused") && run.stderr.contains(reason),
        "{what}: the error names the reason: {}",
        run.stderr
    );
    assert!(
        good_applied(work.path()),
        "{what}: the last good state stays"
    );
    assert_bounded(&run, what);
}

#[test]
fn a_huge_blob_outside_the_paths_is_never_inflated() {
    // 100 MiB of zeros packs into about 100 KiB: only the size each pack entry declares stops it.
    refused_after_good(
        |fx| write_big(fx, "assets/blob.bin", 100 << 20, 0),
        &[],
        "holds an object of more than 16777216 bytes",
        "100 MiB blob outside --path",
    );
}

#[test]
fn a_huge_manifest_inside_the_paths_is_never_inflated() {
    refused_after_good(
        |fx| write_big(fx, "secrets/huge.yaml", 256 << 20, b' '),
        &[],
        "holds an object of more than",
        "256 MiB manifest",
    );
}

#[test]
fn a_pack_over_the_fetch_budget_is_stopped() {
    // Incompressible bytes, so the pack really is larger than the 1 MiB budget set here.
    refused_after_good(
        |fx| {
            let mut noise = Vec::with_capacity(3 << 20);
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            while noise.len() < 3 << 20 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                noise.extend_from_slice(&x.to_le_bytes());
            }
            std::fs::create_dir_all(fx.work.join("assets")).unwrap();
            std::fs::write(fx.work.join("assets/noise.bin"), noise).unwrap();
        },
        &["--max-fetch-size", "1MiB"],
        "its pack is more than 1048576 bytes",
        "3 MiB pack over a 1 MiB budget",
    );
}
