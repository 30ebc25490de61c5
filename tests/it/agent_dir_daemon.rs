//! End-to-end tests of a long-running `sealsync` agent with the dir sink: webhook-triggered fetches
//! (and refused signatures), files changed by hand restored, each commit applied through a pass over
//! what changed, and a scan of everything it emitted for plaintext.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::agent_dir::{agent, assert_no_plaintext, encrypted, two_team_repo};
use crate::git_servers::{free_port, Fixture};
use crate::support::{key, poll_until_or, ONE};

/// A long-running agent with its operations endpoints.
pub(crate) struct Daemon {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Daemon {
    fn start(fx: &Fixture, url: &str, sink: &Path, webhook_secret: &Path) -> Daemon {
        Daemon::start_with(fx, url, sink, webhook_secret, agent())
    }

    /// Starts `agent` (a command that may carry more flags or process limits) as [`Daemon::start`] does.
    pub(crate) fn start_with(
        fx: &Fixture,
        url: &str,
        sink: &Path,
        webhook_secret: &Path,
        mut agent: std::process::Command,
    ) -> Daemon {
        let port = free_port();
        let log = fx.dir.path().join("agent.log");
        let child = agent
            .args([
                "run",
                "--repo",
                url,
                "--interval",
                "1h",
                "--log-format",
                "json",
            ])
            .arg("--sink")
            .arg(format!("dir:{}", sink.display()))
            .arg("--cache-dir")
            .arg(fx.dir.path().join("cache-daemon"))
            .arg("--identity")
            .arg(key("one.agekey"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--webhook-secret-file")
            .arg(webhook_secret)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon { child, port, log };
        d.wait_until(|| d.get("/readyz").0 == 200, "ready");
        d
    }

    /// A daemon with the dir sink in `sink`, polling every `interval`, not awaited ready (its first
    /// fetch may fail).
    pub(crate) fn spawn(fx: &Fixture, url: &str, sink: &Path, interval: &str) -> Daemon {
        let port = free_port();
        let log = fx.dir.path().join("agent.log");
        let child = agent()
            .args(["run", "--repo", url, "--interval", interval])
            .arg("--sink")
            .arg(format!("dir:{}", sink.display()))
            .arg("--cache-dir")
            .arg(fx.dir.path().join("cache-daemon"))
            .arg("--identity")
            .arg(key("one.agekey"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, port, log }
    }

    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> (u16, String) {
        request_to(self.port, method, path, headers, body)
    }

    /// Sends the webhook as GitLab would (token `hook-secret`): a pass starts now.
    fn notify(&self) {
        let (code, _) = self.request(
            "POST",
            "/hooks/git",
            &[("X-Gitlab-Token", "hook-secret".to_string())],
            b"{}",
        );
        assert_eq!(code, 202);
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], b"")
    }

    pub(crate) fn wait_until(&self, check: impl FnMut() -> bool, what: &str) {
        poll_until_or(what, check, || {
            format!(
                "log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        });
    }
}

/// One request on a fresh connection to 127.0.0.1:`port`: the status (0 if unanswered) and the body.
pub(crate) fn request_to(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(crate::support::PATIENCE)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    // The server may answer and close before taking the whole body.
    let _ = s.write_all(body);
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn github_signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The two-team repository, and an agent serving it into a folder, polling hourly, with the webhook
/// secret `hook-secret`.
fn two_team_daemon() -> (Fixture, PathBuf, Daemon) {
    let fx = Fixture::new();
    two_team_repo(&fx);
    let sink = fx.dir.path().join("secrets");
    let secret_file = fx.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, "hook-secret\n").unwrap();
    let url = format!("file://{}", fx.bare.display());
    let d = Daemon::start(&fx, &url, &sink, &secret_file);
    (fx, sink, d)
}

#[test]
fn webhook_triggers_a_fetch_and_bad_signatures_are_refused() {
    let (fx, sink, d) = two_team_daemon();
    assert_eq!(
        std::fs::read_to_string(sink.join("team-a/db/password")).unwrap(),
        "s3cret-db-pass"
    );
    fx.write(
        "apps/team-a/db.yaml",
        encrypted("team-a", "db", &[("password", "s3cret-webhook-value")], ONE),
    );
    fx.commit("change via webhook");
    fx.push();
    let body = br#"{"ref":"refs/heads/main"}"#;

    // A wrong signature: 401 and no fetch.
    let (code, _) = d.request(
        "POST",
        "/hooks/git",
        &[("X-Hub-Signature-256", github_signature(b"wrong", body))],
        body,
    );
    assert_eq!(code, 401);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read_to_string(sink.join("team-a/db/password")).unwrap(),
        "s3cret-db-pass"
    );

    // The right one: 202, and the new commit is applied long before the 1h poll.
    let (code, _) = d.request(
        "POST",
        "/hooks/git",
        &[(
            "X-Hub-Signature-256",
            github_signature(b"hook-secret", body),
        )],
        body,
    );
    assert_eq!(code, 202);
    d.wait_until(
        || {
            std::fs::read_to_string(sink.join("team-a/db/password"))
                .ok()
                .as_deref()
                == Some("s3cret-webhook-value")
        },
        "the webhook-triggered update",
    );

    // Everything the agent exposes is free of plaintext values.
    let (code, status) = d.get("/status");
    assert_eq!(code, 200);
    assert!(
        status.contains("team-a") && status.contains("apps/team-a/db.yaml"),
        "{status}"
    );
    let (code, metrics) = d.get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("sealsync_secrets_applied_total"),
        "{metrics}"
    );
    let log = std::fs::read_to_string(&d.log).unwrap();
    for (what, text) in [("status", &status), ("metrics", &metrics), ("log", &log)] {
        assert_no_plaintext(text, what);
    }
    // Files changed by hand are restored on the next pass (triggered here by the webhook).
    let next_pass = || d.notify();
    let reads = |key: &str, want: &str| {
        std::fs::read_to_string(sink.join(key)).ok().as_deref() == Some(want)
    };
    std::fs::remove_file(sink.join("team-a/api/token")).unwrap();
    next_pass();
    d.wait_until(
        || sink.join("team-a/api/token").exists(),
        "the restored file",
    );

    // A value rewritten in place: the watcher marks its Secret, the next pass puts it back.
    let real = std::fs::canonicalize(sink.join("team-a/db/password")).unwrap();
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(&real, "edited-by-hand").unwrap();
    next_pass();
    d.wait_until(
        || reads("team-a/db/password", "s3cret-webhook-value"),
        "the value edited by hand restored",
    );
    // Both counted as drift reverted once their pass is published (before: the dir sink never
    // counted any).
    d.wait_until(
        || {
            d.get("/metrics")
                .1
                .contains("sealsync_drift_reverted_total{kind=\"edited\"} 2")
        },
        "two reverted edits counted",
    );
}

#[test]
fn a_long_running_agent_applies_each_commit_through_a_pass_over_what_changed() {
    let (fx, sink, d) = two_team_daemon();
    let commit_and_notify = |message: &str| {
        fx.commit(message);
        d.notify();
    };
    let reads = |key: &str| std::fs::read_to_string(sink.join(key)).ok();
    let status = || d.get("/status").1;

    // Commits one encrypted value and waits until the sink holds it.
    let put = |(ns, name, key): (&str, &str, &str), value: &str, message: &str| {
        fx.write(
            &format!("apps/{ns}/{name}.yaml"),
            encrypted(ns, name, &[(key, value)], ONE),
        );
        commit_and_notify(message);
        let path = format!("{ns}/{name}/{key}");
        d.wait_until(|| reads(&path).as_deref() == Some(value), message);
    };

    put(
        ("team-b", "queue", "password"),
        "s3cret-db-pass",
        "add a queue",
    );

    // A file broken: its Secret keeps the last good value, and /status says why.
    fx.write(
        "apps/team-a/api.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: [\n",
    );
    commit_and_notify("break api.yaml");
    d.wait_until(
        || status().contains("\"state\":\"failed\"") && status().contains("apps/team-a/api.yaml"),
        "the broken file reported",
    );
    assert_eq!(
        reads("team-a/api/token").as_deref(),
        Some("s3cret-api-token")
    );

    // A Secret removed from git: pruned, and shown as such until the next pass.
    fx.remove("apps/team-b/mail.yaml");
    commit_and_notify("remove mail");
    d.wait_until(|| !sink.join("team-b/mail").exists(), "the pruned Secret");
    d.wait_until(|| status().contains("\"pruned\""), "mail shown as pruned");

    // The file fixed: its Secret is updated and no longer failed.
    put(
        ("team-a", "api", "token"),
        "s3cret-webhook-value",
        "fix api.yaml",
    );
    d.wait_until(
        || !status().contains("\"state\":\"failed\""),
        "no failure left",
    );
    assert!(!status().contains("\"mail\""), "{}", status());
    assert_eq!(
        reads("team-a/db/password").as_deref(),
        Some("s3cret-db-pass")
    );

    // The first pass looked at everything, the later ones only at what changed — and at what the
    // pass before wrote, which the dir sink reads back once: so the second pass may visit everything
    // the first one created, the others never do.
    let log = std::fs::read_to_string(&d.log).unwrap();
    let passes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"message\":\"reconciled\""))
        .collect();
    assert!(passes.len() >= 5, "{log}");
    assert!(passes[0].contains("\"partial\":false"), "{}", passes[0]);
    for (n, pass) in passes.iter().enumerate().skip(1) {
        assert!(pass.contains("\"partial\":true"), "{pass}");
        assert!(
            n == 1 || !pass.contains("\"visited\":4"),
            "a partial pass visited everything: {pass}"
        );
    }
    assert_no_plaintext(&log, "log");
}
