//! Login tokens obtained anew at each login (a Kubernetes TokenRequest), for the Vault and AWS
//! web-identity logins; the crate knows nothing of where they come from.

use crate::{BoxFuture, ErrorKind};
use zeroize::Zeroizing;

/// Why no token could be had: a kind (never `NotFound`, which would read as the secret's absence)
/// and a reason that names what was asked for, never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenError {
    pub kind: ErrorKind,
    pub reason: String,
}

/// Hands out a fresh token for a login.
pub trait TokenSource: Send + Sync {
    fn token(&self) -> BoxFuture<'_, Result<Zeroizing<String>, TokenError>>;
}
