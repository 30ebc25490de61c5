//! Service account tokens through the TokenRequest API (`POST .../serviceaccounts/NAME/token`,
//! `authentication.k8s.io/v1`) and the accounts' annotations, for stores that log in as a named
//! ServiceAccount. RBAC: `create` on `serviceaccounts/token` (and `get` on `serviceaccounts` for AWS),
//! granted by `deploy/components/token-request`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use sealsync_providers::{BoxFuture, ErrorKind, TokenError, TokenSource};
use zeroize::Zeroizing;

use super::apply::LiveSecret;
use crate::desired::SecretKey;
use crate::external::{Accounts, TokenFor};

/// What a refusal adds: where the permission comes from.
const GRANT: &str =
    " (the opt-in component deploy/components/token-request grants it in that namespace)";

/// The cluster's service accounts, through the agent's client.
pub struct KubeAccounts {
    client: Client,
}

impl KubeAccounts {
    pub fn new(client: Client) -> Self {
        KubeAccounts { client }
    }
}

impl Accounts for KubeAccounts {
    fn token_source(&self, request: TokenFor) -> Arc<dyn TokenSource> {
        Arc::new(AccountToken {
            client: self.client.clone(),
            request,
        })
    }

    fn annotations<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        Box::pin(async move {
            let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
            let account = api.get(name).await.map_err(|e| {
                let (kind, mut reason) = why(&e);
                if kind == ErrorKind::Denied {
                    reason.push_str(GRANT);
                }
                format!("reading ServiceAccount {namespace}/{name}: {reason}")
            })?;
            Ok(account.metadata.annotations.unwrap_or_default())
        })
    }

    fn secret_value<'a>(
        &'a self,
        secret: &'a SecretKey,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, String>> {
        Box::pin(async move {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &secret.namespace);
            let found = api.get_opt(&secret.name).await.map_err(|e| {
                format!(
                    "reading credentials Secret {secret} from the cluster: {}",
                    why(&e).1
                )
            })?;
            let Some(found) = found else {
                return Err(format!(
                    "credentials Secret {secret} (key {key}) is neither materialized from git nor in the cluster: commit it encrypted beside the store, or create it"
                ));
            };
            // The whole Secret is zeroized when dropped; only the one value is moved out.
            let mut found = LiveSecret(found);
            found
                .0
                .data
                .as_mut()
                .and_then(|d| d.get_mut(key))
                .map(|v| Zeroizing::new(std::mem::take(&mut v.0)))
                .ok_or_else(|| {
                    format!("credentials Secret {secret} in the cluster has no key {key}")
                })
        })
    }
}

/// One account's tokens: a TokenRequest each time one is asked for.
struct AccountToken {
    client: Client,
    request: TokenFor,
}

impl TokenSource for AccountToken {
    fn token(&self) -> BoxFuture<'_, Result<Zeroizing<String>, TokenError>> {
        Box::pin(async move {
            let TokenFor {
                namespace,
                name,
                audiences,
                expiration_seconds,
            } = &self.request;
            let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: audiences.clone(),
                    expiration_seconds: Some(*expiration_seconds),
                    bound_object_ref: None,
                },
                ..Default::default()
            };
            let reply = api
                .create_token_request(name, &PostParams::default(), &request)
                .await
                .map_err(|e| {
                    let (kind, mut reason) = why(&e);
                    if kind == ErrorKind::Denied {
                        reason.push_str(GRANT);
                    }
                    TokenError {
                        kind,
                        reason: format!(
                            "requesting a token for ServiceAccount {namespace}/{name}: {reason}"
                        ),
                    }
                })?;
            // Moved, not copied, into a zeroized buffer.
            match reply.status {
                Some(status) if !status.token.is_empty() => Ok(Zeroizing::new(status.token)),
                _ => Err(TokenError {
                    kind: ErrorKind::Invalid,
                    reason: format!(
                        "the TokenRequest for ServiceAccount {namespace}/{name} returned no token"
                    ),
                }),
            }
        })
    }
}

/// A Kubernetes API error's kind and reason; the API server's messages carry no token.
fn why(e: &kube::Error) -> (ErrorKind, String) {
    match e {
        kube::Error::Api(s) if s.code == 404 => (
            ErrorKind::Invalid,
            format!("not found (404): {}", s.message),
        ),
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => (
            ErrorKind::Denied,
            format!("forbidden ({}): {}", s.code, s.message),
        ),
        kube::Error::Api(s) if s.code == 429 => (
            ErrorKind::Throttled,
            format!("throttled (429): {}", s.message),
        ),
        kube::Error::Api(s) => (
            ErrorKind::Unavailable,
            format!("HTTP {}: {}", s.code, s.message),
        ),
        other => (ErrorKind::Unavailable, other.to_string()),
    }
}
