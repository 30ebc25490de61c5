//! The agent's configuration: flags, environment and a config file become one validated `AgentConfig`
//! at start-up (flags over environment over file over defaults), passed down explicitly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;

use super::args::RunArgs;
use super::config_file::FileValues;
use super::resolver::{Explained, Resolver};
use crate::git::GitAuth;
use crate::policy::{DecryptionRule, PolicyRule};

/// The process environment the agent reads, captured once by the binary.
#[derive(Default, Clone)]
pub struct ProcessEnv {
    pub sops_age_key_file: Option<PathBuf>,
    pub sops_age_key: Option<SecretString>,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    pub hostname: Option<String>,
    pub xdg_cache_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// Set inside a pod (`KUBERNETES_SERVICE_HOST`).
    pub in_cluster: bool,
    /// The service account's namespace file, when mounted.
    pub service_account_namespace: Option<String>,
    /// The settings' `SEALSYNC_*` variables that are set (see `settings::env_values`).
    pub vars: BTreeMap<&'static str, String>,
}

/// Where Secrets go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSpec {
    Dir(PathBuf),
    Kube,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration.
pub struct AgentConfig {
    pub repo: String,
    pub reference: Option<String>,
    pub paths: Vec<String>,
    pub identity_files: Vec<PathBuf>,
    pub inline_identity: Option<SecretString>,
    pub sink: SinkSpec,
    pub namespace_policy: Vec<PolicyRule>,
    /// Per-path identity files (`--decryption-policy`); empty: single-tenant mode.
    pub decryption_policy: Vec<DecryptionRule>,
    /// `--instance` (None: the agent's own namespace, found when connecting).
    pub instance: Option<String>,
    pub allow_adopt: bool,
    /// `--ignore-leader`: `--once` writes although another replica holds the Lease.
    pub ignore_leader: bool,
    pub interval: Duration,
    pub once: bool,
    pub listen: SocketAddr,
    /// Where `/hooks/git` is served apart from the other endpoints; `None`: on `listen`.
    pub webhook_listen: Option<SocketAddr>,
    pub prune_max_share: f64,
    pub webhook_secret_file: Option<PathBuf>,
    pub log_format: LogFormat,
    pub git_auth: GitAuth,
    /// `--allowed-signers`: commits must be signed by a key of this file (read by `run::git_source`).
    pub allowed_signers: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub max_file_size: u64,
    pub max_files: usize,
    pub max_fetch_size: u64,
    pub default_namespace: Option<String>,
    /// `--cluster-store-path`: where a ClusterSecretStore may be read from.
    pub cluster_store_paths: Vec<String>,
    /// `--default-store`: the store of AVP Secrets that name none.
    pub default_store: Option<String>,
    /// `--service-account-token-file`: the agent's own token for Vault `kubernetes` logins.
    pub service_account_token_file: PathBuf,
    /// How long the leader Lease holds without renewal.
    pub lease_duration: Duration,
    /// How long after the last Secret change opted-in workloads are restarted (`--restart-debounce`).
    pub restart_debounce: Duration,
    /// The agent's own namespace if known without asking Kubernetes (POD_NAMESPACE, service account).
    pub own_namespace: Option<String>,
    /// The Lease holder identity: POD_NAME, else the hostname.
    pub holder_identity: String,
    /// Each setting with its value (never a secret) and where it came from, for `check-config`.
    pub explained: Vec<Explained>,
}

/// A configuration problem; the message says which setting and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(super) fn err<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// Parses `30s`, `5m`, `1h`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("'{text}' is not a duration ({e}); examples: 30s, 5m, 1h"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("'{text}' is too short; use at least 1s"));
    }
    Ok(d)
}

