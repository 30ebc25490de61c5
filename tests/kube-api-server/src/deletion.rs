//! DELETE: preconditions, propagation policy, finalizers, namespace contents, and collections.

use serde_json::{json, Value};

use crate::handlers::{get, ResourceRequest};
use crate::ids;
use crate::resources::{Behaviour, RESOURCES};
use crate::state::State;
use crate::status::{self, ApiError, ApiResult};
use crate::store::{meta_str, target};

/// `DeleteOptions` from the body and the query.
struct DeleteOptions {
    propagation: String,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
}

fn delete_options(req: &ResourceRequest) -> ApiResult<DeleteOptions> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let orphan = body.get("orphanDependents").and_then(Value::as_bool);
    let propagation = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or(req.param("propagationPolicy"))
        .map(String::from)
        .unwrap_or_else(|| match orphan {
            Some(true) => "Orphan".into(),
            _ => "Background".into(),
        });
    if !matches!(propagation.as_str(), "Background" | "Foreground" | "Orphan") {
        return Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: {propagation:?}"
        )));
    }
    let pre = |k: &str| {
        body.pointer(&format!("/preconditions/{k}"))
            .and_then(Value::as_str)
            .map(String::from)
    };
    Ok(DeleteOptions {
        propagation,
        precondition_uid: pre("uid"),
        precondition_rv: pre("resourceVersion"),
    })
}

pub fn delete(state: &State, req: &ResourceRequest) -> ApiResult<Value> {
    let opts = delete_options(req)?;
    let current = get(state, req)?;
    let t = target(req.def, req.name());
    for (want, field, label) in [
        (&opts.precondition_uid, "uid", "UID"),
        (&opts.precondition_rv, "resourceVersion", "ResourceVersion"),
    ] {
        if let Some(w) = want {
            let have = meta_str(&current, field);
            if w != have {
                return Err(ApiError::conflict(t, &format!("Precondition failed: {label} in precondition: {w}, {label} in object meta: {have}")));
            }
        }
    }
    let dry = req.dry_run()?;
    let uid = meta_str(&current, "uid").to_string();
    let has_finalizers = current
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    if req.def.behaviour == Behaviour::Namespace {
        let mut ns = current.clone();
        ns["metadata"]["deletionTimestamp"] = json!(ids::now_rfc3339());
        ns["status"] = json!({"phase": "Terminating"});
        if !dry {
            // The namespace controller's work, done at once: contents first, then the namespace.
            for def in RESOURCES.iter().filter(|d| d.namespaced) {
                for obj in state.store.list(def, Some(req.name())).0 {
                    let _ = state.store.delete(def, req.name(), meta_str(&obj, "name"));
                }
            }
            state.store.delete(req.def, "", req.name())?;
        }
        return Ok(ns);
    }
    if has_finalizers || opts.propagation != "Background" {
        // Graceful: mark for deletion; the object goes when its last finalizer is removed. The
        // garbage collector's own finalizers are removed at once (no dependents are tracked).
        let gc_finalizer = match opts.propagation.as_str() {
            "Foreground" => Some("foregroundDeletion"),
            "Orphan" => Some("orphan"),
            _ => None,
        };
        let mark = |old: &Value| -> ApiResult<Value> {
            let mut new = old.clone();
            let meta = new["metadata"]
                .as_object_mut()
                .ok_or_else(|| ApiError::internal("stored object has no metadata"))?;
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), json!(ids::now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            if let Some(f) = gc_finalizer {
                let list = meta.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    if !a.iter().any(|x| x == f) {
                        a.push(json!(f));
                    }
                }
            }
            Ok(new)
        };
        if dry {
            return mark(&current);
        }
        let marked = state.store.update(req.def, req.ns(), req.name(), mark)?;
        if let Some(f) = gc_finalizer {
            let _ = state.store.update(req.def, req.ns(), req.name(), |old| {
                let mut new = old.clone();
                if let Some(a) = new
                    .pointer_mut("/metadata/finalizers")
                    .and_then(Value::as_array_mut)
                {
                    a.retain(|x| x != f);
                }
                Ok(new)
            });
        }
        return Ok(marked);
    }
    if !dry {
        state.store.delete(req.def, req.ns(), req.name())?;
    }
    Ok(status::success(t, &uid))
}

/// DELETE on a collection: deletes every selected object, answers with the list of them.
pub fn delete_collection(state: &State, req: &ResourceRequest) -> ApiResult<Value> {
    let sel = req.selection()?;
    let dry = req.dry_run()?;
    let (items, _) = state.store.list(req.def, req.namespace.as_deref());
    let mut deleted = Vec::new();
    for obj in items.into_iter().filter(|o| sel.matches(o)) {
        if dry {
            deleted.push(obj);
        } else if let Ok(d) =
            state
                .store
                .delete(req.def, meta_str(&obj, "namespace"), meta_str(&obj, "name"))
        {
            deleted.push(d);
        }
    }
    Ok(json!({
        "kind": req.def.list_kind(),
        "apiVersion": req.def.api_version(),
        "metadata": {"resourceVersion": state.store.current_rv().to_string()},
        "items": deleted,
    }))
}
