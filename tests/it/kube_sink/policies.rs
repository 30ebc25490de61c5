//! An ExternalSecret's target policies as the kube sink carries them out: `creationPolicy: Orphan`
//! (`sealsync.dev/prune: disabled`) is released rather than deleted when its document leaves git, and
//! `creationPolicy: Merge` writes only its keys into an existing Secret it does not own.

use std::sync::Arc;

use sealsync_agent::desired::{SecretKey, PRUNE_ANNOTATION, PRUNE_DISABLED};
use sealsync_agent::reason::Reason;
use sealsync_agent::sink::kube::{INSTANCE_LABEL, MANAGED_BY_LABEL};
use sealsync_agent::sink::{ApplyOutcome, Sink};

use super::harness::{create_unmanaged, desired, value, Cluster};

#[tokio::test]
async fn a_secret_kept_on_removal_is_released_not_deleted() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let mut kept = desired("team-a", "db", "pw");
    kept.annotations
        .insert(PRUNE_ANNOTATION.into(), PRUNE_DISABLED.into());
    assert_eq!(
        sink.apply(&Arc::new(kept.clone())).await.unwrap(),
        ApplyOutcome::Created
    );
    assert_eq!(sink.list_managed().await.unwrap().len(), 1);

    sink.delete(&kept.key).await.unwrap();
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&live, "password"), b"pw", "the values stay");
    let labels = live.metadata.labels.clone().unwrap_or_default();
    assert!(!labels.contains_key(MANAGED_BY_LABEL), "{labels:?}");
    assert!(!labels.contains_key(INSTANCE_LABEL), "{labels:?}");
    assert_eq!(
        labels.get("app").map(String::as_str),
        Some("db"),
        "the document's own label stays"
    );
    let annotations = live.metadata.annotations.clone().unwrap_or_default();
    assert!(
        annotations.keys().all(|k| !k.starts_with("sealsync.dev/")),
        "{annotations:?}"
    );
    assert!(
        sink.list_managed().await.unwrap().is_empty(),
        "no longer managed"
    );
    // An ordinary Secret now: sealsync refuses to write or delete it.
    assert!(sink.delete(&kept.key).await.is_err());
    assert_eq!(
        sink.apply(&Arc::new(desired("team-a", "db", "other")))
            .await
            .unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
}

#[tokio::test]
async fn merge_writes_only_its_keys_into_an_existing_secret() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let mut merge = desired("team-a", "app", "merged-pw");
    merge.merge = true;

    // Nothing to merge into: refused, nothing created.
    match sink.apply(&Arc::new(merge.clone())).await.unwrap() {
        ApplyOutcome::Refused(Reason::MergeTarget, why) => {
            assert!(
                why.contains("does not exist") && why.contains("team-a/app"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(c.secrets("team-a").get_opt("app").await.unwrap().is_none());

    // Someone else's Secret with its own key `password`, and a label.
    create_unmanaged(&c, "team-a", "app", "theirs").await;
    merge.data = [
        (
            "token".to_string(),
            sealsync_agent::desired::SecretBytes::new(b"t1".to_vec()),
        ),
        (
            "url".to_string(),
            sealsync_agent::desired::SecretBytes::new(b"u1".to_vec()),
        ),
    ]
    .into();
    assert_eq!(
        sink.apply(&Arc::new(merge.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let live = c.secrets("team-a").get("app").await.unwrap();
    assert_eq!(value(&live, "password"), b"theirs", "their key stays");
    assert_eq!(value(&live, "token"), b"t1");
    assert_eq!(value(&live, "url"), b"u1");
    let labels = live.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("owner").map(String::as_str), Some("ops"));
    assert!(
        !labels.contains_key(MANAGED_BY_LABEL),
        "never labelled as sealsync's"
    );
    assert_eq!(
        sink.apply(&Arc::new(merge.clone())).await.unwrap(),
        ApplyOutcome::Unchanged
    );
    assert!(
        sink.list_managed().await.unwrap().is_empty(),
        "never managed, never pruned"
    );

    // A key it no longer writes (deletionPolicy Merge, or the spec changed) goes; theirs stays.
    merge.data = [(
        "token".to_string(),
        sealsync_agent::desired::SecretBytes::new(b"t2".to_vec()),
    )]
    .into();
    assert_eq!(
        sink.apply(&Arc::new(merge.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );
    let live = c.secrets("team-a").get("app").await.unwrap();
    let keys: Vec<&String> = live.data.as_ref().unwrap().keys().collect();
    assert_eq!(keys, ["password", "token"]);
    assert_eq!(value(&live, "token"), b"t2");

    // Into a Secret sealsync manages: refused.
    sink.apply(&Arc::new(desired("team-a", "owned", "pw")))
        .await
        .unwrap();
    let mut into_owned = merge.clone();
    into_owned.key = SecretKey::new("team-a", "owned");
    match sink.apply(&Arc::new(into_owned)).await.unwrap() {
        ApplyOutcome::Refused(Reason::MergeTarget, why) => {
            assert!(why.contains("managed by sealsync"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}
