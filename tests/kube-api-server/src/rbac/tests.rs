//! The authorizer against stored Roles and bindings: verbs, groups, wildcards, subresources,
//! resourceNames (with the name a field selector carries), bindings to missing roles, the messages.

use serde_json::{json, Value};

use super::*;
use crate::managed::Actor;
use crate::objects::{self, Ownership};

fn store_with(objects: &[(&str, Value)]) -> Store {
    let store = Store::new();
    let actor = Actor {
        manager: "test".into(),
        api_version: "rbac.authorization.k8s.io/v1".into(),
        subresource: String::new(),
        time: crate::ids::now_rfc3339(),
    };
    for (plural, obj) in objects {
        let d = def(plural);
        let obj = objects::prepare_create(d, obj.clone(), &actor, Ownership::Update).unwrap();
        store.create(d, obj).unwrap();
    }
    store
}

fn role(ns: &str, name: &str, rules: Value) -> (&'static str, Value) {
    (
        "roles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": name, "namespace": ns}, "rules": rules}),
    )
}

fn binding(ns: &str, role_kind: &str, role: &str, subjects: Value) -> (&'static str, Value) {
    (
        "rolebindings",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": format!("{role}-binding"), "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
               "subjects": subjects}),
    )
}

fn sa() -> User {
    User {
        name: "system:serviceaccount:sealsync:sealsync".into(),
        groups: vec![
            "system:serviceaccounts".into(),
            "system:serviceaccounts:sealsync".into(),
            "system:authenticated".into(),
        ],
    }
}

fn res<'a>(
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    ns: &'a str,
    name: &'a str,
) -> Access<'a> {
    Access::Resource {
        verb,
        group,
        resource,
        subresource: "",
        namespace: ns,
        name,
    }
}

fn sa_subject() -> Value {
    json!([{"kind": "ServiceAccount", "name": "sealsync", "namespace": "sealsync"}])
}

#[test]
fn a_role_grants_its_verbs_on_its_resources_in_its_namespace_only() {
    let store = store_with(&[
        role(
            "team-a",
            "r",
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]),
        ),
        binding("team-a", "Role", "r", sa_subject()),
    ]);
    let u = sa();
    assert!(authorize(&store, &u, res("get", "", "secrets", "team-a", "x")).is_ok());
    assert!(authorize(&store, &u, res("watch", "", "secrets", "team-a", "")).is_ok());
    let e = authorize(&store, &u, res("delete", "", "secrets", "team-a", "x")).unwrap_err();
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        r#"secrets "x" is forbidden: User "system:serviceaccount:sealsync:sealsync" cannot delete resource "secrets" in API group "" in the namespace "team-a""#
    );
    assert_eq!(e.details.kind.as_deref(), Some("secrets"));
    assert_eq!(e.details.name.as_deref(), Some("x"));
    let e = authorize(&store, &u, res("list", "", "secrets", "team-b", "")).unwrap_err();
    assert_eq!(
        e.message,
        r#"secrets is forbidden: User "system:serviceaccount:sealsync:sealsync" cannot list resource "secrets" in API group "" in the namespace "team-b""#
    );
    assert!(authorize(&store, &u, res("get", "", "configmaps", "team-a", "x")).is_err());
    let other = User {
        name: "system:serviceaccount:other:sealsync".into(),
        groups: vec![],
    };
    assert!(authorize(&store, &other, res("get", "", "secrets", "team-a", "x")).is_err());
}

#[test]
fn resource_names_allow_only_named_requests_and_a_name_selecting_list_or_watch() {
    let store = store_with(&[
        role(
            "sealsync",
            "r",
            json!([
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "resourceNames": ["sealsync-leader"], "verbs": ["get", "list", "watch", "update"]},
            ]),
        ),
        binding("sealsync", "Role", "r", sa_subject()),
    ]);
    let u = sa();
    let lease = |verb, name| res(verb, "coordination.k8s.io", "leases", "sealsync", name);
    assert!(authorize(&store, &u, lease("get", "sealsync-leader")).is_ok());
    assert!(authorize(&store, &u, lease("get", "other")).is_err());
    // A watch of the whole collection is not authorized by resourceNames...
    let e = authorize(&store, &u, lease("watch", "")).unwrap_err();
    assert_eq!(
        e.message,
        r#"leases.coordination.k8s.io is forbidden: User "system:serviceaccount:sealsync:sealsync" cannot watch resource "leases" in API group "coordination.k8s.io" in the namespace "sealsync""#
    );
    assert_eq!(e.details.group.as_deref(), Some("coordination.k8s.io"));
    // ...one selecting metadata.name=sealsync-leader is (the caller passes that name).
    assert!(authorize(&store, &u, lease("watch", "sealsync-leader")).is_ok());
    assert!(authorize(&store, &u, lease("list", "sealsync-leader")).is_ok());
    assert!(authorize(&store, &u, lease("create", "")).is_ok());
    assert!(authorize(&store, &u, lease("patch", "sealsync-leader")).is_err());
}

