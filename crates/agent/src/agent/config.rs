//! The agent's configuration: flags, environment and a config file become one validated `AgentConfig`
//! at start-up (flags over environment over file over defaults), passed down explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::git::GitAuth;
use crate::policy::{DecryptionRule, PolicyRule};
use crate::sops::tree::Value;

use super::args::RunArgs;
use super::config_file::FileValues;

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
    /// Which settings the command line set (the rest came from the environment or are unset).
    pub from_flags: Vec<&'static str>,
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
    pub cache_dir: PathBuf,
    pub max_file_size: u64,
    pub max_files: usize,
    pub max_fetch_size: u64,
    pub default_namespace: Option<String>,
    /// `--cluster-store-path`: where a ClusterSecretStore may be read from.
    pub cluster_store_paths: Vec<String>,
    /// `--default-store`: the store of AVP Secrets that name none.
    pub default_store: Option<String>,
    /// How long the leader Lease holds without renewal.
    pub lease_duration: Duration,
    /// The agent's own namespace if known without asking Kubernetes (POD_NAMESPACE, service account).
    pub own_namespace: Option<String>,
    /// The Lease holder identity: POD_NAME, else the hostname.
    pub holder_identity: String,
    /// Each setting with its value (never a secret) and where it came from, for `check-config`.
    pub explained: Vec<(String, String, String)>,
}

/// A configuration problem; the message says which setting and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(super) fn err<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// Resolves one setting: flag/env value, else file, else default; records where it came from.
struct Resolver<'a> {
    env: &'a ProcessEnv,
    file: &'a FileValues,
    explained: Vec<(String, String, String)>,
}

