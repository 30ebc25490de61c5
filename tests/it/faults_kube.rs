//! Kubernetes API faults seen by a running `sealsync` agent (kube sink, the Kubernetes API test
//! server): 5xx and 409 on every write, calls that are never answered, dropped watches and a watch
//! resumed from a compacted resourceVersion (410 Gone). Each time no Secret is lost, blanked or
//! half-written, `/status` says why, and the agent converges by itself once the fault clears; the
//! time it takes is printed (`cargo test --test it faults_kube -- --nocapture`).

use std::time::Instant;

use kube_api_test_server::{FaultSpec, TestServer, Verb};

use crate::agent_dir::encrypted;
use crate::cluster::{wait, Agent, Cluster};
use crate::faults_common::{recovered, secret_status};
use crate::git_servers::Fixture;
use crate::support::ONE;

/// The Secrets of the repository, each with one `password`.
const NAMES: [&str; 3] = ["db", "api", "cache"];

fn commit_password(fx: &Fixture, name: &str, password: &str) {
    fx.write(
        &format!("apps/{name}.yaml"),
        encrypted("team-a", name, &[("password", password)], ONE),
    );
    fx.commit(&format!("{name}: {password}"));
}

/// A repository of three Secrets and an agent polling it every 2 s, synced.
fn synced(cluster: &Cluster) -> (Fixture, Agent) {
    let fx = Fixture::new();
    for name in NAMES {
        commit_password(&fx, name, &format!("{name}-0"));
    }
    let agent = Agent::start_with(&fx, cluster, "agent", |command| {
        command.args(["--interval", "2s"]);
    });
    wait("the first sync", &[&agent], || {
        NAMES
            .iter()
            .all(|n| cluster.value(n, "password") == Some(format!("{n}-0")))
    });
    (fx, agent)
}

/// The other Secrets hold what git says, untouched by the fault.
fn others_intact(cluster: &Cluster, except: &str) {
    for name in NAMES.iter().filter(|n| **n != except) {
        assert_eq!(
            cluster.value(name, "password"),
            Some(format!("{name}-0")),
            "{name} changed during a fault on another Secret"
        );
    }
}

/// Commits a new `db` value while `fault` answers every matching call; waits until the agent has
/// hit it and said so in `/status` (a hang says nothing: it is cleared as soon as it holds a call),
/// checks that nothing was lost, clears the fault and measures the time to convergence.
fn through(
    cluster: &Cluster,
    fx: &Fixture,
    agent: &Agent,
    what: &str,
    fault: FaultSpec,
    round: u32,
) {
    let (old, new) = (format!("db-{}", round - 1), format!("db-{round}"));
    let verb = fault
        .verb
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    let hung = fault.hang;
    let answered = if hung { 0 } else { fault.code };
    cluster.server.clear_requests();
    cluster.server.fail_next(fault.times(1_000_000));
    commit_password(fx, "db", &new);
    wait(&format!("{what}: the fault hit"), &[agent], || {
        cluster
            .server
            .requests()
            .iter()
            .any(|r| r.resource == "secrets" && r.verb == verb && r.status == answered)
    });
    let told = if hung {
        // Calls already held stay unanswered after the fault clears, as on a connection that went
        // dead: only the agent's own deadline on each call gets it going again.
        cluster.server.clear_faults();
        "nothing until the held call times out".to_string()
    } else {
        let mut told = String::new();
        wait(&format!("{what}: reported in /status"), &[agent], || {
            let status = agent.get("/status").unwrap_or_default();
            match secret_status(&status, "team-a", "db") {
                Some((state, error)) if state == "failed" => {
                    told = format!("/status db failed: {error}");
                    true
                }
                _ => false,
            }
        });
        told
    };
    assert_eq!(
        cluster.value("db", "password"),
        Some(old),
        "{what}: the last good value stays, whole"
    );
    others_intact(cluster, "db");
    cluster.server.clear_faults();
    let cleared = Instant::now();
    wait(&format!("{what}: converged"), &[agent], || {
        cluster.value("db", "password").as_deref() == Some(new.as_str())
    });
    recovered(what, cleared.elapsed(), &told);
    others_intact(cluster, "db");
}

