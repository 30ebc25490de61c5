//! `metadata.managedFields`: who owns which field, server-side apply (merge, prune, conflicts) and
//! the ownership taken by plain updates, after structured-merge-diff's `Updater`.

use serde_json::{json, Map, Value};

use crate::fieldset::{self, Comparison, FieldSet, Path};
use crate::schema::{self, ListType, ObjectType};
use crate::status::{ApiError, Cause};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

/// The writer of a request: field manager, API version and subresource (`""` or `status`).
#[derive(Debug, Clone)]
pub struct Actor {
    pub manager: String,
    pub api_version: String,
    pub subresource: String,
    pub time: String,
}

impl Entry {
    fn is(&self, actor: &Actor, op: Operation) -> bool {
        self.manager == actor.manager
            && self.operation == op
            && self.subresource == actor.subresource
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation.as_str(),
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_json(),
        });
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = match v.get("operation").and_then(Value::as_str)? {
            "Apply" => Operation::Apply,
            _ => Operation::Update,
        };
        Some(Entry {
            manager: s("manager"),
            operation,
            api_version: s("apiVersion"),
            time: s("time"),
            subresource: s("subresource"),
            fields: FieldSet::from_json(v.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }
}

pub fn read(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// Stores `entries` in `obj.metadata.managedFields` (removing the key when there are none).
pub fn write(obj: &mut Value, entries: &[Entry]) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(Entry::to_json).collect()),
            );
        }
    }
}

/// The object without `metadata.managedFields`, the form compared and merged.
pub fn stripped(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    v
}

/// Drops the fields no manager owns (stripMeta, and `status` where it is a subresource).
fn strip(set: &FieldSet, has_status: bool, subresource: &str) -> FieldSet {
    let p = |s: &[&str]| -> Path { s.iter().map(|x| x.to_string()).collect() };
    let mut prefixes = vec![p(&["f:apiVersion"]), p(&["f:kind"])];
    for f in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        prefixes.push(vec!["f:metadata".into(), format!("f:{f}")]);
    }
    if has_status && subresource.is_empty() {
        prefixes.push(p(&["f:status"]));
    }
    let mut out = set.without_prefixes(&prefixes);
    // `metadata` itself is stripped, its fields are not.
    let meta = p(&["f:metadata"]);
    if out.contains(&meta) {
        out = out.difference(&{
            let mut m = FieldSet::default();
            m.insert(&meta);
            m
        });
    }
    out
}

fn compare_stripped(old: &Value, new: &Value, has_status: bool, sub: &str) -> Comparison {
    let c = fieldset::compare(old, new);
    Comparison {
        added: strip(&c.added, has_status, sub),
        modified: strip(&c.modified, has_status, sub),
        removed: strip(&c.removed, has_status, sub),
    }
}

/// Ownership after a non-apply write (create, update, patch): the writer takes every field it changed,
/// from whoever held it; removed fields are owned by no one.
pub fn update(
    entries: &[Entry],
    old: &Value,
    new: &Value,
    actor: &Actor,
    has_status: bool,
) -> Vec<Entry> {
    let c = compare_stripped(
        &stripped(old),
        &stripped(new),
        has_status,
        &actor.subresource,
    );
    if c.is_same() {
        return entries.to_vec();
    }
    let changed = c.changed();
    let mut out: Vec<Entry> = Vec::new();
    let mut mine = FieldSet::default();
    for e in entries {
        if e.is(actor, Operation::Update) {
            mine = e.fields.clone();
            continue;
        }
        let fields = e.fields.difference(&changed).difference(&c.removed);
        if !fields.is_empty() {
            out.push(Entry {
                fields,
                ..e.clone()
            });
        }
    }
    let fields = mine.difference(&c.removed).union(&changed);
    if !fields.is_empty() {
        out.push(Entry {
            manager: actor.manager.clone(),
            operation: Operation::Update,
            api_version: actor.api_version.clone(),
            time: actor.time.clone(),
            subresource: actor.subresource.clone(),
            fields,
        });
    }
    out
}

