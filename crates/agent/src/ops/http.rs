//! The operations HTTP server: `/healthz`, `/readyz`, `/metrics`, `/status`, `POST /hooks/git` and
//! `POST /refresh`.
//!
//! It runs beside the reconcile loop and shares only [`OpsState`] with it: the metrics registry, the
//! status board, a readiness flag and the channel that asks for an early fetch.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::external::RefreshRequests;
use crate::ops::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
use crate::ops::readiness::Readiness;
use crate::ops::status::{Status, StatusBoard};
use crate::ops::webhook::WebhookConfig;
use crate::ops::Result;

mod guard;
mod hook;
mod listener;
mod refresh;

pub use hook::{MAX_WEBHOOK_BODY, WEBHOOK_BODY_BUDGET};
pub use listener::{fd_soft_limit, ConnectionLimits, MAX_CONNECTIONS};

/// What the handlers share with the rest of the agent. Clones share everything.
#[derive(Clone, Debug)]
pub struct OpsState {
    pub metrics: Metrics,
    pub status: StatusBoard,
    /// "Able to serve" (see [`Readiness`]): what `/readyz` answers.
    pub readiness: Readiness,
    /// `None`: no `--webhook-secret-file`, and `/hooks/git` and `/refresh` answer 404.
    pub webhook: Option<Arc<WebhookConfig>>,
    /// The webhook's body budget, recent deliveries and the gate to the fetch loop's trigger channel.
    hooks: Arc<hook::Hooks>,
    /// `POST /refresh` requests, until the reconcile loop takes them.
    pub refresh: RefreshRequests,
    /// Rejected requests: the per-source limit and the summary log, shared by every listener.
    guard: Arc<guard::Guard>,
}

/// A channel holding at most one pending fetch request: a burst of pushes causes one fetch, which
/// sees the newest commit anyway.
pub fn trigger_channel() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel(1)
}

impl OpsState {
    /// `trigger` asks the fetch loop for an immediate fetch (make it with [`trigger_channel`]);
    /// verified deliveries reach it through a gate that drops repeats and rate-limits the rest.
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
            hooks: Arc::new(hook::Hooks::new(trigger)),
            refresh: RefreshRequests::default(),
            guard: Arc::new(guard::Guard::new()),
        }
    }

    /// Call after each completed sync (even if some documents failed).
    pub fn mark_ready(&self) {
        self.readiness.set_synced();
    }

    /// Records leadership in the `sealsync_leader` gauge, `/status` and readiness.
    pub fn set_leader(&self, leader: bool) {
        self.metrics.set_leader(leader);
        self.status.set_leader(leader);
        self.readiness.set_leader(leader);
    }
}

/// Which endpoints a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// Health, readiness, metrics, status, refresh and the webhook: one port for everything (the default
    /// without `--webhook-listen`).
    All,
    /// Health, readiness, metrics, status and refresh (`--listen` when `--webhook-listen` is set).
    Operations,
    /// `POST /hooks/git` only (`--webhook-listen`): the port an ingress may expose carries nothing else.
    Webhook,
}

/// The routes of `endpoints`, for embedding in another server or for tests. Unknown paths answer 404,
/// known paths with another method 405.
pub fn endpoints_router(state: OpsState, endpoints: Endpoints) -> Router {
    let operations = || {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/status", get(status))
            // An operator's action (`sealctl refresh`), signed with the webhook secret.
            .route("/refresh", post(refresh::refresh))
    };
    let router = match endpoints {
        Endpoints::All => operations().route("/hooks/git", post(hook::git_hook)),
        Endpoints::Operations => operations(),
        Endpoints::Webhook => Router::new().route("/hooks/git", post(hook::git_hook)),
    };
    router.with_state(state)
}

/// Every endpoint ([`Endpoints::All`]).
pub fn router(state: OpsState) -> Router {
    endpoints_router(state, Endpoints::All)
}

/// Serves every endpoint on `listener`, with the default limits, until `shutdown` completes, then
/// finishes the requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: OpsState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_endpoints(
        listener,
        state,
        Endpoints::All,
        ConnectionLimits::for_listeners(1),
        shutdown,
    )
    .await
}

/// Serves `endpoints` on `listener` within `limits` until `shutdown` completes.
pub async fn serve_endpoints(
    listener: TcpListener,
    state: OpsState,
    endpoints: Endpoints,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            ?endpoints,
            max_connections = limits.max_connections,
            "serving operations endpoints"
        );
    }
    let guard = Arc::clone(&state.guard);
    let router = endpoints_router(state, endpoints);
    listener::serve_connections(listener, router, limits, guard, shutdown).await;
    Ok(())
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

#[cfg(test)]
mod tests;
