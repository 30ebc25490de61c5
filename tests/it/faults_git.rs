//! Git faults seen by a running `sealsync` agent (dir sink, `git daemon` behind the cutting TCP proxy of
//! `tests/fault-proxy`): the connection cut in the middle of a pack, then history rewritten by force
//! pushes (back to an older commit, and onto a diverging one). No Secret is lost or half-written, the
//! git cache survives the broken fetch, and the agent applies the new tip; the time it takes is
//! printed (`cargo test --test it faults_git -- --nocapture`).

use std::path::Path;
use std::time::Instant;

use fault_proxy::TcpProxy;
use rand::RngCore;

use crate::agent_dir::encrypted;
use crate::agent_dir_daemon::Daemon;
use crate::faults_common::recovered;
use crate::git_servers::{git, git_daemon, Fixture};
use crate::support::ONE;

fn commit_passwords(fx: &Fixture, a: &str, b: &str, noise: usize) -> String {
    fx.write(
        "apps/a.yaml",
        encrypted("app", "a", &[("password", a)], ONE),
    );
    fx.write(
        "apps/b.yaml",
        encrypted("app", "b", &[("password", b)], ONE),
    );
    // Incompressible bytes the agent ignores (not a manifest), so that the pack is large.
    let mut bytes = vec![0u8; noise];
    rand::thread_rng().fill_bytes(&mut bytes);
    fx.write("assets/noise.bin", bytes);
    fx.commit(&format!("a={a} b={b}"))
}

fn read(sink: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(sink.join("app").join(name).join("password")).ok()
}

#[test]
fn a_fetch_cut_mid_pack_and_force_pushes_lose_nothing_and_converge() {
    let fx = Fixture::new();
    let daemon = git_daemon(&fx);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = rt.block_on(TcpProxy::start(([127, 0, 0, 1], daemon.port).into()));
    commit_passwords(&fx, "a-1", "b-1", 1 << 20);
    let sink = fx.dir.path().join("secrets");
    let url = format!("git://127.0.0.1:{}/repo.git", proxy.port);
    let agent = Daemon::spawn(&fx, &url, &sink, "1s");
    agent.wait_until(
        || read(&sink, "a").as_deref() == Some("a-1"),
        "the first sync",
    );
    let git_error = || {
        let (_, status) = agent.get("/status");
        serde_json::from_str::<serde_json::Value>(&status)
            .ok()
            .and_then(|s| s["git_error"].as_str().map(String::from))
    };

    // The remote goes away in the middle of the next pack (every connection cut after 32 KiB).
    let what = "git connection cut in the middle of the pack";
    proxy.cut_after(Some(32 * 1024));
    commit_passwords(&fx, "a-2", "b-2", 1 << 20);
    let mut told = String::new();
    agent.wait_until(
        || {
            told = git_error().unwrap_or_default();
            proxy.cuts() > 0 && !told.is_empty()
        },
        "the broken fetch reported",
    );
    assert_eq!(read(&sink, "a").as_deref(), Some("a-1"), "{what}");
    assert_eq!(read(&sink, "b").as_deref(), Some("b-1"), "{what}");
    proxy.cut_after(None);
    let cleared = Instant::now();
    agent.wait_until(
        || read(&sink, "a").as_deref() == Some("a-2") && read(&sink, "b").as_deref() == Some("b-2"),
        "converged after the cut",
    );
    recovered(
        what,
        cleared.elapsed(),
        &format!("/status git_error: {told}"),
    );
    agent.wait_until(|| git_error().is_none(), "the git error cleared");

    // History rewritten back to an older commit (a rollback by force push): that commit is applied.
    let older = fx.head();
    commit_passwords(&fx, "a-3", "b-2", 16);
    agent.wait_until(|| read(&sink, "a").as_deref() == Some("a-3"), "a-3 applied");
    git(&fx.work, &["reset", "-q", "--hard", &older]);
    fx.push();
    let pushed = Instant::now();
    agent.wait_until(
        || read(&sink, "a").as_deref() == Some("a-2"),
        "the force-pushed older commit applied",
    );
    recovered(
        "force push back to an older commit",
        pushed.elapsed(),
        "nothing (the new tip is applied)",
    );
    assert_eq!(read(&sink, "b").as_deref(), Some("b-2"));

    // History rewritten onto a diverging commit.
    git(&fx.work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_passwords(&fx, "a-4", "b-4", 16);
    let pushed = Instant::now();
    agent.wait_until(
        || read(&sink, "a").as_deref() == Some("a-4") && read(&sink, "b").as_deref() == Some("b-4"),
        "the diverging history applied",
    );
    recovered(
        "force push of a diverging history",
        pushed.elapsed(),
        "nothing (the new tip is applied)",
    );
    drop(agent);
    drop(daemon);
}
