//! How stores log in as a Kubernetes service account: the agent's own token file, or a token requested
//! for a named ServiceAccount (ESO's `serviceAccountRef`), which only the Kubernetes sink can ask for.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use sealsync_providers::{BoxFuture, TokenSource};
use zeroize::Zeroizing;

use crate::desired::SecretKey;

/// Why a `serviceAccountRef` store cannot be used with the dir sink.
pub const NEEDS_KUBE: &str = "serviceAccountRef needs the Kubernetes sink";

/// A token to be requested: for which account, for whom (`audiences`; none: the API server's own), and
/// for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFor {
    pub namespace: String,
    pub name: String,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
}

/// The service accounts of the cluster, as far as stores need them.
pub trait Accounts: Send + Sync {
    /// A source of fresh tokens for the account (one TokenRequest per login).
    fn token_source(&self, request: TokenFor) -> Arc<dyn TokenSource>;

    /// The account's annotations (AWS: the role it is bound to).
    fn annotations<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>>;

    /// One value of a Secret in the cluster: a store's credentials Secret that is not in git.
    fn secret_value<'a>(
        &'a self,
        secret: &'a SecretKey,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, String>>;
}

/// What store logins may use besides committed credentials.
#[derive(Clone)]
pub struct Login {
    /// The agent's own service account token (`--service-account-token-file`), read at each login.
    pub token_file: PathBuf,
    /// The cluster's service accounts: with the Kubernetes sink only.
    pub accounts: Option<Arc<dyn Accounts>>,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            token_file: PathBuf::from(sealsync_providers::vault::SERVICE_ACCOUNT_TOKEN_FILE),
            accounts: None,
        }
    }
}

impl Login {
    pub(crate) fn accounts(&self) -> Result<&Arc<dyn Accounts>, String> {
        self.accounts.as_ref().ok_or_else(|| NEEDS_KUBE.to_string())
    }
}
