//! RBAC as the API server enforces it (`rbac.authorization.k8s.io/v1`): the Roles, ClusterRoles and
//! bindings stored here decide whether a user may perform a verb on a resource.
//!
//! Follows the Kubernetes RBAC authorizer (`plugin/pkg/auth/authorizer/rbac`): rules only add
//! permissions; a ClusterRoleBinding grants its ClusterRole everywhere, a RoleBinding grants its Role
//! or ClusterRole in its own namespace; `*` matches any verb, group or resource and `*/status` any
//! resource's status subresource; `resourceNames` restrict a rule to named objects, which a request
//! without a name (create, deletecollection, a list or watch without `fieldSelector=metadata.name=X`)
//! never matches. Members of `system:masters` bypass RBAC, as the built-in `cluster-admin` binding
//! makes them. Not modelled: aggregated ClusterRoles, escalation checks when writing RBAC objects,
//! impersonation.

use serde_json::Value;

use crate::resources::{self, ResourceDef};
use crate::status::ApiError;
use crate::store::Store;

/// Who sent a request, as the authenticator established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// The group whose members may do anything.
pub const MASTERS: &str = "system:masters";

impl User {
    /// A request without credentials on a real cluster (here they are the administrator: see
    /// `tokens::authenticate`).
    #[cfg(test)]
    pub fn anonymous() -> User {
        User {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// What is asked, in the authorizer's terms (`authorizer.Attributes`).
#[derive(Debug, Clone, Copy)]
pub enum Access<'a> {
    Resource {
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        subresource: &'a str,
        /// Empty for cluster-scoped resources.
        namespace: &'a str,
        /// Empty for collections, unless a list or watch selects `metadata.name=X`.
        name: &'a str,
    },
    /// Discovery, `/version`, `/healthz`, `/openapi/...`: `verb` is the lower-case HTTP method.
    NonResource { verb: &'a str, path: &'a str },
}

/// Allows or answers the 403 a real API server sends, with its message.
pub fn authorize(store: &Store, user: &User, access: Access<'_>) -> Result<(), ApiError> {
    if user.in_group(MASTERS) {
        return Ok(());
    }
    if let Access::NonResource { path, .. } = access {
        // system:public-info-viewer (everyone) and system:discovery/basic-user (the authenticated).
        let public = matches!(path, "/healthz" | "/livez" | "/readyz" | "/version");
        if public || user.in_group("system:authenticated") {
            return Ok(());
        }
    }
    let namespace = match access {
        Access::Resource { namespace, .. } => namespace,
        Access::NonResource { .. } => "",
    };
    let mut errors = Vec::new();
    let allowed = granted_rules(store, user, namespace, &mut errors)
        .iter()
        .any(|rule| rule_allows(rule, access));
    if allowed {
        Ok(())
    } else {
        Err(forbidden(user, access, &errors))
    }
}

fn def(plural: &str) -> &'static ResourceDef {
    resources::by_plural("rbac.authorization.k8s.io", plural)
        .expect("the RBAC resources are served")
}

fn strings<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v str> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Whether a binding's subjects include `user` (`appliesToUser`); a ServiceAccount subject without a
/// namespace means the binding's own.
fn binds(binding: &Value, user: &User, binding_namespace: &str) -> bool {
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| {
            let name = str_at(s, "/name");
            match str_at(s, "/kind") {
                "User" => user.name == name,
                "Group" => user.in_group(name),
                "ServiceAccount" => {
                    let ns = match str_at(s, "/namespace") {
                        "" => binding_namespace,
                        ns => ns,
                    };
                    user.name == format!("system:serviceaccount:{ns}:{name}")
                }
                _ => false,
            }
        })
}

