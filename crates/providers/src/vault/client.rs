//! The Vault HTTP connection: one rustls (ring) client per store, and every request's bounds and error mapping.

use super::auth::TokenManager;
use super::VaultStore;
use crate::limits::{with_retries, Gate};
use crate::{
    BoxFuture, ErrorKind, FindQuery, Limits, Provider, ProviderError, RemoteRef, RemoteValue,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use zeroize::{Zeroize, Zeroizing};

/// What every request of one store needs: the HTTP client, the address and the store's bounds.
pub(crate) struct Conn {
    pub(crate) store: String,
    pub(crate) server: url::Url,
    pub(crate) namespace: Option<String>,
    pub(crate) http: reqwest::Client,
    pub(crate) limits: Limits,
    pub(crate) gate: Gate,
}

/// A Vault / OpenBao store.
pub struct VaultProvider {
    pub(crate) conn: Conn,
    pub(crate) tokens: TokenManager,
    pub(crate) mount: String,
    pub(crate) kv: super::KvVersion,
}

impl std::fmt::Debug for VaultProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultProvider")
            .field("store", &self.conn.store)
            .field("server", &self.conn.server.as_str())
            .finish()
    }
}

impl VaultProvider {
    /// Validates the configuration and builds the client; no request is made until the first fetch.
    pub fn new(store: VaultStore) -> Result<Self, ProviderError> {
        let invalid =
            |detail: String| ProviderError::new(ErrorKind::Invalid, &store.name, "(store)", detail);
        let server =
            url::Url::parse(&store.server).map_err(|e| invalid(format!("server URL: {e}")))?;
        if !matches!(server.scheme(), "http" | "https") {
            return Err(invalid("server URL must be http or https".into()));
        }
        let mount = store.mount_path.trim_matches('/').to_owned();
        if mount.is_empty() {
            return Err(invalid("empty mount path".into()));
        }
        let http = http_client(&store).map_err(invalid)?;
        let conn = Conn {
            store: store.name.clone(),
            server,
            namespace: store.namespace.clone(),
            http,
            gate: Gate::new(&store.limits),
            limits: store.limits.clone(),
        };
        Ok(VaultProvider {
            conn,
            tokens: TokenManager::new(store.auth),
            mount,
            kv: store.kv_version,
        })
    }

    /// Logins and token renewals so far.
    pub fn auth_counts(&self) -> super::AuthCounts {
        self.tokens.counts()
    }

    /// One request with the store's token, retried on Unavailable/Throttled; a 403 from an expired token
    /// leads to one new login and one more try. Returns the body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        with_retries(&self.conn.limits, &self.conn.gate, || async {
            let session = self.tokens.session(&self.conn).await?;
            match self
                .conn
                .send(method.clone(), path, key, Some(&session.token), None)
                .await
            {
                Err(ProviderError::Denied { .. })
                    if self.tokens.expired(&self.conn, &session).await =>
                {
                    let session = self.tokens.relogin(&self.conn, session.generation).await?;
                    self.conn
                        .send(method.clone(), path, key, Some(&session.token), None)
                        .await
                }
                other => other,
            }
        })
        .await
    }
}

