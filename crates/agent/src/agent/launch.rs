//! Start-up of the `sealsync` binary: arguments, environment, logging, signals, the sink, the
//! operations endpoints and the reconcile loop.

use std::path::Path;
use std::sync::{Arc, Mutex};

use clap::{CommandFactory, FromArgMatches};

use crate::hardening::HardeningError;
use crate::ops::{self, Metrics, OpsError, OpsState, StatusBoard, WebhookConfig, WebhookStatus};

use super::args::{Cli, Command, RunArgs};
use super::config::{AgentConfig, LogFormat, ProcessEnv, SinkSpec};
use super::run::{self, exit, Fatal};

/// Usage errors (unknown flag, bad value).
const USAGE: u8 = 64;

/// Runs the agent binary; returns the process exit code.
pub fn main() -> u8 {
    main_with(std::env::args_os())
}

/// [`main`] with the command line given (`args[0]` is the program name): the whole agent in the
/// caller's process, as the leak checks run it (tests/leaks) under an allocator that inspects every
/// block freed.
pub fn main_with<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // First, before any key is read: no core dumps, no ptrace attach (logged once logging is set up).
    let hardened = crate::hardening::harden();
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return USAGE;
        }
    };
    let env = process_env();
    match cli.command {
        Command::CheckConfig(args) => check_config(&args, &env),
        Command::Run(args) => run(&args, &env, hardened.err()),
    }
}

/// `sealsync run`: the configuration, logging, the async runtime, then the agent until it stops.
/// `hardening_failed`: why the process could not be hardened, logged once logging is set up.
fn run(args: &RunArgs, env: &ProcessEnv, hardening_failed: Option<HardeningError>) -> u8 {
    let config = match AgentConfig::resolve(args, env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FATAL;
        }
    };
    init_logging(config.log_format);
    if let Some(e) = &hardening_failed {
        tracing::warn!("{e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Few blocking threads: each would get its own malloc arena and grow resident memory.
        .max_blocking_threads(4)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return exit::FATAL;
        }
    };
    runtime.block_on(async {
        match run_agent(config).await {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("{e}");
                exit::FATAL
            }
        }
    })
}

/// Reads the environment once. Runs before any thread starts: the age key is taken out of the
/// environment here (and `SOPS_AGE_KEY_CMD`, which the agent does not use, removed), so no `git` or
/// `ssh` child inherits it.
fn process_env() -> ProcessEnv {
    let sops_age_key = crate::hardening::take_env_secret("SOPS_AGE_KEY");
    drop(crate::hardening::take_env_secret("SOPS_AGE_KEY_CMD"));
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    ProcessEnv {
        sops_age_key_file: var("SOPS_AGE_KEY_FILE").map(Into::into),
        sops_age_key,
        pod_name: var("POD_NAME"),
        pod_namespace: var("POD_NAMESPACE"),
        hostname: var("HOSTNAME").or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        }),
        xdg_cache_home: var("XDG_CACHE_HOME").map(Into::into),
        home: var("HOME").map(Into::into),
        in_cluster: var("KUBERNETES_SERVICE_HOST").is_some(),
        service_account_namespace: std::fs::read_to_string(
            "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
        )
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty()),
        vars: super::settings::env_values(var),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEALSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn check_config(args: &RunArgs, env: &ProcessEnv) -> u8 {
    let config = match AgentConfig::resolve(args, env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FATAL;
        }
    };
    let width = config
        .explained
        .iter()
        .map(|(k, _, _)| k.len())
        .max()
        .unwrap_or(0);
    println!("Configuration in force:");
    for (name, value, origin) in &config.explained {
        println!("  {name:width$}  {value}  [{origin}]");
    }
    let mut ok = true;
    match run::load_identities(&config) {
        Ok(ids) if ids.is_empty() => {
            println!("warning: no age identity: every SOPS document will fail to decrypt");
        }
        Ok(ids) => println!(
            "identities: {} loaded; they decrypt files encrypted for: {}",
            ids.len(),
            ids.recipients().collect::<Vec<_>>().join(", ")
        ),
        Err(e) => {
            println!("error: {e}");
            ok = false;
        }
    }
    match webhook(config.webhook_secret_file.as_deref()) {
        Ok((_, status)) if status.enabled => println!("webhook: on"),
        Ok((_, status)) => println!("webhook: off ({})", status.reason.unwrap_or_default()),
        Err(e) => {
            println!("error: {e}");
            ok = false;
        }
    }
    match &config.sink {
        SinkSpec::Dir(path) => println!("sink: files under {}", path.display()),
        SinkSpec::Kube => println!(
            "sink: Kubernetes (own namespace: {})",
            config
                .own_namespace
                .as_deref()
                .unwrap_or("from the kubeconfig context")
        ),
    }
    if config.namespace_policy.is_empty() {
        println!(
            "namespace policy: none ({})",
            match config.sink {
                SinkSpec::Dir(_) => "the dir sink accepts every namespace",
                SinkSpec::Kube => "the kube sink accepts only the agent's own namespace",
            }
        );
    } else {
        for rule in &config.namespace_policy {
            println!("namespace policy: {rule:?}");
        }
    }
    for rule in &config.decryption_policy {
        println!("decryption policy: {rule:?}");
    }
    match run::load_allowed_signers(&config) {
        Ok(Some(allowed)) => println!(
            "signed commits: required; {} signers in {}",
            allowed.len(),
            allowed.path().display()
        ),
        Ok(None) => {}
        Err(e) => {
            println!("error: {e}");
            ok = false;
        }
    }
    if let Err(e) = run::load_decryption_policy(&config) {
        println!("error: {e}");
        ok = false;
    }
    if ok {
        println!("configuration is valid");
        exit::OK
    } else {
        exit::FATAL
    }
}

