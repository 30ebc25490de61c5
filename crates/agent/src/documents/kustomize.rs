//! Kustomize files found beside the manifests. sealsync does not run Kustomize, so a `secretGenerator`
//! (how Flux users generate Secrets from sops-encrypted `.env` files and files) would silently produce
//! nothing: it is refused with a reason saying what to commit instead. Any other Kustomize file is
//! reported as ignored.

use crate::sops::tree::{Map, Value};

/// Whether a path is a Kustomize file by name (`kustomization.yaml`, `.yml`, `.json`, any case).
pub fn is_kustomization(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    [
        "kustomization.yaml",
        "kustomization.yml",
        "kustomization.json",
    ]
    .iter()
    .any(|k| file.eq_ignore_ascii_case(k))
}

/// Why a Kustomize document cannot be applied, or `None` when it only has to be reported as ignored.
pub fn refusal(doc: &Map) -> Option<String> {
    let generators = match doc.get("secretGenerator") {
        None | Some(Value::Null) => return None,
        Some(Value::Seq(items)) => items,
        Some(_) => return Some("secretGenerator must be a list".into()),
    };
    let names: Vec<String> = generators
        .iter()
        .filter_map(Value::as_map)
        .map(|g| match g.get("name").and_then(Value::as_str) {
            Some(name) => format!("'{name}'"),
            None => "(unnamed)".into(),
        })
        .collect();
    Some(format!(
        "Kustomize secretGenerator {} is not supported: sealsync does not run Kustomize, so it would produce nothing. Commit each Secret as a manifest instead: `sealctl create secret NAME -n NAMESPACE --from-env-file FILE -o secret.yaml` (names get no hash suffix, as with disableNameSuffixHash)",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::stores::Format;

    fn doc(text: &str) -> Map {
        Format::Yaml
            .store()
            .load_plain(text.as_bytes())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_secret_generator_is_refused_with_its_names() {
        let why = refusal(&doc(
            "secretGenerator:\n  - name: db\n    envs: [db.env]\n  - files: [a]\n",
        ))
        .unwrap();
        assert!(why.contains("'db'") && why.contains("(unnamed)"), "{why}");
        assert!(refusal(&doc("resources: [a.yaml]\n")).is_none());
    }

    #[test]
    fn kustomization_files_by_name() {
        assert!(is_kustomization("apps/Kustomization.yaml"));
        assert!(is_kustomization("kustomization.json"));
        assert!(!is_kustomization("apps/kustomization-notes.yaml"));
    }
}