/// Server-side apply of `config` onto `live`: the merged object and the new ownership, or a 409 naming
/// each field another manager owns that the apply would change (unless `force`).
pub fn apply(
    entries: &[Entry],
    live: &Value,
    config: &Value,
    actor: &Actor,
    force: bool,
    has_status: bool,
) -> Result<(Value, Vec<Entry>), ApiError> {
    let live = stripped(live);
    let config = stripped(config);
    let mut merged = merge(&live, &config, &mut Vec::new());
    let applied = strip(
        &fieldset::of_object(&config),
        has_status,
        &actor.subresource,
    );
    let last = entries
        .iter()
        .find(|e| e.is(actor, Operation::Apply))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<&Entry> = entries
        .iter()
        .filter(|e| !e.is(actor, Operation::Apply))
        .collect();
    let owned_by_others = others
        .iter()
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));

    // Fields this manager applied before and no longer does are removed unless someone else owns
    // them, or owns something below them (SMD adds such items back after pruning).
    let still_owned = owned_by_others.union(&applied);
    for path in last.difference(&still_owned).paths() {
        if still_owned.has_under(&path) {
            continue;
        }
        if fieldset::remove(&mut merged, &path) {
            drop_empty_parents(&mut merged, &path);
        }
    }

    let c = compare_stripped(&live, &merged, has_status, &actor.subresource);
    let changed = c.changed();
    let mut conflicts: Vec<(&Entry, FieldSet)> = Vec::new();
    for e in &others {
        let clash = e.fields.intersection(&changed);
        if !clash.is_empty() {
            conflicts.push((e, clash));
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(conflict_error(&conflicts));
    }

    let mut out: Vec<Entry> = Vec::new();
    let mut placed = false;
    for e in entries {
        if e.is(actor, Operation::Apply) {
            placed = true;
            if applied.is_empty() {
                continue;
            }
            let same = e.fields == applied && c.is_same();
            out.push(Entry {
                fields: applied.clone(),
                api_version: actor.api_version.clone(),
                time: if same {
                    e.time.clone()
                } else {
                    actor.time.clone()
                },
                ..e.clone()
            });
            continue;
        }
        let fields = e.fields.difference(&changed).difference(&c.removed);
        if !fields.is_empty() {
            out.push(Entry {
                fields,
                ..e.clone()
            });
        }
    }
    if !placed && !applied.is_empty() {
        out.push(Entry {
            manager: actor.manager.clone(),
            operation: Operation::Apply,
            api_version: actor.api_version.clone(),
            time: actor.time.clone(),
            subresource: actor.subresource.clone(),
            fields: applied,
        });
    }
    Ok((merged, out))
}

