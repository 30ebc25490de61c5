//! External references end to end in the Kubernetes sink: git → `sealsync` → the Kubernetes API test
//! server, with values from a real OpenBao. A rotated remote value reaches its Secret within one
//! refresh interval and restarts the opted-in Deployment exactly once for a burst; `sealctl refresh`
//! brings a long-interval reference up to date at once; a hand edit of a resolved Secret is reverted;
//! an agent restart with nothing changed restarts nothing; an outage keeps the last good value and
//! names store and key in `/status`.

use std::process::Command;

use crate::agent_dir::encrypted;
use crate::agent_restarts::{manifest, restarted_for, ENV_FROM};
use crate::cluster::{wait, Agent, Cluster};
use crate::external_refs::{put, start_bao, Bao, TOKEN};
use crate::git_servers::Fixture;
use crate::support::ONE;

const STORE: &str = "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: bao\n  namespace: team-a\nspec:\n  provider:\n    vault:\n      server: ADDR\n      path: secret\n      auth:\n        tokenSecretRef:\n          name: bao-token\n          key: token\n";

/// An ExternalSecret of team-a writing `target` from `key`'s password every `interval`.
fn external_secret(name: &str, target: &str, key: &str, interval: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: team-a\nspec:\n  refreshInterval: {interval}\n  secretStoreRef:\n    name: bao\n  target:\n    name: {target}\n  data:\n  - secretKey: password\n    remoteRef:\n      key: {key}\n      property: password\n"
    )
}

fn repo(fx: &Fixture, bao: &Bao) {
    fx.write(
        "apps/token.yaml",
        encrypted("team-a", "bao-token", &[("token", TOKEN)], ONE),
    );
    fx.write("apps/store.yaml", STORE.replace("ADDR", &bao.addr));
    fx.write(
        "apps/db.yaml",
        external_secret("db", "app-db", "team-a/db", "2s"),
    );
    fx.write(
        "apps/slow.yaml",
        external_secret("slow", "app-slow", "team-a/slow", "1h"),
    );
    fx.write(
        "apps/avp.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: team-a\n  annotations:\n    sealsync.dev/store: bao\nstringData:\n  url: https://<path:secret/data/team-a/db#user>@db\n",
    );
    fx.commit("references");
    fx.push();
}

fn start_agent(fx: &Fixture, cluster: &Cluster, name: &str) -> Agent {
    let hook = fx.dir.path().join("hook.key");
    std::fs::write(&hook, "refresh-secret\n").unwrap();
    Agent::start_with(fx, cluster, name, |command| {
        command
            .args(["--interval", "1h", "--restart-debounce", "15s"])
            .arg("--webhook-secret-file")
            .arg(&hook);
    })
}

fn sealctl_refresh(fx: &Fixture, agent: &Agent, secret: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sealctl"));
    command
        .arg("refresh")
        .arg("--url")
        .arg(format!("http://127.0.0.1:{}", agent.port))
        .arg("--secret-file")
        .arg(fx.dir.path().join("hook.key"));
    command.args(secret);
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "sealctl refresh: {text}");
    text
}

/// Successful PATCHes of the `web` Deployment.
fn web_patches(cluster: &Cluster) -> usize {
    cluster
        .server
        .requests()
        .iter()
        .filter(|r| r.verb == "patch" && r.status < 300 && r.path.ends_with("/deployments/web"))
        .count()
}

