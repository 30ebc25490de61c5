//! The verbs on resources: get, list, create, update, patch (apply included) and delete.

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::faults::Verb;
use crate::ids;
use crate::managed::{self, Actor};
use crate::objects::{self, Ownership};
use crate::patch::{self, PatchType};
use crate::resources::{self, Behaviour, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector, Selection};
use crate::state::State;
use crate::status::{self, ApiError, ApiResult};
use crate::store::{meta_str, target};
use crate::table;

/// What create and update bodies may be (protobuf only for Secret, ConfigMap and Namespace).
pub const BODY_TYPES: &str =
    "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// A request on a resource, its path already resolved.
pub struct ResourceRequest {
    pub def: &'static ResourceDef,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub query: Vec<(String, String)>,
    pub content_type: String,
    pub accept: String,
    pub user_agent: String,
    pub body: Bytes,
}

impl ResourceRequest {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> ApiResult<bool> {
        match self.param("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(v) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {v:?}: supported values: \"All\""
            ))),
        }
    }

    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn sub(&self) -> &str {
        self.subresource.as_deref().unwrap_or("")
    }

    pub fn selection(&self) -> ApiResult<Selection> {
        Ok(Selection {
            labels: LabelSelector::parse(self.param("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(self.param("fieldSelector").unwrap_or(""), self.def)?,
        })
    }

    fn actor(&self) -> ApiResult<Actor> {
        Ok(Actor {
            manager: objects::manager_name(self.param("fieldManager"), &self.user_agent)?,
            api_version: self.def.api_version(),
            subresource: self.sub().to_string(),
            time: ids::now_rfc3339(),
        })
    }

    /// The Kubernetes verb, for fault injection and the request log.
    pub fn verb(&self, method: &str) -> Verb {
        match (method, self.name.is_some()) {
            ("GET", true) => Verb::Get,
            ("GET", false) if self.flag("watch") => Verb::Watch,
            ("GET", false) => Verb::List,
            ("POST", _) => Verb::Create,
            ("PUT", _) => Verb::Update,
            ("PATCH", _) => Verb::Patch,
            ("DELETE", true) => Verb::Delete,
            _ => Verb::DeleteCollection,
        }
    }

    fn decode_body(&self) -> ApiResult<Value> {
        let ct = self.content_type.split(';').next().unwrap_or("").trim();
        match ct {
            "" | "application/json" | "*/*" => serde_json::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("error decoding request body as JSON: {e}"))
            }),
            "application/yaml" => serde_yaml_ng::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("error decoding request body as YAML: {e}"))
            }),
            "application/vnd.kubernetes.protobuf" => {
                crate::protobuf::decode(self.def.kind, &self.body)
            }
            other => Err(ApiError::unsupported_media_type(other, BODY_TYPES)),
        }
    }
}

pub fn get(state: &State, req: &ResourceRequest) -> ApiResult<Value> {
    state
        .store
        .get(req.def, req.ns(), req.name())
        .ok_or_else(|| ApiError::not_found(target(req.def, req.name())))
}

/// The opaque continue token: the key of the last item returned.
fn continue_token(obj: &Value) -> String {
    let key = format!("{}/{}", meta_str(obj, "namespace"), meta_str(obj, "name"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn after_token(token: &str) -> ApiResult<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_request("continue key is not valid"))
}

pub fn list(state: &State, req: &ResourceRequest) -> ApiResult<Value> {
    let sel = req.selection()?;
    let (items, rv) = state.store.list(req.def, req.namespace.as_deref());
    let mut items: Vec<Value> = items.into_iter().filter(|o| sel.matches(o)).collect();
    if let Some(token) = req.param("continue").filter(|t| !t.is_empty()) {
        let after = after_token(token)?;
        items.retain(|o| format!("{}/{}", meta_str(o, "namespace"), meta_str(o, "name")) > after);
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    let limit = req
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    if let Some(limit) = limit {
        if items.len() > limit {
            let rest = items.len() - limit;
            items.truncate(limit);
            metadata["continue"] = json!(continue_token(&items[limit - 1]));
            metadata["remainingItemCount"] = json!(rest);
        }
    }
    if table::wanted(&req.accept) {
        return Ok(table::render(
            req.def,
            &items,
            metadata,
            req.param("includeObject"),
        ));
    }
    // As the API server encodes lists of built-in kinds: items without apiVersion and kind.
    for item in &mut items {
        if let Some(m) = item.as_object_mut() {
            m.shift_remove("apiVersion");
            m.shift_remove("kind");
        }
    }
    Ok(
        json!({"kind": req.def.list_kind(), "apiVersion": req.def.api_version(), "metadata": metadata, "items": items}),
    )
}

/// Makes sure the request's namespace exists before a write into it.
fn ensure_namespace(state: &State, ns: &str) -> ApiResult<()> {
    let ns_def = resources::namespaces();
    if ns.is_empty() || state.store.get(ns_def, "", ns).is_some() {
        return Ok(());
    }
    if state.settings.strict_namespaces {
        return Err(ApiError::not_found(target(ns_def, ns)));
    }
    let actor = Actor {
        manager: "kube-api-test-server".into(),
        api_version: "v1".into(),
        subresource: String::new(),
        time: ids::now_rfc3339(),
    };
    let obj = objects::prepare_create(
        ns_def,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        &actor,
        Ownership::Update,
    )?;
    match state.store.create(ns_def, obj) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Name and namespace from the body checked against the URL (and `generateName` resolved).
fn place(req: &ResourceRequest, obj: &mut Value) -> ApiResult<()> {
    let meta = obj["metadata"]
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
    let body_ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if req.def.namespaced {
        if !body_ns.is_empty() && body_ns != req.ns() {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
        meta.insert("namespace".into(), json!(req.ns()));
    } else {
        meta.shift_remove("namespace");
    }
    let body_name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(url_name) = &req.name {
        if !body_name.is_empty() && body_name != *url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )));
        }
        meta.insert("name".into(), json!(url_name));
    } else if body_name.is_empty() {
        let generate = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if generate.is_empty() {
            let cause = status::Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            };
            return Err(ApiError::invalid(
                target(req.def, ""),
                req.def.kind,
                vec![cause],
            ));
        }
        meta.insert(
            "name".into(),
            json!(format!("{generate}{}", ids::name_suffix())),
        );
    }
    Ok(())
}

