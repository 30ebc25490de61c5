//! The operations HTTP server: `/healthz`, `/readyz`, `/metrics`, `/status` and `POST /hooks/git`.
//!
//! It runs beside the reconcile loop and shares only [`OpsState`] with it: the metrics registry, the
//! status board, a readiness flag and the channel that asks for an early fetch.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::ops::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
use crate::ops::readiness::Readiness;
use crate::ops::status::{Status, StatusBoard};
use crate::ops::webhook::WebhookConfig;
use crate::ops::{OpsError, Result};

/// The largest webhook body read. GitHub caps payloads at 25 MB, but a push event for a GitOps repo
/// is a few KiB; the body only matters for the signature, so anything larger is refused unread.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// How long a webhook client may take to send its body.
const WEBHOOK_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handlers share with the rest of the agent. Clones share everything.
#[derive(Clone, Debug)]
pub struct OpsState {
    pub metrics: Metrics,
    pub status: StatusBoard,
    /// "Able to serve" (see [`Readiness`]): what `/readyz` answers.
    pub readiness: Readiness,
    /// `None`: no `--webhook-secret-file`, and `/hooks/git` answers 404.
    pub webhook: Option<Arc<WebhookConfig>>,
    /// Asks the fetch loop for an immediate fetch. Make it with [`trigger_channel`] so repeated
    /// deliveries coalesce into one pending request.
    pub trigger: mpsc::Sender<()>,
}

/// A channel holding at most one pending fetch request: a burst of pushes causes one fetch, which
/// sees the newest commit anyway.
pub fn trigger_channel() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel(1)
}

impl OpsState {
    pub fn new(
        metrics: Metrics,
        status: StatusBoard,
        webhook: Option<WebhookConfig>,
        trigger: mpsc::Sender<()>,
    ) -> OpsState {
        OpsState {
            metrics,
            status,
            readiness: Readiness::default(),
            webhook: webhook.map(Arc::new),
            trigger,
        }
    }

    /// Call after each completed sync (even if some documents failed).
    pub fn mark_ready(&self) {
        self.readiness.set_synced();
    }

    pub fn is_ready(&self) -> bool {
        self.readiness.check().is_ok()
    }

    /// Records leadership in the `sealsync_leader` gauge, `/status` and readiness.
    pub fn set_leader(&self, leader: bool) {
        self.metrics.set_leader(leader);
        self.status.set_leader(leader);
        self.readiness.set_leader(leader);
    }
}

/// The routes, for embedding in another server or for tests. Unknown paths answer 404, known paths
/// with another method 405.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/hooks/git", post(git_hook))
        .with_state(state)
}

/// Serves the operations endpoints on `listener` until `shutdown` completes, then finishes the
/// requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: OpsState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving operations endpoints");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(OpsError::Serve)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<OpsState>) -> (StatusCode, String) {
    match state.readiness.check() {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    }
}

async fn metrics(State(state): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

async fn status(State(state): State<OpsState>) -> Json<Status> {
    let mut status = state.status.snapshot();
    // Readiness is judged here, from the same facts as `/readyz`.
    let readiness = state.readiness.check();
    status.ready = readiness.is_ok();
    status.not_ready_reason = readiness.err();
    Json(status)
}

async fn git_hook(State(state): State<OpsState>, headers: HeaderMap, body: Body) -> Response {
    let Some(webhook) = &state.webhook else {
        return (StatusCode::NOT_FOUND, "no webhook secret configured").into_response();
    };
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > MAX_WEBHOOK_BODY as u64) {
        return too_large();
    }
    let body = match read_limited(body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match webhook.verify(&headers, &body) {
        Ok(source) => {
            match state.trigger.try_send(()) {
                Ok(()) => tracing::info!(?source, "webhook delivery verified: fetching now"),
                // A fetch is already pending and will see this push too.
                Err(mpsc::error::TrySendError::Full(())) => {
                    tracing::debug!(
                        ?source,
                        "webhook delivery verified: a fetch is already pending"
                    )
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    tracing::warn!("webhook delivery verified but the fetch loop has stopped");
                    return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
                }
            }
            (StatusCode::ACCEPTED, "fetch scheduled").into_response()
        }
        Err(rejection) => {
            // The reason names a header, never its value or the secret.
            tracing::warn!(reason = %rejection, "webhook delivery rejected");
            (
                StatusCode::UNAUTHORIZED,
                "invalid or missing webhook signature",
            )
                .into_response()
        }
    }
}

/// Reads at most [`MAX_WEBHOOK_BODY`] bytes, within [`WEBHOOK_BODY_TIMEOUT`].
async fn read_limited(body: Body) -> Result<Bytes, Response> {
    let collected = tokio::time::timeout(
        WEBHOOK_BODY_TIMEOUT,
        Limited::new(body, MAX_WEBHOOK_BODY).collect(),
    )
    .await;
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
mod tests;
