//! Create, get, list with selectors, update conflicts, validation and TokenReview through kube-rs.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube_api_test_server::{TestServer, TokenIdentity};
use serde_json::json;

use crate::{client, code, status};

fn secret(name: &str, labels: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "k".to_string(),
            ByteString(b"v".to_vec()),
        )])),
        ..Default::default()
    }
}

async fn names(api: &Api<Secret>, selector: &str) -> Vec<String> {
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .expect("list");
    list.items
        .into_iter()
        .map(|s| s.metadata.name.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn create_get_and_list_with_label_selectors() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "team");
    let pp = PostParams::default();
    api.create(&pp, &secret("a", &[("app", "web"), ("tier", "front")]))
        .await
        .unwrap();
    api.create(&pp, &secret("b", &[("app", "api")]))
        .await
        .unwrap();
    api.create(&pp, &secret("c", &[("app", "db"), ("tier", "back")]))
        .await
        .unwrap();

    let got = api.get("a").await.unwrap();
    assert_eq!(got.metadata.namespace.as_deref(), Some("team"));
    assert!(got.metadata.uid.is_some() && got.metadata.creation_timestamp.is_some());
    assert_eq!(
        got.type_.as_deref(),
        Some("Opaque"),
        "type defaults to Opaque"
    );

    assert_eq!(names(&api, "app=web").await, ["a"]);
    assert_eq!(names(&api, "app==api").await, ["b"]);
    assert_eq!(names(&api, "app!=web").await, ["b", "c"]);
    assert_eq!(names(&api, "app in (web, db)").await, ["a", "c"]);
    assert_eq!(names(&api, "app notin (web,db)").await, ["b"]);
    assert_eq!(names(&api, "tier").await, ["a", "c"]);
    assert_eq!(names(&api, "!tier").await, ["b"]);
    assert_eq!(names(&api, "tier,app=db").await, ["c"]);

    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let rv: u64 = by_name.metadata.resource_version.unwrap().parse().unwrap();
    assert!(rv >= 4, "list carries the global resourceVersion, got {rv}");

    let all: Api<Secret> = Api::all(client(&server));
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    let other_ns: Api<Secret> = Api::namespaced(client(&server), "default");
    assert!(other_ns
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());

    let dup = api.create(&pp, &secret("a", &[])).await.unwrap_err();
    let s = status(dup);
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    let missing = status(api.get("nope").await.unwrap_err());
    assert_eq!(
        (
            missing.code,
            missing.reason.as_str(),
            missing.message.as_str()
        ),
        (404, "NotFound", "secrets \"nope\" not found")
    );

    let bad = api
        .list(&ListParams::default().labels("app in web"))
        .await
        .unwrap_err();
    assert_eq!(code(&bad), 400);
}

#[tokio::test]
async fn paginated_list_returns_every_item_once() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &secret(&format!("s{i}"), &[]))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("continue token");
    let rest = api
        .list(&ListParams::default().continue_token(&token))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert_eq!(rest.items[0].metadata.name.as_deref(), Some("s2"));
}

#[tokio::test]
async fn update_with_a_stale_resource_version_conflicts() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let created = api
        .create(&PostParams::default(), &secret("s", &[]))
        .await
        .unwrap();
    let mut first = created.clone();
    first.metadata.labels = Some(BTreeMap::from([("x".into(), "1".into())]));
    let updated = api
        .replace("s", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut stale = created.clone();
    stale.metadata.labels = Some(BTreeMap::from([("x".into(), "2".into())]));
    let s = status(
        api.replace("s", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
    assert_eq!(
        api.get("s").await.unwrap().metadata.labels.unwrap()["x"],
        "1"
    );
}

#[tokio::test]
async fn string_data_is_folded_into_data() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let s = Secret {
        metadata: ObjectMeta {
            name: Some("s".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("a".to_string(), ByteString(b"old".to_vec())),
            ("b".to_string(), ByteString(b"kept".to_vec())),
        ])),
        string_data: Some(BTreeMap::from([
            ("a".to_string(), "new".to_string()),
            ("c".to_string(), "plain".to_string()),
        ])),
        ..Default::default()
    };
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert!(created.string_data.is_none(), "stringData is write-only");
    let data = api.get("s").await.unwrap().data.unwrap();
    assert_eq!(data["a"].0, b"new", "stringData wins over data");
    assert_eq!(data["b"].0, b"kept");
    assert_eq!(data["c"].0, b"plain");
}

