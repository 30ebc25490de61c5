//! The agent's Kubernetes client: kube's own middleware over a connection pool sized for an agent.
//!
//! `kube::Client::try_from(config)` builds its stack over hyper's default pool, which suits a client
//! making a few requests at a time. The agent holds one long watch per permitted namespace besides its
//! writes, and with hyper's defaults each of those connections keeps the largest read buffer it ever
//! needed (a namespace's first list grows it to tens of KiB, and the watch that follows on the same
//! connection keeps it), while every connection of a burst of applies stays open for good: nothing
//! reaps idle connections without a timer. Here the layers are kube's, in kube's order (base URI,
//! retry of 5xx/429 when the config asks for it, credentials, impersonation headers) over kube's TLS
//! and its connect/read/write timeouts; only the pool differs:
//! - each connection reads into a buffer of [`READ_BUFFER`] bytes, whatever came before;
//! - at most [`MAX_IDLE`] idle connections are kept, each for at most [`IDLE_TIMEOUT`].
//!
//! Not carried over: kube's `debug`-level span per HTTP request, and HTTP(S)/SOCKS proxies, which this
//! build of kube does not include either (a kubeconfig `proxy-url` is refused, as kube refuses it).

use std::time::Duration;

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Builder;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::retry::RetryPolicy;
use kube::client::{ClientBuilder, ConfigExt};
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

/// Bytes each connection reads at a time. Large enough for the headers of any response and for a
/// watch event in one read; a long list takes more reads instead of a larger buffer.
pub const READ_BUFFER: usize = 8 * 1024;
/// Idle connections kept for reuse: the sink's apply concurrency, so a pass that writes reuses them.
pub const MAX_IDLE: usize = 8;
/// How long an idle connection is kept before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a client could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the kubeconfig names a proxy ({0}), which this build does not support: reach the API server directly")]
    Proxy(String),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// A client for `config` with kube's middleware and the agent's pool (module documentation).
pub fn build(config: Config) -> Result<Client, ClientError> {
    if let Some(proxy) = &config.proxy_url {
        return Err(ClientError::Proxy(proxy.to_string()));
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let mut connector = TimeoutConnector::new(config.rustls_https_connector_with_connector(http)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let pool = Builder::new(TokioExecutor::new())
        .http1_read_buf_exact_size(READ_BUFFER)
        .pool_max_idle_per_host(MAX_IDLE)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector);
    let retry = config
        .default_retry
        .then(|| RetryLayer::new(RetryPolicy::server_retry()));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(pool);
    Ok(ClientBuilder::new(service, config.default_namespace).build())
}
