//! An in-memory Kubernetes API server on loopback for tests: the real `kube` client and `kubectl`
//! talk to it unchanged.
//!
//! ```no_run
//! # async fn demo() {
//! use kube_api_test_server::{FaultSpec, TestServer, Verb};
//! let server = TestServer::start().await;
//! // kube::Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
//! server.fail_next(FaultSpec::new(Verb::Get, 503).resource("secrets"));
//! server.shutdown().await;
//! # }
//! ```
//!
//! Namespaces are created on the first write into them (a real cluster answers 404) unless
//! [`Builder::strict_namespaces`] is set; `default`, `kube-system` and `kube-public` exist from the
//! start.

mod control;
mod deletion;
mod discovery;
mod faults;
mod fieldset;
mod handlers;
mod http;
mod ids;
mod managed;
mod objects;
mod patch;
mod protobuf;
mod rbac;
mod resources;
mod schema;
mod selectors;
mod state;
mod status;
mod store;
mod table;
mod token_request;
mod tokens;
mod validation;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

pub use faults::{FaultSpec, RequestRecord, Verb};
pub use token_request::DEFAULT_AUDIENCE;
pub use tokens::TokenIdentity;

use state::{Settings, State};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("creating the initial namespace {name}: {message}")]
    Seed { name: String, message: String },
}

/// The bearer token of the administrator (`system:masters`) when RBAC is on.
pub const ADMIN_TOKEN: &str = "kube-api-test-server-admin";
/// The administrator's user name.
pub const ADMIN_USER: &str = "kubernetes-admin";

/// Options for [`TestServer`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    port: u16,
    settings: Settings,
}

impl Builder {
    /// The port to listen on; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Answer 404 for writes into namespaces that were never created, as a real cluster does.
    pub fn strict_namespaces(mut self, strict: bool) -> Self {
        self.settings.strict_namespaces = strict;
        self
    }

    /// How often watches that allow bookmarks receive one (1 s by default).
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.settings.bookmark_interval = every;
        self
    }

    /// Authenticate every request by its bearer token ([`TestServer::add_token`]) and authorize it
    /// with the stored Roles, ClusterRoles and bindings, as a real cluster does (off by default).
    /// Unknown tokens get 401. [`ADMIN_TOKEN`] and requests without a token (`kubectl` sends none over
    /// plain HTTP) are the administrator, a `system:masters` member, which bypasses RBAC.
    pub fn rbac(mut self, on: bool) -> Self {
        self.settings.rbac = on;
        self
    }

    pub async fn start(self) -> Result<TestServer, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|source| Error::Bind {
                port: self.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            port: self.port,
            source,
        })?;
        let state = Arc::new(State::new(self.settings, addr));
        seed_namespaces(&state)?;
        if state.settings.rbac {
            state
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    ADMIN_TOKEN.into(),
                    TokenIdentity::user(ADMIN_USER, &[rbac::MASTERS, "system:authenticated"]),
                );
        }
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(http::serve(listener, state.clone(), rx));
        Ok(TestServer {
            state,
            addr,
            shutdown,
            task: Some(task),
        })
    }
}

fn seed_namespaces(state: &State) -> Result<(), Error> {
    let def = resources::namespaces();
    let actor = managed::Actor {
        manager: "kube-api-test-server".into(),
        api_version: "v1".into(),
        subresource: String::new(),
        time: ids::now_rfc3339(),
    };
    for name in ["default", "kube-system", "kube-public"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        objects::prepare_create(def, obj, &actor, objects::Ownership::Update)
            .and_then(|o| state.store.create(def, o))
            .map_err(|e| Error::Seed {
                name: name.into(),
                message: e.message,
            })?;
    }
    Ok(())
}

/// A running server. Dropping it stops it too; [`TestServer::shutdown`] waits for the stop.
pub struct TestServer {
    state: Arc<State>,
    addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test cannot go on without its server.
    pub async fn start() -> TestServer {
        match Self::builder().start().await {
            Ok(s) => s,
            Err(e) => panic!("kube-api-test-server: {e}"),
        }
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `http://127.0.0.1:PORT`, the cluster's `server` URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A kubeconfig whose current context points at this server: as the administrator when RBAC is
    /// on, else without credentials (none are checked).
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_with(self.state.settings.rbac.then_some(ADMIN_TOKEN))
    }

    /// A kubeconfig that authenticates with `token` (see [`TestServer::add_token`]).
    pub fn kubeconfig_for_token(&self, token: &str) -> String {
        self.kubeconfig_with(Some(token))
    }

    fn kubeconfig_with(&self, token: Option<&str>) -> String {
        let user = match token {
            Some(t) => format!("\n    token: {t}"),
            None => " {}".to_string(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-api-test-server\n  cluster:\n    server: {}\ncontexts:\n- name: kube-api-test-server\n  context:\n    cluster: kube-api-test-server\n    namespace: default\n    user: test\ncurrent-context: kube-api-test-server\nusers:\n- name: test\n  user:{user}\npreferences: {{}}\n",
            self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// Fails the next matching call(s) with the spec's HTTP code and a `Status`.
    pub fn fail_next(&self, fault: FaultSpec) {
        self.state.faults.add(fault);
    }

    /// Removes pending faults and latency.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Delays every API request by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.state.faults.set_latency(latency);
    }

    /// Ends every open watch now (the streams close cleanly, as on an API server restart).
    pub fn drop_watches(&self) {
        self.state.drop_all_watches();
    }

    /// Forgets the event history: a watch from any earlier resourceVersion gets 410 Expired.
    pub fn compact(&self) {
        self.state.store.compact();
    }

    /// Keeps at most `n` events of watch history.
    pub fn set_retained_events(&self, n: usize) {
        self.state.store.set_retained_events(n);
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> String {
        self.state.store.current_rv().to_string()
    }

    /// Every request handled so far (control endpoints excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.faults.requests()
    }

    pub fn clear_requests(&self) {
        self.state.faults.clear_requests();
    }

    /// Makes TokenReview authenticate `token` as `identity`.
    pub fn add_token(&self, token: &str, identity: TokenIdentity) {
        self.state
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_string(), identity);
    }

    /// Stops accepting, closes open connections and watches, and waits for the server loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
