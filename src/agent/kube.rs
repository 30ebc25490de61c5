//! Running the agent against Kubernetes (being integrated).

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::git::GitSource;
use crate::keys::Identities;
use crate::ops::OpsState;

use super::config::AgentConfig;
use super::run::Fatal;

pub async fn run(
    _config: &AgentConfig,
    _identities: Identities,
    _git: Arc<Mutex<GitSource>>,
    _ops: &OpsState,
    _triggers: mpsc::Receiver<()>,
    _shutdown: watch::Receiver<bool>,
) -> Result<u8, Fatal> {
    Err(Fatal(
        "the kube sink is not available in this build yet; use --sink dir:PATH".into(),
    ))
}
