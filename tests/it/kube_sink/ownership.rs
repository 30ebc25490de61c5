//! What the sink may touch: permitted namespaces only, never an unmanaged Secret unless adopted.

use sealsync_agent::desired::SecretKey;
use sealsync_agent::sink::kube::{Ownership, MANAGED_BY_LABEL};
use sealsync_agent::sink::{ApplyOutcome, Sink, SinkError};
use std::sync::Arc;

use super::harness::{create_unmanaged, desired, value, Cluster};

/// The default instance, with `--allow-adopt`.
pub(super) fn allowing_adoption() -> Ownership {
    Ownership {
        allow_adopt: true,
        ..Ownership::default_for(super::harness::OWN_NS)
    }
}

#[tokio::test]
async fn secrets_outside_the_permitted_namespaces_are_refused_without_a_request() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    c.server.clear_requests();
    let err = sink
        .apply(&Arc::new(desired("team-b", "db", "pw-b")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SinkError::Other(ref m) if m.contains("team-b")),
        "{err}"
    );
    assert!(sink.delete(&SecretKey::new("team-b", "db")).await.is_err());
    assert!(c.server.requests().is_empty());
    assert!(c.secrets("team-b").get_opt("db").await.unwrap().is_none());
}

#[tokio::test]
async fn an_unmanaged_secret_is_refused_and_untouched_unless_adopted() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let before = create_unmanaged(&c, "team-a", "db", "theirs-pw").await;

    let mut d = desired("team-a", "db", "ours-pw");
    c.server.clear_requests();
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    let writes: Vec<_> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && r.verb != "get")
        .collect();
    assert!(writes.is_empty(), "nothing written: {writes:?}");
    let after = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(value(&after, "password"), b"theirs-pw");
    let notes = c.event_notes("team-a").await;
    assert!(
        notes.iter().any(|(reason, ty, note)| reason == "Unmanaged"
            && ty == "Warning"
            && note.contains("apps/team-a/db.yaml")),
        "{notes:?}"
    );
    // Refused again on the next reconcile: no second Event about the same Secret.
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    let warnings = c
        .event_notes("team-a")
        .await
        .into_iter()
        .filter(|(reason, _, _)| reason == "Unmanaged")
        .count();
    assert_eq!(warnings, 1);
    assert!(sink.list_managed().await.unwrap().is_empty());
    assert!(matches!(
        sink.delete(&d.key).await,
        Err(SinkError::Conflict { .. })
    ));
    assert!(c.secrets("team-a").get_opt("db").await.unwrap().is_some());

    // The file asks for adoption; the operator has not allowed it.
    d.adopt = true;
    match sink.apply(&Arc::new(d.clone())).await.unwrap() {
        ApplyOutcome::Refused(sealsync_agent::reason::Reason::AdoptionRefused, why) => {
            assert!(why.contains("--allow-adopt"), "{why}")
        }
        other => panic!("adoption without --allow-adopt: {other:?}"),
    }
    assert_eq!(
        value(&c.secrets("team-a").get("db").await.unwrap(), "password"),
        b"theirs-pw"
    );
    let sink = c.sink_as(&["team-a"], allowing_adoption()).await;
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let adopted = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&adopted, "password"), b"ours-pw");
    assert_eq!(
        adopted.metadata.uid, before.metadata.uid,
        "same object, adopted"
    );
    assert_eq!(
        adopted.metadata.labels.unwrap()[MANAGED_BY_LABEL],
        "sealsync"
    );
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[tokio::test]
async fn list_managed_sees_only_labelled_secrets_in_permitted_namespaces() {
    let c = Cluster::start().await;
    let wide = c.sink(&["team-a", "team-b", "team-c"]).await;
    for (ns, name) in [("team-a", "one"), ("team-b", "two"), ("team-c", "three")] {
        wide.apply(&Arc::new(desired(ns, name, "pw")))
            .await
            .unwrap();
    }
    create_unmanaged(&c, "team-a", "manual", "pw").await;

    let sink = c.sink(&["team-a", "team-b"]).await;
    c.server.clear_requests();
    let mut listed = sink.list_managed().await.unwrap();
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<String> = listed.iter().map(|m| m.key.to_string()).collect();
    assert_eq!(keys, ["team-a/one", "team-b/two"]);
    assert_eq!(
        listed[0].source_path.as_deref(),
        Some("apps/team-a/one.yaml")
    );
    // This sink instance has not written or checked these objects: their fingerprint annotation is not
    // trusted (a hand edit of the values leaves it unchanged), so none is reported.
    assert_eq!(listed[0].fingerprint, None);
    let requests = c.server.requests();
    let by_writer = wide.list_managed().await.unwrap();
    let one = by_writer.iter().find(|m| m.key.name == "one").unwrap();
    assert_eq!(one.fingerprint.as_ref().map(String::len), Some(64));
    for r in requests {
        assert_eq!(r.verb, "list");
        assert!(
            r.path.starts_with("/api/v1/namespaces/team-"),
            "never cluster-wide: {}",
            r.path
        );
        assert!(
            r.query
                .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsealsync"),
            "{}",
            r.query
        );
    }
}

#[tokio::test]
async fn delete_removes_only_managed_secrets() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let d = desired("team-a", "db", "pw");
    sink.apply(&Arc::new(d.clone())).await.unwrap();
    sink.delete(&d.key).await.unwrap();
    assert!(c.secrets("team-a").get_opt("db").await.unwrap().is_none());
    // Already gone: fine.
    sink.delete(&d.key).await.unwrap();
    let deletes: Vec<_> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "delete")
        .collect();
    assert_eq!(deletes.len(), 1);
}
