//! The agent's settings, each declared once: flag, environment variable, config-file key, default, help.
//!
//! Everything else is derived from [`SETTINGS`]: the clap arguments of `run` and `check-config`
//! ([`RunArgs`](super::args::RunArgs)), the config-file keys (unknown ones refused), the environment
//! names read, the defaults and `check-config`'s explanation of where each value came from.
//!
//! **Adding a setting** is one entry in [`SETTINGS`] (a `Setting { key, flag, env, .. }` literal;
//! `..BASE` fills the rest), then reading it in `AgentConfig::resolve` with the resolver helper for its
//! kind (`r.text("key")`, `r.parsed("key", parser)`, `r.list("key")`, `r.switch("key")`) into a field
//! of `AgentConfig`. Its flag, `SEALSYNC_*` variable, file key, help and explanation need no other edit.

use std::collections::BTreeMap;

/// How a setting takes its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One value.
    One,
    /// A repeatable flag; its environment variable holds the values separated by this character, the
    /// config file a YAML list (or one string). Empty items name nothing.
    List(char),
    /// An on/off flag (`--once`); `true`/`false` in the environment and the config file.
    Switch,
}

/// One setting, declared once.
#[derive(Debug)]
pub struct Setting {
    /// The config-file key and the name `check-config` shows.
    pub key: &'static str,
    /// The long flag, without `--`.
    pub flag: &'static str,
    /// The environment variable, if the setting reads one.
    pub env: Option<&'static str>,
    /// Whether the `--config` file may set it.
    pub in_file: bool,
    /// Whether `check-config` lists it.
    pub explained: bool,
    pub kind: Kind,
    /// The default as the user would type it; `None`: unset (or computed by `resolve`).
    pub default: Option<&'static str>,
    pub value_name: &'static str,
    /// The value is a URL that may carry a token: `check-config` shows it redacted.
    pub redact_url: bool,
    pub help: &'static str,
}

/// What most settings share; entries override the rest.
const BASE: Setting = Setting {
    key: "",
    flag: "",
    env: None,
    in_file: true,
    explained: true,
    kind: Kind::One,
    default: None,
    value_name: "VALUE",
    redact_url: false,
    help: "",
};

