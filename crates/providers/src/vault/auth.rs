//! The store's one Vault token: login (token, AppRole, Kubernetes, JWT), renewal at 2/3 of its TTL, re-login.

use super::client::Conn;
use super::{JwtSource, VaultAuth};
use crate::{ErrorKind, ProviderError};
use reqwest::Method;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

/// A token in use; `generation` tells a re-login asked for by an old token from a fresh one.
pub(crate) struct Session {
    pub(crate) token: Zeroizing<String>,
    pub(crate) generation: u64,
}

struct State {
    current: Option<Arc<Session>>,
    renewable: bool,
    renew_at: Option<Instant>,
    expires_at: Option<Instant>,
    generation: u64,
}

/// Logins and renewals done so far, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthCounts {
    pub logins: u64,
    pub renewals: u64,
}

pub(crate) struct TokenManager {
    auth: VaultAuth,
    state: Mutex<State>,
    logins: AtomicU64,
    renewals: AtomicU64,
}

/// What the login endpoint is called with, in the errors' key position.
const AUTH_KEY: &str = "(login)";

impl TokenManager {
    pub(crate) fn new(auth: VaultAuth) -> Self {
        let state = State {
            current: None,
            renewable: false,
            renew_at: None,
            expires_at: None,
            generation: 0,
        };
        TokenManager {
            auth,
            state: Mutex::new(state),
            logins: AtomicU64::new(0),
            renewals: AtomicU64::new(0),
        }
    }

    pub(crate) fn counts(&self) -> AuthCounts {
        AuthCounts {
            logins: self.logins.load(Ordering::Relaxed),
            renewals: self.renewals.load(Ordering::Relaxed),
        }
    }

    /// The token to use now: logs in on first use or after expiry, renews once 2/3 of the TTL passed.
    /// The lock is held across the login, so a store logs in once however many requests wait.
    pub(crate) async fn session(&self, conn: &Conn) -> Result<Arc<Session>, ProviderError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let current = match &state.current {
            None => return self.login(conn, &mut state).await,
            Some(current) => current.clone(),
        };
        let can_login = !matches!(self.auth, VaultAuth::Token(_));
        if can_login && state.expires_at.is_some_and(|at| now >= at) {
            return self.login(conn, &mut state).await;
        }
        if state.renew_at.is_some_and(|at| now >= at) {
            if state.renewable {
                match self.renew(conn, &current.token).await {
                    Ok(ttl) => {
                        schedule(&mut state, ttl, true);
                        return Ok(current);
                    }
                    Err(e) if !can_login => return Err(e),
                    Err(e) => {
                        tracing::info!(store = %conn.store, error = %e, "token renewal failed; logging in again")
                    }
                }
            }
            if can_login {
                return self.login(conn, &mut state).await;
            }
            state.renew_at = None;
        }
        Ok(current)
    }

    /// After a 403: is it the token that is no longer valid (expired, revoked), not the policy?
    /// Only worth asking when a new login is possible.
    pub(crate) async fn expired(&self, conn: &Conn, session: &Session) -> bool {
        if matches!(self.auth, VaultAuth::Token(_)) {
            return false;
        }
        matches!(
            lookup_self(conn, &session.token).await,
            Err(ProviderError::Denied { .. })
        )
    }

    /// Logs in again unless another request already did since `generation` was handed out.
    pub(crate) async fn relogin(
        &self,
        conn: &Conn,
        generation: u64,
    ) -> Result<Arc<Session>, ProviderError> {
        let mut state = self.state.lock().await;
        match &state.current {
            Some(current) if current.generation != generation => Ok(current.clone()),
            _ => self.login(conn, &mut state).await,
        }
    }

    async fn login(&self, conn: &Conn, state: &mut State) -> Result<Arc<Session>, ProviderError> {
        let auth = match &self.auth {
            VaultAuth::Token(token) => {
                let info = lookup_self(conn, token)
                    .await
                    .map_err(|e| token_refused(conn, e))?;
                // A token without TTL (root, periodic without one) never needs renewing.
                let ttl = (info.ttl > 0).then(|| Duration::from_secs(info.ttl));
                (token.clone(), ttl, info.renewable.unwrap_or(false))
            }
            VaultAuth::AppRole {
                mount_path,
                role_id,
                secret_id,
            } => {
                let body = LoginBody {
                    role_id: Some(role_id),
                    secret_id: Some(secret_id),
                    ..LoginBody::default()
                };
                login(conn, mount_path, &body).await?
            }
            VaultAuth::Kubernetes {
                mount_path,
                role,
                jwt,
            } => {
                let jwt = read_jwt(conn, jwt).await?;
                let body = LoginBody {
                    role: Some(role),
                    jwt: Some(&jwt),
                    ..LoginBody::default()
                };
                login(conn, mount_path, &body).await?
            }
            VaultAuth::Jwt {
                mount_path,
                role,
                jwt,
            } => {
                let jwt = read_jwt(conn, jwt).await?;
                let body = LoginBody {
                    role: role.as_deref(),
                    jwt: Some(&jwt),
                    ..LoginBody::default()
                };
                login(conn, mount_path, &body).await?
            }
        };
        let (token, ttl, renewable) = auth;
        self.logins.fetch_add(1, Ordering::Relaxed);
        state.generation += 1;
        let session = Arc::new(Session {
            token,
            generation: state.generation,
        });
        state.current = Some(session.clone());
        match ttl {
            Some(ttl) => schedule(state, ttl, renewable),
            None => (state.renew_at, state.expires_at, state.renewable) = (None, None, false),
        }
        tracing::debug!(store = %conn.store, ttl = ?ttl, renewable, "logged in to Vault");
        Ok(session)
    }

    async fn renew(
        &self,
        conn: &Conn,
        token: &Zeroizing<String>,
    ) -> Result<Duration, ProviderError> {
        #[derive(serde::Deserialize)]
        struct Renewed {
            auth: RenewedAuth,
        }
        #[derive(serde::Deserialize)]
        struct RenewedAuth {
            lease_duration: u64,
        }
        let body = conn
            .send(
                Method::POST,
                "auth/token/renew-self",
                AUTH_KEY,
                Some(token),
                None,
            )
            .await
            .map_err(|e| match self.auth {
                VaultAuth::Token(_) => token_refused(conn, e),
                _ => e,
            })?;
        let info: Renewed = answer(conn, &body)?;
        self.renewals.fetch_add(1, Ordering::Relaxed);
        Ok(Duration::from_secs(info.auth.lease_duration))
    }
}