impl Resolver<'_> {
    fn origin(&self, flag: &'static str, env_var: &str) -> String {
        if self.env.from_flags.contains(&flag) {
            // The setting's name where it differs from its (repeatable, singular) flag.
            let shown = match flag {
                "paths" => "path",
                "identities" => "identity",
                other => other,
            };
            format!("flag --{}", shown.replace('_', "-"))
        } else {
            format!("environment {env_var}")
        }
    }

    fn file_origin(&self) -> String {
        format!(
            "config file {}",
            self.file
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    }

    fn one(
        &mut self,
        name: &'static str,
        env_var: &str,
        given: Option<String>,
        default: Option<&str>,
    ) -> Result<Option<String>, ConfigError> {
        let (value, origin) = if let Some(v) = given {
            (Some(v), self.origin(name, env_var))
        } else if let Some(v) = self.file.text(name)? {
            (Some(v), self.file_origin())
        } else {
            (default.map(String::from), "default".to_string())
        };
        // A repository URL may carry a token (https://user:TOKEN@host/...): never shown.
        let shown = match (&value, name) {
            (Some(url), "repo") => crate::git::redact_url(url),
            (Some(v), _) => v.clone(),
            (None, _) => "(unset)".into(),
        };
        self.explained.push((name.to_string(), shown, origin));
        Ok(value)
    }

    fn many(
        &mut self,
        name: &'static str,
        env_var: &str,
        given: Vec<String>,
    ) -> Result<Vec<String>, ConfigError> {
        let (values, origin) = if !given.is_empty() {
            (given, self.origin(name, env_var))
        } else {
            let v = self.file.list(name)?;
            let origin = if v.is_empty() {
                "default".into()
            } else {
                self.file_origin()
            };
            (v, origin)
        };
        self.explained.push((
            name.to_string(),
            if values.is_empty() {
                "(none)".into()
            } else {
                values.join(", ")
            },
            origin,
        ));
        Ok(values)
    }
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
    pub fn resolve(args: &RunArgs, env: &ProcessEnv) -> Result<AgentConfig, ConfigError> {
        let file = FileValues::load(args.config.as_deref())?;
        let mut r = Resolver {
            env,
            file: &file,
            explained: Vec::new(),
        };
        let repo = r
            .one("repo", "SEALSYNC_REPO", args.repo.clone(), None)?
            .ok_or_else(|| {
                ConfigError(
                    "no repository: pass --repo URL (or SEALSYNC_REPO, or repo: in --config)"
                        .into(),
                )
            })?;
        let reference = r.one("ref", "SEALSYNC_REF", args.reference.clone(), None)?;
        let paths = r.many("paths", "SEALSYNC_PATH", args.paths.clone())?;
        let identity_files: Vec<PathBuf> = r
            .many(
                "identities",
                "SEALSYNC_IDENTITY",
                args.identities
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            )?
            .into_iter()
            .map(PathBuf::from)
            .chain(env.sops_age_key_file.clone())
            .collect();
        for path in &identity_files {
            if !path.is_file() {
                return err(format!(
                    "identity file {} does not exist or is not a file (mount the age key Secret there, or fix --identity)",
                    path.display()
                ));
            }
        }
        let sink_text = r.one(
            "sink",
            "SEALSYNC_SINK",
            args.sink.clone(),
            Some("dir:./sealsync-secrets"),
        )?;
        let sink = match sink_text.as_deref() {
            Some("kube") => SinkSpec::Kube,
            Some(s) if s.starts_with("dir:") && s.len() > 4 => {
                SinkSpec::Dir(PathBuf::from(&s[4..]))
            }
            Some(other) => return err(format!("--sink '{other}': expected dir:PATH or kube")),
            None => unreachable!("has a default"),
        };
        let namespace_policy = r
            .many(
                "namespace_policy",
                "SEALSYNC_NAMESPACE_POLICY",
                // An empty value (the base ConfigMap's default) or a trailing ';' names no rule.
                args.namespace_policy
                    .iter()
                    .filter(|rule| !rule.trim().is_empty())
                    .cloned()
                    .collect(),
            )?
            .iter()
            .map(|text| {
                PolicyRule::parse(text).map_err(|e| ConfigError(format!("--namespace-policy {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let decryption_policy = r
            .many(
                "decryption_policy",
                "SEALSYNC_DECRYPTION_POLICY",
                args.decryption_policy.clone(),
            )?
            .iter()
            .map(|text| {
                DecryptionRule::parse(text)
                    .map_err(|e| ConfigError(format!("--decryption-policy {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let instance = r.one("instance", "SEALSYNC_INSTANCE", args.instance.clone(), None)?;
        if let Some(name) = &instance {
            crate::names::dns_label(name)
                .map_err(|why| ConfigError(format!("--instance '{name}': {why}")))?;
        }
        let allow_adopt = match r
            .one(
                "allow_adopt",
                "SEALSYNC_ALLOW_ADOPT",
                args.allow_adopt.then(|| "true".to_string()),
                Some("false"),
            )?
            .as_deref()
        {
            Some("true") => true,
            Some("false") => false,
            other => {
                return err(format!(
                    "allow_adopt '{}': expected true or false",
                    other.unwrap_or("")
                ))
            }
        };
        let interval = parse_duration(
            &r.one(
                "interval",
                "SEALSYNC_INTERVAL",
                args.interval.clone(),
                Some("1m"),
            )?
            .expect("default"),
        )
        .map_err(|e| ConfigError(format!("--interval {e}")))?;
        let once = args.once || matches!(file.map.get("once"), Some(Value::Bool(true)));
        let listen_text = r
            .one(
                "listen",
                "SEALSYNC_LISTEN",
                args.listen.clone(),
                Some("0.0.0.0:8080"),
            )?
            .expect("default");
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "--listen '{listen_text}': expected ADDRESS:PORT, e.g. 0.0.0.0:8080"
            ))
        })?;
        let webhook_listen = r
            .one(
                "webhook_listen",
                "SEALSYNC_WEBHOOK_LISTEN",
                args.webhook_listen.clone(),
                None,
            )?
            .map(|text| {
                text.parse::<SocketAddr>().map_err(|_| {
                    ConfigError(format!(
                        "--webhook-listen '{text}': expected ADDRESS:PORT, e.g. 0.0.0.0:8081"
                    ))
                })
            })
            .transpose()?;
        if webhook_listen == Some(listen) {
            return err(format!(
                "--webhook-listen {listen} is the --listen address: give the webhook a port of its own, or leave --webhook-listen unset to serve it on --listen"
            ));
        }
        let share_text = r
            .one(
                "prune_max_share",
                "SEALSYNC_PRUNE_MAX_SHARE",
                args.prune_max_share.map(|f| f.to_string()),
                Some("0.5"),
            )?
            .expect("default");
        let prune_max_share: f64 = share_text
            .parse()
            .ok()
            .filter(|f: &f64| (0.0..=1.0).contains(f))
            .ok_or_else(|| {
                ConfigError(format!(
                    "--prune-max-share '{share_text}': expected a number from 0 to 1"
                ))
            })?;
        let webhook_secret_file = r
            .one(
                "webhook_secret_file",
                "SEALSYNC_WEBHOOK_SECRET_FILE",
                args.webhook_secret_file
                    .as_ref()
                    .map(|p| p.display().to_string()),
                None,
            )?
            .map(PathBuf::from);
        let log_format = match r
            .one(
                "log_format",
                "SEALSYNC_LOG_FORMAT",
                args.log_format.clone(),
                Some("text"),
            )?
            .as_deref()
        {
            Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            other => {
                return err(format!(
                    "--log-format '{}': expected text or json",
                    other.unwrap_or("")
                ))
            }
        };
        let token_file = r.one(
            "token_file",
            "SEALSYNC_TOKEN_FILE",
            args.token_file.as_ref().map(|p| p.display().to_string()),
            None,
        )?;
        let ssh_key_file = r.one(
            "ssh_key_file",
            "SEALSYNC_SSH_KEY_FILE",
            args.ssh_key_file.as_ref().map(|p| p.display().to_string()),
            None,
        )?;
        let git_auth = match (token_file, ssh_key_file) {
            (Some(_), Some(_)) => {
                return err("give either --token-file or --ssh-key-file, not both")
            }
            (Some(t), None) => GitAuth::TokenFile(PathBuf::from(t)),
            (None, Some(k)) => GitAuth::SshKeyFile(PathBuf::from(k)),
            (None, None) => GitAuth::None,
        };
        let default_cache = if env.in_cluster {
            PathBuf::from("/var/cache/sealsync")
        } else {
            env.xdg_cache_home
                .clone()
                .or_else(|| env.home.as_ref().map(|h| h.join(".cache")))
                .unwrap_or_else(std::env::temp_dir)
                .join("sealsync")
        };
        let cache_dir = PathBuf::from(
            r.one(
                "cache_dir",
                "SEALSYNC_CACHE_DIR",
                args.cache_dir.as_ref().map(|p| p.display().to_string()),
                Some(&default_cache.display().to_string()),
            )?
            .expect("default"),
        );
        let size_text = r
            .one(
                "max_file_size",
                "SEALSYNC_MAX_FILE_SIZE",
                args.max_file_size.clone(),
                Some("5MiB"),
            )?
            .expect("default");
        let max_file_size = crate::size::parse_size(&size_text)
            .map_err(|e| ConfigError(format!("--max-file-size {e}")))?;
        let max_files_text = r
            .one(
                "max_files",
                "SEALSYNC_MAX_FILES",
                args.max_files.map(|n| n.to_string()),
                Some(&crate::git::DEFAULT_MAX_FILES.to_string()),
            )?
            .expect("default");
        let max_files = match max_files_text.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ConfigError(format!(
                    "--max-files: '{max_files_text}' is not a positive number"
                )))
            }
        };
        let fetch_text = r
            .one(
                "max_fetch_size",
                "SEALSYNC_MAX_FETCH_SIZE",
                args.max_fetch_size.clone(),
                Some("32MiB"),
            )?
            .expect("default");
        let max_fetch_size = crate::size::parse_size(&fetch_text)
            .map_err(|e| ConfigError(format!("--max-fetch-size {e}")))?;
        let default_namespace = r.one(
            "default_namespace",
            "SEALSYNC_DEFAULT_NAMESPACE",
            args.default_namespace.clone(),
            None,
        )?;
        let cluster_store_paths = r.many(
            "cluster_store_path",
            "SEALSYNC_CLUSTER_STORE_PATH",
            args.cluster_store_path
                .iter()
                .filter(|g| !g.trim().is_empty())
                .cloned()
                .collect(),
        )?;
        crate::documents::ClusterStorePaths::new(&cluster_store_paths)
            .map_err(|e| ConfigError(format!("--cluster-store-path {e}")))?;
        let default_store = r.one(
            "default_store",
            "SEALSYNC_DEFAULT_STORE",
            args.default_store.clone(),
            None,
        )?;
        if let Some(ns) = &default_namespace {
            crate::names::dns_label(ns)
                .map_err(|why| ConfigError(format!("--default-namespace '{ns}': {why}")))?;
        }
        let lease_text = r
            .one(
                "lease_duration",
                "SEALSYNC_LEASE_DURATION",
                args.lease_duration.clone(),
                Some("15s"),
            )?
            .expect("default");
        let lease_duration = parse_duration(&lease_text)
            .and_then(|d| {
                (d >= Duration::from_secs(2))
                    .then_some(d)
                    .ok_or_else(|| format!("'{lease_text}' is too short; use at least 2s"))
            })
            .map_err(|e| ConfigError(format!("--lease-duration {e}")))?;
        let own_namespace = env
            .pod_namespace
            .clone()
            .or_else(|| env.service_account_namespace.clone());
        let holder_identity = env
            .pod_name
            .clone()
            .or_else(|| env.hostname.clone())
            .unwrap_or_else(|| format!("sealsync-{}", std::process::id()));
        let mut explained = r.explained;
        explained.push((
            "identities (environment)".into(),
            match (&env.sops_age_key_file, &env.sops_age_key) {
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
            },
            "environment".into(),
        ));
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
            ignore_leader: args.ignore_leader,
            interval,
            once,
            listen,
            webhook_listen,
            prune_max_share,
            webhook_secret_file,
            log_format,
            git_auth,
            cache_dir,
            max_file_size,
            max_files,
            max_fetch_size,
            default_namespace,
            cluster_store_paths,
            default_store,
            lease_duration,
            own_namespace,
            holder_identity,
            explained,
        })
    }
}
