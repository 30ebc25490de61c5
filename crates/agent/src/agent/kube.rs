//! Running the agent against Kubernetes: credentials (in-cluster, else KUBECONFIG), the agent's own
//! namespace, the fingerprint key, leader election, the drift watch and the reconcile loop — which
//! runs only while this replica holds the Lease. A standby is Ready too (it can serve: see
//! `ops::readiness`), so rolling updates never wait for the Lease.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::git::{GitError, GitSource};
use crate::keys::Identities;
use crate::leader::{live_holder, LeaderConfig, LeaderElector, LEASE_NAME};
use crate::ops::{OpsState, RestartKind, SecretState, SecretStatus, Timestamp};
use crate::reason::Reason;
use crate::reconcile::{DesiredState, Engine, SecretResult};
use crate::sink::kube::{
    hmac_key, spawn_drift_watch, DesiredStore, DriftOutcome, DriftReport, KubeSink, Ownership,
    Recorder, RestartOutcome, RestartReport, Restarter, WorkloadKind,
};
use crate::sink::ApplyOutcome;

use super::config::AgentConfig;
use super::report;
use super::run::{self, exit, Fatal, Wakeups};

fn restart_kind(kind: WorkloadKind) -> RestartKind {
    match kind {
        WorkloadKind::Deployment => RestartKind::Deployment,
        WorkloadKind::StatefulSet => RestartKind::StatefulSet,
        WorkloadKind::DaemonSet => RestartKind::DaemonSet,
    }
}

/// Starts the restart task, its reports counted in the metrics. Runs until `cancel`, or until every
/// `Restarter` is dropped and what was pending is done (the task's handle tells).
fn spawn_restarter(
    config: &AgentConfig,
    client: kube::Client,
    key: crate::desired::FingerprintKey,
    recorder: Recorder,
    state: &OpsState,
    cancel: CancellationToken,
) -> (Restarter, tokio::task::JoinHandle<()>) {
    let (tx, mut reports) = mpsc::unbounded_channel::<RestartReport>();
    let (restarter, task) =
        Restarter::spawn(client, key, recorder, config.restart_debounce, tx, cancel);
    let metrics = state.metrics.clone();
    tokio::spawn(async move {
        while let Some(report) = reports.recv().await {
            if report.outcome == RestartOutcome::Restarted {
                metrics.workload_restarted(restart_kind(report.kind));
            }
        }
    });
    (restarter, task)
}

/// The `/status` entry of a drift handled by the watch: its source and commit kept.
fn drift_status(report: &DriftReport) -> SecretStatus {
    let base = |state| {
        SecretStatus::new(&report.key, report.source.clone(), state)
            .with_commit(report.commit.clone())
    };
    let reverted = format!("drift reverted ({})", report.kind.as_str());
    match &report.outcome {
        DriftOutcome::Reverted => base(SecretState::Applied)
            .with_error(reverted)
            .with_last_applied(Timestamp::now()),
        DriftOutcome::HeldOff(hold) => base(SecretState::Applied)
            .with_error(format!(
                "{reverted}; {}",
                crate::sink::kube::drift::fight_note(&[], *hold)
            ))
            .with_last_applied(Timestamp::now()),
        DriftOutcome::Failed(why) => base(SecretState::Failed).with_error(why),
    }
}

/// The kube sink's observer: the drift watch shares each pass's desired state (a persistent map: no
/// copy); each pass is published, the workloads of updated Secrets are restarted (those that asked),
/// and Events go on the Secrets of files that failed to decrypt.
struct Observer<'a> {
    state: &'a OpsState,
    sink: &'a KubeSink,
    store: &'a DesiredStore,
    /// `None` once `--once` has handed its restarts over before exiting.
    restarter: Option<Restarter>,
}

impl run::PassObserver for Observer<'_> {
    fn desired(&mut self, desired: &DesiredState) {
        self.store.share(&desired.secrets);
    }

    fn passed(&mut self, pass: &run::Pass, git_error: Option<&GitError>) {
        report::publish(self.state, pass, git_error);
        // Updated only: a first creation restarts nothing, and an unchanged Secret never does.
        if let Some(restarter) = &self.restarter {
            for (key, result) in &pass.report.results {
                if matches!(result, SecretResult::Applied(ApplyOutcome::Updated)) {
                    restarter.changed(key.clone());
                }
            }
        }
        // Off the loop.
        if !pass.state.commit.is_empty() {
            let (sink, refused) = (self.sink.clone(), pass.state.refused.clone());
            tokio::spawn(async move { sink.warn_failed_files(&refused).await });
        }
    }
}

