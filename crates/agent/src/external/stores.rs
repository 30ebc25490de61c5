//! From a committed `SecretStore` / `ClusterSecretStore` and the credentials it references to a
//! provider client; credentials come from the Secrets sealsync materializes from the same git source.

use std::sync::Arc;

use sealsync_external::store::{
    self, AwsAuth, SecretKeySelector, SecretStore, ServiceAccountSelector, VaultAuthMethod,
};
use sealsync_external::StoreKind;
use sealsync_providers::{aws, vault, Limits, Provider};
use zeroize::Zeroizing;

use super::accounts::{Login, TokenFor};
use crate::desired::{DesiredSecret, SecretKey};

/// How long a token requested for a Vault login lives (ESO's default, the API server's minimum).
const VAULT_TOKEN_SECONDS: i64 = 600;
/// The audience of an AWS web identity token unless the ServiceAccount names another (EKS's).
const AWS_DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// The ServiceAccount annotations IRSA reads (EKS's pod identity webhook, and ESO).
const AWS_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const AWS_AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";

/// The desired Secrets of this pass, where credential references are looked up.
pub type Secrets = imbl::OrdMap<SecretKey, Arc<DesiredSecret>>;

/// A provider client and what it was built from (rebuilt when either changes).
pub struct Client {
    pub store: Arc<crate::documents::ExternalObject>,
    /// Where its credentials came from (the values of those in git; the cluster Secrets' names).
    pub sources: Vec<Credential>,
    /// Their values when it was built.
    pub credentials: Vec<Zeroizing<Vec<u8>>>,
    pub provider: Arc<dyn Provider>,
}

/// One credential a store needs: its value, from a Secret materialized from git (or the process's
/// environment), or where to read it in the cluster (a Secret not in git, with the Kubernetes sink).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Value(Zeroizing<Vec<u8>>),
    InCluster { secret: SecretKey, key: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Value(_) => f.write_str("<value>"),
            Credential::InCluster { secret, key } => write!(f, "{secret} key {key}"),
        }
    }
}

/// The values of `creds`, reading those not in git from the cluster through `login`'s accounts:
/// git first (credentials committed encrypted beside the store), then the cluster. The dir sink has no
/// cluster, so a credentials Secret must be in git there.
pub async fn read_credentials(
    creds: &[Credential],
    login: &Login,
) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    let mut out = Vec::with_capacity(creds.len());
    for c in creds {
        out.push(match c {
            Credential::Value(v) => v.clone(),
            Credential::InCluster { secret, key } => match &login.accounts {
                Some(accounts) => accounts.secret_value(secret, key).await?,
                None => return Err(not_in_git(secret, key)),
            },
        });
    }
    Ok(out)
}

/// Why a credential cannot be read without a cluster (None: every one is in git or the environment).
pub fn missing_without_cluster(creds: &[Credential]) -> Option<String> {
    creds.iter().find_map(|c| match c {
        Credential::InCluster { secret, key } => Some(not_in_git(secret, key)),
        Credential::Value(_) => None,
    })
}

fn not_in_git(secret: &SecretKey, key: &str) -> String {
    format!(
        "credentials Secret {secret} (key {key}) is not materialized from git: commit it encrypted beside the store (without the Kubernetes sink there is no cluster to read it from)"
    )
}

