//! PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch and JSON patch (RFC 6902).

use serde_json::{Map, Value};

use crate::schema::{self, ListType};
use crate::status::{ApiError, ApiResult};

/// The patch types of `Content-Type`, apply included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

const PATCH_TYPES: &str = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

impl PatchType {
    pub fn from_content_type(ct: &str) -> ApiResult<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            _ => Err(ApiError::unsupported_media_type(ct, PATCH_TYPES)),
        }
    }
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies a JSON, merge or strategic merge patch to `target`.
pub fn apply_patch(kind: PatchType, target: &Value, body: &[u8]) -> ApiResult<Value> {
    let mut out = target.clone();
    match kind {
        PatchType::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            // A failed `test` operation (how clients express preconditions) is a 422, as upstream.
            json_patch::patch(&mut out, &patch).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        PatchType::Merge => {
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("merge patch must be a JSON object"));
            }
            json_patch::merge(&mut out, &patch);
        }
        PatchType::Strategic => {
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            out = strategic(target, &patch, &mut Vec::new());
        }
        PatchType::Apply => return Err(ApiError::internal("apply is not a patch")),
    }
    Ok(out)
}

/// Strategic merge: like a merge patch, but lists with a patch merge key (containers by `name`, ...)
/// merge item by item, and `$patch`, `$setElementOrder`, `$deleteFromPrimitiveList` directives apply.
fn strategic(target: &Value, patch: &Value, ctx: &mut Vec<String>) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut m = p.clone();
        m.shift_remove("$patch");
        return Value::Object(m);
    }
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, pv) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(remove)) = (out.get_mut(field), pv.as_array()) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if pv.is_null() {
            out.shift_remove(k);
            continue;
        }
        ctx.push(k.clone());
        let merged = match (out.get(k), pv) {
            (Some(tv @ Value::Object(_)), Value::Object(_)) => strategic(tv, pv, ctx),
            (None, Value::Object(_)) => strategic(&Value::Object(Map::new()), pv, ctx),
            (Some(Value::Array(tl)), Value::Array(pl)) => merge_list(tl, pl, ctx),
            (None, Value::Array(pl)) => merge_list(&[], pl, ctx),
            _ => pv.clone(),
        };
        ctx.pop();
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

fn merge_list(target: &[Value], patch: &[Value], ctx: &mut Vec<String>) -> Value {
    match schema::list_type(ctx) {
        ListType::Atomic => Value::Array(
            patch
                .iter()
                .filter(|v| v.get("$patch").is_none())
                .cloned()
                .collect(),
        ),
        ListType::Set => {
            let mut out = target.to_vec();
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Value::Array(out)
        }
        ListType::Keyed(keys) => {
            // Strategic merge patch identifies items by the first (the patch merge) key only.
            let merge_key = keys[0];
            let key_of = |v: &Value| v.get(merge_key).cloned();
            let mut out = target.to_vec();
            for pv in patch {
                let pos = out
                    .iter()
                    .position(|t| key_of(t).is_some() && key_of(t) == key_of(pv));
                let directive = pv.get("$patch").and_then(Value::as_str);
                match (pos, directive) {
                    (Some(i), Some("delete")) => {
                        out.remove(i);
                    }
                    (None, Some("delete")) => {}
                    (Some(i), _) => out[i] = strategic(&out[i], pv, ctx),
                    (None, _) => out.push(strategic(&Value::Object(Map::new()), pv, ctx)),
                }
            }
            Value::Array(out)
        }
    }
}

/// The keys of list items, for tests of merge behaviour.
#[cfg(test)]
fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, x)| crate::fieldset::item_key(ListType::Keyed(&["name"]), x, i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let target = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "3"}, {"name": "a", "$patch": "delete"}]
        }}}});
        let out = apply_patch(PatchType::Strategic, &target, patch.to_string().as_bytes()).unwrap();
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(names(containers), vec!["k:{\"name\":\"b\"}"]);
        assert_eq!(containers[0]["image"], "3");
    }

    #[test]
    fn merge_and_json_patch() {
        let t = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let out = apply_patch(
            PatchType::Merge,
            &t,
            br#"{"metadata":{"labels":{"a":null,"c":"3"}}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        let out = apply_patch(
            PatchType::Json,
            &t,
            br#"[{"op":"replace","path":"/metadata/labels/a","value":"9"}]"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"]["a"], "9");
        let err = apply_patch(
            PatchType::Json,
            &t,
            br#"[{"op":"test","path":"/metadata/labels/a","value":"x"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }
}