/// Every rule granted to `user` in `namespace` (cluster-wide ones included); a binding whose role is
/// missing adds an error to the denial's reason, as the real authorizer does.
fn granted_rules(
    store: &Store,
    user: &User,
    namespace: &str,
    errors: &mut Vec<String>,
) -> Vec<Value> {
    let mut rules = Vec::new();
    let mut add = |role: Option<Value>, what: String| match role {
        Some(r) => rules.extend(
            r.get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        ),
        None => errors.push(format!("{what} not found")),
    };
    let (cluster_bindings, _) = store.list(def("clusterrolebindings"), None);
    for b in cluster_bindings.iter().filter(|b| binds(b, user, "")) {
        let name = str_at(b, "/roleRef/name");
        add(
            store.get(def("clusterroles"), "", name),
            format!("clusterrole.rbac.authorization.k8s.io \"{name}\""),
        );
    }
    if !namespace.is_empty() {
        let (bindings, _) = store.list(def("rolebindings"), Some(namespace));
        for b in bindings.iter().filter(|b| binds(b, user, namespace)) {
            let name = str_at(b, "/roleRef/name");
            match str_at(b, "/roleRef/kind") {
                "ClusterRole" => add(
                    store.get(def("clusterroles"), "", name),
                    format!("clusterrole.rbac.authorization.k8s.io \"{name}\""),
                ),
                _ => add(
                    store.get(def("roles"), namespace, name),
                    format!("role.rbac.authorization.k8s.io \"{name}\""),
                ),
            }
        }
    }
    rules
}

/// `RuleAllows` of the RBAC authorizer.
fn rule_allows(rule: &Value, access: Access<'_>) -> bool {
    let any = |key: &str, want: &str| strings(rule, key).any(|v| v == "*" || v == want);
    match access {
        Access::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            let combined = if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            };
            let resource_ok = strings(rule, "resources").any(|r| {
                r == "*"
                    || r == combined
                    || (!subresource.is_empty() && r == format!("*/{subresource}"))
            });
            let mut names = strings(rule, "resourceNames").peekable();
            let name_ok = names.peek().is_none() || (!name.is_empty() && names.any(|n| n == name));
            any("verbs", verb) && any("apiGroups", group) && resource_ok && name_ok
        }
        Access::NonResource { verb, path } => {
            any("verbs", verb)
                && strings(rule, "nonResourceURLs").any(|u| {
                    u == "*"
                        || u == path
                        || u.strip_suffix('*')
                            .is_some_and(|prefix| path.starts_with(prefix))
                })
        }
    }
}

/// The 403 `responsewriters.Forbidden` writes: `<resource> "<name>" is forbidden: User "<u>" cannot
/// <verb> resource "<resource>" in API group "<group>" in the namespace "<ns>"` (or `at the cluster
/// scope`), with `: RBAC: ...` appended when a binding named a missing role.
fn forbidden(user: &User, access: Access<'_>, errors: &[String]) -> ApiError {
    let reason = match errors {
        [] => String::new(),
        [one] => format!(": RBAC: {one}"),
        many => format!(": RBAC: [{}]", many.join(", ")),
    };
    let Access::Resource {
        verb,
        group,
        resource,
        subresource,
        namespace,
        name,
    } = access
    else {
        let Access::NonResource { verb, path } = access else {
            unreachable!()
        };
        return ApiError::new(
            403,
            "Forbidden",
            format!(
                "forbidden: User \"{}\" cannot {verb} path \"{path}\"{reason}",
                user.name
            ),
        );
    };
    let shown = if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    let why = format!(
        "User \"{}\" cannot {verb} resource \"{shown}\" in API group \"{group}\" {scope}{reason}",
        user.name
    );
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} \"{name}\" is forbidden: {why}")
    };
    let mut e = ApiError::new(403, "Forbidden", message);
    e.details.name = Some(name.to_string()).filter(|n| !n.is_empty());
    e.details.group = Some(group.to_string()).filter(|g| !g.is_empty());
    e.details.kind = Some(resource.to_string());
    e
}

#[cfg(test)]
mod tests;