/// Credentials given to the process rather than committed (`sealctl render` reads `VAULT_TOKEN`): each
/// fills in for a store whose own credentials Secret is not materialized from git. The agent gives none.
#[derive(Clone, Default)]
pub struct EnvCredentials {
    /// A Vault token for the stores that authenticate with `tokenSecretRef`.
    pub vault_token: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvCredentials")
            .field("vault_token", &self.vault_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The credentials `store` references, read from `secrets`, in a fixed order; `env` fills in for a
/// credentials Secret that is not there.
pub fn credentials(
    s: &SecretStore,
    (store_ns, es_ns): (&str, &str),
    secrets: &Secrets,
    env: &EnvCredentials,
) -> Result<Vec<Credential>, String> {
    let get = |sel: &SecretKeySelector| lookup(s, sel, store_ns, es_ns, secrets);
    match &s.provider {
        store::Provider::Vault(v) => match v.auth.as_ref().map(|a| &a.method) {
            Some(VaultAuthMethod::Token(sel)) => match (get(sel)?, &env.vault_token) {
                (Credential::InCluster { .. }, Some(token)) => {
                    Ok(vec![Credential::Value(token.clone())])
                }
                (token, _) => Ok(vec![token]),
            },
            Some(VaultAuthMethod::AppRole {
                role_id,
                secret_ref,
                ..
            }) => {
                let role = match role_id {
                    store::AppRoleId::Literal(r) => {
                        Credential::Value(Zeroizing::new(r.as_bytes().to_vec()))
                    }
                    store::AppRoleId::Ref(sel) => get(sel)?,
                };
                Ok(vec![role, get(secret_ref)?])
            }
            Some(VaultAuthMethod::Kubernetes {
                source: store::KubernetesSource::Secret(sel),
                ..
            })
            | Some(VaultAuthMethod::Jwt {
                source: store::JwtSource::Secret(sel),
                ..
            }) => Ok(vec![get(sel)?]),
            _ => Ok(Vec::new()),
        },
        store::Provider::Aws(a) => match &a.auth {
            AwsAuth::SecretRef {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let mut out = vec![get(access_key_id)?, get(secret_access_key)?];
                if let Some(t) = session_token {
                    out.push(get(t)?);
                }
                Ok(out)
            }
            _ => Ok(Vec::new()),
        },
        store::Provider::Unsupported(p) => Err(format!("provider {p} is not supported")),
    }
}

fn lookup(
    s: &SecretStore,
    sel: &SecretKeySelector,
    store_ns: &str,
    es_ns: &str,
    secrets: &Secrets,
) -> Result<Credential, String> {
    let ns = store::referent_namespace(s.kind, sel.namespace.as_deref(), store_ns, es_ns)?;
    let key = SecretKey::new(&ns, &sel.name);
    let Some(secret) = secrets.get(&key) else {
        return Ok(Credential::InCluster {
            secret: key,
            key: sel.key.clone(),
        });
    };
    let value = secret
        .data
        .get(&sel.key)
        .ok_or_else(|| format!("credentials Secret {key} has no key {}", sel.key))?;
    Ok(Credential::Value(Zeroizing::new(value.expose().to_vec())))
}

fn text(bytes: &[u8]) -> Result<Zeroizing<String>, String> {
    std::str::from_utf8(bytes)
        .map(|t| Zeroizing::new(t.trim().to_string()))
        .map_err(|_| "a credential is not UTF-8 text".to_string())
}

/// The namespace of the ServiceAccount a store logs in as: a SecretStore's own (the parser refused any
/// other); in a ClusterSecretStore the one the reference names, which it must.
fn account_namespace(
    s: &SecretStore,
    store_ns: &str,
    sel: &ServiceAccountSelector,
) -> Result<String, String> {
    match (s.kind, &sel.namespace) {
        (StoreKind::SecretStore, _) => Ok(store_ns.to_string()),
        (StoreKind::ClusterSecretStore, Some(ns)) => Ok(ns.clone()),
        (StoreKind::ClusterSecretStore, None) => Err(format!(
            "serviceAccountRef {}: namespace is required in a ClusterSecretStore",
            sel.name
        )),
    }
}

/// A source of tokens for the ServiceAccount `sel` names, for `audiences`.
fn requested(
    s: &SecretStore,
    store_ns: &str,
    sel: &ServiceAccountSelector,
    audiences: Vec<String>,
    expiration_seconds: i64,
    login: &Login,
) -> Result<vault::JwtSource, String> {
    let accounts = login.accounts()?;
    Ok(vault::JwtSource::Requested(accounts.token_source(
        TokenFor {
            namespace: account_namespace(s, store_ns, sel)?,
            name: sel.name.clone(),
            audiences,
            expiration_seconds,
        },
    )))
}

/// AWS web identity as IRSA binds it: the role from the ServiceAccount's annotation, a token for
/// `sts.amazonaws.com` (or the account's audience annotation) and the reference's audiences.
async fn aws_web_identity(
    s: &SecretStore,
    store_ns: &str,
    sel: &ServiceAccountSelector,
    login: &Login,
) -> Result<aws::AwsAuth, String> {
    let accounts = login.accounts()?;
    let namespace = account_namespace(s, store_ns, sel)?;
    let annotations = accounts.annotations(&namespace, &sel.name).await?;
    let role_arn = annotations
        .get(AWS_ROLE_ANNOTATION)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            format!(
                "ServiceAccount {namespace}/{} has no {AWS_ROLE_ANNOTATION} annotation",
                sel.name
            )
        })?
        .clone();
    let mut audiences = vec![annotations
        .get(AWS_AUDIENCE_ANNOTATION)
        .filter(|a| !a.is_empty())
        .cloned()
        .unwrap_or_else(|| AWS_DEFAULT_AUDIENCE.to_string())];
    audiences.extend(sel.audiences.iter().cloned());
    let token = accounts.token_source(TokenFor {
        namespace,
        name: sel.name.clone(),
        audiences,
        // ESO lets the API server choose (one hour); the SDK caches the credentials, not the token.
        expiration_seconds: 3600,
    });
    Ok(aws::AwsAuth::WebIdentity { role_arn, token })
}

