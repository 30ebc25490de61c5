//! SecretStore / ClusterSecretStore documents: both providers, every auth, conditions, bad input.

mod common;

use std::collections::BTreeMap;

use common::{doc, yaml};
use sealsync_external::conditions::{cluster_store_allows, Operator};
use sealsync_external::store::*;
use sealsync_external::{Error, StoreKind};

fn store(file: &str, name: &str) -> SecretStore {
    SecretStore::parse(&doc(file, name), file).unwrap_or_else(|e| panic!("{e}"))
}

fn vault(s: &SecretStore) -> &VaultProvider {
    match &s.provider {
        Provider::Vault(v) => v,
        other => panic!("{other:?}"),
    }
}

fn aws(s: &SecretStore) -> &AwsProvider {
    match &s.provider {
        Provider::Aws(a) => a,
        other => panic!("{other:?}"),
    }
}

fn sel(name: &str, key: &str, ns: Option<&str>) -> SecretKeySelector {
    SecretKeySelector {
        name: name.into(),
        key: key.into(),
        namespace: ns.map(Into::into),
    }
}

#[test]
fn vault_with_token() {
    let s = store("store-vault-token.yaml", "team-vault");
    assert_eq!(s.kind, StoreKind::SecretStore);
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
    let v = vault(&s);
    assert_eq!(v.server, "https://vault.internal:8200");
    assert_eq!(v.path.as_deref(), Some("secret"));
    assert_eq!(v.version, KvVersion::V2);
    assert_eq!(v.namespace.as_deref(), Some("billing-team"));
    assert!(v
        .ca_bundle
        .as_ref()
        .unwrap()
        .starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert_eq!(v.headers["X-Request-Source"], "sealsync");
    let auth = v.auth.as_ref().unwrap();
    assert_eq!(
        auth.method,
        VaultAuthMethod::Token(sel("vault-token", "token", None))
    );
}

#[test]
fn vault_approle_kv1_ca_provider() {
    let s = store("store-vault-approle.yaml", "platform-vault");
    assert_eq!(s.kind, StoreKind::ClusterSecretStore);
    assert!(s.conditions.is_empty());
    let v = vault(&s);
    assert_eq!(v.version, KvVersion::V1);
    let ca = v.ca_provider.as_ref().unwrap();
    assert_eq!(
        (
            ca.kind,
            ca.name.as_str(),
            ca.key.as_str(),
            ca.namespace.as_deref()
        ),
        (
            CaProviderKind::ConfigMap,
            "vault-ca",
            "ca.pem",
            Some("platform")
        )
    );
    let auth = v.auth.as_ref().unwrap();
    assert_eq!(auth.namespace.as_deref(), Some("admin"));
    assert_eq!(
        auth.method,
        VaultAuthMethod::AppRole {
            path: "approle".into(),
            role_id: AppRoleId::Literal("0b2c5e8a-role".into()),
            secret_ref: sel("approle-secret", "secret-id", Some("platform")),
        }
    );
    let s = store("store-vault-kubernetes.yaml", "approle-ref");
    assert_eq!(
        vault(&s).auth.as_ref().unwrap().method,
        VaultAuthMethod::AppRole {
            path: "approle-shop".into(),
            role_id: AppRoleId::Ref(sel("approle", "role-id", None)),
            secret_ref: sel("approle", "secret-id", None),
        }
    );
}

#[test]
fn vault_kubernetes_and_jwt_logins() {
    let method = |name: &str| {
        vault(&store("store-vault-kubernetes.yaml", name))
            .auth
            .clone()
            .unwrap()
            .method
    };
    assert_eq!(
        method("k8s-login"),
        VaultAuthMethod::Kubernetes {
            mount_path: "kubernetes".into(),
            role: "shop-reader".into(),
            source: KubernetesSource::Own
        }
    );
    match method("k8s-login-sa") {
        VaultAuthMethod::Kubernetes {
            mount_path,
            source: KubernetesSource::ServiceAccount(sa),
            ..
        } => {
            assert_eq!(mount_path, "k8s-east");
            assert_eq!(
                (sa.name.as_str(), sa.audiences.clone()),
                ("shop-app", vec!["vault".to_string()])
            );
        }
        other => panic!("{other:?}"),
    }
    match method("k8s-login-secret") {
        VaultAuthMethod::Kubernetes {
            source: KubernetesSource::Secret(s),
            ..
        } => assert_eq!(s, sel("sa-token", "token", None), "key defaults to token"),
        other => panic!("{other:?}"),
    }
    match method("jwt-login") {
        VaultAuthMethod::Jwt {
            path,
            role,
            source:
                JwtSource::ServiceAccountToken {
                    service_account,
                    expiration_seconds,
                    ..
                },
        } => {
            assert_eq!((path.as_str(), role.as_deref()), ("jwt", Some("ci")));
            assert_eq!(service_account.name, "shop-app");
            assert_eq!(expiration_seconds, Some(600));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn aws_secrets_manager() {
    let s = store("store-aws.yaml", "platform-aws");
    assert!(s.unsupported.is_empty(), "{:?}", s.unsupported);
    let a = aws(&s);
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(
        a.role.as_deref(),
        Some("arn:aws:iam::123456789012:role/reader")
    );
    assert_eq!(a.external_id.as_deref(), Some("sealsync"));
    assert_eq!(
        a.auth,
        AwsAuth::SecretRef {
            access_key_id: sel("aws-keys", "access-key-id", Some("platform")),
            secret_access_key: sel("aws-keys", "secret-access-key", Some("platform")),
            session_token: Some(sel("aws-keys", "session-token", Some("platform"))),
        }
    );
    assert_eq!(
        aws(&store("store-aws.yaml", "aws-store")).auth,
        AwsAuth::Default,
        "no auth: the SDK's default chain"
    );
    match &aws(&store("store-aws.yaml", "aws-irsa")).auth {
        AwsAuth::Jwt { service_account } => assert_eq!(service_account.name, "web-app"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_providers_and_options_are_named() {
    let params = store("store-unsupported.yaml", "params");
    let got: Vec<String> = params.unsupported.iter().map(ToString::to_string).collect();
    assert!(
        got.iter()
            .any(|u| u.contains("spec.provider.aws.service") && u.contains("ParameterStore")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|u| u.contains("spec.provider.aws.prefix")),
        "{got:?}"
    );
    let gcp = store("store-unsupported.yaml", "gcp");
    assert_eq!(gcp.provider, Provider::Unsupported("gcpsm".into()));
    assert!(
        gcp.unsupported[0].to_string().contains("gcpsm"),
        "{:?}",
        gcp.unsupported
    );
    let ldap = store("store-unsupported.yaml", "ldap-vault");
    assert_eq!(
        vault(&ldap).auth.as_ref().unwrap().method,
        VaultAuthMethod::Unsupported("ldap".into())
    );
    assert!(ldap
        .unsupported
        .iter()
        .any(|u| u.path == "spec.provider.vault.auth.ldap"));
}

#[test]
fn bad_stores_are_refused_with_the_field() {
    let field =
        |name: &str| match SecretStore::parse(&doc("store-bad.yaml", name), "stores/bad.yaml")
            .unwrap_err()
        {
            Error::Invalid { field, origin, .. } => {
                assert_eq!(
                    origin.to_string(),
                    format!("stores/bad.yaml: SecretStore web/{name}")
                );
                field
            }
            other => panic!("{other}"),
        };
    assert_eq!(
        field("sneaky"),
        "spec.provider.vault.auth.tokenSecretRef.namespace"
    );
    assert_eq!(field("two-providers"), "spec.provider");
    assert_eq!(field("no-server"), "spec.provider.vault.server");
    let unknown_kind = yaml(
        "apiVersion: external-secrets.io/v1\nkind: SecretVault\nmetadata: {name: x}\nspec: {}\n",
    );
    assert!(matches!(
        SecretStore::parse(&unknown_kind, "x.yaml"),
        Err(Error::Document { .. })
    ));
}

#[test]
fn referent_namespaces() {
    assert_eq!(
        referent_namespace(StoreKind::SecretStore, None, "web", "web"),
        Ok("web".into())
    );
    assert!(referent_namespace(StoreKind::SecretStore, Some("kube-system"), "web", "web").is_err());
    assert_eq!(
        referent_namespace(StoreKind::ClusterSecretStore, Some("platform"), "", "web"),
        Ok("platform".into())
    );
    assert_eq!(
        referent_namespace(StoreKind::ClusterSecretStore, None, "", "web"),
        Ok("web".into())
    );
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn cluster_store_conditions_as_eso_evaluates_them() {
    let s = store("store-aws.yaml", "platform-aws");
    assert_eq!(s.conditions.len(), 3);
    assert_eq!(
        s.conditions[1]
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_expressions[0]
            .operator,
        Operator::In
    );
    let none = labels(&[]);
    assert!(cluster_store_allows(&s, "billing", &none), "listed by name");
    assert!(cluster_store_allows(&s, "web", &none));
    assert!(
        !cluster_store_allows(&s, "payments", &none),
        "not listed, no label, no regex"
    );
    assert!(cluster_store_allows(&s, "team-red", &none), "regex");
    assert!(
        !cluster_store_allows(&s, "team-red-2", &none),
        "regex anchored by the user"
    );
    let selected = labels(&[("secrets.example.com/aws", "allowed"), ("tier", "gold")]);
    assert!(
        cluster_store_allows(&s, "payments", &selected),
        "selector: labels AND expression"
    );
    let half = labels(&[("secrets.example.com/aws", "allowed"), ("tier", "bronze")]);
    assert!(
        !cluster_store_allows(&s, "payments", &half),
        "every part of one selector must hold"
    );
    let spoof = labels(&[("kubernetes.io/metadata.name", "billing")]);
    assert!(
        !cluster_store_allows(&s, "payments", &spoof),
        "the name label is the namespace's own"
    );

    let open = store("store-vault-approle.yaml", "platform-vault");
    assert!(
        cluster_store_allows(&open, "anything", &none),
        "no conditions: every namespace"
    );
    let namespaced = store("store-aws.yaml", "aws-store");
    assert!(cluster_store_allows(&namespaced, "web", &none));
}

fn cluster(conditions: &str) -> Result<SecretStore, Error> {
    let text = format!(
        "apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata: {{name: c}}\nspec:\n  conditions:\n{conditions}  provider:\n    aws: {{service: SecretsManager, region: r}}\n"
    );
    SecretStore::parse(&yaml(&text), "c.yaml")
}

#[test]
fn condition_edge_cases() {
    let none = labels(&[]);
    let empty_condition = cluster("    - {}\n").unwrap();
    assert!(
        !cluster_store_allows(&empty_condition, "x", &none),
        "a condition with no parts matches nothing"
    );
    let empty_selector = cluster("    - namespaceSelector: {}\n").unwrap();
    assert!(
        cluster_store_allows(&empty_selector, "x", &none),
        "an empty selector selects everything"
    );
    let unanchored = cluster("    - namespaceRegexes: ['prod']\n").unwrap();
    assert!(
        cluster_store_allows(&unanchored, "team-prod-1", &none),
        "Go's MatchString is unanchored"
    );
    let exprs = cluster("    - namespaceSelector:\n        matchExpressions:\n          - {key: env, operator: NotIn, values: [dev]}\n          - {key: locked, operator: DoesNotExist}\n").unwrap();
    assert!(cluster_store_allows(&exprs, "x", &none));
    assert!(!cluster_store_allows(
        &exprs,
        "x",
        &labels(&[("env", "dev")])
    ));
    assert!(!cluster_store_allows(
        &exprs,
        "x",
        &labels(&[("locked", "")])
    ));
    for bad in [
        "    - namespaceRegexes: ['(']\n",
        "    - namespaceSelector:\n        matchExpressions:\n          - {key: a, operator: In, values: []}\n",
        "    - namespaceSelector:\n        matchExpressions:\n          - {key: a, operator: Exists, values: [x]}\n",
        "    - namespaceSelector:\n        matchExpressions:\n          - {key: a, operator: Near}\n",
        "    - namespace: [typo]\n",
    ] {
        assert!(matches!(cluster(bad), Err(Error::Invalid { .. })), "{bad} accepted");
    }
    let s = SecretStore::parse(&yaml("apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: s, namespace: a}\nspec:\n  conditions: [{namespaces: [b]}]\n  provider:\n    aws: {service: SecretsManager, region: r}\n"), "s.yaml").unwrap();
    assert!(
        s.unsupported.iter().any(|u| u.path == "spec.conditions"),
        "conditions mean nothing on a SecretStore"
    );
}

#[test]
fn condition_regexes_are_bounded() {
    let many: Vec<String> = (0..=sealsync_external::limits::MAX_CONDITION_REGEXES)
        .map(|i| format!("'^ns{i}$'"))
        .collect();
    let e = cluster(&format!("    - namespaceRegexes: [{}]\n", many.join(", "))).unwrap_err();
    assert!(e.to_string().contains("namespaceRegexes"), "{e}");
    let huge = format!("    - namespaceRegexes: ['{}']\n", "a{1000}{1000}");
    assert!(
        cluster(&huge).is_err(),
        "a regex too large once compiled is refused"
    );
}
