//! The little of the OpenAPI schema that server-side apply needs: which objects are maps and how lists merge.
//!
//! Structured-merge-diff distinguishes structs (fixed fields) from maps (free keys, e.g. labels) and
//! atomic lists from associative ones (`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`).
//! Without the full schema, the field name (and its parent's) decides, for the kinds served here.

/// How a JSON array merges and appears in a field set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; one leaf in a field set.
    Atomic,
    /// Items identified by these fields: `k:{"name":"app"}`.
    Keyed(&'static [&'static str]),
    /// Items identified by their value: `v:"finalizer"`.
    Set,
}

/// How a JSON object merges and appears in a field set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// Fixed fields; the node itself is owned only when empty.
    Struct,
    /// Free keys (labels, data); the node itself is owned too.
    Map,
    /// Replaced whole, one leaf (`LabelSelector` is `x-kubernetes-map-type: atomic`).
    Atomic,
}

/// The field names from the root to a node, list items skipped.
pub type Ctx<'a> = &'a [String];

fn last(ctx: Ctx<'_>) -> (&str, &str) {
    let n = ctx.len();
    let field = if n >= 1 { ctx[n - 1].as_str() } else { "" };
    let parent = if n >= 2 { ctx[n - 2].as_str() } else { "" };
    (field, parent)
}

pub fn list_type(ctx: Ctx<'_>) -> ListType {
    match last(ctx) {
        (
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "env"
            | "volumes"
            | "imagePullSecrets",
            _,
        ) => ListType::Keyed(&["name"]),
        ("ports", "containers" | "initContainers") => {
            ListType::Keyed(&["containerPort", "protocol"])
        }
        ("volumeMounts", _) => ListType::Keyed(&["mountPath"]),
        ("volumeDevices", _) => ListType::Keyed(&["devicePath"]),
        ("ownerReferences", "metadata") => ListType::Keyed(&["uid"]),
        ("conditions", "status") => ListType::Keyed(&["type"]),
        ("topologySpreadConstraints", _) => ListType::Keyed(&["topologyKey", "whenUnsatisfiable"]),
        ("finalizers", "metadata") => ListType::Set,
        _ => ListType::Atomic,
    }
}

pub fn object_type(ctx: Ctx<'_>) -> ObjectType {
    match last(ctx) {
        ("labels" | "annotations", _) => ObjectType::Map,
        ("data" | "stringData" | "binaryData", "") => ObjectType::Map,
        (
            "matchLabels" | "nodeSelector" | "limits" | "requests" | "capacity" | "allocatable",
            _,
        ) => ObjectType::Map,
        ("selector", "spec") | ("labelSelector", _) | ("fieldsV1", _) => ObjectType::Atomic,
        _ => ObjectType::Struct,
    }
}

/// Where the default of a list-map key is implied (SMD fills `protocol: TCP` for container ports).
pub fn key_default(field: &str) -> Option<&'static str> {
    (field == "protocol").then_some("TCP")
}