/// Builds the provider client of `s` (of namespace `store_ns`) from the credentials [`credentials`]
/// returned.
pub async fn build(
    s: &SecretStore,
    store_ns: &str,
    name: &str,
    creds: &[Zeroizing<Vec<u8>>],
    login: &Login,
) -> Result<Arc<dyn Provider>, String> {
    let cred = |i: usize| {
        creds
            .get(i)
            .ok_or_else(|| "credential missing".to_string())
            .and_then(|c| text(c))
    };
    match &s.provider {
        store::Provider::Vault(v) => {
            let method = v.auth.as_ref().map(|a| &a.method);
            let auth = match method {
                Some(VaultAuthMethod::Token(_)) => vault::VaultAuth::Token(cred(0)?),
                Some(VaultAuthMethod::AppRole { path, .. }) => vault::VaultAuth::AppRole {
                    mount_path: path.clone(),
                    role_id: cred(0)?.to_string(),
                    secret_id: cred(1)?,
                },
                Some(VaultAuthMethod::Kubernetes {
                    mount_path,
                    role,
                    source,
                }) => vault::VaultAuth::Kubernetes {
                    mount_path: mount_path.clone(),
                    role: role.clone(),
                    jwt: match source {
                        store::KubernetesSource::Own => {
                            vault::JwtSource::File(login.token_file.clone())
                        }
                        store::KubernetesSource::Secret(_) => vault::JwtSource::Inline(cred(0)?),
                        // As ESO: the reference's audiences only (none: the API server's own).
                        store::KubernetesSource::ServiceAccount(sel) => requested(
                            s,
                            store_ns,
                            sel,
                            sel.audiences.clone(),
                            VAULT_TOKEN_SECONDS,
                            login,
                        )?,
                    },
                },
                Some(VaultAuthMethod::Jwt { path, role, source }) => vault::VaultAuth::Jwt {
                    mount_path: path.clone(),
                    role: role.clone(),
                    jwt: match source {
                        store::JwtSource::Secret(_) => vault::JwtSource::Inline(cred(0)?),
                        // As ESO: the reference's audiences, then the deprecated field's, `vault`
                        // when that is not written.
                        store::JwtSource::ServiceAccountToken {
                            service_account,
                            audiences,
                            expiration_seconds,
                        } => {
                            let mut all = service_account.audiences.clone();
                            match audiences.is_empty() {
                                true => all.push("vault".into()),
                                false => all.extend(audiences.iter().cloned()),
                            }
                            requested(
                                s,
                                store_ns,
                                service_account,
                                all,
                                expiration_seconds.unwrap_or(VAULT_TOKEN_SECONDS),
                                login,
                            )?
                        }
                    },
                },
                Some(VaultAuthMethod::Unsupported(m)) => {
                    return Err(format!("vault auth {m} is not supported"))
                }
                None => return Err("spec.provider.vault.auth is required".into()),
            };
            let mount_path = v
                .path
                .clone()
                .ok_or("spec.provider.vault.path (the KV mount) is required by sealsync")?;
            let store = vault::VaultStore {
                name: name.to_string(),
                server: v.server.clone(),
                mount_path,
                kv_version: match v.version {
                    store::KvVersion::V1 => vault::KvVersion::V1,
                    store::KvVersion::V2 => vault::KvVersion::V2,
                },
                namespace: v.namespace.clone(),
                ca_bundle_pem: match &v.ca_bundle {
                    Some(b) => {
                        Some(String::from_utf8(b.clone()).map_err(|_| "caBundle is not PEM text")?)
                    }
                    None => None,
                },
                headers: v.headers.clone().into_iter().collect(),
                auth,
                limits: Limits::default(),
            };
            let p = vault::VaultProvider::new(store).map_err(|e| e.to_string())?;
            Ok(Arc::new(p))
        }
        store::Provider::Aws(a) => {
            let auth = match &a.auth {
                AwsAuth::Default => aws::AwsAuth::Default,
                AwsAuth::SecretRef { session_token, .. } => aws::AwsAuth::Static {
                    access_key_id: cred(0)?.to_string(),
                    secret_access_key: cred(1)?,
                    session_token: match session_token {
                        Some(_) => Some(cred(2)?),
                        None => None,
                    },
                },
                AwsAuth::Jwt { service_account } => {
                    aws_web_identity(s, store_ns, service_account, login).await?
                }
            };
            let store = aws::AwsStore {
                name: name.to_string(),
                region: a.region.clone(),
                role: a.role.clone(),
                external_id: a.external_id.clone(),
                auth,
                endpoint_url: None,
                limits: Limits::default(),
            };
            let p = aws::AwsProvider::new(store)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Arc::new(p))
        }
        store::Provider::Unsupported(p) => Err(format!("provider {p} is not supported")),
    }
}