impl AgentConfig {
    /// Resolves every setting of [`SETTINGS`](super::settings::SETTINGS) (flags over environment
    /// over config file over defaults) and validates the result.
    pub fn resolve(args: &RunArgs, env: &ProcessEnv) -> Result<AgentConfig, ConfigError> {
        let mut r = Resolver::new(args, env);
        r.file = FileValues::load(r.text("config")?.as_deref().map(Path::new))?;
        let repo = r.required("repo", |t| Ok(t.to_string()))?;
        let reference = r.text("ref")?;
        let paths = r.list("paths")?;
        let identity_files = r
            .parsed_list("identities", |t| Ok(PathBuf::from(t)))?
            .into_iter()
            .chain(env.sops_age_key_file.clone())
            .collect::<Vec<_>>();
        if let Some(path) = identity_files.iter().find(|p| !p.is_file()) {
            return err(format!(
                "identity file {} does not exist or is not a file (mount the age key Secret there, or fix --identity)",
                path.display()
            ));
        }
        let sink = r.required("sink", parse_sink)?;
        let namespace_policy = r.parsed_list("namespace_policy", PolicyRule::parse)?;
        let decryption_policy = r.parsed_list("decryption_policy", DecryptionRule::parse)?;
        let instance = r.parsed("instance", dns_label)?;
        let allow_adopt = r.switch("allow_adopt")?;
        let ignore_leader = r.switch("ignore_leader")?;
        let interval = r.required("interval", parse_duration)?;
        let once = r.switch("once")?;
        let listen = r.required("listen", parse_addr)?;
        let webhook_listen = r.parsed("webhook_listen", parse_addr)?;
        if webhook_listen == Some(listen) {
            return err(format!(
                "--webhook-listen {listen} is the --listen address: give the webhook a port of its own, or leave --webhook-listen unset to serve it on --listen"
            ));
        }
        let prune_max_share = r.required("prune_max_share", parse_share)?;
        let webhook_secret_file = r.parsed("webhook_secret_file", |t| Ok(PathBuf::from(t)))?;
        let log_format = r.required("log_format", parse_log_format)?;
        let git_auth = match (r.text("token_file")?, r.text("ssh_key_file")?) {
            (Some(_), Some(_)) => {
                return err("give either --token-file or --ssh-key-file, not both")
            }
            (Some(t), None) => GitAuth::TokenFile(PathBuf::from(t)),
            (None, Some(k)) => GitAuth::SshKeyFile(PathBuf::from(k)),
            (None, None) => GitAuth::None,
        };
        let allowed_signers = r.parsed("allowed_signers", |t| Ok(PathBuf::from(t)))?;
        let cache_dir = PathBuf::from(r.text_or("cache_dir", default_cache_dir(env))?);
        let max_file_size = r.required("max_file_size", crate::size::parse_size)?;
        let max_files = r.required("max_files", parse_count)?;
        let max_fetch_size = r.required("max_fetch_size", crate::size::parse_size)?;
        let default_namespace = r.parsed("default_namespace", dns_label)?;
        let cluster_store_paths = r.list("cluster_store_path")?;
        crate::documents::ClusterStorePaths::new(&cluster_store_paths)
            .map_err(|e| ConfigError(format!("--cluster-store-path {e}")))?;
        let default_store = r.text("default_store")?;
        let service_account_token_file =
            r.required("service_account_token_file", |t| Ok(PathBuf::from(t)))?;
        let lease_duration = r.required("lease_duration", parse_lease)?;
        let restart_debounce = r.required("restart_debounce", parse_debounce)?;
        let mut explained = r.explained;
        explained.push(explain_age_env(env));
        Ok(AgentConfig {
            repo,
            reference,
            paths,
            identity_files,
            inline_identity: env.sops_age_key.clone(),
            sink,
            namespace_policy,
            decryption_policy,
            instance,
            allow_adopt,
            ignore_leader,
            interval,
            once,
            listen,
            webhook_listen,
            prune_max_share,
            webhook_secret_file,
            log_format,
            git_auth,
            allowed_signers,
            cache_dir,
            max_file_size,
            max_files,
            max_fetch_size,
            default_namespace,
            cluster_store_paths,
            default_store,
            service_account_token_file,
            lease_duration,
            restart_debounce,
            own_namespace: env
                .pod_namespace
                .clone()
                .or_else(|| env.service_account_namespace.clone()),
            holder_identity: env
                .pod_name
                .clone()
                .or_else(|| env.hostname.clone())
                .unwrap_or_else(|| format!("sealsync-{}", std::process::id())),
            explained,
        })
    }
}

fn parse_sink(text: &str) -> Result<SinkSpec, String> {
    match text {
        "kube" => Ok(SinkSpec::Kube),
        s if s.starts_with("dir:") && s.len() > 4 => Ok(SinkSpec::Dir(PathBuf::from(&s[4..]))),
        other => Err(format!("'{other}': expected dir:PATH or kube")),
    }
}

fn dns_label(name: &str) -> Result<String, String> {
    crate::names::dns_label(name)
        .map(|_| name.to_string())
        .map_err(|why| format!("'{name}': {why}"))
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("'{text}': expected ADDRESS:PORT, e.g. 0.0.0.0:8080"))
}

fn parse_share(text: &str) -> Result<f64, String> {
    text.parse()
        .ok()
        .filter(|f: &f64| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("'{text}': expected a number from 0 to 1"))
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("'{other}': expected text or json")),
    }
}

fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{text}' is not a positive number")),
    }
}

fn parse_lease(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    (d >= Duration::from_secs(2))
        .then_some(d)
        .ok_or_else(|| format!("'{text}' is too short; use at least 2s"))
}

/// Shorter than the 1s floor of other durations: tests (and impatient clusters) use 200ms.
fn parse_debounce(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("'{text}' is not a duration ({e}); examples: 200ms, 10s, 1m"))?;
    (d <= Duration::from_secs(3600))
        .then_some(d)
        .ok_or_else(|| format!("'{text}' is too long; use at most 1h"))
}

/// $XDG_CACHE_HOME/sealsync (or ~/.cache/sealsync), or /var/cache/sealsync in a pod.
fn default_cache_dir(env: &ProcessEnv) -> String {
    let dir = if env.in_cluster {
        PathBuf::from("/var/cache/sealsync")
    } else {
        env.xdg_cache_home
            .clone()
            .or_else(|| env.home.as_ref().map(|h| h.join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("sealsync")
    };
    dir.display().to_string()
}

/// The age key variables, explained without the key itself.
fn explain_age_env(env: &ProcessEnv) -> Explained {
    let shown = match (&env.sops_age_key_file, &env.sops_age_key) {
        (None, None) => "(none)".into(),
        (f, k) => [
            f.as_ref()
                .map(|p| format!("SOPS_AGE_KEY_FILE={}", p.display())),
            k.as_ref().map(|_| "SOPS_AGE_KEY=<set, hidden>".to_string()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
    };
    (
        "identities (environment)".into(),
        shown,
        "environment".into(),
    )
}
