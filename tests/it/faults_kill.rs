//! The agent SIGKILLed in the middle of a pass that rewrites every Secret of a large repository, then
//! started again, with the dir sink and with the kube sink: each Secret holds the old version or the
//! new one, whole (both keys from the same version), none is lost, and the restarted agent converges;
//! the time from the restart is printed (`cargo test --test it faults_kill -- --nocapture`).
//!
//! Where the kill lands is up to the machine: each test kills as soon as it sees the pass under way
//! (some Secrets new, some old), tries again on the next version when the pass was already over, and
//! prints how many Secrets the pass had written when the kill landed. The checks hold either way.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::agent_dir::encrypted;
use crate::agent_dir_daemon::Daemon;
use crate::faults_common::recovered;
use crate::git_servers::Fixture;
use crate::support::ONE;

/// Commits `count` Secrets `s-<i>` in `namespace`, each with `user` and `password` of `version`.
fn commit_version(fx: &Fixture, namespace: &str, count: usize, version: u32) {
    for i in 0..count {
        let (user, password) = values(version, i);
        fx.write(
            &format!("apps/s-{i}.yaml"),
            encrypted(
                namespace,
                &format!("s-{i}"),
                &[("user", &user), ("password", &password)],
                ONE,
            ),
        );
    }
    fx.commit(&format!("version {version}"));
}

fn values(version: u32, i: usize) -> (String, String) {
    (format!("v{version}-user-{i}"), format!("v{version}-pw-{i}"))
}

/// Which version each Secret holds; panics on a Secret lost, blanked or half-written (keys of two
/// versions, or a value of none).
fn versions(
    secrets: &BTreeMap<String, (Option<String>, Option<String>)>,
    count: usize,
    allowed: &[u32],
) -> BTreeMap<u32, usize> {
    let mut seen = BTreeMap::new();
    for i in 0..count {
        let name = format!("s-{i}");
        let (user, password) = secrets
            .get(&name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} lost"));
        let version = allowed.iter().copied().find(|v| {
            let (u, p) = values(*v, i);
            user.as_deref() == Some(u.as_str()) && password.as_deref() == Some(p.as_str())
        });
        let Some(version) = version else {
            panic!("{name} is neither of versions {allowed:?}, whole: user {user:?}, password {password:?}")
        };
        *seen.entry(version).or_insert(0) += 1;
    }
    seen
}

/// How many Secrets hold `version`'s password (read while the agent runs: a Secret's keys are read
/// one after the other, so only [`versions`], once it stopped, checks them together).
fn holding(secrets: &BTreeMap<String, (Option<String>, Option<String>)>, version: u32) -> usize {
    secrets
        .iter()
        .filter(|(name, (_, password))| {
            let i: usize = name.trim_start_matches("s-").parse().unwrap_or(usize::MAX);
            password.as_deref() == Some(values(version, i).1.as_str())
        })
        .count()
}

/// Kills the agent (`kill`, SIGKILL) once the pass to `new` is under way; answers how many Secrets
/// were new when it landed, or None when the pass was over before it was seen.
fn kill_mid_pass(
    read: impl Fn() -> BTreeMap<String, (Option<String>, Option<String>)>,
    new: u32,
    count: usize,
    kill: impl FnOnce(),
    what: &str,
) -> Option<usize> {
    let mut kill = Some(kill);
    let mut landed = None;
    crate::support::poll_until(what, || {
        let done = holding(&read(), new);
        if done > 0 {
            (kill.take().expect("killed once"))();
            landed = (done < count).then_some(done);
            return true;
        }
        false
    });
    landed
}

fn dir_secrets(sink: &Path, count: usize) -> BTreeMap<String, (Option<String>, Option<String>)> {
    (0..count)
        .map(|i| {
            let dir = sink.join(format!("app/s-{i}"));
            let read = |key: &str| std::fs::read_to_string(dir.join(key)).ok();
            (format!("s-{i}"), (read("user"), read("password")))
        })
        .collect()
}

