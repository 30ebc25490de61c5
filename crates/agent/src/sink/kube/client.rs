//! The agent's Kubernetes client: kube's own middleware over a connection pool sized for an agent.
//!
//! `kube::Client::try_from(config)` builds its stack over hyper's default pool, which keeps every idle
//! connection with its buffers (and, behind TLS, its session state) until the server closes it:
//! hyper-util enforces an idle timeout only with a timer, and kube gives its pool none. An agent's
//! traffic comes in bursts (a pass writing many Secrets at once, then nothing for an hour but its
//! watches), so the connections of each burst would stay open for good. Here the layers are kube's, in
//! kube's order (base URI, retry of 429/503/504 when the config asks for it, credentials,
//! impersonation headers) over kube's TLS and its connect/read/write timeouts; the pool differs: at
//! most [`MAX_IDLE`] idle connections are kept, each for at most [`IDLE_TIMEOUT`]; and so does the
//! retry of 429/503/504, bounded to [`SERVER_RETRIES`] within seconds; and every call but a watch
//! has a deadline ([`CALL_DEADLINE`]).
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

/// Retries of a call answered 429, 503 or 504 (honouring `Retry-After`), from 200 ms doubling to at
/// most 2 s. kube's own policy (`RetryPolicy::server_retry`) makes 15, doubling from 5 ms without a
/// useful cap: minutes for one call while the API server keeps failing, under the sink's own retries
/// (`sink::kube::apply`), so that one pass over N Secrets lasted N times that, and an agent still
/// asleep in its backoff long after the server came back. Here the whole of one call's retries is a
/// few seconds; what still fails is retried by the sink, then by the next pass.
pub const SERVER_RETRIES: u32 = 2;

/// How long a call other than a watch may wait for the API server's answer before it is given up, as
/// a timeout the sink retries like any transient error. kube sets no read timeout (so that watches,
/// which stay silent for minutes, are not cut): without one, a call on a connection that went dead (a
/// broken route, a load balancer that dropped its state, an API server that hangs) waits forever, and
/// with it the pass, the drift revert or the Lease renewal that made it. A healthy API server
/// answers a call on one Secret or Lease in milliseconds and a list within seconds; a call still
/// unanswered after this long is better made again, on a new connection.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// A tower layer putting [`CALL_DEADLINE`] on every call but watches (whose `?watch=` streams have
/// kube-runtime's own idle timeout).
#[derive(Clone, Copy)]
struct Deadline(Duration);

impl<S> tower::Layer<S> for Deadline {
    type Service = WithDeadline<S>;

    fn layer(&self, inner: S) -> WithDeadline<S> {
        WithDeadline {
            inner,
            after: self.0,
        }
    }
}

#[derive(Clone)]
struct WithDeadline<S> {
    inner: S,
    after: Duration,
}

/// The error of a call given up after [`CALL_DEADLINE`].
#[derive(Debug, thiserror::Error)]
#[error("no answer from the Kubernetes API server within {0:?}")]
pub struct NoAnswer(Duration);

impl<S, B> tower::Service<hyper::Request<B>> for WithDeadline<S>
where
    S: tower::Service<hyper::Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: hyper::Request<B>) -> Self::Future {
        let after = (!is_watch(request.uri())).then_some(self.after);
        let call = self.inner.call(request);
        Box::pin(async move {
            match after {
                None => call.await.map_err(Into::into),
                Some(after) => match tokio::time::timeout(after, call).await {
                    Ok(answer) => answer.map_err(Into::into),
                    Err(_) => Err(NoAnswer(after).into()),
                },
            }
        })
    }
}

/// Whether a request is a watch (`?watch=true` or `?watch=1`, as the API server reads it).
fn is_watch(uri: &hyper::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1" | "watch"))
    })
}

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
    let retry = config.default_retry.then(|| {
        RetryLayer::new(
            RetryPolicy::new(
                Duration::from_millis(200),
                Duration::from_secs(2),
                SERVER_RETRIES,
                true,
            )
            .expect("valid backoff parameters"),
        )
    });
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .layer(Deadline(CALL_DEADLINE))
        .service(pool);
    Ok(ClientBuilder::new(service, config.default_namespace).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_told_from_other_calls() {
        let uri = |s: &str| s.parse::<hyper::Uri>().unwrap();
        assert!(is_watch(&uri(
            "/api/v1/namespaces/a/secrets?watch=true&resourceVersion=1"
        )));
        assert!(is_watch(&uri("/api/v1/secrets?labelSelector=x&watch=1")));
        assert!(!is_watch(&uri(
            "/api/v1/namespaces/a/secrets?labelSelector=watch%3Dtrue"
        )));
        assert!(!is_watch(&uri("/api/v1/namespaces/a/secrets/db")));
    }
}
