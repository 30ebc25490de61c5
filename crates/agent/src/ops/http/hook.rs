//! `POST /hooks/git`: a delivery is refused on its headers before its body is read, its body is read
//! within a process-wide byte budget, and a verified delivery asks for a fetch through a gate that
//! drops repeats of one delivery and rate-limits the rest.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::guard::{Rate, Rejection, TokenBucket};
use super::OpsState;
use crate::ops::webhook::{delivery_id, has_signature_header, WebhookSource};

/// The largest webhook body read. GitHub caps payloads at 25 MB, but a push event for a GitOps repo
/// is a few KiB; the body only matters for the signature, so anything larger is refused unread.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// Bytes of webhook bodies held at once, by all requests together: however many senders, bodies cost
/// at most this much memory. A request that finds it taken is answered 503 at once (forges retry).
pub const WEBHOOK_BODY_BUDGET: usize = 4 * MAX_WEBHOOK_BODY;

/// How long a webhook client may take to send its body.
const WEBHOOK_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Fetches verified deliveries may ask for: three at once, then one every 5 s. A delivery inside the
/// window is remembered and served once, when the window ends.
pub(crate) const WEBHOOK_FETCH_RATE: Rate = Rate {
    burst: 3.0,
    every: Duration::from_secs(5),
};

/// How many delivery ids are remembered, and for how long, to recognize a repeat.
const RECENT_DELIVERIES: usize = 256;
const RECENT_DELIVERY_TTL: Duration = Duration::from_secs(600);

/// The webhook's shared state: the body budget, the recently seen deliveries and the fetch gate.
#[derive(Debug)]
pub(crate) struct Hooks {
    budget: Arc<Semaphore>,
    recent: Mutex<RecentDeliveries>,
    pub(crate) gate: Arc<TriggerGate>,
}

impl Hooks {
    pub fn new(trigger: mpsc::Sender<()>) -> Hooks {
        Hooks {
            budget: Arc::new(Semaphore::new(WEBHOOK_BODY_BUDGET)),
            recent: Mutex::new(RecentDeliveries::default()),
            gate: Arc::new(TriggerGate::new(trigger, WEBHOOK_FETCH_RATE)),
        }
    }
}

/// Delivery ids seen lately (as digests: a bounded set of fixed-size entries, oldest out first).
#[derive(Debug, Default)]
struct RecentDeliveries {
    order: VecDeque<(Instant, [u8; 16])>,
    set: HashSet<[u8; 16]>,
}

impl RecentDeliveries {
    /// Records `id`; true if it was seen within the window already.
    fn seen(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, key)) = self.order.front() {
            if self.order.len() < RECENT_DELIVERIES
                && now.saturating_duration_since(*at) < RECENT_DELIVERY_TTL
            {
                break;
            }
            self.set.remove(key);
            self.order.pop_front();
        }
        let digest = Sha256::digest(id.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        if !self.set.insert(key) {
            return true;
        }
        self.order.push_back((now, key));
        false
    }
}

/// What became of a request for a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Triggered {
    /// Asked for now.
    Now,
    /// A fetch is already queued; it will see this push too.
    AlreadyPending,
    /// Over the rate: one fetch is scheduled for when the window ends.
    Deferred(Duration),
    /// The fetch loop has stopped.
    Closed,
}

/// Passes fetch requests on to the fetch loop at [`WEBHOOK_FETCH_RATE`] at most.
#[derive(Debug)]
pub(crate) struct TriggerGate {
    tx: mpsc::Sender<()>,
    rate: Rate,
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    bucket: TokenBucket,
    /// A fetch is scheduled for the end of the window already.
    deferred: bool,
}

