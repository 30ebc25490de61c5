//! A `v1/Secret` document turned into a `DesiredSecret`: names validated as the API server does,
//! `stringData` folded into `data`, values decoded, and plaintext Secrets that carry SOPS ciphertext or
//! unresolved references refused.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use zeroize::Zeroizing;

use crate::desired::{DesiredSecret, SecretBytes, SecretKey, Source};
use crate::names;
use crate::sops::cipher::is_encrypted_or_truncated_value;
use crate::sops::tree::{Map, Value};
use sealsync_external::avp::parse::has_placeholder;

use super::Reason;

/// The annotation that lets sealsync take over an existing Secret it does not manage.
pub const ADOPT_ANNOTATION: &str = "sealsync.dev/adopt";

type Failure = (Reason, Option<SecretKey>, String);

fn string_map(
    doc: &Map,
    field: &str,
    key: &Option<SecretKey>,
) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    match doc.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Map(m)) => {
            for (k, v) in m.entries() {
                let text = match v {
                    Value::Str(s) | Value::Time(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => String::new(),
                    other => {
                        return Err((
                            Reason::Invalid,
                            key.clone(),
                            format!(
                                "metadata.{field}.{k} must be a string, not a {}",
                                other.kind()
                            ),
                        ))
                    }
                };
                out.insert(k.to_string(), text);
            }
        }
        Some(other) => {
            return Err((
                Reason::Invalid,
                key.clone(),
                format!("metadata.{field} must be a map, not a {}", other.kind()),
            ))
        }
    }
    Ok(out)
}

/// Builds the desired Secret a document declares. `encrypted` tells whether it came out of a SOPS file
/// (then a value that still looks like ciphertext is a value, not a stripped file).
pub fn secret_from_document(
    doc: &Map,
    path: &str,
    commit: &str,
    default_namespace: &str,
    encrypted: bool,
) -> Result<DesiredSecret, Failure> {
    let invalid =
        |key: &Option<SecretKey>, message: String| (Reason::Invalid, key.clone(), message);
    let metadata = match doc.get("metadata") {
        Some(Value::Map(m)) => m,
        _ => return Err(invalid(&None, "metadata is missing or not a map".into())),
    };
    let name = match metadata.get("name") {
        Some(Value::Str(s)) => s.clone(),
        _ => {
            let hint = if metadata.get("generateName").is_some() {
                " (generateName is not supported: a GitOps Secret needs a stable name)"
            } else {
                ""
            };
            return Err(invalid(&None, format!("metadata.name is missing{hint}")));
        }
    };
    let namespace = match metadata.get("namespace") {
        None | Some(Value::Null) => default_namespace.to_string(),
        Some(Value::Str(s)) => s.clone(),
        Some(other) => {
            return Err(invalid(
                &None,
                format!(
                    "metadata.namespace must be a string, not a {}",
                    other.kind()
                ),
            ))
        }
    };
    names::dns_subdomain(&name)
        .map_err(|why| invalid(&None, format!("invalid Secret name '{name}': {why}")))?;
    names::dns_label(&namespace)
        .map_err(|why| invalid(&None, format!("invalid namespace '{namespace}': {why}")))?;
    let secret_key = SecretKey::new(namespace, name);
    let key = Some(secret_key.clone());

    let labels = string_map(metadata, "labels", &key)?;
    let annotations = string_map(metadata, "annotations", &key)?;
    let secret_type = match doc.get("type") {
        None | Some(Value::Null) => "Opaque".to_string(),
        Some(Value::Str(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(invalid(&key, "type must be a non-empty string".into())),
    };
    let immutable = match doc.get("immutable") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid(&key, "immutable must be true or false".into())),
    };

    let mut data: BTreeMap<String, SecretBytes> = BTreeMap::new();
    for field in ["data", "stringData"] {
        let values = match doc.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Map(m)) => m,
            Some(other) => {
                return Err(invalid(
                    &key,
                    format!("{field} must be a map, not a {}", other.kind()),
                ))
            }
        };
        for (k, v) in values.entries() {
            names::secret_key(k)
                .map_err(|why| invalid(&key, format!("invalid key {field}.{k}: {why}")))?;
            let text: &str = match v {
                Value::Str(s) => s,
                // An unquoted date: the text sops prints for it, which is also what Flux applies
                // (`2025-06-30` becomes `2025-06-30T00:00:00Z`).
                Value::Time(t) => t,
                Value::Null => "",
                Value::Bytes(_) => {
                    return Err(invalid(
                        &key,
                        format!("{field}.{k} is not valid UTF-8 text"),
                    ));
                }
                other => {
                    return Err(invalid(
                        &key,
                        format!(
                            "{field}.{k} must be a string, not a {} (quote it in YAML)",
                            other.kind()
                        ),
                    ))
                }
            };
            if !encrypted && is_encrypted_or_truncated_value(text) {
                return Err((
                    Reason::StrippedMetadata,
                    key.clone(),
                    format!("{field}.{k} holds SOPS ciphertext but the document has no sops metadata: the file was stripped or truncated; restore it from history or re-encrypt it"),
                ));
            }
            // Zeroized buffers of their final size: the base64 text is the value too.
            let mut bytes = Zeroizing::new(if field == "data" {
                let mut compact = Zeroizing::new(String::with_capacity(text.len()));
                compact.extend(text.chars().filter(|c| !c.is_whitespace()));
                B64.decode(compact.as_bytes()).map_err(|_| {
                    invalid(
                        &key,
                        format!("data.{k} is not valid base64 (use stringData for plain text)"),
                    )
                })?
            } else {
                text.as_bytes().to_vec()
            });
            let as_text = std::str::from_utf8(&bytes).unwrap_or("");
            if has_placeholder(as_text, false) {
                return Err((
                    Reason::Unresolved,
                    key.clone(),
                    format!("{field}.{k} holds an external reference (<path:…>) inside an encrypted Secret: commit placeholders in a plain Secret (its values come from the store, not from git)"),
                ));
            }
            // stringData wins over data for the same key, as the API server merges them.
            data.insert(k.to_string(), SecretBytes::new(std::mem::take(&mut *bytes)));
        }
    }
    let adopt = annotations
        .get(ADOPT_ANNOTATION)
        .is_some_and(|v| v == "true");
    Ok(DesiredSecret {
        key: secret_key,
        secret_type,
        labels: labels.into(),
        annotations: annotations.into(),
        data: data.into(),
        immutable,
        source: Source {
            path: path.to_string(),
            commit: commit.to_string(),
        },
        adopt,
        merge: false,
        memo: Default::default(),
    })
}
