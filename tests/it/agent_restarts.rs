//! Workload restarts end to end, with the `sealsync` agent against the Kubernetes API test server:
//! a Secret's first creation restarts nothing, a burst of commits within the debounce window
//! restarts each opted-in workload once (Reloader's annotations and sealsync's own), with the HMAC of
//! the final data, an Event and a metric; a workload not opted in is untouched; an agent restart with
//! nothing changed restarts nothing.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use sealsync_agent::desired::FingerprintKey;
use sealsync_agent::sink::kube::hmac_key::{KEY_FIELD, KEY_SECRET};
use sealsync_agent::sink::kube::restarts::{restart_value, secret_digest};

use crate::agent_kube::secret;
use crate::cluster::{wait, Agent, Cluster};
use crate::git_servers::Fixture;

/// Long enough that three commits polled every second fall into one window even on a loaded
/// machine; the test waits for the outcome, never for the window itself.
const AGENT_ARGS: [&str; 4] = ["--interval", "1s", "--restart-debounce", "15s"];

/// (kind, name, annotations, how the pod template uses app-db)
const WORKLOADS: [(&str, &str, &str, &str); 6] = [
    (
        "Deployment",
        "web",
        "sealsync.dev/restart-on-change: app-db",
        ENV_FROM,
    ),
    (
        "Deployment",
        "auto",
        "reloader.stakater.com/auto: \"true\"",
        ENV_KEY,
    ),
    (
        "Deployment",
        "secret-auto",
        "secret.reloader.stakater.com/auto: \"true\"",
        VOLUME,
    ),
    (
        "Deployment",
        "named",
        "secret.reloader.stakater.com/reload: \"other,app-db\"",
        ENV_FROM,
    ),
    (
        "StatefulSet",
        "db",
        "reloader.stakater.com/auto: \"true\"",
        PROJECTED,
    ),
    (
        "DaemonSet",
        "agent",
        "reloader.stakater.com/auto: \"true\"",
        INIT_ENV_FROM,
    ),
];
/// Uses app-db but did not opt in.
const UNTOUCHED: (&str, &str, &str, &str) = ("Deployment", "plain", "a: b", ENV_FROM);

pub(crate) const ENV_FROM: &str =
    "containers: [{name: c, image: x, envFrom: [{secretRef: {name: app-db}}]}]";
const ENV_KEY: &str = "containers: [{name: c, image: x, env: [{name: P, valueFrom: {secretKeyRef: {name: app-db, key: password}}}]}]";
const INIT_ENV_FROM: &str = "initContainers: [{name: i, image: x, envFrom: [{secretRef: {name: app-db}}]}]\n      containers: [{name: c, image: x}]";
const VOLUME: &str =
    "containers: [{name: c, image: x}]\n      volumes: [{name: v, secret: {secretName: app-db}}]";
const PROJECTED: &str = "containers: [{name: c, image: x}]\n      volumes: [{name: v, projected: {sources: [{secret: {name: app-db}}]}}]";

pub(crate) fn manifest((kind, name, annotations, pod): (&str, &str, &str, &str)) -> String {
    let service = if kind == "StatefulSet" {
        "\n  serviceName: db"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: team-a\n  annotations:\n    {annotations}\nspec:{service}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      {pod}\n---\n"
    )
}

fn resource(kind: &str) -> &'static str {
    match kind {
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        _ => "daemonsets",
    }
}

/// PATCHes of one workload the API server answered with success.
fn patches(cluster: &Cluster, kind: &str, name: &str) -> usize {
    let suffix = format!("/{}/{name}", resource(kind));
    cluster
        .server
        .requests()
        .iter()
        .filter(|r| r.verb == "patch" && r.status < 300 && r.path.ends_with(&suffix))
        .count()
}