/// Connects, then reconciles while leader until shutdown. Returns the exit code.
pub async fn run(
    config: &AgentConfig,
    identities: Identities,
    git: Arc<Mutex<GitSource>>,
    state: &OpsState,
    triggers: &mut mpsc::Receiver<()>,
    shutdown: watch::Receiver<bool>,
) -> Result<u8, Fatal> {
    let kube_config = kube::Config::infer().await.map_err(|e| {
        Fatal(format!(
            "no Kubernetes credentials: {e} (in a pod the service account is used; elsewhere set KUBECONFIG)"
        ))
    })?;
    let own_namespace = config
        .own_namespace
        .clone()
        .unwrap_or_else(|| kube_config.default_namespace.clone());
    let client = crate::sink::kube::client::build(kube_config)
        .map_err(|e| Fatal(format!("cannot create a Kubernetes client: {e}")))?;
    let mut engine = run::engine(config, identities, &own_namespace)?;
    // Stores that log in as a named ServiceAccount get their tokens through this client.
    engine.resolver.login.accounts = Some(Arc::new(
        crate::sink::kube::accounts::KubeAccounts::new(client.clone()),
    ));
    let namespaces = match engine.settings().policy.namespaces() {
        Some(list) => list,
        None => {
            return Err(Fatal(
                "--namespace-policy '…=*' is not allowed with the kube sink: name the namespaces, so that the agent watches Secrets only there".into(),
            ))
        }
    };
    tracing::info!(own_namespace = %own_namespace, namespaces = ?namespaces, "connecting to Kubernetes");
    let key = hmac_key::load_or_create(client.clone(), &own_namespace)
        .await
        .map_err(|e| {
            Fatal(format!(
                "cannot load or create the fingerprint key Secret: {e}"
            ))
        })?;
    let recorder = Recorder::new(client.clone(), config.holder_identity.clone());
    let ownership = Ownership {
        instance: config
            .instance
            .clone()
            .unwrap_or_else(|| own_namespace.clone()),
        // Secrets written before instances existed belong to the default instance.
        claims_unlabelled: config.instance.as_ref().is_none_or(|i| *i == own_namespace),
        allow_adopt: config.allow_adopt,
    };
    tracing::info!(instance = %ownership.instance, allow_adopt = ownership.allow_adopt, "this agent's instance");
    let sink = KubeSink::with_ownership(
        client.clone(),
        own_namespace.clone(),
        namespaces,
        key.clone(),
        recorder.clone(),
        ownership,
    );
    let store = DesiredStore::new();
    let restarts_cancel = CancellationToken::new();
    let _stop_restarts = restarts_cancel.clone().drop_guard();
    let (restarter, restarts) = spawn_restarter(
        config,
        client.clone(),
        key,
        recorder,
        state,
        restarts_cancel,
    );

    let (reports_tx, mut reports) = mpsc::unbounded_channel::<DriftReport>();
    let counting = state.clone();
    tokio::spawn(async move {
        while let Some(report) = reports.recv().await {
            counting.status.upsert_secret(drift_status(&report));
            match report.outcome {
                DriftOutcome::Failed(_) => counting.metrics.error(Reason::Sink),
                _ => counting.metrics.drift_reverted(report.kind),
            }
        }
    });
    let mut problems = sink.watch_problems();
    let watching = state.clone();
    tokio::spawn(async move {
        while problems.changed().await.is_ok() {
            let now: Vec<String> = problems.borrow_and_update().values().cloned().collect();
            watching.status.set_watch_errors(now);
        }
    });

    let mut passes = Passes {
        config,
        git,
        engine,
        sink: &sink,
        observer: Observer {
            state,
            sink: &sink,
            store: &store,
            restarter: Some(restarter),
        },
        triggers,
        refresh: state.refresh.clone(),
    };
    if config.once {
        let code = once(&mut passes, client, &own_namespace, state, shutdown).await;
        // What the pass updated restarts its workloads now, before the process ends.
        passes.observer.restarter.take();
        let _ = restarts.await;
        return code;
    }
    Ok(lead(
        passes,
        client,
        own_namespace,
        state,
        &store,
        reports_tx,
        shutdown,
    )
    .await)
}