#[test]
fn a_dir_sink_agent_killed_mid_pass_leaves_each_secret_whole_and_converges_on_restart() {
    const COUNT: usize = 1500;
    let fx = Fixture::new();
    commit_version(&fx, "app", COUNT, 1);
    let sink = fx.dir.path().join("secrets");
    let spawn = || Daemon::spawn(&fx, &fx.file_url(), &sink, "1s");
    let mut agent = spawn();
    agent.wait_until(
        || holding(&dir_secrets(&sink, COUNT), 1) == COUNT,
        "the first sync",
    );
    let all_or_some = |allowed: &[u32]| versions(&dir_secrets(&sink, COUNT), COUNT, allowed);
    for new in 2..=4 {
        commit_version(&fx, "app", COUNT, new);
        let mut child = Some(agent);
        let landed = kill_mid_pass(
            || dir_secrets(&sink, COUNT),
            new,
            COUNT,
            || {
                let mut a = child.take().expect("running");
                a.child.kill().unwrap();
                a.child.wait().unwrap();
            },
            "the pass under way",
        );
        // Whatever the kill interrupted: every Secret whole, of one version or the other.
        let held = all_or_some(&[new - 1, new]);
        println!("dir sink: SIGKILL landed with {landed:?} of {COUNT} Secrets new; held {held:?}");
        let restarted = Instant::now();
        agent = spawn();
        agent.wait_until(
            || holding(&dir_secrets(&sink, COUNT), new) == COUNT,
            "converged after the restart",
        );
        all_or_some(&[new]);
        recovered(
            &format!("agent SIGKILLed mid-pass, dir sink, {COUNT} Secrets (restart → converged)"),
            restarted.elapsed(),
            &format!("{landed:?} Secrets new when killed"),
        );
        let leftovers: Vec<String> = std::fs::read_dir(sink.join("app"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..sealsync-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if landed.is_some() {
            break;
        }
    }
}

#[cfg(feature = "kube")]
mod kube {
    use super::*;
    use crate::cluster::{wait, Agent, Cluster};

    fn kube_secrets(cluster: &Cluster) -> BTreeMap<String, (Option<String>, Option<String>)> {
        use base64::Engine;
        let (ok, out) = cluster.try_kubectl(&["get", "secrets", "-n", "team-a", "-o", "json"]);
        assert!(ok, "{out}");
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        let decode = |v: &serde_json::Value| {
            v.as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .and_then(|b| String::from_utf8(b).ok())
        };
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let name = s["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (
                    name,
                    (decode(&s["data"]["user"]), decode(&s["data"]["password"])),
                )
            })
            .collect()
    }

    #[test]
    fn a_kube_sink_agent_killed_mid_pass_leaves_each_secret_whole_and_converges_on_restart() {
        const COUNT: usize = 400;
        let fx = Fixture::new();
        commit_version(&fx, "team-a", COUNT, 1);
        let cluster = Cluster::start_blocking();
        let mut generation = 0;
        let mut spawn = || {
            generation += 1;
            Agent::start_with(&fx, &cluster, &format!("agent-{generation}"), |command| {
                command.args(["--interval", "1s"]);
            })
        };
        let all_or_some = |allowed: &[u32]| versions(&kube_secrets(&cluster), COUNT, allowed);
        let mut agent = spawn();
        wait("the first sync", &[&agent], || {
            holding(&kube_secrets(&cluster), 1) == COUNT
        });
        for new in 2..=4 {
            commit_version(&fx, "team-a", COUNT, new);
            let mut child = Some(agent);
            let landed = kill_mid_pass(
                || kube_secrets(&cluster),
                new,
                COUNT,
                || {
                    let mut a = child.take().expect("running");
                    a.child.kill().unwrap();
                    a.child.wait().unwrap();
                },
                "the pass under way",
            );
            let held = all_or_some(&[new - 1, new]);
            println!(
                "kube sink: SIGKILL landed with {landed:?} of {COUNT} Secrets new; held {held:?}"
            );
            // The new agent waits for the dead one's Lease (5 s) to expire before it leads.
            let restarted = Instant::now();
            agent = spawn();
            wait("converged after the restart", &[&agent], || {
                holding(&kube_secrets(&cluster), new) == COUNT
            });
            all_or_some(&[new]);
            recovered(
                &format!(
                    "agent SIGKILLed mid-pass, kube sink, {COUNT} Secrets (restart → converged, 5 s Lease)"
                ),
                restarted.elapsed(),
                &format!("{landed:?} Secrets new when killed"),
            );
            if landed.is_some() {
                break;
            }
        }
    }
}
