//! `sealsync`'s command line. Every `run` flag also reads an environment variable (flags win), and a
//! `--config` file fills in what neither sets.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Precedence: command-line flags, then SEALSYNC_* environment variables, then the --config file, then
defaults. `sealsync check-config` shows the result and where each value came from.

Exit codes of `run --once`:
  0  everything was applied
  1  fatal error (bad configuration, unreachable remote, sink unavailable): the sink was not touched
  2  some documents failed or a prune was refused; everything else was applied
  3  kube sink: another replica holds the leader Lease, so nothing was written (--ignore-leader
     writes anyway)";

#[derive(Parser, Debug)]
#[command(
    name = "sealsync",
    version,
    about = "The sealsync agent: keeps Kubernetes Secrets (or a folder) equal to what git declares, decrypting SOPS files with age identities that live only where the agent runs, and puts back Secrets edited by hand.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Reconcile continuously (or once with --once).
    Run(RunArgs),
    /// Validate the configuration and explain the value in force for each setting.
    CheckConfig(RunArgs),
}

#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// A YAML configuration file (keys named like the flags, with underscores: repo, ref, paths, …).
    #[arg(long, env = "SEALSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The git repository: a path, file://, git://, http(s):// or ssh:// URL.
    #[arg(long, env = "SEALSYNC_REPO", value_name = "URL")]
    pub repo: Option<String>,
    /// Branch, tag or commit to follow (default: the remote's HEAD).
    #[arg(long = "ref", env = "SEALSYNC_REF", value_name = "REF")]
    pub reference: Option<String>,
    /// Only read these folders or files of the repository (repeatable; default: all).
    #[arg(
        long = "path",
        env = "SEALSYNC_PATH",
        value_name = "PATH",
        value_delimiter = ','
    )]
    pub paths: Vec<String>,
    /// age identity file (repeatable). SOPS_AGE_KEY_FILE and SOPS_AGE_KEY are honoured too.
    #[arg(
        long = "identity",
        env = "SEALSYNC_IDENTITY",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub identities: Vec<PathBuf>,
    /// Where Secrets go: `dir:PATH` (files laid out like a mounted Secret volume) or `kube`.
    #[arg(long, env = "SEALSYNC_SINK", value_name = "SINK")]
    pub sink: Option<String>,
    /// Which namespaces a path may write to: 'GLOB=NS[,NS...]' (repeatable; globs match the path
    /// relative to the repository root, e.g. 'apps/team-a/**=team-a').
    #[arg(
        long = "namespace-policy",
        env = "SEALSYNC_NAMESPACE_POLICY",
        value_name = "GLOB=NS",
        value_delimiter = ';'
    )]
    pub namespace_policy: Vec<String>,
    /// Which age identities may decrypt the files under a path: 'GLOB=FILE[,FILE...]' (repeatable,
    /// ';'-separated in the environment), as Flux's per-tenant decryption keys. A path a rule matches
    /// is decrypted only with that rule's identities, so a team's folder cannot have another team's
    /// ciphertext decrypted; other paths use --identity. Without rules: single-tenant mode.
    #[arg(
        long = "decryption-policy",
        env = "SEALSYNC_DECRYPTION_POLICY",
        value_name = "GLOB=FILE",
        value_delimiter = ';'
    )]
    pub decryption_policy: Vec<String>,
    /// This agent's instance name, recorded on every Secret it writes (label sealsync.dev/instance):
    /// it prunes, adopts and reverts only its own, so several agents (repositories, shards) can share
    /// namespaces. Default: the agent's own namespace (then Secrets written before instances existed
    /// are its own).
    #[arg(long, env = "SEALSYNC_INSTANCE", value_name = "NAME")]
    pub instance: Option<String>,
    /// Let a document's `sealsync.dev/adopt: "true"` annotation take over an existing Secret that no
    /// other controller owns (default: refused, with this flag named in the reason).
    #[arg(long, env = "SEALSYNC_ALLOW_ADOPT")]
    pub allow_adopt: bool,
    /// With --once and the kube sink: write even while another replica holds the leader Lease
    /// (refused otherwise, exit code 3).
    #[arg(long)]
    pub ignore_leader: bool,
    /// How often to poll git: 30s, 5m, 1h (default 1m).
    #[arg(long, env = "SEALSYNC_INTERVAL", value_name = "DURATION")]
    pub interval: Option<String>,
    /// Reconcile once and exit (see the exit codes below).
    #[arg(long)]
    pub once: bool,
    /// Address of /healthz, /readyz, /metrics, /status — and of /hooks/git too unless
    /// --webhook-listen is set (default 0.0.0.0:8080; not opened by --once).
    #[arg(long, env = "SEALSYNC_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Serve /hooks/git on this address only, apart from health and metrics (e.g. 0.0.0.0:8081, the
    /// port to expose through an ingress). Unset: /hooks/git is served on --listen, as before.
    #[arg(long, env = "SEALSYNC_WEBHOOK_LISTEN", value_name = "ADDR")]
    pub webhook_listen: Option<String>,
    /// Refuse to prune more than this share of managed Secrets in one commit (default 0.5).
    #[arg(long, env = "SEALSYNC_PRUNE_MAX_SHARE", value_name = "SHARE")]
    pub prune_max_share: Option<f64>,
    /// File holding the webhook secret (GitHub X-Hub-Signature-256 HMAC or GitLab X-Gitlab-Token).
    #[arg(long, env = "SEALSYNC_WEBHOOK_SECRET_FILE", value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Log format: text or json (default text).
    #[arg(long, env = "SEALSYNC_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Access token file for https:// remotes.
    #[arg(long, env = "SEALSYNC_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Private key file for ssh:// remotes.
    #[arg(long, env = "SEALSYNC_SSH_KEY_FILE", value_name = "FILE")]
    pub ssh_key_file: Option<PathBuf>,
    /// Where the git cache lives (default $XDG_CACHE_HOME/sealsync, or /var/cache/sealsync in a pod).
    #[arg(long, env = "SEALSYNC_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Refuse manifest files larger than this (default 5MiB).
    #[arg(long, env = "SEALSYNC_MAX_FILE_SIZE", value_name = "SIZE")]
    pub max_file_size: Option<String>,
    /// How long the leader's Lease holds without renewal (default 15s; at least 2s). Renewals every
    /// third of it; a leader that cannot renew for two thirds of it stops writing.
    #[arg(long, env = "SEALSYNC_LEASE_DURATION", value_name = "DURATION")]
    pub lease_duration: Option<String>,
    /// Refuse a commit with more files than this under the configured paths (default 20000); the
    /// last good commit stays in use.
    #[arg(long, env = "SEALSYNC_MAX_FILES", value_name = "N")]
    pub max_files: Option<usize>,
    /// Stop a fetch whose pack passes this size and refuse its commit (default 32MiB); the last good
    /// commit stays in use. The git cache is on a memory-backed volume in `deploy/`.
    #[arg(long, env = "SEALSYNC_MAX_FETCH_SIZE", value_name = "SIZE")]
    pub max_fetch_size: Option<String>,
    /// Namespace of documents that name none (default: the agent's own namespace with the kube sink,
    /// `default` with the dir sink).
    #[arg(long, env = "SEALSYNC_DEFAULT_NAMESPACE", value_name = "NS")]
    pub default_namespace: Option<String>,
    /// Paths (globs relative to the repository root) a ClusterSecretStore may be read from
    /// (repeatable, ';'-separated in the environment). None: every ClusterSecretStore is refused.
    #[arg(
        long = "cluster-store-path",
        env = "SEALSYNC_CLUSTER_STORE_PATH",
        value_name = "GLOB",
        value_delimiter = ';'
    )]
    pub cluster_store_path: Vec<String>,
    /// The store of argocd-vault-plugin Secrets without a `sealsync.dev/store` annotation.
    #[arg(long, env = "SEALSYNC_DEFAULT_STORE", value_name = "NAME")]
    pub default_store: Option<String>,
}