/// Every setting, in `--help` and `check-config` order.
#[rustfmt::skip]
pub static SETTINGS: &[Setting] = &[
    Setting { key: "config", flag: "config", env: Some("SEALSYNC_CONFIG"), in_file: false, explained: false, value_name: "FILE",
        help: "A YAML configuration file (keys named like the settings, with underscores: repo, ref, paths, …).", ..BASE },
    Setting { key: "repo", flag: "repo", env: Some("SEALSYNC_REPO"), value_name: "URL", redact_url: true,
        help: "The git repository: a path, file://, git://, http(s):// or ssh:// URL.", ..BASE },
    Setting { key: "ref", flag: "ref", env: Some("SEALSYNC_REF"), value_name: "REF",
        help: "Branch, tag or commit to follow (default: the remote's HEAD).", ..BASE },
    Setting { key: "paths", flag: "path", env: Some("SEALSYNC_PATH"), kind: Kind::List(','), value_name: "PATH",
        help: "Only read these folders or files of the repository (repeatable; default: all).", ..BASE },
    Setting { key: "identities", flag: "identity", env: Some("SEALSYNC_IDENTITY"), kind: Kind::List(','), value_name: "FILE",
        help: "age identity file (repeatable). SOPS_AGE_KEY_FILE and SOPS_AGE_KEY are honoured too.", ..BASE },
    Setting { key: "sink", flag: "sink", env: Some("SEALSYNC_SINK"), default: Some("dir:./sealsync-secrets"), value_name: "SINK",
        help: "Where Secrets go: `dir:PATH` (files laid out like a mounted Secret volume) or `kube`.", ..BASE },
    Setting { key: "namespace_policy", flag: "namespace-policy", env: Some("SEALSYNC_NAMESPACE_POLICY"), kind: Kind::List(';'), value_name: "GLOB=NS",
        help: "Which namespaces a path may write to: 'GLOB=NS[,NS...]' (repeatable; globs match the path relative to the repository root, e.g. 'apps/team-a/**=team-a').", ..BASE },
    Setting { key: "decryption_policy", flag: "decryption-policy", env: Some("SEALSYNC_DECRYPTION_POLICY"), kind: Kind::List(';'), value_name: "GLOB=FILE",
        help: "Which age identities may decrypt the files under a path: 'GLOB=FILE[,FILE...]' (repeatable, ';'-separated in the environment), as Flux's per-tenant decryption keys. A path a rule matches is decrypted only with that rule's identities, so a team's folder cannot have another team's ciphertext decrypted; other paths use --identity. Without rules: single-tenant mode.", ..BASE },
    Setting { key: "instance", flag: "instance", env: Some("SEALSYNC_INSTANCE"), value_name: "NAME",
        help: "This agent's instance name, recorded on every Secret it writes (label sealsync.dev/instance): it prunes, adopts and reverts only its own, so several agents (repositories, shards) can share namespaces. Default: the agent's own namespace (then Secrets written before instances existed are its own).", ..BASE },
    Setting { key: "allow_adopt", flag: "allow-adopt", env: Some("SEALSYNC_ALLOW_ADOPT"), kind: Kind::Switch, default: Some("false"),
        help: "Let a document's `sealsync.dev/adopt: \"true\"` annotation take over an existing Secret that no other controller owns (default: refused, with this flag named in the reason).", ..BASE },
    Setting { key: "ignore_leader", flag: "ignore-leader", in_file: false, explained: false, kind: Kind::Switch, default: Some("false"),
        help: "With --once and the kube sink: write even while another replica holds the leader Lease (refused otherwise, exit code 3).", ..BASE },
    Setting { key: "interval", flag: "interval", env: Some("SEALSYNC_INTERVAL"), default: Some("1m"), value_name: "DURATION",
        help: "How often to poll git: 30s, 5m, 1h (default 1m).", ..BASE },
    Setting { key: "once", flag: "once", explained: false, kind: Kind::Switch, default: Some("false"),
        help: "Reconcile once and exit (see the exit codes below).", ..BASE },
    Setting { key: "listen", flag: "listen", env: Some("SEALSYNC_LISTEN"), default: Some("0.0.0.0:8080"), value_name: "ADDR",
        help: "Address of /healthz, /readyz, /metrics, /status — and of /hooks/git too unless --webhook-listen is set (default 0.0.0.0:8080; not opened by --once).", ..BASE },
    Setting { key: "webhook_listen", flag: "webhook-listen", env: Some("SEALSYNC_WEBHOOK_LISTEN"), value_name: "ADDR",
        help: "Serve /hooks/git on this address only, apart from health and metrics (e.g. 0.0.0.0:8081, the port to expose through an ingress). Unset: /hooks/git is served on --listen, as before.", ..BASE },
    Setting { key: "prune_max_share", flag: "prune-max-share", env: Some("SEALSYNC_PRUNE_MAX_SHARE"), default: Some("0.5"), value_name: "SHARE",
        help: "Refuse to prune more than this share of managed Secrets in one commit (default 0.5).", ..BASE },
    Setting { key: "webhook_secret_file", flag: "webhook-secret-file", env: Some("SEALSYNC_WEBHOOK_SECRET_FILE"), value_name: "FILE",
        help: "File holding the webhook secret (GitHub X-Hub-Signature-256 HMAC or GitLab X-Gitlab-Token).", ..BASE },
    Setting { key: "log_format", flag: "log-format", env: Some("SEALSYNC_LOG_FORMAT"), default: Some("text"), value_name: "FORMAT",
        help: "Log format: text or json (default text).", ..BASE },
    Setting { key: "token_file", flag: "token-file", env: Some("SEALSYNC_TOKEN_FILE"), value_name: "FILE",
        help: "Access token file for https:// remotes.", ..BASE },
    Setting { key: "ssh_key_file", flag: "ssh-key-file", env: Some("SEALSYNC_SSH_KEY_FILE"), value_name: "FILE",
        help: "Private key file for ssh:// remotes.", ..BASE },
    Setting { key: "allowed_signers", flag: "allowed-signers", env: Some("SEALSYNC_ALLOWED_SIGNERS"), value_name: "FILE",
        help: "Apply only commits signed with SSH (git's gpg.format ssh) by a key of this OpenSSH allowed-signers file, as `git verify-commit` with gpg.ssh.allowedSignersFile accepts them; an unsigned or untrusted commit is refused and the last good commit stays (read at start-up; default: signatures not checked).", ..BASE },
    Setting { key: "cache_dir", flag: "cache-dir", env: Some("SEALSYNC_CACHE_DIR"), value_name: "DIR",
        help: "Where the git cache lives (default $XDG_CACHE_HOME/sealsync, or /var/cache/sealsync in a pod).", ..BASE },
    Setting { key: "max_file_size", flag: "max-file-size", env: Some("SEALSYNC_MAX_FILE_SIZE"), default: Some("5MiB"), value_name: "SIZE",
        help: "Refuse manifest files larger than this (default 5MiB).", ..BASE },
    Setting { key: "max_files", flag: "max-files", env: Some("SEALSYNC_MAX_FILES"), default: Some("20000"), value_name: "N",
        help: "Refuse a commit with more files than this under the configured paths (default 20000); the last good commit stays in use.", ..BASE },
    Setting { key: "max_fetch_size", flag: "max-fetch-size", env: Some("SEALSYNC_MAX_FETCH_SIZE"), default: Some("32MiB"), value_name: "SIZE",
        help: "Stop a fetch whose pack passes this size and refuse its commit (default 32MiB); the last good commit stays in use. The git cache is on a memory-backed volume in `deploy/`.", ..BASE },
    Setting { key: "default_namespace", flag: "default-namespace", env: Some("SEALSYNC_DEFAULT_NAMESPACE"), value_name: "NS",
        help: "Namespace of documents that name none (default: the agent's own namespace with the kube sink, `default` with the dir sink).", ..BASE },
    Setting { key: "cluster_store_path", flag: "cluster-store-path", env: Some("SEALSYNC_CLUSTER_STORE_PATH"), kind: Kind::List(';'), value_name: "GLOB",
        help: "Paths (globs relative to the repository root, e.g. 'platform/stores/**') a ClusterSecretStore, or a store that logs in as the agent itself (Vault kubernetes auth without serviceAccountRef or secretRef, AWS without auth), may be read from (repeatable; ';'-separated in the environment). None: every such store is refused, so a team folder can neither define a store for all namespaces nor lend itself the agent's identity.", ..BASE },
    Setting { key: "default_store", flag: "default-store", env: Some("SEALSYNC_DEFAULT_STORE"), value_name: "NAME",
        help: "The store of argocd-vault-plugin Secrets that carry no `sealsync.dev/store` annotation (default: none; such a Secret is refused with this flag named).", ..BASE },
    Setting { key: "service_account_token_file", flag: "service-account-token-file", env: Some("SEALSYNC_SERVICE_ACCOUNT_TOKEN_FILE"), default: Some("/var/run/secrets/kubernetes.io/serviceaccount/token"), value_name: "FILE",
        help: "The agent's own service account token, for stores with Vault `kubernetes` auth that name no serviceAccountRef or secretRef; read at each login, so a rotated projected token is picked up (default: the in-cluster path).", ..BASE },
    Setting { key: "lease_duration", flag: "lease-duration", env: Some("SEALSYNC_LEASE_DURATION"), default: Some("15s"), value_name: "DURATION",
        help: "How long the leader's Lease holds without renewal (default 15s; at least 2s). Renewals every third of it; a leader that cannot renew for two thirds of it stops writing.", ..BASE },
    Setting { key: "restart_debounce", flag: "restart-debounce", env: Some("SEALSYNC_RESTART_DEBOUNCE"), default: Some("10s"), value_name: "DURATION",
        help: "With the kube sink, how long after the last change to a Secret the workloads that opted in to restarts are restarted (default 10s; at most 1h): changes within it cause one restart per workload.", ..BASE },
];

