//! Object validation as the API server does it: names, labels, Secret and ConfigMap rules (422 causes).

use base64::Engine;
use serde_json::Value;

use crate::resources::{Behaviour, ResourceDef};
use crate::status::Cause;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// The largest Secret or ConfigMap payload the API server accepts (`MaxSecretSize`).
const MAX_DATA_SIZE: usize = 1024 * 1024;

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// RFC 1123 label (namespace names): the API server's error messages, empty when valid.
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !is_dns1123_label(&s[..s.len().min(63)]) || s.is_empty() {
        out.push(DNS1123_LABEL_MSG.to_string());
    }
    out
}

/// RFC 1123 subdomain (most object names).
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty()
        || !s.split('.').all(|part| {
            is_dns1123_label(part) || (part.len() > 63 && is_dns1123_label(&part[..63]))
        })
    {
        out.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    out
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label or annotation key: `[prefix/]name`.
pub fn label_key_errors(key: &str) -> Vec<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut out = Vec::new();
    if let Some(p) = prefix {
        out.extend(
            dns1123_subdomain_errors(p)
                .into_iter()
                .map(|e| format!("prefix part {e}")),
        );
    }
    if !is_qualified_name_part(name) {
        out.push(QUALIFIED_NAME_MSG.to_string());
    }
    out
}

pub fn label_value_errors(v: &str) -> Vec<String> {
    if v.is_empty() || is_qualified_name_part(v) {
        Vec::new()
    } else {
        vec![LABEL_VALUE_MSG.to_string()]
    }
}

fn invalid(field: impl Into<String>, value: &str, msg: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        field: field.into(),
        message: format!("Invalid value: {value:?}: {msg}"),
    }
}

fn forbidden(field: &str, msg: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden".into(),
        field: field.into(),
        message: format!("Forbidden: {msg}"),
    }
}

/// Name rules of a resource: namespaces are labels, RBAC objects path segments (`system:auth-delegator`),
/// everything else here a subdomain.
pub fn name_errors(def: &ResourceDef, name: &str) -> Vec<String> {
    if def.name_is_label() {
        dns1123_label_errors(name)
    } else if def.behaviour == Behaviour::Rbac {
        path_segment_errors(name)
    } else {
        dns1123_subdomain_errors(name)
    }
}

/// `ValidatePathSegmentName`: anything that can stand in a URL path segment.
fn path_segment_errors(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|c| name.contains(*c))
        .map(|c| format!("may not contain '{c}'"))
        .collect()
}

/// Validates a whole object about to be stored; `old` is the stored version on update.
pub fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    for e in name_errors(def, name) {
        causes.push(invalid("metadata.name", name, &e));
    }
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        for e in dns1123_label_errors(ns) {
            causes.push(invalid("metadata.namespace", ns, &e));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            for e in label_key_errors(k) {
                causes.push(invalid("metadata.labels", k, &e));
            }
            match v.as_str() {
                Some(s) => causes.extend(
                    label_value_errors(s)
                        .iter()
                        .map(|e| invalid(format!("metadata.labels[{k}]"), s, e)),
                ),
                None => causes.push(invalid(
                    format!("metadata.labels[{k}]"),
                    &v.to_string(),
                    "must be a string",
                )),
            }
        }
    }
    if let Some(annotations) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in annotations {
            for e in label_key_errors(k) {
                causes.push(invalid("metadata.annotations", k, &e));
            }
            if !v.is_string() {
                causes.push(invalid(
                    format!("metadata.annotations[{k}]"),
                    &v.to_string(),
                    "must be a string",
                ));
            }
        }
    }
    match def.behaviour {
        Behaviour::Secret => validate_data(obj, old, "data", true, &mut causes),
        Behaviour::ConfigMap => {
            validate_data(obj, old, "data", false, &mut causes);
            validate_data(obj, old, "binaryData", true, &mut causes);
        }
        _ => {}
    }
    if def.behaviour == Behaviour::Secret {
        if let Some(old) = old {
            if old.get("type") != obj.get("type") {
                causes.push(invalid(
                    "type",
                    obj.get("type").and_then(Value::as_str).unwrap_or(""),
                    "field is immutable",
                ));
            }
        }
    }
    causes
}

/// `data` of a Secret (base64 values) or ConfigMap, and the `immutable` flag of both.
fn validate_data(
    obj: &Value,
    old: Option<&Value>,
    field: &str,
    base64_values: bool,
    causes: &mut Vec<Cause>,
) {
    let mut total = 0usize;
    if let Some(data) = obj.get(field).and_then(Value::as_object) {
        for (k, v) in data {
            if k.is_empty()
                || k.len() > 253
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                causes.push(invalid(format!("{field}[{k}]"), k, CONFIG_KEY_MSG));
            }
            let Some(s) = v.as_str() else {
                causes.push(invalid(
                    format!("{field}[{k}]"),
                    &v.to_string(),
                    "must be a string",
                ));
                continue;
            };
            if base64_values {
                match base64::engine::general_purpose::STANDARD.decode(s) {
                    Ok(bytes) => total += bytes.len(),
                    Err(e) => causes.push(invalid(
                        format!("{field}[{k}]"),
                        "<value omitted>",
                        &format!("illegal base64 data: {e}"),
                    )),
                }
            } else {
                total += s.len();
            }
        }
    }
    if total > MAX_DATA_SIZE {
        causes.push(Cause {
            reason: "FieldValueTooLong".into(),
            field: field.into(),
            message: format!("Too long: may not be more than {MAX_DATA_SIZE} bytes"),
        });
    }
    if let Some(old) = old {
        if old.get("immutable") == Some(&Value::Bool(true)) {
            if old.get(field) != obj.get(field) {
                causes.push(forbidden(
                    field,
                    "field is immutable when `immutable` is set",
                ));
            }
            if obj.get("immutable") != Some(&Value::Bool(true)) && field == "data" {
                causes.push(forbidden(
                    "immutable",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_subdomain_errors("my.secret-1").is_empty());
        assert!(!dns1123_subdomain_errors("My_Secret").is_empty());
        assert!(!dns1123_subdomain_errors("-a").is_empty());
        assert!(!dns1123_label_errors("a.b").is_empty());
        assert!(!dns1123_label_errors(&"a".repeat(64)).is_empty());
        assert!(label_key_errors("app.kubernetes.io/name").is_empty());
        assert!(!label_key_errors("bad key").is_empty());
        assert!(label_value_errors("").is_empty());
        assert!(!label_value_errors("-x").is_empty());
    }
}