fn conflict_error(conflicts: &[(&Entry, FieldSet)]) -> ApiError {
    let mut causes = Vec::new();
    let mut lines = Vec::new();
    for (e, set) in conflicts {
        let who = format!(
            "conflict with \"{}\"{}",
            e.manager,
            if e.operation == Operation::Update {
                format!(" using {}", e.api_version)
            } else {
                String::new()
            }
        );
        let fields: Vec<String> = set.paths().iter().map(|p| fieldset::display(p)).collect();
        if fields.len() == 1 {
            lines.push(format!("{who}: {}", fields[0]));
        } else {
            lines.push(format!(
                "{}:\n{}",
                who.replacen("conflict", "conflicts", 1),
                fields
                    .iter()
                    .map(|f| format!("- {f}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        for f in fields {
            causes.push(Cause {
                reason: "FieldManagerConflict".into(),
                message: who.clone(),
                field: f,
            });
        }
    }
    let n = causes.len();
    let message = format!(
        "Apply failed with {n} conflict{}: {}",
        if n == 1 { "" } else { "s" },
        lines.join("\n")
    );
    let mut e = ApiError::new(409, "Conflict", message);
    e.details.causes = causes;
    e
}

/// Removes objects left empty by a removal along `path` (Go's `omitempty` would drop them).
fn drop_empty_parents(obj: &mut Value, path: &[String]) {
    for len in (1..path.len()).rev() {
        let parent = &path[..len];
        let empty =
            fieldset::get(obj, parent).is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
        if empty && parent.last().is_some_and(|k| k.starts_with("f:")) {
            fieldset::remove(obj, parent);
        } else {
            break;
        }
    }
}

/// Merges an applied configuration into the live object (SMD's `Merge`): structs and maps field by
/// field, associative lists item by item, everything else replaced.
pub fn merge(live: &Value, config: &Value, ctx: &mut Vec<String>) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if schema::object_type(ctx) != ObjectType::Atomic => {
            let mut out = l.clone();
            for (k, cv) in c {
                if cv.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                ctx.push(k.clone());
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, cv, ctx),
                    None => cv.clone(),
                };
                ctx.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) if schema::list_type(ctx) != ListType::Atomic => {
            let lt = schema::list_type(ctx);
            let lkeys: Vec<String> = l
                .iter()
                .enumerate()
                .map(|(i, v)| fieldset::item_key(lt, v, i))
                .collect();
            let ckeys: Vec<String> = c
                .iter()
                .enumerate()
                .map(|(i, v)| fieldset::item_key(lt, v, i))
                .collect();
            let mut out: Vec<Value> = c
                .iter()
                .zip(&ckeys)
                .map(|(cv, ck)| match lkeys.iter().position(|lk| lk == ck) {
                    Some(i) => merge(&l[i], cv, ctx),
                    None => cv.clone(),
                })
                .collect();
            for (lv, lk) in l.iter().zip(&lkeys) {
                if !ckeys.contains(lk) {
                    out.push(lv.clone());
                }
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(m: &str) -> Actor {
        Actor {
            manager: m.into(),
            api_version: "v1".into(),
            subresource: String::new(),
            time: "t".into(),
        }
    }

    #[test]
    fn hand_edit_takes_ownership_and_apply_conflicts() {
        let cfg = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "MQ=="}});
        let (live, entries) =
            apply(&[], &json!({}), &cfg, &actor("sealsync"), false, false).unwrap();
        assert_eq!(entries[0].fields.to_json(), json!({"f:data": {"f:a": {}}}));
        let mut edited = live.clone();
        edited["data"]["a"] = json!("Mg==");
        let entries = update(&entries, &live, &edited, &actor("kubectl-edit"), false);
        assert_eq!(
            entries.len(),
            1,
            "the applier lost its only field: {entries:?}"
        );
        let err = apply(&entries, &edited, &cfg, &actor("sealsync"), false, false).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(err.details.causes[0].field, ".data.a");
        let (fixed, entries) =
            apply(&entries, &edited, &cfg, &actor("sealsync"), true, false).unwrap();
        assert_eq!(fixed["data"]["a"], "MQ==");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "sealsync");
    }

    #[test]
    fn fields_no_longer_applied_are_pruned() {
        let a = json!({"metadata": {"name": "s", "labels": {"x": "1", "y": "2"}}});
        let (live, entries) = apply(&[], &json!({}), &a, &actor("m"), false, false).unwrap();
        let b = json!({"metadata": {"name": "s", "labels": {"x": "1"}}});
        let (mut live, entries) = apply(&entries, &live, &b, &actor("m"), false, false).unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"x": "1"}));
        write(&mut live, &entries);
        let c = json!({"metadata": {"name": "s"}});
        let (live2, entries) = apply(&read(&live), &live, &c, &actor("m"), false, false).unwrap();
        assert!(live2["metadata"].get("labels").is_none(), "{live2}");
        assert!(entries.is_empty());
    }
}
