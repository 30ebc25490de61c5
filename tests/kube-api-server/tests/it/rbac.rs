//! RBAC enforced as a real cluster does, driven with `kubectl`: an administrator applies Roles and
//! bindings as ordinary manifests; a service account's token then gets what they grant and the real
//! 403 messages for the rest; unknown tokens get 401. `kubectl` sends a kubeconfig's token only over
//! TLS, so the service account is played by the kube-rs client (which sends it over plain HTTP too),
//! and `kubectl` without credentials is the administrator.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{Api, ListParams};
use kube_api_test_server::{TestServer, TokenIdentity};

use crate::kubectl::{kubectl_present, write, Kubectl};
use crate::{client_with_token, status};

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: team-a
stringData:
  password: x
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: team-a
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: ["db"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: team-a
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
  - kind: ServiceAccount
    name: reader
    namespace: team-a
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_as_admin_applies_rbac_and_a_service_account_gets_only_what_it_grants() {
    assert!(kubectl_present(), "kubectl is needed on PATH for this test");
    let server = TestServer::builder().rbac(true).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let admin = Kubectl {
        kubeconfig: dir.path().join("admin"),
        cache: dir.path().join("cache-admin"),
    };
    server.write_kubeconfig(&admin.kubeconfig).unwrap();
    let file = write(dir.path(), "rbac.yaml", MANIFESTS);
    admin.ok(&["apply", "-f", &file]).await;
    assert!(admin
        .ok(&["get", "roles,rolebindings", "-n", "team-a", "-o", "name"])
        .await
        .contains("role.rbac.authorization.k8s.io/reader"));

    server.add_token(
        "reader-token",
        TokenIdentity::service_account("team-a", "reader"),
    );
    let reader = client_with_token(&server, "reader-token").await;
    let secrets: Api<Secret> = Api::namespaced(reader.clone(), "team-a");
    secrets.get("db").await.unwrap();
    // A list selecting the one name is authorized by resourceNames; the whole collection is not.
    let named = ListParams::default().fields("metadata.name=db");
    assert_eq!(secrets.list(&named).await.unwrap().items.len(), 1);
    let e = status(secrets.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        r#"secrets is forbidden: User "system:serviceaccount:team-a:reader" cannot list resource "secrets" in API group "" in the namespace "team-a""#
    );
    let e = status(secrets.delete("db", &Default::default()).await.unwrap_err());
    assert_eq!(
        e.message,
        r#"secrets "db" is forbidden: User "system:serviceaccount:team-a:reader" cannot delete resource "secrets" in API group "" in the namespace "team-a""#
    );
    let roles: Api<Role> = Api::namespaced(reader, "team-a");
    let e = status(roles.list(&ListParams::default()).await.unwrap_err());
    assert!(
        e.message
            .contains(r#"cannot list resource "roles" in API group "rbac.authorization.k8s.io""#),
        "{}",
        e.message
    );
    // The request log names who was refused.
    assert!(server.requests().iter().any(|r| r.status == 403
        && r.user == "system:serviceaccount:team-a:reader"
        && r.verb == "delete"));

    let e = status(
        Api::<Secret>::namespaced(client_with_token(&server, "nobody").await, "team-a")
            .get("db")
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));
    // The administrator still sees everything.
    assert!(admin
        .ok(&["get", "secret", "db", "-n", "team-a", "-o", "name"])
        .await
        .contains("secret/db"));
    server.shutdown().await;
}
