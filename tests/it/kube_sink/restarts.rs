//! The restart task alone against the test API server: one round for several changes, no patch for a
//! workload that already carries the value, none for one that did not opt in, and a refusal (403)
//! reported on the workload without affecting anything else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::ByteString;
use kube::api::PostParams;
use kube::{Api, Client};
use kube_api_test_server::{TestServer, TokenIdentity};
use sealsync_agent::desired::FingerprintKey;
use sealsync_agent::sink::kube::restarts::{
    restart_value, secret_digest, RESTARTED_FOR_ANNOTATION,
};
use sealsync_agent::sink::kube::{Recorder, RestartOutcome, RestartReport, Restarter};
use sealsync_agent::sink::Sink;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::harness::{desired, Cluster};

/// A Deployment in team-a whose metadata carries `annotations` and whose template carries
/// `restarted_for`, using the Secret app-db.
fn deployment(name: &str, annotations: &[(&str, &str)], restarted_for: Option<&str>) -> Deployment {
    let template_annotations: BTreeMap<&str, &str> = restarted_for
        .map(|v| (RESTARTED_FOR_ANNOTATION, v))
        .into_iter()
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "team-a",
            "annotations": annotations.iter().copied().collect::<BTreeMap<_, _>>()},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}, "annotations": template_annotations},
                "spec": {"containers": [{"name": "c", "image": "x",
                    "envFrom": [{"secretRef": {"name": "app-db"}}]}]}}}
    }))
    .unwrap()
}

/// Runs a restarter over `changes` (each a Secret name in team-a) until it has handled them all,
/// and returns its reports.
async fn restart(client: Client, key: FingerprintKey, changes: &[&str]) -> Vec<RestartReport> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let recorder = Recorder::new(client.clone(), "sealsync-test-0");
    let (restarter, task) = Restarter::spawn(
        client,
        key,
        recorder,
        Duration::from_millis(200),
        tx,
        CancellationToken::new(),
    );
    for name in changes {
        restarter.changed(sealsync_agent::desired::SecretKey::new("team-a", *name));
    }
    // Dropping the last Restarter lets the task finish what is pending, then end.
    drop(restarter);
    task.await.unwrap();
    let mut reports = Vec::new();
    while let Ok(r) = rx.try_recv() {
        reports.push(r);
    }
    reports
}

fn patches(server: &TestServer, name: &str) -> usize {
    let suffix = format!("/deployments/{name}");
    server
        .requests()
        .iter()
        .filter(|r| r.verb == "patch" && r.path.ends_with(&suffix))
        .count()
}

#[tokio::test]
async fn one_round_for_several_changes_and_no_patch_when_the_value_is_already_there() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let key = c.fingerprint_key().await;
    sink.apply(&Arc::new(desired("team-a", "app-db", "v1")))
        .await
        .unwrap();
    let live = c.secrets("team-a").get("app-db").await.unwrap();
    let digest = secret_digest(&key, live.data.as_ref());
    let value = restart_value(&key, [("app-db", digest.as_str())]);
    let opt_in = [("sealsync.dev/restart-on-change", "app-db")];
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "team-a");
    for d in [
        deployment("current", &opt_in, Some(&value)),
        deployment("stale", &opt_in, Some("an-older-value")),
        deployment("plain", &[], None),
    ] {
        api.create(&PostParams::default(), &d).await.unwrap();
    }

    let reports = restart(
        c.client.clone(),
        key.clone(),
        &["app-db", "app-db", "app-db"],
    )
    .await;
    let restarted: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(restarted, ["stale"], "{reports:?}");
    assert_eq!(reports[0].outcome, RestartOutcome::Restarted);
    assert_eq!(patches(&c.server, "stale"), 1);
    assert_eq!(patches(&c.server, "current"), 0);
    assert_eq!(patches(&c.server, "plain"), 0);
    let stale = api.get("stale").await.unwrap();
    let annotations = stale
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert_eq!(annotations[RESTARTED_FOR_ANNOTATION], value);

    // Nothing changed since: another round patches nothing.
    let reports = restart(c.client.clone(), key, &["app-db"]).await;
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(patches(&c.server, "stale"), 1);
}

#[tokio::test]
async fn a_refused_patch_is_reported_on_the_workload_and_nothing_else_is_affected() {
    let c = Cluster::start_with(TestServer::builder().rbac(true)).await;
    let sink = c.sink(&["team-a"]).await;
    let key = c.fingerprint_key().await;
    sink.apply(&Arc::new(desired("team-a", "app-db", "v1")))
        .await
        .unwrap();
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "team-a");
    let opt_in = [("sealsync.dev/restart-on-change", "app-db")];
    api.create(&PostParams::default(), &deployment("web", &opt_in, None))
        .await
        .unwrap();
    // The agent may read Secrets and write Events in team-a, and list workloads, but not patch them.
    let role: Role = serde_json::from_value(serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "agent", "namespace": "team-a"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
                  {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
                  {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"], "verbs": ["list"]}]}))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "agent", "namespace": "team-a"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "agent"},
        "subjects": [{"kind": "ServiceAccount", "name": "sealsync", "namespace": "sealsync"}]}),
    )
    .unwrap();
    let pp = PostParams::default();
    Api::<Role>::namespaced(c.client.clone(), "team-a")
        .create(&pp, &role)
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(c.client.clone(), "team-a")
        .create(&pp, &binding)
        .await
        .unwrap();
    c.server.add_token(
        "agent",
        TokenIdentity::service_account("sealsync", "sealsync"),
    );
    let mut config = kube::Config::new(c.server.url().parse().unwrap());
    config.auth_info.token = Some("agent".to_string().into());
    let agent = Client::try_from(config).unwrap();

    let reports = restart(agent, key, &["app-db"]).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let RestartOutcome::Failed(why) = &reports[0].outcome else {
        panic!("{reports:?}")
    };
    assert!(why.contains("deploy/components/workload-restarts"), "{why}");
    let notes = c.event_notes("team-a").await;
    assert!(
        notes
            .iter()
            .any(|(reason, kind, note)| reason == "RestartFailed"
                && kind == "Warning"
                && note.contains("workload-restarts")),
        "{notes:?}"
    );
    // The Secret is as it was; the Deployment untouched.
    let live = c.secrets("team-a").get("app-db").await.unwrap();
    assert_eq!(live.data.unwrap()["password"], ByteString(b"v1".to_vec()));
    let web = api
        .get("web")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap();
    assert!(!web
        .annotations
        .unwrap_or_default()
        .contains_key(RESTARTED_FOR_ANNOTATION));
    assert_eq!(
        patches(&c.server, "web"),
        1,
        "one refused attempt, no retry storm"
    );
}
