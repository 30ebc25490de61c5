//! What `/readyz` answers: "able to serve", never "holds the Lease".
//!
//! A replica is ready when its configuration is valid and its identities are loaded (it would not be
//! running otherwise), it reached the API server and runs its lease loop (kube sink), and — while it
//! leads, or with the dir sink — once it completed a sync. A standby is therefore ready too: with
//! `maxSurge: 1, maxUnavailable: 0` the new pod must become Ready while the old one still holds the
//! Lease, or a rolling update waits forever. A sync whose every document was refused (no namespace
//! policy, a wrong key) makes the replica not ready, with the reason, instead of Ready and useless.

use std::sync::{Arc, Mutex, PoisonError};

/// The facts readiness is judged from; every field is written by the part of the agent that knows it.
#[derive(Debug, Default)]
struct Facts {
    /// The API server answered at start-up and the lease loop runs (kube sink only).
    connected: bool,
    /// This replica holds the Lease (or needs none: dir sink, `--once`).
    leader: bool,
    /// A sync completed since the process started.
    synced: bool,
    /// The lease loop's last round could not reach the API server: why.
    api_error: Option<String>,
    /// The last sync refused every document: why.
    refused_all: Option<String>,
}

/// Shared readiness state; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    facts: Arc<Mutex<Facts>>,
}

impl Readiness {
    fn update(&self, change: impl FnOnce(&mut Facts)) {
        change(&mut self.facts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Kube sink: the API server answered and the lease loop started; a standby is ready from here.
    pub fn set_connected(&self, connected: bool) {
        self.update(|f| f.connected = connected);
    }

    pub fn set_leader(&self, leader: bool) {
        self.update(|f| f.leader = leader);
    }

    /// A sync completed (even if some documents failed).
    pub fn set_synced(&self) {
        self.update(|f| f.synced = true);
    }

    /// The lease loop's last round failed (`Some(why)`) or reached the API server again (`None`).
    pub fn set_api_error(&self, error: Option<String>) {
        self.update(|f| f.api_error = error);
    }

    /// The last sync refused every document (`Some(why)`), or not (`None`).
    pub fn set_refused_all(&self, why: Option<String>) {
        self.update(|f| f.refused_all = why);
    }

    /// `Ok` when ready, else why not (a sentence for `/readyz` and `/status`).
    pub fn check(&self) -> Result<(), String> {
        let f = self.facts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(why) = &f.api_error {
            return Err(format!("the API server is unreachable: {why}"));
        }
        if let Some(why) = &f.refused_all {
            return Err(why.clone());
        }
        if f.synced || (f.connected && !f.leader) {
            return Ok(());
        }
        Err(if f.leader && f.connected {
            "leading, first sync not completed".to_string()
        } else {
            "first reconcile not completed".to_string()
        })
    }
}

/// The refusal sentence for a sync that produced no Secret and refused `refused` documents, the first
/// of which gave `first_reason`; `None` when not everything was refused.
pub fn refused_all(desired: usize, refused: usize, first_reason: Option<&str>) -> Option<String> {
    (desired == 0 && refused > 0).then(|| {
        format!(
            "last sync refused all {refused} document{}: {}",
            if refused == 1 { "" } else { "s" },
            first_reason.unwrap_or("see /status")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_is_ready_once_connected_and_a_leader_after_its_first_sync() {
        let r = Readiness::default();
        assert_eq!(r.check().unwrap_err(), "first reconcile not completed");
        r.set_connected(true);
        assert!(r.check().is_ok(), "a connected standby is ready");
        r.set_leader(true);
        assert_eq!(r.check().unwrap_err(), "leading, first sync not completed");
        r.set_synced();
        assert!(r.check().is_ok());
        r.set_leader(false);
        assert!(r.check().is_ok(), "losing the Lease keeps it ready");
    }

    #[test]
    fn the_dir_sink_is_ready_after_its_first_sync() {
        let r = Readiness::default();
        r.set_leader(true);
        assert!(r.check().is_err());
        r.set_synced();
        assert!(r.check().is_ok());
    }

    #[test]
    fn api_errors_and_a_sync_refusing_everything_make_it_not_ready() {
        let r = Readiness::default();
        r.set_connected(true);
        r.set_api_error(Some("connection refused".into()));
        assert_eq!(
            r.check().unwrap_err(),
            "the API server is unreachable: connection refused"
        );
        r.set_api_error(None);
        assert!(r.check().is_ok());
        r.set_refused_all(refused_all(0, 3, Some("a.yaml: policy")));
        assert_eq!(
            r.check().unwrap_err(),
            "last sync refused all 3 documents: a.yaml: policy"
        );
        r.set_refused_all(refused_all(1, 3, Some("a.yaml: policy")));
        assert!(r.check().is_ok());
        assert_eq!(refused_all(0, 0, None), None, "an empty repository is fine");
    }
}
