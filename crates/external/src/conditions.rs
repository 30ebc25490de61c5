//! `ClusterSecretStore` `spec.conditions`: which namespaces may use the store, with ESO's semantics.
//!
//! ESO (`shouldProcessSecret` in `pkg/controllers/secretstore/client_manager.go`): no conditions →
//! every namespace; otherwise the namespace is allowed when ANY condition matches, and a condition
//! matches when ANY of its parts does — its `namespaceSelector`, one of its `namespaces` (a selector on
//! the `kubernetes.io/metadata.name` label), or one of its `namespaceRegexes` (Go RE2, unanchored,
//! as `regexp.MatchString`). A condition with no parts matches nothing.

use std::collections::BTreeMap;

use regex::Regex;

use crate::error::Error;
use crate::external_secret::StoreKind;
use crate::fields::Obj;
use crate::limits::{compile_regex, MAX_CONDITION_REGEXES};
use crate::store::SecretStore;

/// The label every namespace carries with its own name (set by the API server since Kubernetes 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// One entry of `spec.conditions`.
#[derive(Clone, Debug)]
pub struct Condition {
    pub namespace_selector: Option<LabelSelector>,
    pub namespaces: Vec<String>,
    /// `namespaceRegexes`, compiled once (within the limits) when the store is read.
    pub namespace_regexes: Vec<Regex>,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Condition) -> bool {
        let sources = |c: &Condition| {
            c.namespace_regexes
                .iter()
                .map(|r| r.as_str().to_string())
                .collect::<Vec<_>>()
        };
        self.namespace_selector == other.namespace_selector
            && self.namespaces == other.namespaces
            && sources(self) == sources(other)
    }
}

impl Eq for Condition {}

/// A Kubernetes `metav1.LabelSelector`; `{}` selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy every `matchLabels` entry and every `matchExpressions` requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let got = labels.get(&r.key);
                match r.operator {
                    Operator::In => got.is_some_and(|v| r.values.contains(v)),
                    Operator::NotIn => got.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => got.is_some(),
                    Operator::DoesNotExist => got.is_none(),
                }
            })
    }
}

impl Condition {
    fn matches(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.namespace_selector
            .as_ref()
            .is_some_and(|s| s.matches(labels))
            || self
                .namespaces
                .iter()
                .any(|n| labels.get(NAMESPACE_NAME_LABEL) == Some(n))
            || self
                .namespace_regexes
                .iter()
                .any(|re| re.is_match(namespace))
    }
}

/// Whether an ExternalSecret in `namespace` (whose labels are `namespace_labels`) may use `store`.
/// A `SecretStore` is usable only from its own namespace, which the caller checks; this answers for
/// `ClusterSecretStore` conditions and is `true` for a `SecretStore`. The namespace's
/// `kubernetes.io/metadata.name` label is taken to be its name when the caller's labels lack it, as
/// the API server guarantees.
pub fn cluster_store_allows(
    store: &SecretStore,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
) -> bool {
    if store.kind != StoreKind::ClusterSecretStore || store.conditions.is_empty() {
        return true;
    }
    let mut labels = namespace_labels.clone();
    labels.insert(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string());
    store
        .conditions
        .iter()
        .any(|c| c.matches(namespace, &labels))
}

pub(crate) fn parse_conditions(spec: &mut Obj<'_>) -> Result<Vec<Condition>, Error> {
    let origin = spec.origin;
    let mut out = Vec::new();
    let mut regexes = 0;
    for (i, v) in spec.list("conditions")?.iter().enumerate() {
        let mut c = Obj::new(origin, v, &format!("spec.conditions[{i}]"))?;
        let namespace_selector = match c.opt_obj("namespaceSelector")? {
            Some(s) => Some(parse_selector(s)?),
            None => None,
        };
        let namespaces = c.str_list("namespaces")?;
        let mut namespace_regexes = Vec::new();
        let sources = c.str_list("namespaceRegexes")?;
        regexes += sources.len();
        if regexes > MAX_CONDITION_REGEXES {
            return Err(c.err("namespaceRegexes", format!("more than {MAX_CONDITION_REGEXES} regular expressions across the store's conditions")));
        }
        for (j, re) in sources.iter().enumerate() {
            namespace_regexes
                .push(compile_regex(re).map_err(|r| c.err(&format!("namespaceRegexes[{j}]"), r))?);
        }
        // Unknown fields in a condition would widen or narrow access unpredictably: refuse them.
        if let Some(k) = c
            .keys()
            .find(|k| !["namespaceSelector", "namespaces", "namespaceRegexes"].contains(k))
        {
            return Err(c.err(k, "unknown field in a condition"));
        }
        out.push(Condition {
            namespace_selector,
            namespaces,
            namespace_regexes,
        });
    }
    Ok(out)
}

fn parse_selector(mut s: Obj<'_>) -> Result<LabelSelector, Error> {
    let origin = s.origin;
    let match_labels = s.str_map("matchLabels")?;
    let base = s.field("matchExpressions");
    let mut match_expressions = Vec::new();
    for (i, v) in s.list("matchExpressions")?.iter().enumerate() {
        let mut e = Obj::new(origin, v, &format!("{base}[{i}]"))?;
        let key = e.req_str("key")?;
        let operator = match e.req_str("operator")?.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(e.err(
                    "operator",
                    format!("{other:?} is not In, NotIn, Exists or DoesNotExist"),
                ))
            }
        };
        let values = e.str_list("values")?;
        // metav1.LabelSelectorAsSelector refuses these, so ESO would never match them.
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(e.err("values", "must be non-empty for In and NotIn"))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(e.err("values", "must be empty for Exists and DoesNotExist"))
            }
            _ => {}
        }
        if let Some(k) = e
            .keys()
            .find(|k| !["key", "operator", "values"].contains(k))
        {
            return Err(e.err(k, "unknown field"));
        }
        match_expressions.push(Requirement {
            key,
            operator,
            values,
        });
    }
    if let Some(k) = s
        .keys()
        .find(|k| !["matchLabels", "matchExpressions"].contains(k))
    {
        return Err(s.err(k, "unknown field"));
    }
    Ok(LabelSelector {
        match_labels,
        match_expressions,
    })
}
