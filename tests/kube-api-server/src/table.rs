//! `meta.k8s.io/v1` Table output, which `kubectl get` asks for to print its columns.

use serde_json::{json, Value};

use crate::ids;
use crate::resources::{Behaviour, ResourceDef};

/// Whether the `Accept` header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// `kubectl`'s age format (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`).
fn human_age(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => format!("{m}m{}s", secs % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

fn age(obj: &Value) -> String {
    let created = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(ids::parse_rfc3339);
    let now = ids::parse_rfc3339(&ids::now_rfc3339()).unwrap_or(0);
    created
        .map(|c| human_age(now.saturating_sub(c)))
        .unwrap_or_else(|| "<unknown>".into())
}

fn count(obj: &Value, field: &str) -> usize {
    obj.get(field)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn int_at(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The kind-specific columns (between NAME and AGE), as the API server's printers define them.
fn columns(def: &ResourceDef) -> Vec<(&'static str, &'static str)> {
    match (def.behaviour, def.plural) {
        (Behaviour::Secret, _) => vec![("Type", "string"), ("Data", "string")],
        (Behaviour::ConfigMap, _) => vec![("Data", "string")],
        (Behaviour::Namespace, _) => vec![("Status", "string")],
        (_, "deployments") => vec![
            ("Ready", "string"),
            ("Up-to-date", "string"),
            ("Available", "string"),
        ],
        (_, "statefulsets") => vec![("Ready", "string")],
        (_, "daemonsets") => vec![
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
        ],
        (_, "leases") => vec![("Holder", "string")],
        _ => vec![],
    }
}

fn cells(def: &ResourceDef, obj: &Value) -> Vec<Value> {
    let ready = || {
        format!(
            "{}/{}",
            int_at(obj, "/status/readyReplicas"),
            int_at(obj, "/spec/replicas")
        )
    };
    match (def.behaviour, def.plural) {
        (Behaviour::Secret, _) => vec![json!(str_at(obj, "/type")), json!(count(obj, "data"))],
        (Behaviour::ConfigMap, _) => vec![json!(count(obj, "data") + count(obj, "binaryData"))],
        (Behaviour::Namespace, _) => vec![json!(str_at(obj, "/status/phase"))],
        (_, "deployments") => vec![
            json!(ready()),
            json!(int_at(obj, "/status/updatedReplicas")),
            json!(int_at(obj, "/status/availableReplicas")),
        ],
        (_, "statefulsets") => vec![json!(ready())],
        (_, "daemonsets") => vec![
            json!(int_at(obj, "/status/desiredNumberScheduled")),
            json!(int_at(obj, "/status/currentNumberScheduled")),
            json!(int_at(obj, "/status/numberReady")),
        ],
        (_, "leases") => vec![json!(str_at(obj, "/spec/holderIdentity"))],
        _ => vec![],
    }
}

/// A Table of `items`; each row carries the object as `includeObject` asks (metadata by default).
pub fn render(
    def: &ResourceDef,
    items: &[Value],
    list_metadata: Value,
    include: Option<&str>,
) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for (name, ty) in columns(def) {
        defs.push(
            json!({"name": name, "type": ty, "format": "", "description": "", "priority": 0}),
        );
    }
    defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0}));
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let mut c = vec![obj
                .pointer("/metadata/name")
                .cloned()
                .unwrap_or(Value::Null)];
            c.extend(cells(def, obj));
            c.push(json!(age(obj)));
            let mut row = json!({"cells": c});
            match include.unwrap_or("Metadata") {
                "None" => {}
                "Object" => row["object"] = obj.clone(),
                _ => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
                    })
                }
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::human_age;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(300), "5m0s");
        assert_eq!(human_age(3 * 86_400 + 3600), "3d1h");
    }
}
