//! What each ExternalSecret and AVP Secret would fetch and from which store, decided as the resolver
//! decides it but without contacting anything: `sealctl render --no-resolve`, and where `sealctl render`
//! says which store a resolved Secret came from.

use std::sync::Arc;

use super::plan;
use super::stores::Secrets;
use super::Resolver;
use crate::desired::SecretKey;
use crate::documents::ExternalObject;

/// One target Secret of a reference document, as the resolver would plan it.
#[derive(Debug)]
pub struct Preview {
    /// The Secret it writes.
    pub key: SecretKey,
    pub object: Arc<ExternalObject>,
    /// The store that serves it (`SecretStore app/bao`, `ClusterSecretStore vault`), once found.
    pub store: Option<String>,
    /// Why it cannot be resolved whatever the store answers (unknown store, missing credentials, a
    /// file declaring the same Secret), in the resolver's words. Never holds a value.
    pub problem: Option<String>,
    /// What it fetches, in the store's terms: each remote key (an AVP path with its KV mount and
    /// `data/` taken off) and the version asked for (None: the current one).
    pub fetches: Vec<(String, Option<String>)>,
    /// The store's client, as the resolver's cache knows it.
    pub(super) store_id: Option<String>,
}

/// The plan of every target among `objects`, in path order. `secrets` are the Secrets the files of the
/// same folder declare, where store credentials are looked up (and which win over a reference).
pub fn preview(
    objects: &[Arc<ExternalObject>],
    secrets: &Secrets,
    resolver: &Resolver,
) -> Vec<Preview> {
    let plans = plan::plans(
        objects,
        secrets,
        resolver.default_store.as_deref(),
        &resolver.env_credentials,
    );
    plans
        .into_iter()
        .map(|(key, planned)| {
            let mut preview = match planned {
                Ok(p) => Preview {
                    problem: match &p.store.credentials {
                        Err(why) => Some(why.clone()),
                        Ok(creds) if resolver.login.accounts.is_none() => {
                            super::stores::missing_without_cluster(creds)
                        }
                        Ok(_) => None,
                    }
                    .map(|why| format!("store {}: {why}", p.store.display)),
                    fetches: p
                        .refs
                        .iter()
                        .map(|r| (r.key.clone(), r.version.clone()))
                        .collect(),
                    store: Some(p.store.display.clone()),
                    store_id: Some(p.store.id.clone()),
                    object: p.object,
                    key,
                },
                Err((object, why)) => Preview {
                    key,
                    object,
                    store: None,
                    problem: Some(why),
                    fetches: Vec::new(),
                    store_id: None,
                },
            };
            if preview.problem.is_none() && secrets.contains_key(&preview.key) {
                preview.problem = Some(super::declared_by_file(&preview.key));
            }
            preview
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use zeroize::Zeroizing;

    use super::preview;
    use crate::desired::{DesiredSecret, SecretBytes, SecretKey, Source};
    use crate::documents::{Classifier, ExternalObject};
    use crate::external::Resolver;
    use crate::keys::Identities;
    use crate::policy::{DecryptionPolicy, Fallback, NamespacePolicy};

    pub(crate) const STORE: &str = "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: bao, namespace: app}\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:1\n      path: secret\n      auth:\n        tokenSecretRef: {name: bao-token, key: token}\n";

    /// The objects of `docs` (one file each) as the engine hands them to the resolver.
    pub(crate) fn objects(docs: &[&str]) -> Vec<Arc<ExternalObject>> {
        let ids = Identities::default();
        let policy = NamespacePolicy::new(vec![], Fallback::AllowAll);
        let c = Classifier {
            identities: &ids,
            decryption: &DecryptionPolicy::default(),
            policy: &policy,
            default_namespace: "default",
            max_file_size: 1024 * 1024,
            cluster_store_paths: &Default::default(),
        };
        docs.iter()
            .enumerate()
            .flat_map(|(i, d)| {
                let out = c.classify(&format!("f{i}.yaml"), d.as_bytes(), "c");
                assert!(out.refused.is_empty(), "{:?}", out.refused);
                out.external
            })
            .collect()
    }

    fn es(name: &str, store: &str) -> String {
        format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: {name}, namespace: app}}\nspec:\n  secretStoreRef: {{name: {store}}}\n  data: [{{secretKey: a, remoteRef: {{key: app/db}}}}]\n")
    }

    fn token_secret() -> crate::external::stores::Secrets {
        let mut secret = DesiredSecret {
            key: SecretKey::new("app", "bao-token"),
            secret_type: "Opaque".into(),
            labels: Default::default(),
            annotations: Default::default(),
            data: Default::default(),
            immutable: None,
            source: Source {
                path: "token.yaml".into(),
                commit: "c".into(),
            },
            adopt: false,
            merge: false,
            memo: Default::default(),
        };
        secret
            .data
            .insert("token".into(), SecretBytes::new(b"t0ken".to_vec()));
        let mut secrets = imbl::OrdMap::new();
        secrets.insert(secret.key.clone(), Arc::new(secret));
        secrets
    }

    #[test]
    fn stores_and_problems_are_named_as_the_resolver_names_them() {
        let objects = objects(&[STORE, &es("db", "bao"), &es("bad", "nowhere")]);
        let resolver = Resolver::default();
        let found = preview(&objects, &token_secret(), &resolver);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].key, SecretKey::new("app", "db"));
        assert_eq!(found[0].store.as_deref(), Some("SecretStore app/bao"));
        assert_eq!(found[0].problem, None);
        assert_eq!(found[1].store, None);
        let why = found[1].problem.as_deref().unwrap();
        assert!(why.starts_with("unknown store"), "{why}");
    }

    #[test]
    fn a_missing_token_secret_is_a_problem_unless_the_environment_gives_one() {
        let objects = objects(&[STORE, &es("db", "bao")]);
        let mut resolver = Resolver::default();
        let none = preview(&objects, &Default::default(), &resolver);
        let why = none[0].problem.as_deref().unwrap();
        assert!(
            why.contains("credentials Secret app/bao-token (key token) is not materialized"),
            "{why}"
        );
        resolver.env_credentials.vault_token = Some(Zeroizing::new(b"t0ken".to_vec()));
        let filled = preview(&objects, &Default::default(), &resolver);
        assert_eq!(filled[0].problem, None);
        assert!(!format!("{:?}", resolver.env_credentials).contains("t0ken"));
    }

    #[test]
    fn a_file_declaring_the_same_secret_wins() {
        let objects = objects(&[STORE, &es("bao-token", "bao")]);
        let found = preview(&objects, &token_secret(), &Resolver::default());
        let why = found[0].problem.as_deref().unwrap();
        assert!(why.contains("also declared by a file"), "{why}");
    }
}
