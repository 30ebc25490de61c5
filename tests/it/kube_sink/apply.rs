//! Applying Secrets: create, update, no-op and recreate, and the fingerprint key the sink signs with.

use sealsync_agent::desired::{FingerprintKey, SecretBytes};
use sealsync_agent::sink::kube::{hmac_key, FINGERPRINT_ANNOTATION, MANAGED_BY_LABEL};
use sealsync_agent::sink::{ApplyOutcome, Sink};
use std::sync::Arc;

use super::harness::{desired, value, Cluster, OWN_NS};

#[tokio::test]
async fn apply_creates_updates_and_leaves_unchanged_secrets_alone() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let mut d = desired("team-a", "db", "hunter2-initial");

    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&live, "password"), b"hunter2-initial");
    assert_eq!(live.type_.as_deref(), Some("Opaque"));
    let labels = live.metadata.labels.clone().unwrap();
    assert_eq!(labels[MANAGED_BY_LABEL], "sealsync");
    assert_eq!(labels["app"], "db");
    let ann = live.metadata.annotations.clone().unwrap();
    assert_eq!(ann["sealsync.dev/source"], "apps/team-a/db.yaml");
    assert_eq!(ann["sealsync.dev/commit"], "abc1234def5678");
    assert_eq!(ann["team"], "team-a");
    let key = c.fingerprint_key().await;
    assert_eq!(ann[FINGERPRINT_ANNOTATION], d.fingerprint(&key));
    let managers: Vec<(String, String)> = live
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert_eq!(managers, [("sealsync".to_string(), "Apply".to_string())]);

    // Unchanged: a GET and no write.
    c.server.clear_requests();
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    let verbs: Vec<String> = c.server.requests().iter().map(|r| r.verb.clone()).collect();
    assert_eq!(verbs, ["get"]);
    // A new commit with the same content is no change either.
    d.source.commit = "fedcba9876".into();
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );

    d.data.insert(
        "password".into(),
        SecretBytes::new(b"hunter2-rotated".to_vec()),
    );
    d.data.remove("user");
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&live, "password"), b"hunter2-rotated");
    assert!(
        !live.data.as_ref().unwrap().contains_key("user"),
        "a key removed from git is removed"
    );
    assert_eq!(
        live.metadata.annotations.unwrap()["sealsync.dev/commit"],
        "fedcba9876"
    );
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );

    // Its label removed while no drift watch runs: still the object sealsync wrote, so it is
    // relabelled by the next apply rather than refused.
    c.secrets("team-a")
        .patch(
            "db",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!(
                {"metadata": {"labels": {MANAGED_BY_LABEL: null}}}
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(live.metadata.labels.unwrap()[MANAGED_BY_LABEL], "sealsync");
}

#[tokio::test]
async fn immutable_secrets_and_type_changes_are_recreated() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let mut d = desired("team-a", "frozen", "v1-pw");
    d.immutable = Some(true);
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
    let first = c.secrets("team-a").get("frozen").await.unwrap();
    assert_eq!(first.immutable, Some(true));
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );

    d.data
        .insert("password".into(), SecretBytes::new(b"v2-pw".to_vec()));
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let second = c.secrets("team-a").get("frozen").await.unwrap();
    assert_eq!(value(&second, "password"), b"v2-pw");
    assert_ne!(
        second.metadata.uid, first.metadata.uid,
        "deleted and created again"
    );
    assert_eq!(second.immutable, Some(true));

    d.secret_type = "kubernetes.io/basic-auth".into();
    d.data = sealsync_agent::desired::SmallMap::from([
        ("username".to_string(), SecretBytes::new(b"u".to_vec())),
        ("password".to_string(), SecretBytes::new(b"v3-pw".to_vec())),
    ]);
    d.immutable = None;
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let third = c.secrets("team-a").get("frozen").await.unwrap();
    assert_eq!(third.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(
        sink.apply(&Arc::new(d.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
}

#[tokio::test]
async fn the_fingerprint_key_is_created_once_and_shared() {
    let c = Cluster::start().await;
    let (a, b) = tokio::join!(
        hmac_key::load_or_create(c.client.clone(), OWN_NS),
        hmac_key::load_or_create(c.client.clone(), OWN_NS)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.expose(), b.expose());
    assert_eq!(a.expose().len(), 32);
    let again = hmac_key::load_or_create(c.client.clone(), OWN_NS)
        .await
        .unwrap();
    assert_eq!(again.expose(), a.expose());
    let stored = c.secrets(OWN_NS).get(hmac_key::KEY_SECRET).await.unwrap();
    assert_eq!(value(&stored, "key"), a.expose());
    assert!(
        !stored
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key(MANAGED_BY_LABEL),
        "the key is not a managed Secret that could be pruned"
    );
    // Fingerprints are HMACs under it: a different key gives a different fingerprint.
    let d = desired("team-a", "db", "pw");
    assert_ne!(
        d.fingerprint(&a),
        d.fingerprint(&FingerprintKey::new(vec![0; 32]))
    );
}
