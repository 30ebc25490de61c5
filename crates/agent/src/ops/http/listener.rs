//! The connection layer of an operations listener: at most a fixed number of connections (derived from
//! the file-descriptor limit), hyper's header-read timeout (which also ends idle keep-alive connections),
//! a deadline per request and an age limit per connection, small header buffers, a per-source limit on
//! rejected requests, and a back-off when `accept` fails for lack of descriptors.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use backon::BackoffBuilder as _;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use super::guard::{Guard, Rejection, SUMMARY_INTERVAL};

/// Connections per listener at most, whatever the descriptor limit.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections per listener at least, however low the descriptor limit.
const MIN_CONNECTIONS: usize = 4;

/// How a listener bounds its connections. [`ConnectionLimits::for_listeners`] gives the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// Time to send a request's headers — and, between requests of a keep-alive connection, the idle
    /// time allowed before the next one (hyper restarts this timer when a connection goes idle).
    pub header_read_timeout: Duration,
    /// Time from a request's headers to its response (the webhook's body is read within it).
    pub request_deadline: Duration,
    /// A connection is closed (gracefully, between requests) after this long, so a slow reader cannot
    /// hold one forever.
    pub connection_max_age: Duration,
    /// Request line and headers together at most (answered 431 beyond).
    pub max_header_bytes: usize,
}

impl ConnectionLimits {
    /// The defaults for one of `listeners` listeners of this process.
    pub fn for_listeners(listeners: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: connections_for(fd_soft_limit(), listeners),
            header_read_timeout: Duration::from_secs(10),
            request_deadline: Duration::from_secs(30),
            connection_max_age: Duration::from_secs(120),
            max_header_bytes: 8 * 1024,
        }
    }
}

/// The soft limit on open file descriptors (RLIMIT_NOFILE), if known and finite.
pub fn fd_soft_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given and nothing else.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// A quarter of the descriptors go to HTTP connections, shared by the listeners; the rest stay for
/// git, the Kubernetes client, the sink and the runtime, so a full listener never starves them.
fn connections_for(fd_limit: Option<u64>, listeners: usize) -> usize {
    let share = fd_limit.map_or(MAX_CONNECTIONS as u64, |limit| {
        limit / 4 / listeners.max(1) as u64
    });
    (share.min(MAX_CONNECTIONS as u64) as usize).max(MIN_CONNECTIONS)
}

/// How long connections may finish their request at shutdown or at their age limit.
const GRACE: Duration = Duration::from_secs(5);
/// The back-off after a failed `accept` doubles from the first to the last.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops accepting,
/// lets the requests in flight finish (for [`GRACE`] at most) and returns.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    guard: Arc<Guard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // Twice the header limit: hyper's read buffer never grows past it, for headers or body.
        .max_buf_size((2 * limits.max_header_bytes).max(8192))
        .max_headers(64);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut summary = tokio::time::interval(SUMMARY_INTERVAL);
    let accept_backoff = || {
        backon::ExponentialBuilder::default()
            .with_min_delay(ACCEPT_BACKOFF.0)
            .with_max_delay(ACCEPT_BACKOFF.1)
            .with_factor(2.0)
            .without_max_times()
            .build()
    };
    let mut backoff = accept_backoff();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = summary.tick() => {
                guard.log.flush_if_due();
                continue;
            }
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = accept_backoff();
                accepted
            }
            // The client gave up before we took it: nothing is wrong here.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or buffers: retrying at once would spin; the
                // connection waits in the backlog until descriptors are free again.
                guard.log.note(Rejection::AcceptFailed);
                tracing::debug!(error = %e, "accept failed; backing off");
                let delay = backoff.next().unwrap_or(ACCEPT_BACKOFF.1);
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            // Accepted and closed at once: it frees the backlog and costs a descriptor for an instant.
            guard.log.note(Rejection::OverConnectionLimit);
            drop(stream);
            continue;
        };
        let connection = serve_connection(
            builder.clone(),
            stream,
            peer,
            router.clone(),
            (limits, Arc::clone(&guard)),
            stop_rx.clone(),
        );
        tokio::spawn(async move {
            connection.await;
            drop(permit);
        });
    }
    // The port is released now; the connections in flight finish within the grace period.
    drop(listener);
    let _ = stop_tx.send(true);
    let all = limits.max_connections as u32;
    let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), permits.acquire_many(all)).await;
    guard.log.flush();
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}

/// One connection: each request is checked against its source's rejections, served by `router` within
/// the request deadline, and its answer counted; the connection ends at shutdown or at its age limit.
async fn serve_connection(
    builder: hyper::server::conn::http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    (limits, guard): (ConnectionLimits, Arc<Guard>),
    mut stop: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(router);
    let handle = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let guard = Arc::clone(&guard);
        let admitted = guard.admit(peer.ip(), Instant::now());
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = admitted.then(|| service.call(request));
        async move {
            let Some(response) = response else {
                return Ok::<_, Infallible>(closing(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many rejected requests from this address; retry later",
                ));
            };
            let response = match tokio::time::timeout(limits.request_deadline, response).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => closing(StatusCode::REQUEST_TIMEOUT, "request not completed in time"),
            };
            let rejection = response
                .extensions()
                .get::<Rejection>()
                .copied()
                .or_else(|| Rejection::from_status(response.status().as_u16()));
            guard.answered(peer.ip(), rejection, Instant::now());
            Ok(response)
        }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), handle);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = stop.wait_for(|stop| *stop) => {}
        () = tokio::time::sleep(limits.connection_max_age) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, connection).await;
}

/// An answer after which the connection is closed.
fn closing(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_follow_the_descriptor_limit() {
        assert_eq!(connections_for(Some(1024), 1), MAX_CONNECTIONS);
        assert_eq!(connections_for(Some(1024), 2), MAX_CONNECTIONS);
        assert_eq!(connections_for(Some(256), 2), 32);
        assert_eq!(connections_for(Some(64), 1), 16);
        assert_eq!(connections_for(Some(16), 2), MIN_CONNECTIONS);
        assert_eq!(connections_for(None, 2), MAX_CONNECTIONS);
        assert!(fd_soft_limit().is_some_and(|limit| limit > 0));
    }
}
