//! The agent's Kubernetes client: kube's own middleware over a connection pool sized for an agent.
//!
//! `kube::Client::try_from(config)` builds its stack over hyper's default pool, which keeps every idle
//! connection with its buffers (and, behind TLS, its session state) until the server closes it:
//! hyper-util enforces an idle timeout only with a timer, and kube gives its pool none. An agent's
//! traffic comes in bursts (a pass writing many Secrets at once, then nothing for an hour but its
//! watches), so the connections of each burst would stay open for good. Here the layers are kube's, in
//! kube's order (base URI, retry of 429/503/504 when the config asks for it, credentials,
//! impersonation headers) over kube's TLS and its connect/read/write timeouts; only the pool differs:
//! at most [`MAX_IDLE`] idle connections are kept, each for at most [`IDLE_TIMEOUT`].
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
