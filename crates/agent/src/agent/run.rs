//! The agent's main loop: fetch git (on the interval or a webhook), compute desired state, apply it to
//! the sink, report. Fetch failures keep the last good state; `--once` maps the outcome to an exit code.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use crate::documents::Refusal;
use crate::git::{AllowedSigners, GitError, GitSource, GitSourceConfig, Snapshot};
use crate::keys::{Identities, IdentitySource};
use crate::policy::{DecryptionPolicy, Fallback, NamespacePolicy};
use crate::reconcile::{Applier, ApplyReport, DesiredState, Engine, EngineSettings, SecretResult};
use crate::sink::{ApplyOutcome, Sink};

use super::config::{AgentConfig, SinkSpec};

/// Exit codes of `run --once` (and of start-up failures).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FATAL: u8 = 1;
    pub const PARTIAL: u8 = 2;
    /// `--once` with the kube sink while another replica holds the leader Lease: nothing written.
    pub const LEADER_ACTIVE: u8 = 3;
}

/// A fatal start-up or fetch problem, already phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

/// Loads the identities named by the configuration.
pub fn load_identities(config: &AgentConfig) -> Result<Identities, Fatal> {
    let mut ids = Identities::default();
    for path in &config.identity_files {
        ids.add(IdentitySource::File {
            path: path.clone(),
            origin: "identity".into(),
        })
        .map_err(|e| Fatal(e.to_string()))?;
    }
    if let Some(text) = &config.inline_identity {
        ids.add(IdentitySource::Inline {
            origin: "SOPS_AGE_KEY".into(),
            text: text.clone(),
        })
        .map_err(|e| Fatal(e.to_string()))?;
    }
    for warning in ids.warnings() {
        tracing::warn!("{warning}");
    }
    if ids.is_empty() {
        tracing::warn!("no age identity configured: every SOPS document will fail (give --identity FILE or SOPS_AGE_KEY_FILE)");
    }
    Ok(ids)
}

/// The allowed signers of `--allowed-signers`, if set; a file that cannot be read or parsed stops the
/// start (naming the file and the line).
pub fn load_allowed_signers(config: &AgentConfig) -> Result<Option<AllowedSigners>, Fatal> {
    config
        .allowed_signers
        .as_deref()
        .map(AllowedSigners::load)
        .transpose()
        .map_err(|e| Fatal(format!("--allowed-signers: {e}")))
}

/// The git source the configuration names.
pub fn git_source(config: &AgentConfig) -> Result<GitSource, Fatal> {
    let mut git = GitSourceConfig::new(config.repo.clone(), config.cache_dir.clone());
    git.reference = config.reference.clone();
    git.paths = config.paths.clone();
    git.auth = config.git_auth.clone();
    git.max_file_size = config.max_file_size;
    git.max_files = config.max_files;
    git.max_fetch_bytes = config.max_fetch_size;
    git.allowed_signers = load_allowed_signers(config)?.map(Arc::new);
    if let Some(allowed) = &git.allowed_signers {
        tracing::info!(
            file = %allowed.path().display(),
            signers = allowed.len(),
            "signed commits required: only commits signed by an allowed key are applied"
        );
    }
    GitSource::new(git).map_err(|e| Fatal(e.to_string()))
}

/// Loads the identities of every `--decryption-policy` rule (each rule's files into its own set).
pub fn load_decryption_policy(config: &AgentConfig) -> Result<DecryptionPolicy, Fatal> {
    let mut rules = Vec::new();
    for rule in &config.decryption_policy {
        let mut ids = Identities::default();
        for path in &rule.identity_files {
            ids.add(IdentitySource::File {
                path: path.clone(),
                origin: format!("decryption policy {}", rule.glob),
            })
            .map_err(|e| Fatal(format!("--decryption-policy {rule:?}: {e}")))?;
        }
        rules.push((rule.clone(), Arc::new(ids)));
    }
    if rules.is_empty() && !config.namespace_policy.is_empty() {
        tracing::warn!("--namespace-policy without --decryption-policy: every path is decrypted with the same identities (single-tenant mode), so a folder's writers can have ciphertext copied from another folder decrypted into their own namespaces; give each team's folder its own identity with --decryption-policy (see SECURITY.md, Multi-tenancy)");
    }
    Ok(DecryptionPolicy::new(rules))
}

