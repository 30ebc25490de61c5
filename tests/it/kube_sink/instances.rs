//! Several agents over the same namespaces: each instance (label `sealsync.dev/instance`) lists,
//! prunes, reverts and adopts only its own Secrets; adoption needs `--allow-adopt` and never takes a
//! Secret another controller owns; `run --once` does not write behind a running leader's back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use sealsync_agent::desired::SecretKey;
use sealsync_agent::sink::kube::{Ownership, INSTANCE_LABEL, MANAGED_BY_LABEL};
use sealsync_agent::sink::{ApplyOutcome, Sink, SinkError};

use super::harness::{desired, value, Agent, Cluster, OWN_NS};
use super::ownership::allowing_adoption;
use crate::agent_dir::{agent, encrypted};
use crate::git_servers::Fixture;
use crate::support::poll_until_async;
use crate::support::{key, ONE};

fn instance(name: &str) -> Ownership {
    Ownership {
        instance: name.into(),
        claims_unlabelled: false,
        allow_adopt: false,
    }
}

fn keys(listed: Vec<sealsync_agent::sink::ManagedSecret>) -> Vec<String> {
    let mut out: Vec<String> = listed.into_iter().map(|m| m.key.to_string()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_one_namespace_list_and_prune_only_their_own() {
    let c = Cluster::start().await;
    let a = c.sink_as(&["team-a"], instance("repo-a")).await;
    let b = c.sink_as(&["team-a"], instance("repo-b")).await;
    assert_eq!(
        a.apply(&Arc::new(desired("team-a", "one", "pw-a")))
            .await
            .unwrap(),
        ApplyOutcome::Created
    );
    assert_eq!(
        b.apply(&Arc::new(desired("team-a", "two", "pw-b")))
            .await
            .unwrap(),
        ApplyOutcome::Created
    );
    let two = c.secrets("team-a").get("two").await.unwrap();
    assert_eq!(
        two.metadata.labels.as_ref().unwrap()[INSTANCE_LABEL],
        "repo-b"
    );

    // Each sees only its own: what it would prune when its source leaves git.
    assert_eq!(keys(a.list_managed().await.unwrap()), ["team-a/one"]);
    assert_eq!(keys(b.list_managed().await.unwrap()), ["team-a/two"]);
    let err = a
        .delete(&SecretKey::new("team-a", "two"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SinkError::Conflict { ref reason, .. } if reason.contains("repo-b")),
        "{err}"
    );
    assert!(c.secrets("team-a").get_opt("two").await.unwrap().is_some());

    // Both repositories declare `two`: the second agent does not take it over.
    c.server.clear_requests();
    match a
        .apply(&Arc::new(desired("team-a", "two", "pw-a")))
        .await
        .unwrap()
    {
        ApplyOutcome::Refused(sealsync_agent::reason::Reason::OwnedByOtherInstance, why) => {
            assert!(why.contains("repo-b"), "{why}")
        }
        other => panic!("a write onto another instance's Secret: {other:?}"),
    }
    assert!(c.secret_patches().is_empty(), "nothing written");
    assert_eq!(
        value(&c.secrets("team-a").get("two").await.unwrap(), "password"),
        b"pw-b"
    );
    let notes = c.event_notes("team-a").await;
    assert!(
        notes
            .iter()
            .any(|(reason, ty, _)| reason == "OwnedByOtherInstance" && ty == "Warning"),
        "{notes:?}"
    );
    a.delete(&SecretKey::new("team-a", "one")).await.unwrap();
    assert!(c.secrets("team-a").get_opt("one").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlabelled_secrets_from_before_instances_belong_to_the_default_instance() {
    let c = Cluster::start().await;
    let default = c.sink(&["team-a"]).await;
    default
        .apply(&Arc::new(desired("team-a", "old", "pw")))
        .await
        .unwrap();
    // As an agent of the previous version left it: managed, no instance label.
    c.kubectl(&[
        "-n",
        "team-a",
        "label",
        "secret",
        "old",
        &format!("{INSTANCE_LABEL}-"),
    ]);

    let named = c.sink_as(&["team-a"], instance("repo-b")).await;
    assert!(named.list_managed().await.unwrap().is_empty());
    assert!(named
        .delete(&SecretKey::new("team-a", "old"))
        .await
        .is_err());
    let fresh = c.sink(&["team-a"]).await;
    assert_eq!(keys(fresh.list_managed().await.unwrap()), ["team-a/old"]);
    // Applied again, it carries the default instance's label (the agent's own namespace).
    assert_eq!(
        fresh
            .apply(&Arc::new(desired("team-a", "old", "pw")))
            .await
            .unwrap(),
        ApplyOutcome::Updated
    );
    let old = c.secrets("team-a").get("old").await.unwrap();
    assert_eq!(old.metadata.labels.unwrap()[INSTANCE_LABEL], OWN_NS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_watch_of_one_instance_ignores_another_instances_secrets() {
    let c = Cluster::start().await;
    let mut a = Agent::start_with(
        &c,
        c.sink_as(&["team-a"], instance("repo-a")).await,
        vec![desired("team-a", "one", "pw-a")],
    )
    .await;
    // Instance A desires `two` as well (it is refused there), B owns it.
    a.store.insert(desired("team-a", "two", "pw-a"));
    let b = c.sink_as(&["team-a"], instance("repo-b")).await;
    b.apply(&Arc::new(desired("team-a", "two", "pw-b")))
        .await
        .unwrap();
    c.patch_password("team-a", "two", "edited-by-hand");
    c.kubectl(&["-n", "team-a", "delete", "secret", "two"]);
    b.apply(&Arc::new(desired("team-a", "two", "pw-b")))
        .await
        .unwrap();
    c.patch_password("team-a", "two", "edited-again");
    // A's own Secret, edited, is still put back: the watch runs, and saw nothing of B's.
    c.patch_password("team-a", "one", "edited-by-hand");
    let report = a.next_report().await;
    assert_eq!(report.key, SecretKey::new("team-a", "one"));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), a.reports.recv())
            .await
            .is_err(),
        "no other report"
    );
    assert_eq!(
        value(&c.secrets("team-a").get("two").await.unwrap(), "password"),
        b"edited-again"
    );
    let watches: Vec<String> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch" || r.query.contains("watch=true"))
        .map(|r| r.query)
        .collect();
    assert!(!watches.is_empty());
    for q in watches {
        assert!(q.contains("sealsync.dev%2Finstance%3Drepo-a"), "{q}");
    }
    a.stop().await;
}

async fn create(c: &Cluster, name: &str, meta: ObjectMeta) {
    let s = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..meta
        },
        data: Some(BTreeMap::from([(
            "password".to_string(),
            ByteString(b"theirs".to_vec()),
        )])),
        ..Secret::default()
    };
    c.secrets("team-a")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_never_takes_a_secret_another_controller_owns() {
    let c = Cluster::start().await;
    create(
        &c,
        "owned",
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                uid: "4c1d5f8e-0000-4000-8000-000000000001".into(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
    )
    .await;
    create(
        &c,
        "helm",
        ObjectMeta {
            labels: Some(BTreeMap::from([(
                MANAGED_BY_LABEL.to_string(),
                "Helm".to_string(),
            )])),
            ..ObjectMeta::default()
        },
    )
    .await;
    // A controller that applies the values server-side (as Flux's kustomize-controller does).
    let applied = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "flux"},
        "data": {"password": "dGhlaXJz"}
    });
    c.secrets("team-a")
        .patch(
            "flux",
            &PatchParams::apply("kustomize-controller"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    let sink = c.sink_as(&["team-a"], allowing_adoption()).await;
    for (name, expected) in [
        ("owned", "Deployment web"),
        ("helm", "managed-by=Helm"),
        ("flux", "kustomize-controller"),
    ] {
        let mut d = desired("team-a", name, "ours");
        d.adopt = true;
        match sink.apply(&Arc::new(d.clone())).await.unwrap() {
            ApplyOutcome::Refused(_, why) => assert!(why.contains(expected), "{name}: {why}"),
            other => panic!("{name} adopted: {other:?}"),
        }
        let live = c.secrets("team-a").get(name).await.unwrap();
        assert_eq!(value(&live, "password"), b"theirs", "{name}");
    }
    // A Secret a person made with kubectl is adopted.
    c.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "manual",
        "--from-literal=password=theirs",
    ]);
    let mut d = desired("team-a", "manual", "ours");
    d.adopt = true;
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_refuses_while_another_replica_holds_the_lease() {
    let c = Cluster::start().await;
    let fx = Fixture::new();
    fx.write(
        "apps/db.yaml",
        encrypted("sealsync", "db", &[("password", "lease-s3cret")], ONE),
    );
    fx.commit("one secret");
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), "sealsync");
    let now = k8s_openapi::jiff::Timestamp::now();
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("sealsync-leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("sealsync-7d9f-leader".into()),
            lease_duration_seconds: Some(3600),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    };
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let kubeconfig = c.kubeconfig();
    let cache = fx.scratch("cache");
    let url = fx.file_url();
    let run = move |extra: &'static [&'static str]| {
        let (kubeconfig, cache, url) = (kubeconfig.clone(), cache.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            agent()
                .args(["run", "--once", "--sink", "kube", "--repo", &url])
                .arg("--identity")
                .arg(key("one.agekey"))
                .arg("--cache-dir")
                .arg(&cache)
                .args(extra)
                .env("KUBECONFIG", &kubeconfig)
                .env("POD_NAMESPACE", "sealsync")
                .env("POD_NAME", "sealsync-once")
                .output()
                .unwrap()
        })
    };
    let out = run(&[]).await.unwrap();
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{logs}");
    assert!(
        logs.contains("sealsync-7d9f-leader") && logs.contains("--ignore-leader"),
        "{logs}"
    );
    assert!(c.secrets("sealsync").get_opt("db").await.unwrap().is_none());

    let out = run(&["--ignore-leader"]).await.unwrap();
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{logs}");
    poll_until_async("the Secret written with --ignore-leader", || async {
        c.secrets("sealsync").get_opt("db").await.unwrap().is_some()
    })
    .await;
}