/// The store's display name, as errors name it.
pub fn display(kind: StoreKind, namespace: &str, name: &str) -> String {
    match kind {
        StoreKind::SecretStore => format!("SecretStore {namespace}/{name}"),
        StoreKind::ClusterSecretStore => format!("ClusterSecretStore {name}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use sealsync_providers::{BoxFuture, TokenError, TokenSource};

    use super::*;
    use crate::external::Accounts;

    /// Records the tokens asked for; knows one annotated ServiceAccount, `apps/irsa`.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<TokenFor>>);

    struct NoToken;

    impl TokenSource for NoToken {
        fn token(&self) -> BoxFuture<'_, Result<Zeroizing<String>, TokenError>> {
            Box::pin(async {
                Err(TokenError {
                    kind: sealsync_providers::ErrorKind::Unavailable,
                    reason: "not in a unit test".into(),
                })
            })
        }
    }

    impl Accounts for Recorded {
        fn token_source(&self, request: TokenFor) -> Arc<dyn TokenSource> {
            self.0.lock().unwrap().push(request);
            Arc::new(NoToken)
        }

        fn annotations<'a>(
            &'a self,
            namespace: &'a str,
            name: &'a str,
        ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
            let found = (namespace, name) == ("apps", "irsa");
            Box::pin(async move {
                Ok(match found {
                    true => BTreeMap::from([(
                        AWS_ROLE_ANNOTATION.to_string(),
                        "arn:aws:iam::1:role/r".to_string(),
                    )]),
                    false => BTreeMap::new(),
                })
            })
        }

        fn secret_value<'a>(
            &'a self,
            secret: &'a SecretKey,
            key: &'a str,
        ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, String>> {
            let found = *secret == SecretKey::new("apps", "in-cluster") && key == "token";
            Box::pin(async move {
                match found {
                    true => Ok(Zeroizing::new(b"cluster-token".to_vec())),
                    false => Err(format!("no Secret {secret} in this test's cluster")),
                }
            })
        }
    }

    fn parse(kind: &str, provider: &str) -> SecretStore {
        let text = format!(
            "apiVersion: external-secrets.io/v1\nkind: {kind}\nmetadata: {{name: s, namespace: apps}}\nspec:\n  provider:\n{provider}"
        );
        let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        SecretStore::parse(&doc, "s.yaml").unwrap()
    }

    fn vault(kind: &str, auth: &str) -> SecretStore {
        parse(
            kind,
            &format!("    vault:\n      server: http://127.0.0.1:1\n      path: secret\n      auth:\n{auth}"),
        )
    }

    /// Builds `s` with a recording `Accounts` (or none: the dir sink); the tokens asked for.
    fn requested(s: &SecretStore, kube: bool) -> (Result<(), String>, Vec<TokenFor>) {
        let accounts = Arc::new(Recorded::default());
        let login = Login {
            token_file: "/t".into(),
            accounts: kube.then(|| accounts.clone() as Arc<dyn Accounts>),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let built = rt.block_on(build(s, "apps", "SecretStore apps/s", &[], &login));
        let asked = accounts.0.lock().unwrap().clone();
        (built.map(|_| ()), asked)
    }

    fn token_for(ns: &str, name: &str, audiences: &[&str], seconds: i64) -> TokenFor {
        TokenFor {
            namespace: ns.into(),
            name: name.into(),
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            expiration_seconds: seconds,
        }
    }

    /// A credentials Secret comes from git first, then (Kubernetes sink only) from the cluster; the
    /// dir sink says to commit it.
    #[test]
    fn credentials_come_from_git_then_from_the_cluster() {
        let store = |name: &str| {
            vault(
                "SecretStore",
                &format!("        tokenSecretRef: {{name: {name}, key: token}}\n"),
            )
        };
        let in_git = crate::desired::tests_support::secret("apps", "in-git")
            .with_data(&[("token", "git-token")]);
        let secrets: Secrets = [(in_git.key.clone(), Arc::new(in_git))]
            .into_iter()
            .collect();
        let env = EnvCredentials::default();
        let read = |name: &str, kube: bool| {
            let creds = credentials(&store(name), ("apps", "apps"), &secrets, &env)?;
            let login = Login {
                token_file: "/t".into(),
                accounts: kube.then(|| Arc::new(Recorded::default()) as Arc<dyn Accounts>),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(read_credentials(&creds, &login))
                .map(|v| String::from_utf8(v[0].to_vec()).unwrap())
        };
        assert_eq!(read("in-git", false).unwrap(), "git-token");
        assert_eq!(read("in-git", true).unwrap(), "git-token", "git wins");
        assert_eq!(read("in-cluster", true).unwrap(), "cluster-token");
        let dir = read("in-cluster", false).unwrap_err();
        assert!(
            dir.contains("apps/in-cluster") && dir.contains("commit it encrypted"),
            "{dir}"
        );
        let nowhere = read("nowhere", true).unwrap_err();
        assert!(nowhere.contains("apps/nowhere"), "{nowhere}");
    }

    #[test]
    fn kubernetes_auth_requests_a_token_with_the_references_audiences_only() {
        let s = vault(
            "SecretStore",
            "        kubernetes:\n          role: r\n          serviceAccountRef: {name: reader, audiences: [vault]}\n",
        );
        let (built, asked) = requested(&s, true);
        assert_eq!(built, Ok(()));
        assert_eq!(asked, [token_for("apps", "reader", &["vault"], 600)]);
        // No ref: the agent's own token file, and no request.
        let own = vault("SecretStore", "        kubernetes:\n          role: r\n");
        assert_eq!(requested(&own, true), (Ok(()), Vec::new()));
        assert_eq!(requested(&own, false), (Ok(()), Vec::new()));
    }

    #[test]
    fn jwt_auth_adds_vault_unless_the_deprecated_audiences_say_otherwise() {
        let sa = "          kubernetesServiceAccountToken:\n            serviceAccountRef: {name: reader, audiences: [a]}\n";
        let s = vault(
            "SecretStore",
            &format!("        jwt:\n          role: r\n{sa}"),
        );
        assert_eq!(
            requested(&s, true).1,
            [token_for("apps", "reader", &["a", "vault"], 600)]
        );
        let s = vault(
            "SecretStore",
            &format!("        jwt:\n          role: r\n{sa}            audiences: [b]\n            expirationSeconds: 900\n"),
        );
        assert_eq!(
            requested(&s, true).1,
            [token_for("apps", "reader", &["a", "b"], 900)]
        );
    }

    #[test]
    fn service_account_refs_need_the_kube_sink_and_a_cluster_store_names_the_namespace() {
        let auth =
            "        kubernetes:\n          role: r\n          serviceAccountRef: {name: reader}\n";
        let (built, asked) = requested(&vault("SecretStore", auth), false);
        assert_eq!(
            (built, asked.len()),
            (Err(crate::external::NEEDS_KUBE.to_string()), 0)
        );
        let (built, _) = requested(&vault("ClusterSecretStore", auth), true);
        assert_eq!(
            built,
            Err("serviceAccountRef reader: namespace is required in a ClusterSecretStore".into())
        );
        let with_ns = "        kubernetes:\n          role: r\n          serviceAccountRef: {name: reader, namespace: team}\n";
        let (built, asked) = requested(&vault("ClusterSecretStore", with_ns), true);
        assert_eq!(built, Ok(()));
        assert_eq!(asked, [token_for("team", "reader", &[], 600)]);
    }

    #[test]
    fn aws_jwt_takes_the_role_from_the_annotation_and_asks_for_sts() {
        let aws = |account: &str| {
            parse(
                "SecretStore",
                &format!("    aws:\n      service: SecretsManager\n      region: us-east-1\n      auth:\n        jwt:\n          serviceAccountRef: {{name: {account}, audiences: [extra]}}\n"),
            )
        };
        let (built, asked) = requested(&aws("irsa"), true);
        assert_eq!(built, Ok(()));
        assert_eq!(
            asked,
            [token_for(
                "apps",
                "irsa",
                &[AWS_DEFAULT_AUDIENCE, "extra"],
                3600
            )]
        );
        let (built, asked) = requested(&aws("plain"), true);
        assert_eq!(
            (built, asked.len()),
            (
                Err(format!(
                    "ServiceAccount apps/plain has no {AWS_ROLE_ANNOTATION} annotation"
                )),
                0
            )
        );
        assert_eq!(
            requested(&aws("irsa"), false).0,
            Err(crate::external::NEEDS_KUBE.into())
        );
    }
}