#[tokio::test]
async fn invalid_objects_are_rejected_with_422() {
    let server = TestServer::start().await;
    let c = client(&server);
    let api: Api<Secret> = Api::namespaced(c.clone(), "default");
    let s = status(
        api.create(&PostParams::default(), &secret("Bad_Name", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let causes = s.details.unwrap().causes;
    assert_eq!(causes[0].field, "metadata.name");

    let bad_ns: Api<Secret> = Api::namespaced(c.clone(), "Not.A.Label");
    assert_eq!(
        code(
            &bad_ns
                .create(&PostParams::default(), &secret("ok", &[]))
                .await
                .unwrap_err()
        ),
        422
    );

    // data values must be base64: send raw JSON, since typed clients always encode.
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        c.clone(),
        "default",
        &kube::api::ApiResource::erase::<Secret>(&()),
    );
    let obj: kube::api::DynamicObject =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b64"}, "data": {"k": "not base64!"}})).unwrap();
    let s = status(raw.create(&PostParams::default(), &obj).await.unwrap_err());
    assert_eq!(s.code, 422);
    assert_eq!(s.details.unwrap().causes[0].field, "data[k]");

    // Immutable Secrets keep their data.
    let mut imm = secret("imm", &[]);
    imm.immutable = Some(true);
    let mut stored = api.create(&PostParams::default(), &imm).await.unwrap();
    stored.data = Some(BTreeMap::from([(
        "k".to_string(),
        ByteString(b"changed".to_vec()),
    )]));
    assert_eq!(
        code(
            &api.replace("imm", &PostParams::default(), &stored)
                .await
                .unwrap_err()
        ),
        422
    );
}

#[tokio::test]
async fn generate_name_dry_run_and_delete() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let mut s = secret("", &[]);
    s.metadata.name = None;
    s.metadata.generate_name = Some("gen-".into());
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &secret("dry", &[])).await.unwrap();
    assert_eq!(
        code(&api.get("dry").await.unwrap_err()),
        404,
        "dryRun=All stores nothing"
    );

    let deleted = api.delete(&name, &DeleteParams::default()).await.unwrap();
    let st = deleted
        .right()
        .expect("immediate deletion answers a Status");
    assert_eq!(
        st.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    assert_eq!(code(&api.get(&name).await.unwrap_err()), 404);
    assert_eq!(
        code(
            &api.delete(&name, &DeleteParams::default())
                .await
                .unwrap_err()
        ),
        404
    );

    api.create(&PostParams::default(), &secret("pre", &[]))
        .await
        .unwrap();
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("wrong".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert_eq!(code(&api.delete("pre", &dp).await.unwrap_err()), 409);
}

#[tokio::test]
async fn lease_update_with_resource_version_conflict() {
    let server = TestServer::start().await;
    let api: Api<Lease> = Api::namespaced(client(&server), "kube-system");
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("sealsync-leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("pod-a".into()),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    let created = api.create(&PostParams::default(), &lease).await.unwrap();
    // Two candidates read the same version; only the first write wins.
    let (mut a, mut b) = (created.clone(), created.clone());
    a.spec.as_mut().unwrap().holder_identity = Some("pod-a".into());
    a.spec.as_mut().unwrap().lease_transitions = Some(1);
    b.spec.as_mut().unwrap().holder_identity = Some("pod-b".into());
    api.replace("sealsync-leader", &PostParams::default(), &a)
        .await
        .unwrap();
    assert_eq!(
        code(
            &api.replace("sealsync-leader", &PostParams::default(), &b)
                .await
                .unwrap_err()
        ),
        409
    );
    let now = api.get("sealsync-leader").await.unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("pod-a"));
}

#[tokio::test]
async fn token_review_maps_known_tokens() {
    let server = TestServer::start().await;
    server.add_token("good", TokenIdentity::service_account("vault", "sealsync"));
    let api: Api<TokenReview> = Api::all(client(&server));
    let review = |token: &str| TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let ok = api
        .create(&PostParams::default(), &review("good"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(ok.authenticated, Some(true));
    let user = ok.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:vault:sealsync")
    );
    assert!(user
        .groups
        .unwrap()
        .contains(&"system:serviceaccounts:vault".to_string()));
    let bad = api
        .create(&PostParams::default(), &review("bad"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(bad.authenticated, Some(false));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let mut s = secret("held", &[]);
    s.metadata.finalizers = Some(vec!["sealsync.io/cleanup".into()]);
    api.create(&PostParams::default(), &s).await.unwrap();
    let marked = api
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("graceful deletion answers the object");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        api.get("held").await.is_ok(),
        "still there while a finalizer remains"
    );
    let patch = kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("held", &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap();
    assert_eq!(code(&api.get("held").await.unwrap_err()), 404);
}
