//! Server-side apply: field managers, conflicts after a hand edit, forced restore, pruning; and
//! strategic merge on workloads.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube_api_test_server::TestServer;
use serde_json::{json, Value};

use crate::{client, status};

fn desired(password_b64: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "labels": labels},
        "data": {"password": password_b64},
    })
}

fn managers(s: &Secret) -> Vec<(String, String)> {
    s.metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn hand_edit_conflicts_with_apply_until_forced() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "apps");
    let apply = PatchParams::apply("sealsync");
    let want = desired("czNjcmV0", json!({"app": "db"}));
    let s = api.patch("db", &apply, &Patch::Apply(&want)).await.unwrap();
    assert_eq!(
        managers(&s),
        [("sealsync".to_string(), "Apply".to_string())]
    );
    let fields =
        serde_json::to_value(&s.metadata.managed_fields.as_ref().unwrap()[0].fields_v1).unwrap();
    assert_eq!(
        fields,
        json!({"f:data": {"f:password": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );

    // Applying the same again changes nothing, not even the resourceVersion.
    let again = api.patch("db", &apply, &Patch::Apply(&want)).await.unwrap();
    assert_eq!(again.metadata.resource_version, s.metadata.resource_version);

    // A person edits the Secret by hand: kubectl-edit now owns data.password.
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    api.patch(
        "db",
        &edit,
        &Patch::Merge(json!({"data": {"password": "aGFja2Vk"}})),
    )
    .await
    .unwrap();
    let drifted = api.get("db").await.unwrap();
    assert!(managers(&drifted).contains(&("kubectl-edit".to_string(), "Update".to_string())));

    let st = status(
        api.patch("db", &apply, &Patch::Apply(&want))
            .await
            .unwrap_err(),
    );
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"));
    assert!(
        st.message.contains("conflict with \"kubectl-edit\""),
        "{}",
        st.message
    );
    let causes = st.details.unwrap().causes;
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].field, ".data.password");
    assert_eq!(
        api.get("db").await.unwrap().data.unwrap()["password"].0,
        b"hacked"
    );

    let restored = api
        .patch("db", &apply.clone().force(), &Patch::Apply(&want))
        .await
        .unwrap();
    assert_eq!(restored.data.as_ref().unwrap()["password"].0, b"s3cret");
    assert_eq!(
        managers(&restored),
        [("sealsync".to_string(), "Apply".to_string())],
        "ownership moved back"
    );
}

#[tokio::test]
async fn fields_dropped_from_the_configuration_are_removed() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "apps");
    let apply = PatchParams::apply("sealsync");
    api.patch(
        "db",
        &apply,
        &Patch::Apply(desired("YQ==", json!({"app": "db", "old": "x"}))),
    )
    .await
    .unwrap();
    // Another manager co-owns a label of its own, which must survive.
    let label = PatchParams {
        field_manager: Some("kubectl-label".into()),
        ..Default::default()
    };
    api.patch(
        "db",
        &label,
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    let s = api
        .patch(
            "db",
            &apply,
            &Patch::Apply(desired("YQ==", json!({"app": "db"}))),
        )
        .await
        .unwrap();
    let labels = s.metadata.labels.unwrap();
    assert_eq!(labels.keys().collect::<Vec<_>>(), ["app", "team"]);
}

#[tokio::test]
async fn apply_needs_a_field_manager_and_creates_when_missing() {
    let server = TestServer::start().await;
    let c = client(&server);
    let req = http::Request::patch("/api/v1/namespaces/default/secrets/x")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  a: b\n".to_vec())
        .unwrap();
    let err = c.request::<Value>(req).await.unwrap_err();
    assert_eq!(crate::code(&err), 400);
    let req = http::Request::patch("/api/v1/namespaces/default/secrets/x?fieldManager=yaml-user")
        .header("content-type", "application/apply-patch+yaml")
        .body(b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  a: b\n".to_vec())
        .unwrap();
    let created: Value = c.request(req).await.unwrap();
    assert_eq!(created["data"]["a"], "Yg==");
    assert!(created.get("stringData").is_none());
}

#[tokio::test]
async fn deployments_count_generations_and_merge_containers_by_name() {
    let server = TestServer::start().await;
    let api: Api<Deployment> = Api::namespaced(client(&server), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "side:1"}]}
            }
        }
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.spec.as_ref().unwrap().replicas,
        Some(1),
        "replicas defaults to 1"
    );
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
    let patched = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    let images: Vec<_> = containers
        .iter()
        .map(|c| (c.name.as_str(), c.image.as_deref().unwrap()))
        .collect();
    assert_eq!(images, [("app", "app:2"), ("sidecar", "side:1")]);

    // Status is a subresource: the main resource ignores it, /status changes only it.
    let status_patch = json!({"status": {"readyReplicas": 1}, "spec": {"replicas": 5}});
    let st = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(status_patch))
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().ready_replicas, Some(1));
    assert_eq!(st.spec.unwrap().replicas, Some(1));
    let ignored = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(ignored.status.unwrap().ready_replicas, Some(1));
    assert_eq!(ignored.metadata.generation, Some(2));
}
