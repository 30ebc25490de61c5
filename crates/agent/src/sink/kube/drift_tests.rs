use super::*;
use serde_json::json;

fn desired() -> DesiredSecret {
    crate::desired::tests_support::sample()
}

#[test]
fn notes_name_the_manager_and_the_source_never_a_value() {
    let d = desired();
    assert_eq!(
        revert_note(DriftKind::Edited, &["kubectl-edit".into()], &d),
        "edited by hand (fields changed by manager \"kubectl-edit\"); restored from apps/team-a/db.yaml at abc1234"
    );
    assert_eq!(
        revert_note(DriftKind::Deleted, &[], &d),
        "deleted by hand; restored from apps/team-a/db.yaml at abc1234"
    );
    assert!(!revert_note(DriftKind::LabelRemoved, &[], &d).contains("hunter2"));
}

#[test]
fn managers_owning_our_fields_are_found() {
    let d = desired();
    assert!(touches_ours(&json!({"f:data": {"f:password": {}}}), &d));
    assert!(touches_ours(
        &json!({"f:metadata": {"f:annotations": {"f:sealsync.dev/fingerprint": {}}}}),
        &d
    ));
    assert!(!touches_ours(
        &json!({"f:metadata": {"f:annotations": {"f:someone/else": {}}}}),
        &d
    ));
}

#[tokio::test]
async fn the_store_replaces_and_filters_by_namespace() {
    let store = DesiredStore::new();
    let mut other = desired();
    other.key = SecretKey::new("team-b", "db");
    store.replace_all([desired(), other]);
    assert_eq!(store.keys_in("team-a"), [SecretKey::new("team-a", "db")]);
    assert!(store.remove(&SecretKey::new("team-b", "db")).is_some());
    assert_eq!(store.len(), 1);
}
