//! What the MAC of an encrypted Secret binds to where its values go, and the refusals for what it does
//! not: a team that can write one folder must not be able to retarget ciphertext the agent can decrypt
//! (SECURITY.md, "Multi-tenancy").
//!
//! sops' MAC covers the *values* of a file in document order, not the key names; with
//! `mac_only_encrypted` it covers only the encrypted values. So a folder writer holding a copy of
//! another team's file can, without breaking the MAC, edit a plaintext `metadata.namespace` (under
//! `mac_only_encrypted`), or rename the `namespace:` key (or move it under `labels:`) so that the
//! default namespace applies. Per-path decryption identities are the boundary; these checks refuse
//! what the MAC leaves open where no decryption rule scopes the path.

use crate::sops::cipher::is_encrypted_value;
use crate::sops::tree::{Map, Value};

/// The metadata fields sealsync applies (besides `creationTimestamp: null`, which
/// `kubectl create secret --dry-run=client -o yaml` writes and which carries nothing).
const KNOWN_METADATA: [&str; 4] = ["name", "namespace", "labels", "annotations"];

/// Why the target of an encrypted Secret is not bound by its MAC (None: it is), judged on the
/// document as stored (still encrypted). Under `mac_only_encrypted` a plaintext value is outside the
/// MAC, and so is a key that is absent (one can be added): both `name` and `namespace` must be there
/// and encrypted.
pub(super) fn unbound_target(raw: &Map, mac_only_encrypted: bool) -> Option<String> {
    if !mac_only_encrypted {
        return None;
    }
    let metadata = match raw.get("metadata") {
        Some(Value::Map(m)) => Some(m),
        _ => None,
    };
    let unbound: Vec<&str> = ["name", "namespace"]
        .into_iter()
        .filter(|field| {
            !matches!(metadata.and_then(|m| m.get(field)), Some(Value::Str(s)) if is_encrypted_value(s))
        })
        .collect();
    if unbound.is_empty() {
        return None;
    }
    let fields: Vec<String> = unbound.iter().map(|f| format!("metadata.{f}")).collect();
    Some(format!(
        "{} {} outside the MAC (the file is encrypted with mac_only_encrypted and {} not encrypted): whoever can write this folder could change where its values go; scope this path with --decryption-policy, or re-encrypt the file without mac_only_encrypted",
        fields.join(" and "),
        if fields.len() == 1 { "is" } else { "are" },
        if fields.len() == 1 { "it is" } else { "they are" },
    ))
}

/// A metadata key of a decrypted Secret that sealsync does not apply: in an encrypted document it may
/// be a renamed `namespace` or `name` (the MAC binds values, not key names), so it is refused rather
/// than ignored.
pub(super) fn unknown_metadata_key(doc: &Map) -> Option<String> {
    let Some(Value::Map(metadata)) = doc.get("metadata") else {
        return None;
    };
    // `creationTimestamp: null` carries nothing (kubectl writes it); any other value might.
    let harmless = |key: &str, value: &Value| {
        KNOWN_METADATA.contains(&key)
            || (key == "creationTimestamp" && matches!(value, Value::Null))
    };
    let unknown = metadata
        .entries()
        .find(|(key, value)| !harmless(key, value))?;
    Some(format!(
        "metadata.{} is not a field sealsync applies (it applies name, namespace, labels and annotations); in an encrypted Secret an unknown metadata key may be a renamed namespace or name, which the MAC does not bind: remove it with `sealctl edit`",
        unknown.0
    ))
}

/// The refusal of an encrypted Secret that names no namespace while a namespace policy divides the
/// repository between teams: a missing `namespace:` may be a renamed one.
pub(super) fn missing_namespace(doc: &Map) -> Option<String> {
    let named = matches!(
        doc.get("metadata"),
        Some(Value::Map(m)) if matches!(m.get("namespace"), Some(Value::Str(_)))
    );
    (!named).then(|| {
        "names no metadata.namespace: with --namespace-policy in force an encrypted Secret must name its namespace (the MAC binds values, not key names, so a missing namespace may be a renamed one); add it with `sealctl edit`, or scope this path with --decryption-policy".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::stores::Format;

    fn doc(yaml: &str) -> Map {
        Format::Yaml
            .store()
            .load_plain(yaml.as_bytes())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn mac_only_targets_must_be_present_and_encrypted() {
        let plain = doc("metadata:\n  name: db\n  namespace: team-b\n");
        assert!(unbound_target(&plain, false).is_none(), "full MAC");
        let why = unbound_target(&plain, true).unwrap();
        assert!(
            why.contains("metadata.name and metadata.namespace"),
            "{why}"
        );
        let enc = "ENC[AES256_GCM,data:abc,iv:x,tag:y,type:str]";
        let bound = doc(&format!("metadata:\n  name: {enc}\n  namespace: {enc}\n"));
        assert!(unbound_target(&bound, true).is_none());
        let absent = doc(&format!("metadata:\n  name: {enc}\n"));
        let why = unbound_target(&absent, true).unwrap();
        assert!(why.starts_with("metadata.namespace is outside"), "{why}");
    }

    #[test]
    fn only_known_metadata_keys_pass() {
        let ok = doc("metadata:\n  name: db\n  namespace: a\n  labels: {}\n  annotations: {}\n  creationTimestamp: null\n");
        assert!(unknown_metadata_key(&ok).is_none());
        for bad in [
            "metadata:\n  name: db\n  namespacex: team-b\n",
            "metadata:\n  name: db\n  creationTimestamp: team-b\n",
            "metadata:\n  name: db\n  generateName: team-b\n",
        ] {
            let why = unknown_metadata_key(&doc(bad)).unwrap();
            assert!(why.starts_with("metadata."), "{why}");
        }
    }

    #[test]
    fn a_namespace_must_be_named() {
        assert!(missing_namespace(&doc("metadata:\n  name: db\n  namespace: a\n")).is_none());
        assert!(
            missing_namespace(&doc("metadata:\n  name: db\n  labels:\n    namespace: a\n"))
                .is_some()
        );
    }
}