/// The engine, with the namespace fallback that suits the sink.
pub fn engine(
    config: &AgentConfig,
    identities: Identities,
    own_namespace: &str,
) -> Result<Engine, Fatal> {
    let decryption = load_decryption_policy(config)?;
    let fallback = match config.sink {
        SinkSpec::Dir(_) => Fallback::AllowAll,
        SinkSpec::Kube => Fallback::Only(vec![own_namespace.to_string()]),
    };
    let mut engine = Engine::new(EngineSettings {
        identities: Arc::new(identities),
        decryption,
        policy: NamespacePolicy::new(config.namespace_policy.clone(), fallback),
        default_namespace: config
            .default_namespace
            .clone()
            .unwrap_or_else(|| own_namespace.to_string()),
        max_file_size: config.max_file_size,
        cluster_store_paths: crate::documents::ClusterStorePaths::new(&config.cluster_store_paths)
            .map_err(|e| Fatal(format!("--cluster-store-path {e}")))?,
    });
    let login = crate::external::Login {
        token_file: config.service_account_token_file.clone(),
        accounts: None,
    };
    engine.resolver = crate::external::Resolver::new(config.default_store.clone(), login);
    engine.resolve_all = config.once;
    Ok(engine)
}

/// Fetches on a blocking thread (gix is synchronous).
pub async fn fetch(git: &Arc<Mutex<GitSource>>) -> Result<Arc<Snapshot>, GitError> {
    let git = git.clone();
    tokio::task::spawn_blocking(move || {
        let mut source = git.lock().unwrap_or_else(|p| p.into_inner());
        source.fetch()
    })
    .await
    .unwrap_or_else(|e| {
        Err(GitError::Io {
            path: std::path::PathBuf::from("<fetch task>"),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// The result of one pass, for logs, status and exit codes.
pub struct Pass {
    pub state: DesiredState,
    pub report: ApplyReport,
    pub took: std::time::Duration,
    /// The git fetch before the pass (failed or not).
    pub fetch_took: std::time::Duration,
}

impl Pass {
    /// No pass: the fetch failed and there is no last good commit to reconcile.
    fn none(fetch_took: std::time::Duration) -> Pass {
        Pass {
            state: DesiredState::default(),
            report: ApplyReport::default(),
            took: std::time::Duration::ZERO,
            fetch_took,
        }
    }
}

impl Pass {
    /// Whether everything desired was applied and nothing was refused.
    pub fn clean(&self) -> bool {
        self.state.refused.is_empty()
            && self.report.failures() == 0
            && self.report.prune_refused.is_none()
            && !self.report.results.values().any(|r| {
                matches!(
                    r,
                    SecretResult::Applied(
                        ApplyOutcome::RefusedUnmanaged | ApplyOutcome::Refused(..)
                    )
                )
            })
    }
}

/// What the loop tells as it runs: each pass's desired state before anything is written, and each
/// pass once done. One per sink: the dir sink publishes to the operations endpoints; the kube sink also
/// shares the desired state with its drift watch and puts Events on files that failed.
pub trait PassObserver {
    /// The desired state of the pass about to be applied (the kube sink's drift watch must know it
    /// before the sink writes, so that the writes are not taken for drift).
    fn desired(&mut self, _state: &DesiredState) {}

    /// A pass done, or none (`Pass::none`) when a fetch failed with no last good commit; `git_error`
    /// is the failed fetch it ran after, if any.
    fn passed(&mut self, pass: &Pass, git_error: Option<&GitError>);
}

/// One reconcile pass over a snapshot; `observer` sees the desired state before anything is written.
pub async fn reconcile_once<S: Sink>(
    (engine, applier): (&mut Engine, &mut Applier),
    sink: &S,
    snapshot: &Snapshot,
    prune_max_share: f64,
    observer: &mut impl PassObserver,
) -> Pass {
    let started = Instant::now();
    // The git I/O of the pass, before the engine (which does none) computes the desired state.
    let snapshot = snapshot.loaded(&engine.unread(snapshot));
    let state = engine.desired_resolved(&snapshot).await;
    let desired_took = started.elapsed();
    observer.desired(&state);
    let report = applier.apply(sink, &state, prune_max_share).await;
    let took = started.elapsed();
    log_pass(
        &state,
        &report,
        took.as_secs_f64(),
        desired_took.as_secs_f64(),
    );
    Pass {
        state,
        report,
        took,
        fetch_took: std::time::Duration::ZERO,
    }
}

fn log_refusal(r: &Refusal) {
    tracing::warn!(
        path = %r.path,
        document = r.document,
        secret = r.key.as_ref().map(|k| k.to_string()),
        reason = r.reason.code(),
        "document refused: {}",
        r.message
    );
}

/// `seconds`: the whole pass; `desired_seconds`: its part computing the desired state.
fn log_pass(state: &DesiredState, report: &ApplyReport, seconds: f64, desired_seconds: f64) {
    state.refused.iter().for_each(log_refusal);
    for (key, result) in &report.results {
        match result {
            SecretResult::Applied(ApplyOutcome::Created) => {
                tracing::info!(secret = %key, "created")
            }
            SecretResult::Applied(ApplyOutcome::Updated) => {
                tracing::info!(secret = %key, "updated")
            }
            SecretResult::Applied(ApplyOutcome::RefusedUnmanaged) => tracing::warn!(
                secret = %key,
                "a Secret of this name exists and is not managed by sealsync: left alone (annotate the document sealsync.dev/adopt: \"true\" to take it over)"
            ),
            // The sink logged the reason when it refused.
            SecretResult::Applied(ApplyOutcome::Refused(..)) => {}
            SecretResult::Applied(ApplyOutcome::Unchanged) => {}
            SecretResult::Failed(e) => tracing::error!(secret = %key, "apply failed: {e}"),
        }
    }
    for key in &report.pruned {
        tracing::info!(secret = %key, "pruned: its source left git");
    }
    for (key, e) in &report.prune_failed {
        tracing::error!(secret = %key, "prune failed: {e}");
    }
    if let Some(why) = &report.prune_refused {
        tracing::error!("{why}");
    }
    if let Some(e) = &report.list_error {
        tracing::error!("cannot list managed Secrets: {e}");
    }
    tracing::info!(
        commit = %state.commit,
        desired = state.secrets.len(),
        refused = state.refused.len(),
        ignored = state.ignored.len(),
        ignored_kinds = %ignored_kinds(state),
        files_decrypted = state.files_classified,
        created = report.count(&ApplyOutcome::Created),
        updated = report.count(&ApplyOutcome::Updated),
        unchanged = report.count(&ApplyOutcome::Unchanged),
        pruned = report.pruned.len(),
        visited = report.results.len(),
        partial = report.partial,
        failed = report.failures(),
        seconds,
        desired_seconds,
        "reconciled"
    );
}

/// The kinds of the documents a pass left alone, with counts: `apps/v1/Deployment (2), ...`.
fn ignored_kinds(state: &DesiredState) -> String {
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for i in state.ignored.iter() {
        *kinds
            .entry(format!("{}/{}", i.api_version, i.kind))
            .or_default() += 1;
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What wakes the loop: webhook triggers (and with them `POST /refresh`, whose requests wait in
/// `refresh`), and the signal to stop (shutdown, or lost leadership).
pub struct Wakeups<'a> {
    pub triggers: &'a mut mpsc::Receiver<()>,
    pub refresh: crate::external::RefreshRequests,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Runs passes until `shutdown` fires: on every interval tick and on every webhook trigger. With
/// `once`, one pass and the exit code.
pub async fn run_loop<S: Sink>(
    config: &AgentConfig,
    git: Arc<Mutex<GitSource>>,
    engine: &mut Engine,
    sink: &S,
    wakeups: Wakeups<'_>,
    observer: &mut impl PassObserver,
) -> u8 {
    let Wakeups {
        triggers,
        refresh,
        mut shutdown,
    } = wakeups;
    if *shutdown.borrow() {
        return exit::OK;
    }
    // A new loop (a new leadership term) starts with a full pass.
    let mut applier = Applier::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            // An external reference is due for a refresh: a pass over the same snapshot.
            _ = sleep_until(engine.resolver.next_due()) => {}
            Some(()) = triggers.recv() => tracing::info!("webhook: fetching now"),
            _ = shutdown.wait_for(|stop| *stop) => return exit::OK,
        }
        for unknown in engine.resolver.expire(refresh.take()) {
            tracing::warn!(secret = %unknown, "refresh: no external reference produces this Secret");
        }
        let fetch_started = Instant::now();
        let fetched = fetch(&git).await;
        let fetch_took = fetch_started.elapsed();
        let (snapshot, git_error) = match fetched {
            Ok(s) => (s, None),
            Err(e) => {
                tracing::error!("git fetch failed: {e}");
                let last = git.lock().unwrap_or_else(|p| p.into_inner()).last_good();
                match last {
                    Some(s) => {
                        tracing::warn!(commit = %s.commit, "keeping the last good commit");
                        (s, Some(e))
                    }
                    None => {
                        // Nothing to reconcile yet; still say why (a typo in the URL, bad
                        // credentials), so /status does not show a blank agent.
                        observer.passed(&Pass::none(fetch_took), Some(&e));
                        if config.once {
                            return exit::FATAL;
                        }
                        continue;
                    }
                }
            }
        };
        if config.once && git_error.is_some() {
            observer.passed(&Pass::none(fetch_took), git_error.as_ref());
            return exit::FATAL;
        }
        let mut pass = reconcile_once(
            (engine, &mut applier),
            sink,
            &snapshot,
            config.prune_max_share,
            observer,
        )
        .await;
        pass.fetch_took = fetch_took;
        observer.passed(&pass, git_error.as_ref());
        if config.once {
            return if pass.report.list_error.is_some() {
                exit::FATAL
            } else if pass.clean() {
                exit::OK
            } else {
                exit::PARTIAL
            };
        }
        // What the pass allocated (desired state, API responses) is free now; hand it back.
        drop((pass, snapshot));
        super::malloc::release_free_memory();
    }
}

/// Sleeps until `when`, or forever when there is nothing to wait for.
async fn sleep_until(when: Option<std::time::Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}