/// The reconcile loop's inputs: run for one pass (`--once`) or once per leadership term.
struct Passes<'a> {
    config: &'a AgentConfig,
    git: Arc<Mutex<GitSource>>,
    engine: Engine,
    sink: &'a KubeSink,
    observer: Observer<'a>,
    triggers: &'a mut mpsc::Receiver<()>,
    refresh: crate::external::RefreshRequests,
}

impl Passes<'_> {
    /// Runs the loop until `shutdown` (after one pass with `--once`); returns its exit code.
    async fn run(&mut self, shutdown: watch::Receiver<bool>) -> u8 {
        run::run_loop(
            self.config,
            self.git.clone(),
            &mut self.engine,
            self.sink,
            Wakeups {
                triggers: &mut *self.triggers,
                refresh: self.refresh.clone(),
                shutdown,
            },
            &mut self.observer,
        )
        .await
    }
}

/// One pass (`--once`): no election and no drift watch, but no writing behind a running leader's
/// back either: both would write, and the leader would revert what differs as drift.
async fn once(
    passes: &mut Passes<'_>,
    client: kube::Client,
    own_namespace: &str,
    state: &OpsState,
    shutdown: watch::Receiver<bool>,
) -> Result<u8, Fatal> {
    let config = passes.config;
    let holder = live_holder(client, own_namespace, &config.holder_identity)
        .await
        .map_err(|e| Fatal(format!("cannot read the leader Lease: {e}")))?;
    match holder {
        Some(holder) if !config.ignore_leader => {
            tracing::error!(holder = %holder, "another replica ({holder}) holds the leader Lease {own_namespace}/{LEASE_NAME} and reconciles this cluster: nothing written; stop it, or pass --ignore-leader to write anyway");
            return Ok(exit::LEADER_ACTIVE);
        }
        Some(holder) => {
            tracing::warn!(holder = %holder, "another replica holds the leader Lease; writing anyway (--ignore-leader)")
        }
        None => {}
    }
    state.set_leader(true);
    Ok(passes.run(shutdown).await)
}

/// Leader election: reconciles and watches for drift while this replica holds the Lease, stands by
/// (Ready) while another does, until shutdown; then releases the Lease.
async fn lead(
    mut passes: Passes<'_>,
    client: kube::Client,
    own_namespace: String,
    state: &OpsState,
    store: &DesiredStore,
    reports_tx: mpsc::UnboundedSender<DriftReport>,
    mut shutdown: watch::Receiver<bool>,
) -> u8 {
    let config = passes.config;
    let (leading, handle) = LeaderElector::new(
        client,
        LeaderConfig::with_lease_duration(
            own_namespace,
            config.holder_identity.clone(),
            config.lease_duration,
        ),
    )
    .spawn();
    // Ready from here as a standby: the API server answered (the fingerprint key was read) and the
    // lease loop runs. Readiness follows the loop's reach of the API server from now on.
    state.readiness.set_connected(true);
    let mut health = handle.health();
    let readiness = state.readiness.clone();
    tokio::spawn(async move {
        loop {
            let error = health.borrow_and_update().clone();
            readiness.set_api_error(error);
            if health.changed().await.is_err() {
                break;
            }
        }
    });
    loop {
        let mut lead = leading.clone();
        tokio::select! {
            _ = lead.wait_for(|l| *l) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        tracing::info!(identity = %config.holder_identity, "leading: reconciling and watching for drift");
        state.set_leader(true);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut lost = leading.clone();
        let mut outer = shutdown.clone();
        let stopper = tokio::spawn(async move {
            tokio::select! {
                _ = lost.wait_for(|l| !*l) => tracing::warn!("lost the Lease: stopping until leading again"),
                _ = outer.wait_for(|s| *s) => {}
            }
            let _ = stop_tx.send(true);
        });
        let cancel = CancellationToken::new();
        let drift = spawn_drift_watch(
            passes.sink.clone(),
            store.clone(),
            reports_tx.clone(),
            cancel.clone(),
        );
        let code = passes.run(stop_rx).await;
        cancel.cancel();
        let _ = drift.await;
        stopper.abort();
        state.set_leader(false);
        if *shutdown.borrow() || code != exit::OK {
            break;
        }
    }
    if let Err(e) = handle.release().await {
        tracing::warn!("could not release the Lease: {e}");
    }
    exit::OK
}
