//! End-to-end tests of the `sealsync` agent with the kube sink, against the project's Kubernetes API
//! test server (the agent uses the real kube client through KUBECONFIG; drift is caused with the real
//! `kubectl`): apply, drift by hand reverted while the git poll is an hour (the time it took printed), Events,
//! leader election between two agents with takeover after the leader dies, and a scan of everything
//! emitted for plaintext.

use std::time::Duration;

use crate::cluster::{wait, Agent, Cluster};
use crate::git_servers::Fixture;
use crate::support::ONE;

const VALUES: [&str; 2] = ["kube-s3cret-one", "kube-s3cret-two"];

fn secret(name: &str, value: &str) -> Vec<u8> {
    use sealsync::sops::file::{encrypt, EncryptionSpec};
    let yaml = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: team-a\nstringData:\n  password: {value}\n");
    let spec = EncryptionSpec {
        groups: vec![sealsync::keys::parse_recipient_list(ONE).unwrap()],
        threshold: 0,
        rules: sealsync::sops::rules::RuleSet {
            encrypted_regex: Some("^(data|stringData)$".into()),
            ..Default::default()
        },
    };
    encrypt(yaml.as_bytes(), sealsync::sops::stores::Format::Yaml, &spec).unwrap()
}

#[test]
fn kube_sink_applies_reverts_drift_and_elects_one_leader() {
    let fx = Fixture::new();
    fx.write("apps/team-a/one.yaml", secret("one", VALUES[0]));
    fx.write("apps/team-a/two.yaml", secret("two", VALUES[1]));
    fx.commit("two secrets");
    fx.push();
    let cluster = Cluster::start(fx.dir.path());
    let a = Agent::start(&fx, &cluster, "agent-a");
    wait("the first sync", &[&a], || {
        cluster.value("one", "password").as_deref() == Some(VALUES[0])
    });
    let (_, labels) = cluster.kubectl(&[
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
    let (ok, out) = cluster.kubectl(&[
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
    assert!(ok, "{out}");
    let took = wait("the edit to be reverted", &[&a], || {
        cluster.value("one", "password").as_deref() == Some(VALUES[0])
    });
    eprintln!("edit reverted after {took:?}");
    let (ok, out) = cluster.kubectl(&[
        "label",
        "secret",
        "two",
        "-n",
        "team-a",
        "app.kubernetes.io/managed-by-",
    ]);
    assert!(ok, "{out}");
    wait("the label to be restored", &[&a], || {
        cluster
            .kubectl(&[
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
    let (ok, out) = cluster.kubectl(&["delete", "secret", "one", "-n", "team-a"]);
    assert!(ok, "{out}");
    wait("the deleted Secret to be recreated", &[&a], || {
        cluster.value("one", "password").as_deref() == Some(VALUES[0])
    });

    // Events were written, without values.
    let (ok, events) =
        cluster.kubectl(&["get", "events.events.k8s.io", "-n", "team-a", "-o", "yaml"]);
    assert!(ok, "{events}");
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
    let (ok, out) = cluster.kubectl(&[
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
    assert!(ok, "{out}");
    wait("the new leader to revert drift", &[&b], || {
        cluster.value("two", "password").as_deref() == Some(VALUES[1])
    });

    // No plaintext anywhere the agents wrote: logs, status, metrics, Events, annotations.
    let (_, annotations) = cluster.kubectl(&[
        "get",
        "secrets",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.items[*].metadata.annotations}",
    ]);
    let (_, events) =
        cluster.kubectl(&["get", "events.events.k8s.io", "-n", "team-a", "-o", "yaml"]);
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
