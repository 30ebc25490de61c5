//! What the API server does to an object on every write: defaults, `stringData` folding, server-set
//! metadata, status subresource rules, `generation`, validation and field ownership.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::ids;
use crate::managed::{self, Actor, Entry};
use crate::resources::{Behaviour, ResourceDef};
use crate::status::{ApiError, ApiResult};
use crate::store::{meta_str, target};
use crate::validation;

/// How `metadata.managedFields` of the written object are decided.
pub enum Ownership {
    /// A create, update or patch: the writer takes what it changed.
    Update,
    /// A server-side apply, whose ownership `managed::apply` already computed.
    Applied(Vec<Entry>),
}

/// Checks `apiVersion` and `kind` against the endpoint, filling them in when absent.
pub fn check_type(def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
    let Some(m) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    let api_version = def.api_version();
    match m.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("apiVersion".into(), json!(api_version));
        }
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )))
        }
    }
    match m.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            m.insert("kind".into(), json!(def.kind));
        }
        Some(k) if k == def.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )))
        }
    }
    if !m.get("metadata").is_some_and(Value::is_object) {
        m.insert("metadata".into(), Value::Object(Map::new()));
    }
    Ok(())
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// Folds `stringData` into `data` (base64), as the v1 → internal Secret conversion does; `stringData`
/// wins over `data` for the same key and is never stored.
pub fn fold_string_data(obj: &mut Value) -> ApiResult<()> {
    let Some(Value::Object(sd)) = obj
        .as_object_mut()
        .and_then(|m| m.shift_remove("stringData"))
    else {
        return Ok(());
    };
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    for (k, v) in sd {
        let s = v
            .as_str()
            .ok_or_else(|| ApiError::bad_request(format!("stringData[{k}]: expected a string")))?;
        obj["data"][&k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
    }
    Ok(())
}

/// Defaults the API server applies to the kinds served here.
fn default(def: &ResourceDef, obj: &mut Value) -> ApiResult<()> {
    match def.behaviour {
        Behaviour::Secret => {
            fold_string_data(obj)?;
            if obj.get("type").is_none_or(|t| t.as_str() == Some("")) {
                obj["type"] = json!("Opaque");
            }
        }
        Behaviour::Namespace => {
            let name = meta_str(obj, "name").to_string();
            let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if obj.get("spec").is_none() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
        }
        Behaviour::Workload
            if def.kind != "DaemonSet"
                && obj.get("spec").is_some_and(Value::is_object)
                && obj["spec"].get("replicas").is_none() =>
        {
            obj["spec"]["replicas"] = json!(1);
        }
        _ => {}
    }
    Ok(())
}

/// The status a freshly created object starts with (status is the controllers' to write).
fn initial_status(def: &ResourceDef) -> Option<Value> {
    match def.behaviour {
        Behaviour::Namespace => Some(json!({"phase": "Active"})),
        Behaviour::Workload => Some(json!({})),
        _ => None,
    }
}

/// Prepares a new object for storage: `obj` has its name and namespace set already.
pub fn prepare_create(
    def: &ResourceDef,
    mut obj: Value,
    actor: &Actor,
    ownership: Ownership,
) -> ApiResult<Value> {
    let name = meta_str(&obj, "name").to_string();
    if !meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    default(def, &mut obj)?;
    let given_managed = obj.pointer("/metadata/managedFields").cloned();
    {
        let meta = meta_mut(&mut obj);
        for server_set in [
            "uid",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            meta.shift_remove(server_set);
        }
        meta.insert("uid".into(), json!(ids::uid()));
        meta.insert("creationTimestamp".into(), json!(ids::now_rfc3339()));
        if def.behaviour == Behaviour::Workload {
            meta.insert("generation".into(), json!(1));
        }
    }
    if let Some(s) = initial_status(def) {
        obj["status"] = s;
    }
    let causes = validation::validate(def, &obj, None);
    if !causes.is_empty() {
        return Err(ApiError::invalid(target(def, &name), def.kind, causes));
    }
    let entries = match ownership {
        Ownership::Applied(e) => e,
        Ownership::Update => match given_managed {
            Some(Value::Array(a)) if !a.is_empty() => managed::read(&obj),
            _ => managed::update(&[], &json!({}), &obj, actor, def.has_status()),
        },
    };
    managed::write(&mut obj, &entries);
    Ok(obj)
}

/// Prepares the new version of a stored object: server-set metadata kept, status or spec kept per
/// subresource, `generation` bumped on spec change, validated, ownership recorded.
pub fn prepare_update(
    def: &ResourceDef,
    old: &Value,
    mut new: Value,
    actor: &Actor,
    ownership: Ownership,
) -> ApiResult<Value> {
    let name = meta_str(old, "name").to_string();
    let old_rv = meta_str(old, "resourceVersion");
    let sent_rv = meta_str(&new, "resourceVersion");
    if !sent_rv.is_empty() && sent_rv != old_rv {
        return Err(ApiError::conflict(
            target(def, &name),
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if actor.subresource == "status" {
        // The status subresource changes status only.
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                new.as_object_mut().map(|m| m.shift_remove("status"));
            }
        }
        if let Some(m) = managed {
            meta_mut(&mut new).insert("managedFields".into(), m);
        }
    } else if def.has_status() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|m| m.shift_remove("status"));
            }
        }
    }
    default(def, &mut new)?;
    {
        let old_meta = old
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let meta = meta_mut(&mut new);
        for kept in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old_meta.get(kept) {
                Some(v) => meta.insert(kept.into(), v.clone()),
                None => meta.shift_remove(kept),
            };
        }
    }
    if def.behaviour == Behaviour::Workload && old.get("spec") != new.get("spec") {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        meta_mut(&mut new).insert("generation".into(), json!(g));
    }
    let causes = validation::validate(def, &new, Some(old));
    if !causes.is_empty() {
        return Err(ApiError::invalid(target(def, &name), def.kind, causes));
    }
    let entries = match ownership {
        Ownership::Applied(e) => e,
        Ownership::Update => {
            let sent = new.pointer("/metadata/managedFields").cloned();
            let kept = old.pointer("/metadata/managedFields").cloned();
            match sent {
                // `managedFields: [{}]` resets ownership; any other change is taken as sent.
                Some(Value::Array(a))
                    if a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty) =>
                {
                    Vec::new()
                }
                Some(s @ Value::Array(_))
                    if Some(&s) != kept.as_ref() && !s.as_array().is_some_and(Vec::is_empty) =>
                {
                    managed::read(&new)
                }
                _ => {
                    let old_entries = managed::read(old);
                    managed::update(&old_entries, old, &new, actor, def.has_status())
                }
            }
        }
    };
    managed::write(&mut new, &entries);
    Ok(new)
}

/// Whether an object being deleted has lost its last finalizer and can go.
pub fn ready_to_go(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
        && obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
}

/// The fieldManager of a non-apply write: the query parameter, else the User-Agent up to its first
/// `/`, as the API server derives it.
pub fn manager_name(query_manager: Option<&str>, user_agent: &str) -> ApiResult<String> {
    let m = match query_manager {
        Some(m) => m.to_string(),
        None => user_agent.split('/').next().unwrap_or("").to_string(),
    };
    if m.chars().count() > 128 {
        return Err(ApiError::bad_request(
            "fieldManager: Too long: may not be more than 128 bytes",
        ));
    }
    Ok(m)
}
