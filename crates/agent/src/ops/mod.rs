//! The agent's operations surface: Prometheus metrics, health and readiness probes, the `/status` view
//! and the git webhook receiver, served over HTTP (`sealctl status`, the client, is in sealsync-cli).
//!
//! The agent builds one [`OpsState`] at start-up, hands clones of its [`Metrics`] and [`StatusBoard`]
//! to the reconcile loop, and runs [`serve`] beside it. Nothing here ever sees a secret value: metric
//! labels come from fixed enums, and the strings on the status board are written by the reconciler
//! under the contract documented on [`status`].

pub mod http;
pub mod metrics;
pub mod readiness;
pub mod status;
pub mod webhook;

pub use http::{
    endpoints_router, router, serve, serve_endpoints, trigger_channel, ConnectionLimits, Endpoints,
    OpsState, MAX_WEBHOOK_BODY,
};
pub use metrics::{AppliedOutcome, Metrics, RestartKind, OPENMETRICS_CONTENT_TYPE};
pub use status::{
    RefusedDocument, SecretState, SecretStatus, Status, StatusBoard, Timestamp, WebhookStatus,
};
pub use webhook::{sign_github, verify_gitea, verify_github, verify_gitlab, WebhookConfig};

/// Why serving the operations endpoints failed. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("operations server: {0}")]
    Serve(#[source] std::io::Error),
    #[error("reading the webhook secret file {path}: {source}")]
    WebhookSecret {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the webhook secret file {path} is empty")]
    EmptyWebhookSecret { path: String },
}

pub type Result<T, E = OpsError> = std::result::Result<T, E>;