/// The setting with this key. Keys are constants of this crate; the unit tests resolve every one.
pub fn setting(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no setting '{key}' in SETTINGS"))
}

/// The `SEALSYNC_*` variables of [`SETTINGS`] that `var` finds, read once by the binary.
pub fn env_values(var: impl Fn(&str) -> Option<String>) -> BTreeMap<&'static str, String> {
    SETTINGS
        .iter()
        .filter_map(|s| s.env)
        .filter_map(|name| var(name).map(|v| (name, v)))
        .collect()
}

/// The clap argument of a setting. Environment variables are read by the resolver, not by clap, so
/// they can be injected in tests; `--help` still names them.
pub(super) fn clap_arg(s: &'static Setting) -> clap::Arg {
    let help = match s.env {
        Some(env) => format!("{} [env: {env}]", s.help),
        None => s.help.to_string(),
    };
    let arg = clap::Arg::new(s.key).long(s.flag).help(help);
    match s.kind {
        Kind::One => arg.value_name(s.value_name).action(clap::ArgAction::Set),
        Kind::List(delimiter) => arg
            .value_name(s.value_name)
            .value_delimiter(delimiter)
            .action(clap::ArgAction::Append),
        Kind::Switch => arg.action(clap::ArgAction::SetTrue),
    }
}

/// The values a command line gave each setting (absent: not on the command line).
pub(super) fn from_matches(m: &clap::ArgMatches) -> BTreeMap<&'static str, Vec<String>> {
    let mut given = BTreeMap::new();
    for s in SETTINGS {
        if m.value_source(s.key) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let values = match s.kind {
            Kind::Switch => vec![m.get_flag(s.key).to_string()],
            _ => m
                .get_many::<String>(s.key)
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
        };
        given.insert(s.key, values);
    }
    given
}

/// The known config-file keys.
pub fn file_keys() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(|s| s.in_file).map(|s| s.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_one_rule() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..]
                    .iter()
                    .all(|o| o.key != s.key && o.flag != s.flag),
                "{s:?}"
            );
            if let Some(env) = s.env {
                let derived = format!("SEALSYNC_{}", s.flag.to_uppercase().replace('-', "_"));
                assert_eq!(env, derived, "{}", s.key);
            }
        }
    }

    #[test]
    fn max_files_default_is_the_git_default() {
        assert_eq!(
            setting("max_files").default,
            Some(crate::git::DEFAULT_MAX_FILES.to_string().as_str())
        );
    }
}
