//! End-to-end tests of the agent's operations ports under attack, against the real `sealsync` binary on
//! 127.0.0.1: memory under 150 connections with 1 MiB bodies, descriptors under an idle-connection flood
//! (with a low RLIMIT_NOFILE), unsigned and rejected floods, replays of a signed delivery, and the
//! webhook on its own listener.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::agent_dir::{agent, encrypted, two_team_repo};
use crate::agent_dir_daemon::{github_signature, request_to, Daemon};
use crate::git_servers::{free_port, Fixture};
use crate::support::{poll_until, ONE};

const SECRET: &[u8] = b"hook-secret";

/// An agent on the two-team repository with `--webhook-listen` on a port of its own (returned).
fn split_daemon(fd_limit: Option<u64>) -> (Fixture, PathBuf, Daemon, u16) {
    let fx = Fixture::new();
    two_team_repo(&fx);
    let sink = fx.dir.path().join("secrets");
    let secret_file = fx.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, "hook-secret\n").unwrap();
    let url = format!("file://{}", fx.bare.display());
    let hook_port = free_port();
    let mut cmd = agent();
    cmd.env("SEALSYNC_WEBHOOK_LISTEN", format!("127.0.0.1:{hook_port}"));
    if let Some(limit) = fd_limit {
        // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let d = Daemon::start_with(&fx, &url, &sink, &secret_file, cmd);
    (fx, sink, d, hook_port)
}

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn log_lines(d: &Daemon, needle: &str) -> usize {
    std::fs::read_to_string(&d.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn many_senders_of_1mib_bodies_keep_memory_bounded_and_healthz_answering() {
    let (_fx, _sink, d, hook_port) = split_daemon(None);
    let pid = d.child.id();
    let before = proc_status_kib(pid, "VmRSS");
    let body = vec![b'a'; 1024 * 1024];
    let signature = github_signature(SECRET, b"something else");
    let senders: Vec<_> = (0..150)
        .map(|_| {
            let body = body.clone();
            let signature = signature.clone();
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", hook_port)) else {
                    return;
                };
                s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let head = format!(
                    "POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if s.write_all(head.as_bytes()).is_ok() {
                    let _ = s.write_all(&body);
                }
                let mut answer = [0u8; 64];
                let _ = s.read(&mut answer);
            })
        })
        .collect();
    // The operations port has its own budget: health answers while the webhook port is under attack.
    poll_until("/healthz during the attack", || d.get("/healthz").0 == 200);
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(d.get("/healthz").0, 200);
    let peak = proc_status_kib(pid, "VmHWM");
    eprintln!("agent VmRSS before: {before} KiB, peak (VmHWM) under 150 x 1 MiB: {peak} KiB");
    // 150 MiB of bodies were sent; at most the 4 MiB body budget (plus buffers) may be held at once.
    assert!(
        peak < before + 32 * 1024,
        "peak RSS {peak} KiB, {before} KiB before the attack"
    );
}

#[test]
fn idle_connections_beyond_the_limit_leave_health_and_git_working() {
    // 128 descriptors: the listeners get 16 connections each, the rest stays for git and the sink.
    let (fx, sink, d, hook_port) = split_daemon(Some(128));
    let pid = d.child.id();
    let cache = fx.dir.path().join("cache-daemon");
    let mut idle = Vec::new();
    for _ in 0..300 {
        for port in [hook_port, d.port] {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                idle.push(s);
            }
        }
    }
    let fds = open_fds(pid);
    eprintln!("agent open fds with {} idle connections: {fds}", idle.len());
    // Connections take at most a quarter of the descriptors: git, the sink and the runtime keep the rest.
    assert!(fds < 100, "{fds} descriptors open");
    // Health answers again once the idle connections time out.
    poll_until("/healthz under the idle flood", || {
        d.get("/healthz").0 == 200
    });
    fx.write(
        "apps/team-a/db.yaml",
        encrypted("team-a", "db", &[("password", "s3cret-rotated")], ONE),
    );
    fx.commit("rotate under the flood");
    fx.push();
    // The flood's connections time out (header timeout), so a signed delivery gets through.
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signed = [("X-Hub-Signature-256", github_signature(SECRET, body))];
    poll_until("a signed delivery accepted", || {
        request_to(hook_port, "POST", "/hooks/git", &signed, body).0 == 202
    });
    poll_until("the new commit applied under the flood", || {
        std::fs::read_to_string(sink.join("team-a/db/password"))
            .ok()
            .as_deref()
            == Some("s3cret-rotated")
    });
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(
        !log.contains("rebuilding"),
        "the git cache was rebuilt:\n{log}"
    );
    assert!(std::fs::read_dir(&cache).unwrap().count() > 0);
    drop(idle);
}