/// The restart annotation on a workload's pod template ("" when absent).
pub(crate) fn restarted_for(cluster: &Cluster, kind: &str, name: &str) -> String {
    let (ok, out) = cluster.try_kubectl(&[
        "get",
        resource(kind),
        name,
        "-n",
        "team-a",
        "-o",
        r"jsonpath={.spec.template.metadata.annotations.sealsync\.dev/restarted-for}",
    ]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

fn base64_field(cluster: &Cluster, namespace: &str, name: &str, field: &str) -> Vec<u8> {
    use base64::Engine;
    let (ok, out) = cluster.try_kubectl(&[
        "get",
        "secret",
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={{.data.{field}}}"),
    ]);
    assert!(ok, "{out}");
    base64::engine::general_purpose::STANDARD
        .decode(out.trim())
        .unwrap()
}

/// The values the workloads must carry for app-db's current data, computed with the agent's
/// fingerprint key read from the cluster: `named` also watches `other`, which does not exist.
fn expected_values(cluster: &Cluster) -> Vec<String> {
    let key = FingerprintKey::new(base64_field(cluster, "sealsync", KEY_SECRET, KEY_FIELD));
    let data = BTreeMap::from([(
        "password".to_string(),
        ByteString(base64_field(cluster, "team-a", "app-db", "password")),
    )]);
    let digest = secret_digest(&key, Some(&data));
    let absent = secret_digest(&key, None);
    let app_db = restart_value(&key, [("app-db", digest.as_str())]);
    let with_other = restart_value(
        &key,
        [("other", absent.as_str()), ("app-db", digest.as_str())],
    );
    WORKLOADS
        .iter()
        .map(|w| {
            if w.1 == "named" {
                with_other.clone()
            } else {
                app_db.clone()
            }
        })
        .collect()
}

fn change(fx: &Fixture, cluster: &Cluster, agents: &[&Agent], value: &str) {
    fx.write("apps/team-a/app-db.yaml", secret("app-db", value));
    fx.commit(value);
    wait(value, agents, || {
        cluster.value("app-db", "password").as_deref() == Some(value)
    });
}

fn wait_restarted(cluster: &Cluster, agents: &[&Agent], what: &str) {
    let expected = expected_values(cluster);
    wait(what, agents, || {
        let now: Vec<String> = WORKLOADS
            .iter()
            .map(|w| restarted_for(cluster, w.0, w.1))
            .collect();
        now == expected
    });
}

#[test]
fn opted_in_workloads_restart_once_per_burst_and_never_for_creation_or_an_agent_restart() {
    let fx = Fixture::new();
    fx.write("apps/team-a/app-db.yaml", secret("app-db", "db-v0"));
    fx.commit("app-db");
    let cluster = Cluster::start_blocking();
    let all: String = WORKLOADS
        .iter()
        .copied()
        .chain([UNTOUCHED])
        .map(manifest)
        .collect();
    let file = fx.dir.path().join("workloads.yaml");
    std::fs::write(&file, all).unwrap();
    let (ok, out) = cluster.try_kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{out}");

    let mut a = Agent::start_with(&fx, &cluster, "agent-a", |c| {
        c.args(AGENT_ARGS);
    });
    wait("the first sync", &[&a], || {
        cluster.value("app-db", "password").as_deref() == Some("db-v0")
    });
    // A burst of three commits, each applied before the next, all within one debounce window.
    for value in ["db-v1", "db-v2", "db-v3"] {
        change(&fx, &cluster, &[&a], value);
    }
    wait_restarted(&cluster, &[&a], "the restart for db-v3");
    // One patch each: none for the first creation, one for the burst (the final value is there,
    // so a patch per change would already show three).
    for (kind, name, _, _) in WORKLOADS {
        assert_eq!(patches(&cluster, kind, name), 1, "{kind} {name}");
    }
    assert_eq!(patches(&cluster, "Deployment", "plain"), 0);
    assert_eq!(restarted_for(&cluster, "Deployment", "plain"), "");
    let metrics = a.get("/metrics").unwrap();
    for (kind, n) in [("deployment", 4), ("statefulset", 1), ("daemonset", 1)] {
        let series = format!("sealsync_workload_restarts_total{{kind=\"{kind}\"}} {n}");
        assert!(metrics.contains(&series), "{series} in:\n{metrics}");
    }
    let (ok, reasons) = cluster.try_kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "team-a",
        "-o",
        "jsonpath={range .items[*]}{.reason} {.regarding.kind}/{.regarding.name}{\"\\n\"}{end}",
    ]);
    assert!(ok, "{reasons}");
    assert!(reasons.contains("Restarted Deployment/web"), "{reasons}");
    assert!(a.logs().contains("restarted: a Secret it uses changed"));

    // The agent restarts with nothing changed: its first pass restarts nothing. Another change
    // afterwards restarts each workload once more, so two patches each (three had the restart one).
    a.terminate();
    let b = Agent::start_with(&fx, &cluster, "agent-b", |c| {
        c.args(AGENT_ARGS);
    });
    wait("agent-b's first pass", &[&b], || {
        b.logs().contains("reconciled")
    });
    change(&fx, &cluster, &[&b], "db-v4");
    wait_restarted(&cluster, &[&b], "the restart for db-v4");
    for (kind, name, _, _) in WORKLOADS {
        assert_eq!(patches(&cluster, kind, name), 2, "{kind} {name}");
    }
    assert_eq!(patches(&cluster, "Deployment", "plain"), 0);
}

/// `run --once` restarts what its pass updated before it exits (no debounce left pending).
#[test]
fn run_once_restarts_before_it_exits() {
    let fx = Fixture::new();
    fx.write("apps/team-a/app-db.yaml", secret("app-db", "db-v0"));
    fx.commit("app-db");
    let cluster = Cluster::start_blocking();
    let file = fx.dir.path().join("web.yaml");
    std::fs::write(&file, manifest(WORKLOADS[0])).unwrap();
    let (ok, out) = cluster.try_kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let once = |name: &str| {
        let mut agent = Agent::start_with(&fx, &cluster, name, |c| {
            c.args(["--once", "--interval", "1h"]);
        });
        let status = agent.child.wait().unwrap();
        assert!(status.success(), "{}", agent.logs());
        agent
    };
    once("once-create");
    assert_eq!(restarted_for(&cluster, "Deployment", "web"), "");
    fx.write("apps/team-a/app-db.yaml", secret("app-db", "db-v1"));
    fx.commit("db-v1");
    let agent = once("once-update");
    assert_eq!(
        restarted_for(&cluster, "Deployment", "web"),
        expected_values(&cluster)[0],
        "{}",
        agent.logs()
    );
}
