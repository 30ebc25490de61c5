//! Label and field selectors: parsing the query syntax and matching objects against it.

use serde_json::Value;

use crate::resources::{Behaviour, ResourceDef};
use crate::status::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed `labelSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside a `( ... )` value set.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

fn parse_error(s: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {why}: {s:?}"))
}

fn parse_value(s: &str, whole: &str) -> ApiResult<String> {
    let v = s.trim();
    if crate::validation::label_value_errors(v).is_empty() {
        Ok(v.to_string())
    } else {
        Err(parse_error(whole, "invalid label value"))
    }
}

fn parse_set(rest: &str, whole: &str) -> ApiResult<Vec<String>> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| parse_error(whole, "expected a parenthesised value set"))?;
    let values = inner
        .split(',')
        .map(|v| parse_value(v, whole))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(values)
}

fn parse_requirement(part: &str) -> ApiResult<Requirement> {
    let s = part.trim();
    if let Some(key) = s.strip_prefix('!') {
        let key = key.trim();
        check_key(key, part)?;
        return Ok(Requirement {
            key: key.to_string(),
            op: Op::DoesNotExist,
        });
    }
    let key_end = s.find(|c: char| !is_key_char(c)).unwrap_or(s.len());
    let key = &s[..key_end];
    check_key(key, part)?;
    let rest = s[key_end..].trim_start();
    let op = if rest.is_empty() {
        Op::Exists
    } else if let Some(v) = rest.strip_prefix("!=") {
        Op::NotEquals(parse_value(v, part)?)
    } else if let Some(v) = rest.strip_prefix("==") {
        Op::Equals(parse_value(v, part)?)
    } else if let Some(v) = rest.strip_prefix('=') {
        Op::Equals(parse_value(v, part)?)
    } else if let Some(v) = rest.strip_prefix("notin") {
        Op::NotIn(parse_set(v, part)?)
    } else if let Some(v) = rest.strip_prefix("in") {
        Op::In(parse_set(v, part)?)
    } else if let Some(v) = rest.strip_prefix('>') {
        Op::Gt(
            v.trim()
                .parse()
                .map_err(|_| parse_error(part, "expected an integer"))?,
        )
    } else if let Some(v) = rest.strip_prefix('<') {
        Op::Lt(
            v.trim()
                .parse()
                .map_err(|_| parse_error(part, "expected an integer"))?,
        )
    } else {
        return Err(parse_error(part, "unknown operator"));
    };
    Ok(Requirement {
        key: key.to_string(),
        op,
    })
}

fn check_key(key: &str, whole: &str) -> ApiResult<()> {
    if crate::validation::label_key_errors(key).is_empty() {
        Ok(())
    } else {
        Err(parse_error(whole, "invalid label key"))
    }
}

impl LabelSelector {
    pub fn parse(s: &str) -> ApiResult<Self> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let requirements = split_top_level(s)
            .into_iter()
            .map(parse_requirement)
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(LabelSelector { requirements })
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| {
            let v = get(&r.key);
            match &r.op {
                Op::Equals(x) => v == Some(x.as_str()),
                Op::NotEquals(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| xs.iter().all(|x| x != v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
                Op::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// A parsed `fieldSelector` over the fields the API server indexes for the resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// The field labels a resource supports besides `metadata.name` and `metadata.namespace`.
fn extra_fields(def: &ResourceDef) -> &'static [&'static str] {
    match (def.behaviour, def.group, def.plural) {
        (Behaviour::Secret, _, _) => &["type"],
        (_, "", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        (_, "events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "reason",
            "type",
        ],
        (Behaviour::Namespace, _, _) => &["status.phase"],
        _ => &[],
    }
}

impl FieldSelector {
    pub fn parse(s: &str, def: &ResourceDef) -> ApiResult<Self> {
        let mut terms = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, negated, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !extra_fields(def).contains(&field)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), negated, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    /// The name an `metadata.name=X` term requires (`RequiresExactMatch`): the API server takes it as
    /// the request's name when authorizing a list or watch, so `resourceNames` can allow it.
    pub fn exact_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|(field, negated, _)| field == "metadata.name" && !negated)
            .map(|(_, _, value)| value.as_str())
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, negated, want)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let got = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (got == *want) != *negated
        })
    }
}

/// Both selectors of a list or watch request.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selection {
    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn equality_set_and_existence() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, api)"));
        assert!(!m("app notin (web)"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        assert!(m("missing notin (x)"));
        assert!(m(""));
    }

    #[test]
    fn bad_selectors_are_rejected() {
        assert_eq!(LabelSelector::parse("app in web").unwrap_err().code, 400);
        assert_eq!(LabelSelector::parse("a b").unwrap_err().code, 400);
    }

    #[test]
    fn field_selectors() {
        let def = crate::resources::lookup("", "v1", "secrets").unwrap();
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=a", def)
            .unwrap()
            .matches(&o));
        assert!(!FieldSelector::parse("metadata.namespace!=ns", def)
            .unwrap()
            .matches(&o));
        assert_eq!(FieldSelector::parse("spec.x=1", def).unwrap_err().code, 400);
    }
}
