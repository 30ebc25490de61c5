//! From a committed `SecretStore` / `ClusterSecretStore` and the credentials it references to a
//! provider client; credentials come from the Secrets sealsync materializes from the same git source.

use std::sync::Arc;

use sealsync_external::store::{self, AwsAuth, SecretKeySelector, SecretStore, VaultAuthMethod};
use sealsync_external::StoreKind;
use sealsync_providers::{aws, vault, Limits, Provider};
use zeroize::Zeroizing;

use crate::desired::{DesiredSecret, SecretKey};

/// The desired Secrets of this pass, where credential references are looked up.
pub type Secrets = imbl::OrdMap<SecretKey, Arc<DesiredSecret>>;

/// A provider client and what it was built from (rebuilt when either changes).
pub struct Client {
    pub store: Arc<crate::documents::ExternalObject>,
    pub credentials: Vec<Zeroizing<Vec<u8>>>,
    pub provider: Arc<dyn Provider>,
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
) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    let get = |sel: &SecretKeySelector| lookup(s, sel, store_ns, es_ns, secrets);
    match &s.provider {
        store::Provider::Vault(v) => match v.auth.as_ref().map(|a| &a.method) {
            Some(VaultAuthMethod::Token(sel)) => match (get(sel), &env.vault_token) {
                (Ok(token), _) => Ok(vec![token]),
                (Err(_), Some(token)) => Ok(vec![token.clone()]),
                (Err(why), None) => Err(why),
            },
            Some(VaultAuthMethod::AppRole {
                role_id,
                secret_ref,
                ..
            }) => {
                let role = match role_id {
                    store::AppRoleId::Literal(r) => Zeroizing::new(r.as_bytes().to_vec()),
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
) -> Result<Zeroizing<Vec<u8>>, String> {
    let ns = store::referent_namespace(s.kind, sel.namespace.as_deref(), store_ns, es_ns)?;
    let key = SecretKey::new(&ns, &sel.name);
    let secret = secrets.get(&key).ok_or_else(|| {
        format!(
            "credentials Secret {key} (key {}) is not materialized from git",
            sel.key
        )
    })?;
    let value = secret
        .data
        .get(&sel.key)
        .ok_or_else(|| format!("credentials Secret {key} has no key {}", sel.key))?;
    Ok(Zeroizing::new(value.expose().to_vec()))
}

fn text(bytes: &[u8]) -> Result<Zeroizing<String>, String> {
    std::str::from_utf8(bytes)
        .map(|t| Zeroizing::new(t.trim().to_string()))
        .map_err(|_| "a credential is not UTF-8 text".to_string())
}

/// Builds the provider client of `s` from the credentials [`credentials`] returned.
pub async fn build(
    s: &SecretStore,
    name: &str,
    creds: &[Zeroizing<Vec<u8>>],
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
                        store::KubernetesSource::Own => vault::JwtSource::service_account(),
                        store::KubernetesSource::Secret(_) => vault::JwtSource::Inline(cred(0)?),
                        store::KubernetesSource::ServiceAccount(_) => {
                            return Err(
                                "kubernetes auth with serviceAccountRef is not supported yet"
                                    .into(),
                            )
                        }
                    },
                },
                Some(VaultAuthMethod::Jwt { path, role, source }) => vault::VaultAuth::Jwt {
                    mount_path: path.clone(),
                    role: role.clone(),
                    jwt: match source {
                        store::JwtSource::Secret(_) => vault::JwtSource::Inline(cred(0)?),
                        _ => {
                            return Err(
                                "jwt auth with a service account token is not supported yet".into(),
                            )
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
                AwsAuth::Jwt { .. } => return Err("aws auth.jwt is not supported yet".into()),
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
