use super::*;
use crate::desired::FingerprintKey;

/// `team-a/db` with an `app` label.
fn sample() -> DesiredSecret {
    crate::desired::tests_support::sample().with_label("app", "db")
}

#[test]
fn the_object_it_applies_matches_itself_and_not_a_changed_one() {
    let key = FingerprintKey::new(vec![7; 32]);
    let d = sample();
    let fp = d.fingerprint(&key);
    let obj = desired_object(&d, &fp, "me");
    assert!(matches(&obj, &d, &fp, "me"));
    assert!(!matches(&obj, &d, &fp, "other"), "another instance's");
    assert_eq!(
        obj.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL],
        "sealsync"
    );

    let mut edited = obj.0.clone();
    edited
        .data
        .as_mut()
        .unwrap()
        .insert("extra".into(), ByteString(b"x".to_vec()));
    assert!(!matches(&edited, &d, &fp, "me"), "an added key is drift");

    let mut unlabelled = obj.0.clone();
    unlabelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .remove(MANAGED_BY_LABEL);
    assert!(!matches(&unlabelled, &d, &fp, "me"));

    let mut foreign = obj.0.clone();
    foreign
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert("someone/else".into(), "x".into());
    assert!(
        matches(&foreign, &d, &fp, "me"),
        "others' annotations are theirs"
    );

    let mut other_commit = d.clone();
    other_commit.source.commit = "fffffff".into();
    assert!(
        matches(&obj, &other_commit, &fp, "me"),
        "a new commit with the same content is no change"
    );
}

#[test]
fn type_changes_and_frozen_values_need_recreating() {
    let d = sample();
    let obj = desired_object(&d, "fp", "me");
    assert!(!needs_recreate(&obj, &d));
    let mut tls = d.clone();
    tls.secret_type = "kubernetes.io/tls".into();
    assert!(needs_recreate(&obj, &tls));
    let mut frozen = obj.0.clone();
    frozen.immutable = Some(true);
    assert!(needs_recreate(&frozen, &d));
}

#[test]
fn short_commits() {
    assert_eq!(short_commit("abc1234def"), "abc1234");
    assert_eq!(short_commit("abc"), "abc");
}
