//! End-to-end tests of the `sealsync` agent with the kube sink, against the project's Kubernetes API
//! test server (the agent uses the real kube client through KUBECONFIG; drift is caused with the real
//! `kubectl`): apply, drift by hand reverted while the git poll is an hour (the time it took printed), Events,
//! leader election between two agents with takeover after the leader dies, and a scan of everything
//! emitted for plaintext.

use std::time::Duration;

use crate::agent_dir::encrypted;
use crate::cluster::{wait, Agent, Cluster};
use crate::git_servers::Fixture;
use crate::support::ONE;

const VALUES: [&str; 2] = ["kube-s3cret-one", "kube-s3cret-two"];

/// `team-a/NAME` with one password, encrypted for the fixture key `one` (what the agent decrypts).
pub(crate) fn secret(name: &str, value: &str) -> Vec<u8> {
    encrypted("team-a", name, &[("password", value)], ONE)
}

#[test]
fn kube_sink_applies_reverts_drift_and_elects_one_leader() {
    let fx = Fixture::new();
    fx.write("apps/team-a/one.yaml", secret("one", VALUES[0]));
    fx.write("apps/team-a/two.yaml", secret("two", VALUES[1]));
    fx.commit("two secrets");
    fx.push();
    let cluster = Cluster::start_blocking();
    let a = Agent::start(&fx, &cluster, "agent-a");
    wait("the first sync", &[&a], || {
        cluster.value("one", "password").as_deref() == Some(VALUES[0])
    });
    let (_, labels) = cluster.try_kubectl(&[
        "get",
        "secret",
        "one",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(labels.contains("sealsync"), "{labels}");

    // Drift by hand, reverted although the git poll is an hour.
    cluster.kubectl(&[
        "patch",
        "secret",
        "one",
        "-n",
        "team-a",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"password":"aGFja2Vk"}}"#,
    ]);
    let took = wait("the edit to be reverted", &[&a], || {
        cluster.value("one", "password").as_deref() == Some(VALUES[0])
    });
    eprintln!("edit reverted after {took:?}");
    cluster.kubectl(&[
        "label",
        "secret",
        "two",
        "-n",
        "team-a",
        "app.kubernetes.io/managed-by-",
    ]);
    wait("the label to be restored", &[&a], || {
        cluster
            .try_kubectl(&[
                "get",
                "secret",
                "two",
                "-n",
                "team-a",
                "-o",
                "jsonpath={.metadata.labels}",
            ])
            .1
            .contains("sealsync")
    });
    cluster.kubectl(&["delete", "secret", "one", "-n", "team-a"]);
    wait("the deleted Secret to be recreated", &[&a], || {
        cluster.value("one", "password").as_deref() == Some(VALUES[0])
    });

    // Events were written, without values.
    let events = cluster.kubectl(&["get", "events.events.k8s.io", "-n", "team-a", "-o", "yaml"]);
    assert!(events.contains("DriftReverted"), "{events}");

    // A second agent stands by; exactly one leads.
    let b = Agent::start(&fx, &cluster, "agent-b");
    wait("agent-b to serve", &[&a, &b], || {
        b.get("/healthz").is_some()
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(a.leading() && !b.leading(), "exactly one leader");

    // The leader dies without releasing its Lease: the other takes over once it expires (5 s).
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let took = wait("agent-b to take over", &[&b], || b.leading());
    eprintln!("takeover after {took:?}");
    // An edit made before the new leader's first pass has looked at the Secret is put back by that
    // pass (as a change to apply, not as drift): wait for the pass, so the edit below is drift.
    wait("the new leader's first pass", &[&b], || {
        b.logs().contains("reconciled")
    });
    cluster.kubectl(&[
        "patch",
        "secret",
        "two",
        "-n",
        "team-a",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"password":"aGFja2Vk"}}"#,
    ]);
    wait("the new leader to revert drift", &[&b], || {
        cluster.value("two", "password").as_deref() == Some(VALUES[1])
    });

    // No plaintext anywhere the agents wrote: logs, status, metrics, Events, annotations.
    let (_, annotations) = cluster.try_kubectl(&[
        "get",
        "secrets",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.items[*].metadata.annotations}",
    ]);
    let (_, events) =
        cluster.try_kubectl(&["get", "events.events.k8s.io", "-n", "team-a", "-o", "yaml"]);
    let emitted = [
        a.logs(),
        b.logs(),
        b.get("/status").unwrap_or_default(),
        b.get("/metrics").unwrap_or_default(),
        annotations,
        events,
    ];
    for text in &emitted {
        for v in VALUES {
            assert!(!text.contains(v), "a value leaked:\n{text}");
        }
    }
    assert!(b
        .get("/metrics")
        .unwrap()
        .contains("sealsync_drift_reverted_total{kind=\"edited\"} 1"));
}
