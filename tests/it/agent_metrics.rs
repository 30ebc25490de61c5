//! Every metric the agent exports moves in an end-to-end run: the `sealsync` binary against the
//! Kubernetes API test server does a pass started by a webhook (a Secret created, one updated, one
//! pruned, a broken document refused), then puts back three kinds of drift; `/metrics` scraped before
//! and after must differ in every family, or the family is allowlisted below with why it cannot move.

use std::collections::{BTreeMap, BTreeSet};

use crate::agent_dir_daemon::request_to;
use crate::agent_kube::secret;
use crate::agent_restarts::{manifest, restarted_for, ENV_FROM};
use crate::cluster::{wait, Agent, Cluster};
use crate::git_servers::Fixture;

/// Families that cannot move in this run, with the reason.
const CANNOT_MOVE: &[(&str, &str)] = &[(
    "sealsync_leader",
    "set to 1 when the Lease is won, before the first pass the `before` scrape waits for; it moves back only when leadership is lost (agent_kube's takeover test)",
)];

/// Every sample of an OpenMetrics text by family (the `# TYPE` names), as series → value.
fn families(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut names: Vec<String> = Vec::new();
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or_default().to_string();
            out.entry(name.clone()).or_default();
            names.push(name);
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let metric = series.split('{').next().unwrap_or_default();
        let family = names
            .iter()
            .filter(|f| metric.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("{metric} has no # TYPE"));
        out.get_mut(family)
            .unwrap()
            .insert(series.to_string(), value.parse().expect("a number"));
    }
    out
}

fn kubectl_ok(cluster: &Cluster, args: &[&str]) {
    let (ok, out) = cluster.try_kubectl(args);
    assert!(ok, "kubectl {args:?}: {out}");
}

fn labels(cluster: &Cluster, name: &str) -> String {
    let jsonpath = "jsonpath={.metadata.labels}";
    cluster
        .try_kubectl(&["get", "secret", name, "-n", "team-a", "-o", jsonpath])
        .1
}

#[test]
fn every_exported_metric_moves_in_an_end_to_end_run() {
    let fx = Fixture::new();
    for name in ["one", "two", "three"] {
        fx.write(&format!("apps/team-a/{name}.yaml"), secret(name, "before"));
    }
    fx.commit("three secrets");
    fx.push();
    let cluster = Cluster::start_blocking();
    // A Deployment that asks to be restarted when `one` changes (the webhook's commit changes it).
    let web = fx.dir.path().join("web.yaml");
    let deployment = (
        "Deployment",
        "web",
        "sealsync.dev/restart-on-change: one",
        ENV_FROM,
    );
    std::fs::write(&web, manifest(deployment).replace("app-db", "one")).unwrap();
    kubectl_ok(&cluster, &["apply", "-f", web.to_str().unwrap()]);
    let hook_secret = fx.dir.path().join("webhook-secret");
    std::fs::write(&hook_secret, "hook-secret\n").unwrap();
    let agent = Agent::start_with(&fx, &cluster, "agent-m", |command| {
        command.args(["--interval", "1h", "--restart-debounce", "1s"]);
        command.arg("--webhook-secret-file");
        command.arg(&hook_secret);
    });
    wait("the first pass", &[&agent], || {
        agent.ready() && cluster.value("three", "password").as_deref() == Some("before")
    });
    let before = families(&agent.get("/metrics").expect("metrics"));

    // A commit delivered by webhook (the agent polls hourly): two Secrets created, one updated, one
    // pruned (a third: within --prune-max-share), and a document that does not parse.
    fx.write("apps/team-a/four.yaml", secret("four", "new"));
    fx.write("apps/team-a/five.yaml", secret("five", "new"));
    fx.write("apps/team-a/one.yaml", secret("one", "after"));
    fx.remove("apps/team-a/two.yaml");
    fx.write(
        "apps/team-a/broken.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: [\n",
    );
    fx.commit("create, update, prune, break");
    fx.push();
    let token = [("X-Gitlab-Token", "hook-secret".to_string())];
    let (code, body) = request_to(agent.port, "POST", "/hooks/git", &token, b"{}");
    assert_eq!(code, 202, "{body}");
    wait("the webhook's pass", &[&agent], || {
        cluster.value("five", "password").as_deref() == Some("new")
            && cluster.value("one", "password").as_deref() == Some("after")
            && cluster.value("two", "password").is_none()
            && !restarted_for(&cluster, "Deployment", "web").is_empty()
    });

    // Drift of every kind, each put back.
    let edit = r#"{"data":{"password":"aGFja2Vk"}}"#;
    kubectl_ok(
        &cluster,
        &[
            "patch", "secret", "one", "-n", "team-a", "--type", "merge", "-p", edit,
        ],
    );
    kubectl_ok(
        &cluster,
        &[
            "label",
            "secret",
            "three",
            "-n",
            "team-a",
            "app.kubernetes.io/managed-by-",
        ],
    );
    kubectl_ok(&cluster, &["delete", "secret", "four", "-n", "team-a"]);
    wait("every drift put back", &[&agent], || {
        cluster.value("one", "password").as_deref() == Some("after")
            && cluster.value("four", "password").as_deref() == Some("new")
            && labels(&cluster, "three").contains("sealsync")
    });
    let mut after = BTreeMap::new();
    wait("the reverts and the pass to be counted", &[&agent], || {
        after = families(&agent.get("/metrics").unwrap_or_default());
        let reverted = after
            .get("sealsync_drift_reverted")
            .cloned()
            .unwrap_or_default();
        let counted = reverted.values().filter(|v| **v >= 1.0).count() == 3;
        let last = after
            .get("sealsync_last_success_timestamp_seconds")
            .and_then(|f| f.values().next().copied());
        let first = before["sealsync_last_success_timestamp_seconds"]
            .values()
            .next()
            .copied();
        counted && last > first
    });

    let allowed: BTreeSet<&str> = CANNOT_MOVE.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same families before and after"
    );
    let mut still = Vec::new();
    for (family, samples) in &after {
        let moved = samples != &before[family];
        match (moved, allowed.contains(family.as_str())) {
            (true, true) => panic!("{family} moved: take it off CANNOT_MOVE"),
            (false, false) => still.push(family.as_str()),
            _ => {}
        }
    }
    assert!(
        still.is_empty(),
        "families that did not move: {still:?}\nbefore: {before:#?}\nafter: {after:#?}"
    );
    // Beyond the families: the series this run was built to move.
    for (family, series) in [
        (
            "sealsync_secrets_applied",
            "sealsync_secrets_applied_total{outcome=\"created\"}",
        ),
        (
            "sealsync_secrets_applied",
            "sealsync_secrets_applied_total{outcome=\"updated\"}",
        ),
        ("sealsync_errors", "sealsync_errors_total{reason=\"parse\"}"),
        ("sealsync_managed_secrets", "sealsync_managed_secrets"),
    ] {
        assert!(
            after[family][series] > before[family][series],
            "{series} did not move"
        );
    }
    assert_eq!(after["sealsync_leader"]["sealsync_leader"], 1.0);
}