/// What `auth/token/lookup-self` says of the token.
#[derive(serde::Deserialize)]
struct TokenInfo {
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    renewable: Option<bool>,
}

/// Looks the token up: the answer holds the token itself (`data.id`), and only this body is zeroized
/// once read (serde skips the fields not wanted
/// without copying them).
async fn lookup_self(conn: &Conn, token: &Zeroizing<String>) -> Result<TokenInfo, ProviderError> {
    #[derive(serde::Deserialize)]
    struct Lookup {
        data: TokenInfo,
    }
    let body = conn
        .send(
            Method::GET,
            "auth/token/lookup-self",
            AUTH_KEY,
            Some(token),
            None,
        )
        .await?;
    answer::<Lookup>(conn, &body).map(|l| l.data)
}

fn answer<'a, T: serde::Deserialize<'a>>(conn: &Conn, body: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "not the expected shape"
        } else {
            "not JSON"
        };
        conn.err(
            ErrorKind::Invalid,
            AUTH_KEY,
            format!("unexpected answer: {what}"),
        )
    })
}

/// Renew at about two thirds of the TTL; the token is gone at its end.
fn schedule(state: &mut State, ttl: Duration, renewable: bool) {
    let now = Instant::now();
    state.renewable = renewable;
    state.renew_at = Some(now + ttl * 2 / 3);
    state.expires_at = Some(now + ttl);
}

type Login = (Zeroizing<String>, Option<Duration>, bool);

/// What a login endpoint is sent: AppRole's role and secret ids, or a role and a JWT (Kubernetes,
/// JWT/OIDC).
#[derive(Default, serde::Serialize)]
struct LoginBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwt: Option<&'a str>,
}

/// `auth/<mount>/login`: the request carries the secret id or JWT and the answer the new token, so
/// both are only in zeroizing buffers (vaultrs, used before, copied them into plain strings and freed
/// its request and answer bodies as they were). The token is borrowed from the answer and copied once,
/// into the session's buffer.
async fn login(
    conn: &Conn,
    mount_path: &str,
    body: &LoginBody<'_>,
) -> Result<Login, ProviderError> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        auth: Auth<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Auth<'a> {
        client_token: &'a str,
        #[serde(default)]
        lease_duration: u64,
        #[serde(default)]
        renewable: bool,
    }
    // Escaping makes a JSON string at most six times longer: sized once, never reallocated.
    let strings = [body.role_id, body.secret_id, body.role, body.jwt];
    let room = 64 + 6 * strings.iter().flatten().map(|s| s.len()).sum::<usize>();
    let mut request = Zeroizing::new(Vec::with_capacity(room));
    serde_json::to_writer(&mut *request, body)
        .map_err(|_| conn.err(ErrorKind::Invalid, AUTH_KEY, "login request not encodable"))?;
    let path = format!("auth/{}/login", mount_path.trim_matches('/'));
    let reply = conn
        .send(Method::POST, &path, AUTH_KEY, None, Some(request))
        .await?;
    let auth = answer::<Answer>(conn, &reply)?.auth;
    let ttl = (auth.lease_duration > 0).then(|| Duration::from_secs(auth.lease_duration));
    Ok((
        Zeroizing::new(auth.client_token.to_owned()),
        ttl,
        auth.renewable,
    ))
}

async fn read_jwt(conn: &Conn, source: &JwtSource) -> Result<Zeroizing<String>, ProviderError> {
    match source {
        JwtSource::Inline(jwt) => Ok(jwt.clone()),
        JwtSource::Requested(source) => source.token().await.map_err(|e| {
            let kind = match e.kind {
                ErrorKind::NotFound => ErrorKind::Invalid,
                kind => kind,
            };
            conn.err(
                kind,
                AUTH_KEY,
                format!("cannot get the login token: {}", e.reason),
            )
        }),
        JwtSource::File(path) => {
            let bytes = tokio::fs::read(path).await.map_err(|e| {
                conn.err(
                    ErrorKind::Invalid,
                    AUTH_KEY,
                    format!("cannot read the login token file {}: {e}", path.display()),
                )
            })?;
            let bytes = Zeroizing::new(bytes);
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                conn.err(
                    ErrorKind::Invalid,
                    AUTH_KEY,
                    format!("{} is not UTF-8", path.display()),
                )
            })?;
            Ok(Zeroizing::new(text.trim().to_owned()))
        }
    }
}

/// A token given to the store that Vault refuses to look up or renew: said as such, since no new
/// login can help (only a valid token in its Secret); other errors as usual.
/// A committed token Vault refuses: say what to do (a bare 403 reads like a policy problem).
fn token_refused(conn: &Conn, err: ProviderError) -> ProviderError {
    if err.kind() != ErrorKind::Denied {
        return err;
    }
    conn.err(
        ErrorKind::Denied,
        AUTH_KEY,
        "Vault refused the store's token (HTTP 403): it has expired or was revoked (or may not \
         look itself up or renew itself); put a valid token in the Secret the store names",
    )
}
