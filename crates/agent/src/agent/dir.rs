//! Running the agent against a folder (the dir sink): a fresh fingerprint key, the folder watched for
//! edits by hand (unless `--once`), and the reconcile loop, always as leader.

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::desired::FingerprintKey;
use crate::git::GitSource;
use crate::keys::Identities;
use crate::ops::OpsState;
use crate::sink::dir::DirSink;

use super::config::AgentConfig;
use super::report;
use super::run::{self, Fatal, Wakeups};

/// Opens the folder, then reconciles until shutdown (one pass with `--once`). Returns the exit code.
pub async fn run(
    config: &AgentConfig,
    root: &Path,
    identities: Identities,
    git: Arc<Mutex<GitSource>>,
    state: &OpsState,
    triggers: &mut mpsc::Receiver<()>,
    shutdown: watch::Receiver<bool>,
) -> Result<u8, Fatal> {
    let key = FingerprintKey::generate();
    // One pass inspects everything anyway; a long-running agent watches the root instead.
    let sink = if config.once {
        DirSink::with_key(root.to_path_buf(), key)
    } else {
        DirSink::watched(root.to_path_buf(), key)
    }
    .map_err(|e| Fatal(format!("sink dir:{}: {e}", root.display())))?;
    let mut engine = run::engine(config, identities, "default")?;
    state.set_leader(true);
    let code = run::run_loop(
        config,
        git,
        &mut engine,
        &sink,
        Wakeups {
            triggers,
            refresh: state.refresh.clone(),
            shutdown,
        },
        &mut report::Publisher::new(state),
    )
    .await;
    Ok(code)
}