#[test]
fn resolved_secrets_rotate_restart_once_refresh_on_demand_and_survive_an_outage() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(
        &bao,
        "team-a/db",
        r#"{"password":"v4lue-1","user":"v4lue-user"}"#,
    );
    put(&bao, "team-a/slow", r#"{"password":"sl0w-1"}"#);
    repo(&fx, &bao);
    let cluster = Cluster::start_blocking();
    let web = fx.dir.path().join("web.yaml");
    std::fs::write(
        &web,
        manifest((
            "Deployment",
            "web",
            "sealsync.dev/restart-on-change: app-db",
            ENV_FROM,
        )),
    )
    .unwrap();
    cluster.kubectl(&["apply", "-f", web.to_str().unwrap()]);

    let agent = start_agent(&fx, &cluster, "agent-r1");
    wait("every reference resolved", &[&agent], || {
        cluster.value("app-db", "password").as_deref() == Some("v4lue-1")
            && cluster.value("app-slow", "password").as_deref() == Some("sl0w-1")
            && cluster.value("api", "url").as_deref() == Some("https://v4lue-user@db")
    });
    assert_eq!(
        restarted_for(&cluster, "Deployment", "web"),
        "",
        "a Secret's first creation restarts nothing"
    );

    // A burst of rotations at the source: delivered within the 2 s interval, one restart for all.
    put(
        &bao,
        "team-a/db",
        r#"{"password":"v4lue-2","user":"v4lue-user"}"#,
    );
    put(
        &bao,
        "team-a/db",
        r#"{"password":"v4lue-3","user":"v4lue-user"}"#,
    );
    wait(
        "the rotation delivered and the workload restarted",
        &[&agent],
        || {
            cluster.value("app-db", "password").as_deref() == Some("v4lue-3")
                && !restarted_for(&cluster, "Deployment", "web").is_empty()
        },
    );
    assert_eq!(web_patches(&cluster), 1, "one restart for the burst");
    let restarted = restarted_for(&cluster, "Deployment", "web");

    // An hourly reference is brought up to date on demand.
    put(&bao, "team-a/slow", r#"{"password":"sl0w-2"}"#);
    let answer = sealctl_refresh(&fx, &agent, Some("team-a/app-slow"));
    assert!(answer.contains("team-a/app-slow"), "{answer}");
    wait("sealctl refresh delivered the new value", &[&agent], || {
        cluster.value("app-slow", "password").as_deref() == Some("sl0w-2")
    });
    put(&bao, "team-a/slow", r#"{"password":"sl0w-3"}"#);
    sealctl_refresh(&fx, &agent, None);
    wait("a refresh of everything", &[&agent], || {
        cluster.value("app-slow", "password").as_deref() == Some("sl0w-3")
    });

    // Drift: a hand edit of a resolved Secret is put back.
    cluster.patch_password("team-a", "app-db", "by-hand");
    wait("the hand edit reverted", &[&agent], || {
        cluster.value("app-db", "password").as_deref() == Some("v4lue-3")
    });

    // A new agent with nothing changed restarts nothing.
    drop(agent);
    let agent = start_agent(&fx, &cluster, "agent-r2");
    wait("the new agent synced", &[&agent], || {
        agent.leading() && agent.ready()
    });
    sealctl_refresh(&fx, &agent, None);
    wait("the new agent resolved everything", &[&agent], || {
        agent
            .get("/status")
            .is_some_and(|s| s.contains("app-db") && s.contains("app-slow"))
    });
    assert_eq!(restarted_for(&cluster, "Deployment", "web"), restarted);
    assert_eq!(
        web_patches(&cluster),
        1,
        "an agent restart restarts nothing"
    );

    // Outage: the server gone. The values stay; /status names the store and the key.
    drop(bao);
    sealctl_refresh(&fx, &agent, None);
    wait("the failure reported", &[&agent], || {
        agent
            .get("/status")
            .is_some_and(|s| s.contains("SecretStore team-a/bao") && s.contains("team-a/db"))
    });
    assert_eq!(
        cluster.value("app-db", "password").as_deref(),
        Some("v4lue-3")
    );
    assert_eq!(
        cluster.value("app-slow", "password").as_deref(),
        Some("sl0w-3")
    );
    let logs = agent.logs();
    for value in ["v4lue-", "sl0w-", TOKEN, "refresh-secret"] {
        assert!(!logs.contains(value), "{value} leaked into the logs");
    }
    let status = agent.get("/status").unwrap_or_default();
    assert!(!status.contains("v4lue-"), "a value leaked into /status");
    // Nor into the Secrets' labels and annotations, the Events, or /metrics.
    let (_, metadata) = cluster.try_kubectl(&[
        "get",
        "secrets",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.items[*].metadata}",
    ]);
    let (_, events) =
        cluster.try_kubectl(&["get", "events.events.k8s.io", "-n", "team-a", "-o", "yaml"]);
    let metrics = agent.get("/metrics").unwrap_or_default();
    assert!(metadata.contains("sealsync"), "{metadata}");
    for (what, text) in [
        ("metadata", &metadata),
        ("Events", &events),
        ("/metrics", &metrics),
    ] {
        for value in ["v4lue-", "sl0w-", TOKEN, "refresh-secret"] {
            assert!(!text.contains(value), "{value} leaked into {what}:\n{text}");
        }
    }
}
