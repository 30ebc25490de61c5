//! The resource types this server serves: group, version, kind, scope and verbs of each.

/// How the server treats a resource beyond plain storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Stored as sent (after validation).
    Plain,
    /// core/v1 Secret: `stringData` folding, base64 `data`, `immutable`.
    Secret,
    /// core/v1 ConfigMap: `immutable`.
    ConfigMap,
    /// core/v1 Namespace: cluster-scoped container of the others.
    Namespace,
    /// apps/v1 workloads: `metadata.generation`, `status` subresource.
    Workload,
    /// authentication.k8s.io TokenReview: create-only, answered, never stored.
    TokenReview,
    /// rbac.authorization.k8s.io/v1 Role, ClusterRole and their bindings: stored as sent, read by the
    /// authorizer on every request when RBAC is on. Names are path segments (`system:foo` is valid).
    Rbac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub behaviour: Behaviour,
}

const CRUD: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NS_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
const CREATE_ONLY: &[&str] = &["create"];

impl ResourceDef {
    /// `v1` or `group/version`, as in an object's `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        match self.behaviour {
            Behaviour::TokenReview => CREATE_ONLY,
            Behaviour::Namespace => NS_VERBS,
            _ => CRUD,
        }
    }

    /// Whether `/status` is a subresource (so the main resource ignores `status`).
    pub fn has_status(&self) -> bool {
        matches!(self.behaviour, Behaviour::Workload | Behaviour::Namespace)
    }

    /// Whether core/v1 ServiceAccount's `token` subresource (TokenRequest, create only) is served.
    pub fn has_token(&self) -> bool {
        self.group.is_empty() && self.plural == "serviceaccounts"
    }

    /// Whether `sub` is a subresource of this resource.
    pub fn has_subresource(&self, sub: &str) -> bool {
        match sub {
            "status" => self.has_status(),
            "token" => self.has_token(),
            _ => false,
        }
    }

    /// Whether names follow DNS-1123 label (63 chars) rather than subdomain (253) rules.
    pub fn name_is_label(&self) -> bool {
        self.behaviour == Behaviour::Namespace
    }

    /// The key under which objects of this resource are stored.
    pub fn id(&self) -> ResourceId {
        ResourceId {
            group: self.group,
            plural: self.plural,
        }
    }
}

/// Identifies a resource across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub group: &'static str,
    pub plural: &'static str,
}

/// `names` is (plural, singular, kind).
const fn def(
    (group, version): (&'static str, &'static str),
    (plural, singular, kind): (&'static str, &'static str, &'static str),
    namespaced: bool,
    short_names: &'static [&'static str],
    behaviour: Behaviour,
) -> ResourceDef {
    ResourceDef {
        group,
        version,
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        categories: &[],
        behaviour,
    }
}

/// Every resource served. Order matters only for discovery output.
pub const RESOURCES: &[ResourceDef] = &[
    def(
        ("", "v1"),
        ("namespaces", "namespace", "Namespace"),
        false,
        &["ns"],
        Behaviour::Namespace,
    ),
    def(
        ("", "v1"),
        ("secrets", "secret", "Secret"),
        true,
        &[],
        Behaviour::Secret,
    ),
    def(
        ("", "v1"),
        ("configmaps", "configmap", "ConfigMap"),
        true,
        &["cm"],
        Behaviour::ConfigMap,
    ),
    def(
        ("", "v1"),
        ("events", "event", "Event"),
        true,
        &["ev"],
        Behaviour::Plain,
    ),
    def(
        ("events.k8s.io", "v1"),
        ("events", "event", "Event"),
        true,
        &["ev"],
        Behaviour::Plain,
    ),
    def(
        ("coordination.k8s.io", "v1"),
        ("leases", "lease", "Lease"),
        true,
        &[],
        Behaviour::Plain,
    ),
    ResourceDef {
        categories: &["all"],
        ..def(
            ("apps", "v1"),
            ("deployments", "deployment", "Deployment"),
            true,
            &["deploy"],
            Behaviour::Workload,
        )
    },
    ResourceDef {
        categories: &["all"],
        ..def(
            ("apps", "v1"),
            ("statefulsets", "statefulset", "StatefulSet"),
            true,
            &["sts"],
            Behaviour::Workload,
        )
    },
    ResourceDef {
        categories: &["all"],
        ..def(
            ("apps", "v1"),
            ("daemonsets", "daemonset", "DaemonSet"),
            true,
            &["ds"],
            Behaviour::Workload,
        )
    },
    def(
        ("", "v1"),
        ("serviceaccounts", "serviceaccount", "ServiceAccount"),
        true,
        &["sa"],
        Behaviour::Plain,
    ),
    ResourceDef {
        categories: &["all"],
        ..def(
            ("", "v1"),
            ("services", "service", "Service"),
            true,
            &["svc"],
            Behaviour::Plain,
        )
    },
    def(
        ("policy", "v1"),
        (
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
        ),
        true,
        &["pdb"],
        Behaviour::Plain,
    ),
    def(
        ("networking.k8s.io", "v1"),
        ("networkpolicies", "networkpolicy", "NetworkPolicy"),
        true,
        &["netpol"],
        Behaviour::Plain,
    ),
    def(
        ("rbac.authorization.k8s.io", "v1"),
        ("roles", "role", "Role"),
        true,
        &[],
        Behaviour::Rbac,
    ),
    def(
        ("rbac.authorization.k8s.io", "v1"),
        ("rolebindings", "rolebinding", "RoleBinding"),
        true,
        &[],
        Behaviour::Rbac,
    ),
    def(
        ("rbac.authorization.k8s.io", "v1"),
        ("clusterroles", "clusterrole", "ClusterRole"),
        false,
        &[],
        Behaviour::Rbac,
    ),
    def(
        ("rbac.authorization.k8s.io", "v1"),
        (
            "clusterrolebindings",
            "clusterrolebinding",
            "ClusterRoleBinding",
        ),
        false,
        &[],
        Behaviour::Rbac,
    ),
    def(
        ("authentication.k8s.io", "v1"),
        ("tokenreviews", "tokenreview", "TokenReview"),
        false,
        &[],
        Behaviour::TokenReview,
    ),
];

/// The groups served, in discovery order (the core group "" first).
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

pub fn in_group_version<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceDef> + 'a {
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    in_group_version(group, version).find(|r| r.plural == plural)
}

pub fn namespaces() -> &'static ResourceDef {
    &RESOURCES[0]
}

/// A served resource by group and plural (any version), e.g. `("rbac.authorization.k8s.io", "roles")`.
pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}
