//! The state shared by all connections: store, faults, known tokens and settings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::faults::Faults;
use crate::store::Store;
use crate::tokens::TokenIdentity;

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Writes into a namespace that does not exist fail with 404 (as in a real cluster) instead of
    /// creating it.
    pub strict_namespaces: bool,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Authenticate by bearer token and authorize with the stored RBAC objects.
    pub rbac: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            strict_namespaces: false,
            bookmark_interval: Duration::from_secs(1),
            rbac: false,
        }
    }
}

pub struct State {
    pub store: Store,
    pub faults: Faults,
    pub tokens: Mutex<HashMap<String, TokenIdentity>>,
    pub settings: Settings,
    pub addr: SocketAddr,
    /// Bumped to end every open watch.
    pub drop_watches: tokio::sync::watch::Sender<u64>,
}

impl State {
    pub fn new(settings: Settings, addr: SocketAddr) -> Self {
        State {
            store: Store::new(),
            faults: Faults::default(),
            tokens: Mutex::new(HashMap::new()),
            settings,
            addr,
            drop_watches: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn drop_all_watches(&self) {
        self.drop_watches.send_modify(|n| *n += 1);
    }
}