/// The webhook receiver the configuration asks for. A secret file that does not exist means "no
/// webhook" (the Deployment mounts the `sealsync-webhook` Secret as an optional volume, so the path is
/// always given); a file that exists but cannot be read, or is empty, is an error.
fn webhook(path: Option<&Path>) -> Result<(Option<WebhookConfig>, WebhookStatus), Fatal> {
    let Some(path) = path else {
        let reason = "no --webhook-secret-file: polling on the interval only".to_string();
        return Ok((
            None,
            WebhookStatus {
                enabled: false,
                reason: Some(reason),
            },
        ));
    };
    match WebhookConfig::from_file(path) {
        Ok(config) => Ok((
            Some(config),
            WebhookStatus {
                enabled: true,
                reason: None,
            },
        )),
        Err(OpsError::WebhookSecret { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let reason = format!(
                "no webhook secret file at {}: polling on the interval only (create Secret sealsync-webhook with key `secret` and restart to enable it)",
                path.display()
            );
            Ok((
                None,
                WebhookStatus {
                    enabled: false,
                    reason: Some(reason),
                },
            ))
        }
        Err(e) => Err(Fatal(format!("webhook secret: {e}"))),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Opens `--listen` (and `--webhook-listen`, which then alone serves `/hooks/git`), each with its own
/// connection budget, served until shutdown.
async fn serve_operations(
    config: &AgentConfig,
    state: &OpsState,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), Fatal> {
    let mut listeners = vec![(
        config.listen,
        if config.webhook_listen.is_some() {
            ops::Endpoints::Operations
        } else {
            ops::Endpoints::All
        },
    )];
    listeners.extend(config.webhook_listen.map(|a| (a, ops::Endpoints::Webhook)));
    let limits = ops::ConnectionLimits::for_listeners(listeners.len());
    for (addr, endpoints) in listeners {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Fatal(format!("cannot listen on {addr}: {e}")))?;
        let mut stop = shutdown.clone();
        let serving = state.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) =
                ops::serve_endpoints(listener, serving, endpoints, limits, shutdown).await
            {
                tracing::error!("operations endpoints stopped: {e}");
            }
        });
    }
    Ok(())
}

async fn run_agent(config: AgentConfig) -> Result<u8, Fatal> {
    let identities = run::load_identities(&config)?;
    let git = Arc::new(Mutex::new(run::git_source(&config)?));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        termination().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
    let (trigger, mut triggers) = ops::trigger_channel();
    let (webhook, webhook_status) = webhook(config.webhook_secret_file.as_deref())?;
    if let Some(why) = &webhook_status.reason {
        if config.webhook_secret_file.is_some() {
            tracing::warn!("webhook off: {why}");
        }
    }
    let state = OpsState::new(Metrics::new(), StatusBoard::new(), webhook, trigger);
    state.status.set_webhook(webhook_status);
    if !config.once {
        serve_operations(&config, &state, &shutdown_rx).await?;
    }
    match &config.sink {
        SinkSpec::Dir(root) => {
            super::dir::run(&config, root, identities, git, &state, &mut triggers, shutdown_rx).await
        }
        #[cfg(feature = "kube")]
        SinkSpec::Kube => {
            super::kube::run(&config, identities, git, &state, &mut triggers, shutdown_rx).await
        }
        #[cfg(not(feature = "kube"))]
        SinkSpec::Kube => Err(Fatal(
            "this build has no Kubernetes support (built without the `kube` feature); use --sink dir:PATH".into(),
        )),
    }
}