pub fn create(state: &State, req: &ResourceRequest) -> ApiResult<(u16, Value)> {
    if req.def.behaviour == Behaviour::TokenReview {
        return Ok((201, crate::tokens::review(state, &req.body)?));
    }
    if req.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let mut obj = req.decode_body()?;
    objects::check_type(req.def, &mut obj)?;
    place(req, &mut obj)?;
    let obj = objects::prepare_create(req.def, obj, &req.actor()?, Ownership::Update)?;
    if req.dry_run()? {
        return Ok((201, obj));
    }
    ensure_namespace(state, req.ns())?;
    Ok((201, state.store.create(req.def, obj)?))
}

pub fn replace(state: &State, req: &ResourceRequest) -> ApiResult<Value> {
    let mut new = req.decode_body()?;
    objects::check_type(req.def, &mut new)?;
    place(req, &mut new)?;
    let actor = req.actor()?;
    let change =
        |old: &Value| objects::prepare_update(req.def, old, new.clone(), &actor, Ownership::Update);
    if req.dry_run()? {
        return change(&get(state, req)?);
    }
    state.store.update(req.def, req.ns(), req.name(), change)
}

pub fn patch(state: &State, req: &ResourceRequest) -> ApiResult<(u16, Value)> {
    let kind = PatchType::from_content_type(&req.content_type)?;
    if kind == PatchType::Apply {
        return apply(state, req);
    }
    let actor = req.actor()?;
    let change = |old: &Value| {
        let mut new = patch::apply_patch(kind, old, &req.body)?;
        objects::check_type(req.def, &mut new)?;
        place(req, &mut new)?;
        objects::prepare_update(req.def, old, new, &actor, Ownership::Update)
    };
    if req.dry_run()? {
        return Ok((200, change(&get(state, req)?)?));
    }
    Ok((
        200,
        state.store.update(req.def, req.ns(), req.name(), change)?,
    ))
}

/// Server-side apply: creates the object when missing (201), else merges with field ownership.
fn apply(state: &State, req: &ResourceRequest) -> ApiResult<(u16, Value)> {
    let Some(manager) = req.param("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PATCH /apply requires fieldManager to be set",
        ));
    };
    let force = req.flag("force");
    let mut config: Value = serde_yaml_ng::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    objects::check_type(req.def, &mut config)?;
    if config
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err(ApiError::bad_request(
            "metadata.name is required in an apply configuration",
        ));
    }
    place(req, &mut config)?;
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    if req.def.behaviour == Behaviour::Secret {
        // Ownership is tracked on `data`: applied `stringData` is `data` once stored.
        objects::fold_string_data(&mut config)?;
    }
    let actor = Actor {
        manager: manager.to_string(),
        ..req.actor()?
    };
    let has_status = req.def.has_status();
    let dry = req.dry_run()?;
    match get(state, req) {
        Err(e) if e.code == 404 => {
            let (merged, entries) =
                managed::apply(&[], &json!({}), &config, &actor, force, has_status)?;
            let obj =
                objects::prepare_create(req.def, merged, &actor, Ownership::Applied(entries))?;
            if dry {
                return Ok((201, obj));
            }
            ensure_namespace(state, req.ns())?;
            Ok((201, state.store.create(req.def, obj)?))
        }
        Err(e) => Err(e),
        Ok(current) => {
            let change = |old: &Value| {
                let (merged, entries) =
                    managed::apply(&managed::read(old), old, &config, &actor, force, has_status)?;
                let mut merged = merged;
                // The apply configuration's resourceVersion, if any, is a precondition.
                let sent_rv = meta_str(&config, "resourceVersion").to_string();
                if let Some(m) = merged["metadata"].as_object_mut() {
                    m.insert(
                        "resourceVersion".into(),
                        json!(if sent_rv.is_empty() {
                            meta_str(old, "resourceVersion").to_string()
                        } else {
                            sent_rv
                        }),
                    );
                }
                objects::prepare_update(req.def, old, merged, &actor, Ownership::Applied(entries))
            };
            if dry {
                return Ok((200, change(&current)?));
            }
            Ok((
                200,
                state.store.update(req.def, req.ns(), req.name(), change)?,
            ))
        }
    }
}