#[test]
fn wildcards_subresources_groups_and_cluster_roles() {
    let store = store_with(&[
        (
            "clusterroles",
            json!({"metadata": {"name": "apps-status"}, "rules": [
                {"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["*"]},
                {"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]},
            ]}),
        ),
        binding(
            "team-a",
            "ClusterRole",
            "apps-status",
            json!([{"kind": "Group", "name": "devs"}]),
        ),
        (
            "clusterroles",
            json!({"metadata": {"name": "system:ns-reader"}, "rules": [
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
                {"nonResourceURLs": ["/metrics*"], "verbs": ["get"]},
            ]}),
        ),
        (
            "clusterrolebindings",
            json!({"metadata": {"name": "ns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:ns-reader"},
            "subjects": [{"kind": "User", "name": "alice"}]}),
        ),
    ]);
    let dev = User {
        name: "bob".into(),
        groups: vec!["devs".into(), "system:authenticated".into()],
    };
    let status = |verb, ns| Access::Resource {
        verb,
        group: "apps",
        resource: "deployments",
        subresource: "status",
        namespace: ns,
        name: "web",
    };
    assert!(authorize(&store, &dev, status("update", "team-a")).is_ok());
    let e = authorize(&store, &dev, status("update", "team-b")).unwrap_err();
    assert!(
        e.message
            .contains(r#"cannot update resource "deployments/status" in API group "apps""#),
        "{}",
        e.message
    );
    assert!(authorize(
        &store,
        &dev,
        res("get", "apps", "deployments", "team-a", "web")
    )
    .is_ok());
    assert!(
        authorize(
            &store,
            &dev,
            res("patch", "apps", "deployments", "team-a", "web")
        )
        .is_err(),
        "the main resource is not its status"
    );
    let alice = User {
        name: "alice".into(),
        groups: vec!["system:authenticated".into()],
    };
    assert!(authorize(&store, &alice, res("get", "", "namespaces", "", "team-a")).is_ok());
    let e = authorize(
        &store,
        &alice,
        res("delete", "", "namespaces", "", "team-a"),
    )
    .unwrap_err();
    assert!(
        e.message.ends_with(
            r#"cannot delete resource "namespaces" in API group "" at the cluster scope"#
        ),
        "{}",
        e.message
    );
    // Non-resource URLs: discovery for every authenticated user, the rest by rule.
    assert!(authorize(
        &store,
        &alice,
        Access::NonResource {
            verb: "get",
            path: "/apis"
        }
    )
    .is_ok());
    let anon = User::anonymous();
    assert!(authorize(
        &store,
        &anon,
        Access::NonResource {
            verb: "get",
            path: "/version"
        }
    )
    .is_ok());
    let e = authorize(
        &store,
        &anon,
        Access::NonResource {
            verb: "get",
            path: "/api",
        },
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        r#"forbidden: User "system:anonymous" cannot get path "/api""#
    );
}

#[test]
fn masters_bypass_and_a_missing_role_is_named_in_the_denial() {
    let store = store_with(&[binding("ns", "Role", "gone", sa_subject())]);
    let admin = User {
        name: "admin".into(),
        groups: vec![MASTERS.into()],
    };
    assert!(authorize(&store, &admin, res("delete", "", "secrets", "ns", "x")).is_ok());
    let e = authorize(&store, &sa(), res("get", "", "secrets", "ns", "x")).unwrap_err();
    assert!(
        e.message.ends_with(
            r#"in the namespace "ns": RBAC: role.rbac.authorization.k8s.io "gone" not found"#
        ),
        "{}",
        e.message
    );
}