impl TriggerGate {
    pub fn new(tx: mpsc::Sender<()>, rate: Rate) -> TriggerGate {
        TriggerGate {
            tx,
            rate,
            state: Mutex::new(GateState {
                bucket: TokenBucket::full(rate, Instant::now()),
                deferred: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for a fetch, now or at the end of the window. Call from within the runtime.
    pub fn request(self: &Arc<Self>) -> Triggered {
        if self.tx.is_closed() {
            return Triggered::Closed;
        }
        let now = Instant::now();
        let mut state = self.state();
        if state.deferred {
            return Triggered::Deferred(state.bucket.wait(self.rate, now));
        }
        // A queued fetch costs nothing more: it runs after this push anyway.
        if self.tx.capacity() == 0 {
            return Triggered::AlreadyPending;
        }
        if state.bucket.take(self.rate, now) {
            return match self.tx.try_send(()) {
                Ok(()) => Triggered::Now,
                Err(mpsc::error::TrySendError::Full(())) => Triggered::AlreadyPending,
                Err(mpsc::error::TrySendError::Closed(())) => Triggered::Closed,
            };
        }
        let wait = state.bucket.wait(self.rate, now);
        state.deferred = true;
        let gate = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let mut state = gate.state();
            state.deferred = false;
            state.bucket.take(gate.rate, Instant::now());
            let _ = gate.tx.try_send(());
        });
        Triggered::Deferred(wait)
    }
}

/// A response that the connection layer counts as `rejection` (beyond what its status says).
fn rejected(status: StatusCode, rejection: Rejection, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    response.extensions_mut().insert(rejection);
    response
}

/// A request whose signature checked out; its body keeps its share of the budget until dropped.
pub(crate) struct Verified {
    pub source: WebhookSource,
    pub body: Bytes,
    _budget: OwnedSemaphorePermit,
}

/// Checks a request signed with the webhook secret: headers first (without a signature nothing is
/// read), then the body within the budget and the timeout. Answers the verified body, or the response
/// to send instead (401 for every failed check alike, never saying which).
pub(crate) async fn verified(
    state: &OpsState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Verified, Response> {
    let Some(webhook) = &state.webhook else {
        return Err((
            StatusCode::NOT_FOUND,
            "no webhook secret configured (--webhook-secret-file)",
        )
            .into_response());
    };
    let unauthorized = || {
        (
            StatusCode::UNAUTHORIZED,
            "invalid or missing webhook signature",
        )
            .into_response()
    };
    if !has_signature_header(headers) {
        return Err(unauthorized());
    }
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > MAX_WEBHOOK_BODY as u64) {
        return Err(too_large());
    }
    // Without a declared length (chunked), the most a body may be is reserved.
    let reserve = declared_length.map_or(MAX_WEBHOOK_BODY, |len| len as usize);
    let Ok(budget) = Arc::clone(&state.hooks.budget).try_acquire_many_owned(reserve as u32) else {
        let mut response = rejected(
            StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Busy,
            "too many webhook deliveries in progress; retry later",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return Err(response);
    };
    let body = read_limited(body, reserve).await?;
    match webhook.verify(headers, &body) {
        Ok(source) => Ok(Verified {
            source,
            body,
            _budget: budget,
        }),
        Err(rejection) => {
            // The reason names a header, never its value or the secret; floods are summarized by the
            // connection layer, so this is a debug line.
            tracing::debug!(reason = %rejection, "signed request rejected");
            Err(unauthorized())
        }
    }
}

pub(crate) async fn git_hook(
    State(state): State<OpsState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let source = match verified(&state, &headers, body).await {
        Ok(verified) => verified.source,
        Err(response) => return response,
    };
    if let Some((header_name, id)) = delivery_id(&headers) {
        let repeat = state
            .hooks
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen(id, Instant::now());
        if repeat {
            tracing::debug!(
                ?source,
                header = header_name,
                "webhook delivery repeated: ignored"
            );
            return (StatusCode::OK, "delivery already received").into_response();
        }
    }
    match state.hooks.gate.request() {
        Triggered::Now => {
            tracing::info!(?source, "webhook delivery verified: fetching now");
            (StatusCode::ACCEPTED, "fetch scheduled").into_response()
        }
        Triggered::AlreadyPending => {
            tracing::debug!(
                ?source,
                "webhook delivery verified: a fetch is already pending"
            );
            (StatusCode::ACCEPTED, "fetch scheduled").into_response()
        }
        Triggered::Deferred(wait) => {
            tracing::debug!(
                ?source,
                wait_ms = wait.as_millis() as u64,
                "webhook delivery verified: fetch deferred (rate limit)"
            );
            (
                StatusCode::ACCEPTED,
                "fetch scheduled at the end of the rate-limit window",
            )
                .into_response()
        }
        Triggered::Closed => {
            tracing::warn!("webhook delivery verified but the fetch loop has stopped");
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
        }
    }
}

/// Reads at most `limit` bytes, within [`WEBHOOK_BODY_TIMEOUT`].
async fn read_limited(body: Body, limit: usize) -> Result<Bytes, Response> {
    let collected =
        tokio::time::timeout(WEBHOOK_BODY_TIMEOUT, Limited::new(body, limit).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "reading a webhook body failed");
            Err((StatusCode::BAD_REQUEST, "unreadable body").into_response())
        }
        Err(_) => Err((StatusCode::REQUEST_TIMEOUT, "body not received in time").into_response()),
    }
}

fn too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, "webhook body over 1 MiB").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_deliveries_are_bounded_and_expire() {
        let mut recent = RecentDeliveries::default();
        let t0 = Instant::now();
        assert!(!recent.seen("a", t0));
        assert!(recent.seen("a", t0));
        for n in 0..10 * RECENT_DELIVERIES {
            recent.seen(&format!("id-{n}"), t0);
            assert!(recent.order.len() <= RECENT_DELIVERIES);
            assert_eq!(recent.order.len(), recent.set.len());
        }
        assert!(!recent.seen("a", t0), "the oldest id made room");
        assert!(!recent.seen("a", t0 + RECENT_DELIVERY_TTL + Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn the_gate_rate_limits_and_serves_a_deferred_request_once() {
        let (tx, mut rx) = mpsc::channel(1);
        let rate = Rate {
            burst: 1.0,
            every: Duration::from_millis(300),
        };
        let gate = Arc::new(TriggerGate::new(tx, rate));
        assert_eq!(gate.request(), Triggered::Now);
        assert_eq!(gate.request(), Triggered::AlreadyPending);
        rx.recv().await.unwrap();
        // Inside the window: deferred, and repeats coalesce into that one.
        assert!(matches!(gate.request(), Triggered::Deferred(_)));
        for _ in 0..100 {
            assert!(matches!(gate.request(), Triggered::Deferred(_)));
        }
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the deferred fetch is asked for at the end of the window")
            .unwrap();
        assert!(rx.try_recv().is_err(), "one fetch for the whole window");
        drop(rx);
        assert_eq!(gate.request(), Triggered::Closed);
    }
}
