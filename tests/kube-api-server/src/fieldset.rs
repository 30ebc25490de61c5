//! Field sets in the `FieldsV1` format (`f:`, `k:`, `v:`, `i:` keys, `.` for the node itself), with set
//! algebra, the set of fields an object specifies, and the comparison of two objects.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::schema::{self, ListType, ObjectType};

/// A path: one `FieldsV1` key per step, e.g. `["f:spec", "f:containers", "k:{\"name\":\"a\"}", "f:image"]`.
pub type Path = Vec<String>;

/// A set of paths, stored as the `FieldsV1` tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((head, rest)) => self.children.entry(head.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((head, rest)) => self.children.get(head).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether some member lies strictly below `path`.
    pub fn has_under(&self, path: &[String]) -> bool {
        let mut node = self;
        for step in path {
            match node.children.get(step) {
                Some(c) => node = c,
                None => return false,
            }
        }
        !node.children.values().all(FieldSet::is_empty)
    }

    /// Every member path, parents before children.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for p in other.paths() {
            out.insert(&p);
        }
        out
    }

    fn retain(&self, keep: impl Fn(&[String]) -> bool) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths().into_iter().filter(|p| keep(p)) {
            out.insert(&p);
        }
        out
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        self.retain(|p| !other.contains(p))
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        self.retain(|p| other.contains(p))
    }

    /// Drops every path at or below one of `prefixes` (the ignored fields such as `metadata.uid`).
    pub fn without_prefixes(&self, prefixes: &[Path]) -> FieldSet {
        self.retain(|p| !prefixes.iter().any(|pre| p.starts_with(pre)))
    }

    /// The `fieldsV1` JSON.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            if !c.is_empty() {
                m.insert(k.clone(), c.to_json());
            }
        }
        Value::Object(m)
    }

    pub fn from_json(v: &Value) -> FieldSet {
        let mut out = FieldSet::default();
        if let Some(m) = v.as_object() {
            if m.is_empty() {
                out.member = true;
            }
            for (k, c) in m {
                if k == "." {
                    out.member = true;
                } else {
                    out.children.insert(k.clone(), FieldSet::from_json(c));
                }
            }
        }
        out
    }
}

pub fn field_key(name: &str) -> String {
    format!("f:{name}")
}

/// The key of a list item: `k:{...}` for keyed lists (key fields sorted, as SMD writes them), `v:` for
/// sets, `i:` otherwise.
pub fn item_key(list: ListType, item: &Value, index: usize) -> String {
    match list {
        ListType::Keyed(keys) => {
            let mut k = BTreeMap::new();
            for f in keys {
                match item.get(*f) {
                    Some(v) => {
                        k.insert(*f, v.clone());
                    }
                    None => {
                        if let Some(d) = schema::key_default(f) {
                            k.insert(*f, Value::String(d.into()));
                        }
                    }
                }
            }
            if k.is_empty() {
                format!("i:{index}")
            } else {
                format!("k:{}", serde_json::to_string(&k).unwrap_or_default())
            }
        }
        ListType::Set => format!("v:{}", serde_json::to_string(item).unwrap_or_default()),
        ListType::Atomic => format!("i:{index}"),
    }
}

/// Whether a value is a leaf under the schema: scalars, atomic lists and atomic or empty objects.
fn is_leaf(v: &Value, ctx: &[String]) -> bool {
    match v {
        Value::Object(m) => m.is_empty() || schema::object_type(ctx) == ObjectType::Atomic,
        Value::Array(_) => schema::list_type(ctx) == ListType::Atomic,
        _ => true,
    }
}

/// The fields an applied configuration specifies (SMD's `ToFieldSet`).
pub fn of_object(v: &Value) -> FieldSet {
    let mut set = FieldSet::default();
    walk_set(v, &mut Vec::new(), &mut Vec::new(), &mut set, false);
    set
}