#[test]
fn rejected_requests_are_refused_unread_limited_per_source_and_logged_in_summaries() {
    let (_fx, _sink, d, hook_port) = split_daemon(None);
    // The webhook is served on its own port only.
    assert_eq!(d.request("POST", "/hooks/git", &[], b"{}").0, 404);
    assert_eq!(request_to(hook_port, "GET", "/healthz", &[], b"").0, 404);

    // Unsigned, 100 MiB announced, 64 KiB sent: 401 without the body being read.
    let mut s = TcpStream::connect(("127.0.0.1", hook_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
        .unwrap();
    let _ = s.write_all(&[b'a'; 64 * 1024]);
    let mut answer = [0u8; 12];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 401");
    drop(s);

    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..500 {
        codes.push(request_to(hook_port, "POST", "/hooks/git", &[], b"{}").0);
    }
    assert!(codes.contains(&429), "{codes:?}");
    let summaries = |d: &Daemon| log_lines(d, "requests rejected");
    poll_until("a summary line", || summaries(&d) > 0);
    let allowed = started.elapsed().as_secs() as usize / 10 + 3;
    assert!(
        summaries(&d) <= allowed,
        "{} summary lines for {:?}",
        summaries(&d),
        started.elapsed()
    );
    assert_eq!(log_lines(&d, "webhook delivery rejected"), 0);
}

#[test]
fn replaying_a_signed_delivery_causes_at_most_one_fetch() {
    let (_fx, _sink, d, hook_port) = split_daemon(None);
    let fetches = || log_lines(&d, "git fetch succeeded");
    let before = fetches();
    let body = br#"{"ref":"refs/heads/main"}"#;
    let headers = [
        ("X-Hub-Signature-256", github_signature(SECRET, body)),
        (
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
        ),
    ];
    let mut codes = Vec::new();
    for _ in 0..100 {
        codes.push(request_to(hook_port, "POST", "/hooks/git", &headers, body).0);
    }
    assert_eq!(codes[0], 202);
    assert!(codes[1..].iter().all(|c| *c == 200), "{codes:?}");
    poll_until("the delivery's fetch", || fetches() > before);
    // Longer than the webhook rate-limit window: a deferred fetch would have run by now.
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(fetches(), before + 1, "replays caused fetches");
}

#[test]
fn webhook_listen_is_checked_and_explained() {
    let run = |extra: &[&str]| {
        agent()
            .args([
                "check-config",
                "--repo",
                "https://git.example.invalid/r.git",
            ])
            .args(["--sink", "dir:/nonexistent-sealsync-test"])
            .args(extra)
            .output()
            .unwrap()
    };
    let same = run(&[
        "--listen",
        "127.0.0.1:8080",
        "--webhook-listen",
        "127.0.0.1:8080",
    ]);
    assert_eq!(same.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&same.stderr).contains("--webhook-listen"));
    let bad = run(&["--webhook-listen", "8081"]);
    assert_eq!(bad.status.code(), Some(1));
    let split = run(&["--webhook-listen", "0.0.0.0:8081"]);
    let out = String::from_utf8_lossy(&split.stdout);
    assert!(
        out.lines().any(|l| l.contains("webhook_listen")
            && l.contains("0.0.0.0:8081")
            && l.contains("flag --webhook-listen")),
        "{out}"
    );
}