impl Conn {
    /// Sends one request (no retry), with `body` if given (zeroized once sent), and reads at most the
    /// value limit plus room for the envelope.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        key: &str,
        token: Option<&Zeroizing<String>>,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
        let url = self
            .server
            .join(&format!("v1/{path}"))
            .map_err(|e| self.err(ErrorKind::Invalid, key, format!("URL: {e}")))?;
        let mut req = self.http.request(method, url);
        if let Some(token) = token {
            // In a buffer zeroized once the request is done with it (`from_str` copies the token into
            // one that is not).
            let owned = bytes::Bytes::from_owner(Zeroizing::new(token.as_bytes().to_vec()));
            let mut value = HeaderValue::from_maybe_shared(owned)
                .map_err(|_| self.err(ErrorKind::Invalid, key, "token is not a valid header"))?;
            value.set_sensitive(true);
            req = req.header("X-Vault-Token", value);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns.as_str());
        }
        if let Some(body) = body {
            req = req.body(bytes::Bytes::from_owner(body));
        }
        let mut resp = req.send().await.map_err(|e| self.transport(key, e))?;
        let status = resp.status();
        let cap = self.limits.max_value_bytes + ENVELOPE_ROOM;
        let announced = resp.content_length().unwrap_or(0).min(cap as u64) as usize;
        let mut body = Zeroizing::new(Vec::with_capacity(announced));
        let mut read = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(key, e))? {
            if body.len() + chunk.len() > cap {
                return Err(ProviderError::too_large(
                    &self.store,
                    key,
                    (body.len() + chunk.len()) as u64,
                    self.limits.max_value_bytes as u64,
                ));
            }
            append(&mut body, &chunk);
            read.push(chunk);
        }
        // The chunks are views of hyper's read buffer, which the response's headers share: once they
        // are gone, a buffer no one else holds is zeroized before it is freed.
        drop(resp);
        for chunk in read {
            if let Ok(mut buffer) = chunk.try_into_mut() {
                buffer.as_mut().zeroize();
            }
        }
        if status.is_success() {
            return Ok(body);
        }
        Err(self.err(
            classify(status),
            key,
            format!("HTTP {}: {}", status.as_u16(), vault_errors(&body)),
        ))
    }

    pub(crate) fn err(
        &self,
        kind: ErrorKind,
        key: &str,
        detail: impl Into<String>,
    ) -> ProviderError {
        ProviderError::new(kind, &self.store, key, detail)
    }

    fn transport(&self, key: &str, e: reqwest::Error) -> ProviderError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        // The end of the chain says why (connection refused, a certificate not trusted: set the
        // store's caBundle); it carries no URL, header or body.
        self.err(
            ErrorKind::Unavailable,
            key,
            format!("{what}: {}", crate::error::root_cause(&e)),
        )
    }
}

/// Appends to a body that holds secrets without leaving a copy behind: a `Vec` that grows reallocates,
/// and the block it leaves is not zeroized; this one moves into a larger buffer itself and zeroizes the
/// old one.
fn append(body: &mut Zeroizing<Vec<u8>>, more: &[u8]) {
    let needed = body.len() + more.len();
    if needed > body.capacity() {
        let mut larger = Zeroizing::new(Vec::with_capacity(needed.max(body.capacity() * 2)));
        larger.extend_from_slice(body);
        *body = larger;
    }
    body.extend_from_slice(more);
}

/// Room for the JSON envelope (metadata, lease fields) around a value of the maximum size.
const ENVELOPE_ROOM: usize = 64 * 1024;

/// Vault's status codes: 404 absent, 403 denied, 429 rate limited, 503 sealed or standby, 5xx down.
pub(crate) fn classify(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        404 => ErrorKind::NotFound,
        401 | 403 => ErrorKind::Denied,
        429 => ErrorKind::Throttled,
        408 | 412 | 500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Invalid,
    }
}

/// The `errors` array of a Vault error body, joined; bounded, and never the body itself.
fn vault_errors(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<String>,
    }
    match serde_json::from_slice::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => e.errors.join("; ").chars().take(300).collect(),
        _ => "no error message".to_owned(),
    }
}

/// reqwest with rustls and ring (the binary's one TLS stack), the store's CA bundle, headers and timeouts.
fn http_client(store: &VaultStore) -> Result<reqwest::Client, String> {
    // reqwest is built without a crypto provider of its own: ring is the process-wide one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HeaderMap::new();
    for (name, value) in &store.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("header {name} has an invalid value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .default_headers(headers)
        .timeout(store.limits.request_timeout)
        .connect_timeout(store.limits.connect_timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &store.ca_bundle_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("CA bundle: {e}"))?;
        if certs.is_empty() {
            return Err("CA bundle holds no certificate".into());
        }
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(|e| format!("HTTP client: {e}"))
}

impl Provider for VaultProvider {
    fn store(&self) -> &str {
        &self.conn.store
    }

    fn fetch<'a>(
        &'a self,
        refs: &'a [RemoteRef],
    ) -> BoxFuture<'a, Vec<Result<RemoteValue, ProviderError>>> {
        Box::pin(futures_util::future::join_all(
            refs.iter().map(|r| self.read(r)),
        ))
    }

    fn find<'a>(
        &'a self,
        query: &'a FindQuery,
    ) -> BoxFuture<'a, Result<Vec<(String, RemoteValue)>, ProviderError>> {
        Box::pin(self.find_keys(query))
    }
}