/// Inserts the fields below (and, when `include_self`, at) `path` into `set`. With `include_self`
/// false the node is inserted only when it is a leaf, as for a struct field.
fn walk_set(
    v: &Value,
    path: &mut Path,
    ctx: &mut Vec<String>,
    set: &mut FieldSet,
    include_self: bool,
) {
    if include_self || (!path.is_empty() && is_leaf(v, ctx)) {
        set.insert(path);
    }
    if is_leaf(v, ctx) {
        return;
    }
    match v {
        Value::Object(m) => {
            let is_map = schema::object_type(ctx) == ObjectType::Map;
            for (k, c) in m {
                path.push(field_key(k));
                ctx.push(k.clone());
                walk_set(c, path, ctx, set, is_map);
                ctx.pop();
                path.pop();
            }
        }
        Value::Array(items) => {
            let lt = schema::list_type(ctx);
            for (i, item) in items.iter().enumerate() {
                path.push(item_key(lt, item, i));
                walk_set(item, path, ctx, set, true);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The differences between two versions of an object (SMD's `Comparison`).
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

pub fn compare(old: &Value, new: &Value) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(old, new, &mut Vec::new(), &mut Vec::new(), &mut c);
    c
}

/// Items of a list by key, in order.
fn keyed_items(lt: ListType, items: &[Value]) -> Vec<(String, &Value)> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| (item_key(lt, v, i), v))
        .collect()
}

fn walk_compare(
    old: &Value,
    new: &Value,
    path: &mut Path,
    ctx: &mut Vec<String>,
    c: &mut Comparison,
) {
    let both_objects =
        old.is_object() && new.is_object() && schema::object_type(ctx) != ObjectType::Atomic;
    let both_lists = old.is_array() && new.is_array() && schema::list_type(ctx) != ListType::Atomic;
    if both_objects {
        let empty = Map::new();
        let (o, n) = (
            old.as_object().unwrap_or(&empty),
            new.as_object().unwrap_or(&empty),
        );
        let is_map = schema::object_type(ctx) == ObjectType::Map;
        for (k, nv) in n {
            path.push(field_key(k));
            ctx.push(k.clone());
            match o.get(k) {
                Some(ov) => walk_compare(ov, nv, path, ctx, c),
                // A new map (labels, data) is itself owned, shown as `.`; a new struct is not.
                None => {
                    let own = is_map
                        || is_leaf(nv, ctx)
                        || (nv.is_object() && schema::object_type(ctx) == ObjectType::Map);
                    walk_set(nv, path, ctx, &mut c.added, own)
                }
            }
            ctx.pop();
            path.pop();
        }
        for (k, ov) in o {
            if !n.contains_key(k) {
                path.push(field_key(k));
                ctx.push(k.clone());
                walk_set(ov, path, ctx, &mut c.removed, true);
                ctx.pop();
                path.pop();
            }
        }
    } else if both_lists {
        let lt = schema::list_type(ctx);
        let (o, n) = (
            old.as_array().map_or(&[][..], Vec::as_slice),
            new.as_array().map_or(&[][..], Vec::as_slice),
        );
        let (ok, nk) = (keyed_items(lt, o), keyed_items(lt, n));
        for (key, nv) in &nk {
            path.push(key.clone());
            match ok.iter().find(|(k, _)| k == key) {
                Some((_, ov)) => walk_compare(ov, nv, path, ctx, c),
                None => walk_set(nv, path, ctx, &mut c.added, true),
            }
            path.pop();
        }
        for (key, ov) in &ok {
            if !nk.iter().any(|(k, _)| k == key) {
                path.push(key.clone());
                walk_set(ov, path, ctx, &mut c.removed, true);
                path.pop();
            }
        }
    } else if old != new {
        c.modified.insert(path);
    }
}

/// The JSON location of one path step inside `v`.
fn step_index(v: &Value, key: &str) -> Option<Step> {
    if let Some(name) = key.strip_prefix("f:") {
        return v
            .as_object()
            .filter(|m| m.contains_key(name))
            .map(|_| Step::Field(name.to_string()));
    }
    let items = v.as_array()?;
    let pos = if let Some(k) = key.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(k).ok()?;
        items.iter().position(|item| {
            want.iter().all(|(f, wv)| {
                item.get(f) == Some(wv)
                    || (item.get(f).is_none()
                        && schema::key_default(f).map(Value::from).as_ref() == Some(wv))
            })
        })
    } else if let Some(val) = key.strip_prefix("v:") {
        let want: Value = serde_json::from_str(val).ok()?;
        items.iter().position(|item| *item == want)
    } else {
        key.strip_prefix("i:")?
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
    };
    pos.map(Step::Index)
}

enum Step {
    Field(String),
    Index(usize),
}

pub fn get<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((head, rest)) = path.split_first() else {
        return Some(v);
    };
    let next = match step_index(v, head)? {
        Step::Field(f) => v.get(&f)?,
        Step::Index(i) => v.get(i)?,
    };
    get(next, rest)
}

/// Removes the node at `path`; returns whether something was removed.
pub fn remove(v: &mut Value, path: &[String]) -> bool {
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let Some(step) = step_index(v, head) else {
        return false;
    };
    if rest.is_empty() {
        return match step {
            Step::Field(f) => v.as_object_mut().and_then(|m| m.shift_remove(&f)).is_some(),
            Step::Index(i) => v.as_array_mut().map(|a| a.remove(i)).is_some(),
        };
    }
    let child = match step {
        Step::Field(f) => v.get_mut(&f),
        Step::Index(i) => v.get_mut(i),
    };
    child.is_some_and(|c| remove(c, rest))
}

/// `.spec.containers[name="app"].image`, the form used in conflict messages.
pub fn display(path: &[String]) -> String {
    let mut s = String::new();
    for step in path {
        if let Some(f) = step.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = step.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts = m
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = step.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else if let Some(i) = step.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &[&str]) -> Path {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn applied_set_has_the_real_shape() {
        let obj = json!({
            "metadata": {"labels": {"app": "web"}},
            "data": {"k": "dg=="},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}
        });
        let set = of_object(&obj);
        assert_eq!(
            set.to_json(),
            json!({
                "f:data": {"f:k": {}},
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
            })
        );
        assert_eq!(FieldSet::from_json(&set.to_json()), set);
    }

    #[test]
    fn comparison_marks_new_maps_with_dot() {
        let c = compare(
            &json!({"metadata": {}}),
            &json!({"metadata": {"labels": {"a": "1"}}}),
        );
        assert_eq!(
            c.added.to_json(),
            json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
        );
        let c = compare(
            &json!({"data": {"a": "1", "b": "2"}}),
            &json!({"data": {"a": "3"}}),
        );
        assert!(c.modified.contains(&p(&["f:data", "f:a"])));
        assert!(c.removed.contains(&p(&["f:data", "f:b"])));
    }

    #[test]
    fn get_and_remove_follow_keys() {
        let mut obj = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}});
        let path = p(&["f:spec", "f:containers", "k:{\"name\":\"a\"}", "f:image"]);
        assert_eq!(get(&obj, &path), Some(&json!("x")));
        assert!(remove(&mut obj, &path));
        assert_eq!(
            obj,
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}})
        );
        assert_eq!(display(&path), ".spec.containers[name=\"a\"].image");
    }
}