#[test]
fn api_errors_conflicts_and_unanswered_calls_keep_the_last_value_and_converge_once_cleared() {
    let cluster = Cluster::start_blocking();
    let (fx, agent) = synced(&cluster);
    let on_secrets = |spec: FaultSpec| spec.resource("secrets");
    through(
        &cluster,
        &fx,
        &agent,
        "kube API 500 on every Secret PATCH",
        on_secrets(FaultSpec::new(Verb::Patch, 500)),
        1,
    );
    through(
        &cluster,
        &fx,
        &agent,
        "kube API 503 (Retry-After 1) on every Secret PATCH",
        on_secrets(FaultSpec::new(Verb::Patch, 503).retry_after(1)),
        2,
    );
    through(
        &cluster,
        &fx,
        &agent,
        "kube API 409 Conflict on every Secret PATCH",
        on_secrets(FaultSpec::new(Verb::Patch, 409)),
        3,
    );
    through(
        &cluster,
        &fx,
        &agent,
        "kube API never answers Secret PATCHes (timeout)",
        on_secrets(FaultSpec::hang(Verb::Patch)),
        4,
    );
    assert!(
        !agent.logs().contains("db-"),
        "a value in the logs: {}",
        agent.logs()
    );
}

#[test]
fn drift_is_reverted_after_dropped_watches_and_a_watch_answered_410_gone() {
    // No bookmarks: they would move the watch's resourceVersion past the compaction below.
    let cluster = Cluster::start_blocking_with(
        TestServer::builder().bookmark_interval(std::time::Duration::from_secs(3600)),
    );
    let (_fx, agent) = synced(&cluster);

    // Every watch ends, as on an API server restart; an edit by hand right after is reverted.
    cluster.server.drop_watches();
    let cleared = Instant::now();
    cluster.patch_password("team-a", "api", "by-hand");
    wait("the edit after dropped watches reverted", &[&agent], || {
        cluster.value("api", "password").as_deref() == Some("api-0")
    });
    recovered(
        "kube API drops every watch (edit by hand right after)",
        cleared.elapsed(),
        "nothing (the watch resumes from its resourceVersion)",
    );

    // A write the watch does not see (another namespace), then the history forgotten: the watch
    // resumed from its resourceVersion is answered 410 Gone, and the agent lists again.
    cluster.kubectl(&["create", "namespace", "team-z"]);
    cluster.kubectl(&[
        "-n",
        "team-z",
        "create",
        "secret",
        "generic",
        "elsewhere",
        "--from-literal=k=v",
    ]);
    cluster.server.clear_requests();
    cluster.server.compact();
    cluster.server.drop_watches();
    let cleared = Instant::now();
    let relisted = || {
        cluster.server.requests().iter().any(|r| {
            r.resource == "secrets"
                && r.verb == "list"
                && r.status == 200
                && r.path.contains("/namespaces/team-a/")
        })
    };
    wait("the agent listed again after 410 Gone", &[&agent], relisted);
    cluster.patch_password("team-a", "cache", "by-hand");
    wait("the edit after 410 Gone reverted", &[&agent], || {
        cluster.value("cache", "password").as_deref() == Some("cache-0")
    });
    recovered(
        "kube API answers the resumed watch 410 Gone (relist, then an edit by hand)",
        cleared.elapsed(),
        "nothing (the watch lists again)",
    );
    for name in NAMES {
        assert_eq!(
            cluster.value(name, "password"),
            Some(format!("{name}-0")),
            "{name}"
        );
    }
}

/// Each call to an API server answering 503 (or 429, 504) is tried 3 times within seconds, then the
/// error is the caller's (the sink retries, then the next pass). Before: kube's default policy made 16
/// tries doubling from 5 ms, minutes for one call, so a pass over many Secrets took hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_api_server_gets_three_tries_per_call() {
    use k8s_openapi::api::core::v1::Secret;
    let cluster = Cluster::start().await;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(cluster.client.clone(), "team-a");
    cluster.server.fail_next(
        FaultSpec::new(Verb::List, 503)
            .resource("secrets")
            .retry_after(1)
            .times(1000),
    );
    cluster.server.clear_requests();
    let started = Instant::now();
    let listed = secrets.list(&Default::default()).await;
    let tries = cluster
        .server
        .requests()
        .iter()
        .filter(|r| r.resource == "secrets")
        .count();
    println!(
        "a call answered 503 (Retry-After 1) every time: {tries} tries, given up after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(listed.is_err());
    assert_eq!(tries, 3);
    cluster.server.clear_faults();
}
