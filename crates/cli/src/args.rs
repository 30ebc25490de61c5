//! `sealctl`'s command line: commands and flags, spelled like sops' where a command exists in both.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use sealsync_agent::size::parse_size;

use super::exit::EXIT_CODES_HELP;

const ABOUT: &str =
    "Encrypt, decrypt and maintain SOPS files with age keys — the laptop and CI half of sealsync.";

const LONG_ABOUT: &str = "\
Encrypt, decrypt and maintain SOPS files with age keys — the laptop and CI half of sealsync.

Files written by sealctl and by sops are interchangeable: same format, same .sops.yaml creation
rules, same flags where a command exists in both. Values are encrypted with AES-256-GCM under a
per-file data key; the data key is wrapped for each age recipient; a MAC over all values is checked
before anything decrypted is shown.

Typical flow:
  sealctl keygen -o ~/.config/sops/age/keys.txt      # your identity (private; keep it)
  sealctl encrypt -i secret.yaml                      # recipients from .sops.yaml
  sealctl decrypt secret.yaml                         # needs an identity
  sealctl edit secret.yaml                            # decrypt, $EDITOR, re-encrypt
  sealctl create secret db -n team-a --from-literal password=s3cret > db.enc.yaml
  sealctl check .                                     # in CI: no plaintext Secrets, MACs valid

Identities (private keys) are read from --identity FILE, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY and
$XDG_CONFIG_HOME/sops/age/keys.txt (~/.config/sops/age/keys.txt), as sops reads them.";

#[derive(Parser, Debug)]
#[command(
    name = "sealctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug)]
pub struct GlobalArgs {
    /// age identity file to decrypt with (repeatable; a file may hold several identities). Added to
    /// SOPS_AGE_KEY_FILE, SOPS_AGE_KEY and the default key file.
    #[arg(long = "identity", global = true, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// .sops.yaml to use instead of looking it up from the working directory upward.
    #[arg(long, global = true, env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Refuse plaintext larger than this (bytes, or with a KiB/MiB suffix); an encrypted file may be up to
    /// 20 times as large.
    #[arg(long, global = true, env = "SEALCTL_MAX_FILE_SIZE", value_name = "SIZE", default_value = "5MiB", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Spaces per level in the YAML or JSON written (as sops' --indent; default: .sops.yaml's
    /// `stores`, else 4 for YAML and a tab for JSON).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub indent: Option<u8>,
}

// Deferred: a run builds the arguments of its own subcommand only (building all of them was a tenth
// of a small-file decrypt). `command_for_completions` expands them all, in the eager order.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Encrypt a plain file for the recipients of --age or the matching .sops.yaml rule.
    Encrypt(EncryptArgs),
    /// Decrypt a file (the MAC is always verified first) and print it.
    Decrypt(DecryptArgs),
    /// Decrypt into a private temporary file, open $EDITOR, re-encrypt; creates the file if missing.
    Edit(EditArgs),
    /// Set one value, given as JSON, at a key path such as '["stringData"]["password"]'.
    Set(SetArgs),
    /// Remove the value at a key path.
    Unset(UnsetArgs),
    /// Draw a new data key and re-encrypt every value (files or whole directories).
    Rotate(RotateArgs),
    /// Re-wrap data keys for the recipients the .sops.yaml creation rules name now.
    Updatekeys(UpdatekeysArgs),
    /// Run a command with the file's decrypted top-level values in its environment (never on disk).
    ExecEnv(ExecArgs),
    /// Run a command that reads the decrypted file from a named pipe: `{}` in the command is its path
    /// (never on disk).
    ExecFile(ExecArgs),
    /// Generate an age identity (or print it as a Kubernetes Secret for the cluster).
    Keygen(KeygenArgs),
    /// Create an encrypted Kubernetes object ready to commit.
    #[command(subcommand)]
    Create(CreateCommand),
    /// Check files for plaintext Secrets, broken MACs and recipients that differ from .sops.yaml.
    Check(CheckArgs),
    /// Show the Secrets the agent would produce from a folder of manifests, each key with where its
    /// value comes from (file, or store and remote key), values masked unless --reveal.
    Render(RenderArgs),
    /// Show a running agent's view of every Secret: state, source file and commit, last error, and
    /// every refused document — the answer to "why was my Secret not updated".
    Status(StatusArgs),
    /// Ask a running agent to fetch its external references (Vault, AWS) again now: every one, or one
    /// Secret's.
    #[command(after_help = REFRESH_HELP)]
    Refresh(RefreshArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
}

/// Every subcommand's arguments, expanded before the global arguments are propagated to it: the order
/// of options in the completion scripts, as when nothing was deferred.
pub fn command_for_completions() -> clap::Command {
    fn expanded(sub: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
        // `defer` replaces the derived deferral (this same `augment_args`) with nothing left to do.
        augment(sub).defer(|sub| sub)
    }
    let cli = Cli::command();
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    // `mut_subcommand` moves the subcommand to the end: visiting all in order keeps their order.
    names.iter().fold(cli, |cli, name| {
        cli.mut_subcommand(name, |sub| match sub.get_name() {
            "encrypt" => expanded(sub, EncryptArgs::augment_args),
            "decrypt" => expanded(sub, DecryptArgs::augment_args),
            "edit" => expanded(sub, EditArgs::augment_args),
            "set" => expanded(sub, SetArgs::augment_args),
            "unset" => expanded(sub, UnsetArgs::augment_args),
            "rotate" => expanded(sub, RotateArgs::augment_args),
            "updatekeys" => expanded(sub, UpdatekeysArgs::augment_args),
            "exec-env" | "exec-file" => expanded(sub, ExecArgs::augment_args),
            "keygen" => expanded(sub, KeygenArgs::augment_args),
            "check" => expanded(sub, CheckArgs::augment_args),
            "render" => expanded(sub, RenderArgs::augment_args),
            "status" => expanded(sub, StatusArgs::augment_args),
            "refresh" => expanded(sub, RefreshArgs::augment_args),
            "completion" => expanded(sub, CompletionArgs::augment_args),
            // `create` holds a subcommand enum, which is not deferred.
            _ => sub,
        })
    })
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The agent's operations address (kubectl port-forward deploy/sealsync 8080 for a cluster).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Print the raw JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

const REFRESH_HELP: &str = "\
The request is signed with the agent's webhook secret (the file its --webhook-secret-file names), as
a forge signs a push, and answered once the refresh is scheduled; `sealctl status` then shows the
result.

Examples:
  kubectl -n sealsync port-forward deploy/sealsync 8080 &
  kubectl -n sealsync get secret sealsync-webhook -o jsonpath='{.data.secret}' \\
    | base64 -d > hook.key
  sealctl refresh --secret-file hook.key                  # every reference
  sealctl refresh --secret-file hook.key team-a/db-creds  # one Secret's

Exit codes: 0 scheduled, 1 the agent could not be reached or refused, 2 the secret file cannot be
read, 64 bad usage.";

#[derive(Args, Debug)]
pub struct RefreshArgs {
    /// Only the references of this Secret (NAMESPACE/NAME); default: every reference.
    #[arg(value_name = "NAMESPACE/NAME")]
    pub secret: Option<String>,
    /// The agent's operations address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The webhook secret the agent was given (trailing line breaks are ignored, as the agent does).
    #[arg(long, value_name = "FILE", env = "SEALSYNC_WEBHOOK_SECRET_FILE")]
    pub secret_file: PathBuf,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug, Clone)]
pub struct IoArgs {
    /// The file to read; '-' reads standard input.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Format of the input: yaml, json, dotenv, ini or binary (default: from the file extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Format of the output (default: the input's).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Write the result back to FILE instead of standard output.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "PATH", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Use this path to pick the format and the .sops.yaml rule (useful with '-').
    #[arg(long, value_name = "PATH")]
    pub filename_override: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// age recipients (comma-separated, repeatable); replace the recipients of the matching .sops.yaml
    /// rule, whose encryption rules still apply.
    #[arg(
        long = "age",
        short = 'a',
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Vec<String>,
    /// Number of key groups needed to decrypt, when .sops.yaml defines several key groups.
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct RuleArgs {
    /// Encrypt only values whose key path has a key matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values whose key path has a key matching this regex in plaintext.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values whose key path has a key ending with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values whose key path has a key ending with this suffix in plaintext (default _unencrypted).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values below a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Leave values below a comment matching this regex in plaintext.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only, so plaintext fields may change without re-encrypting.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

#[derive(Args, Debug)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub io: IoArgs,
    /// Print only the value at this key path, e.g. '["stringData"]["password"]'.
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Recovery only: decrypt even if the MAC does not match (the file may have been tampered with).
    #[arg(long)]
    pub ignore_mac: bool,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// The file to edit (created from the .sops.yaml rule or --age when missing).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Key path in sops' syntax: '["a"]["b"][0]'.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// The new value as JSON ('"text"', 42, true, {"k":"v"}); with --value-file, a file holding it;
    /// omitted with --value-stdin.
    #[arg(value_name = "VALUE", required_unless_present = "value_stdin")]
    pub value: Option<String>,
    /// Read the JSON value from standard input (keeps it out of the shell history and process list).
    #[arg(long, conflicts_with = "value_file")]
    pub value_stdin: bool,
    /// Treat VALUE as a file to read the JSON value from (as sops does; keeps it out of the process
    /// list).
    #[arg(long)]
    pub value_file: bool,
    /// Do nothing (and leave the file untouched) if the path already holds this value.
    #[arg(long)]
    pub idempotent: bool,
    /// Recovery only: change the file even if its MAC does not match; the result gets a new MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct UnsetArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Key path in sops' syntax: '["a"]["b"][0]'.
    #[arg(value_name = "PATH")]
    pub path: String,
    /// Do nothing (and leave the file untouched) if the path does not exist.
    #[arg(long)]
    pub idempotent: bool,
    /// Recovery only: change the file even if its MAC does not match; the result gets a new MAC.
    #[arg(long)]
    pub ignore_mac: bool,
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    /// Files or directories (searched recursively for SOPS files).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Write results back in place (required for directories and several files).
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Also encrypt for these age recipients (comma-separated, repeatable; joins the first key group).
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Vec<String>,
    /// Stop encrypting for these age recipients (comma-separated, repeatable).
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Vec<String>,
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpdatekeysArgs {
    /// Files or directories (searched recursively for SOPS files).
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The encrypted file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The command, run by `sh -c` (its exit code becomes sealctl's).
    #[arg(value_name = "COMMAND")]
    pub command: String,
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// exec-file: the format the command reads (default: the file's own).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the identity to this file (mode 0600) instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "k8s_secret")]
    pub output: Option<PathBuf>,
    /// Print the identity as a Kubernetes Secret manifest with this name, for `kubectl apply -f -`.
    #[arg(long, value_name = "NAME")]
    pub k8s_secret: Option<String>,
    /// Namespace of the Secret printed by --k8s-secret.
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        default_value = "sealsync",
        requires = "k8s_secret"
    )]
    pub namespace: String,
}

#[derive(Subcommand, Debug)]
pub enum CreateCommand {
    /// An encrypted Secret, like `kubectl create secret generic` but ready to commit.
    Secret(CreateSecretArgs),
}

#[derive(Args, Debug)]
pub struct CreateSecretArgs {
    /// Name of the Secret.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Namespace of the Secret.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// A key and literal value: key=value (repeatable). The value shows in the process list (`ps`) to
    /// every user of the machine and stays in your shell history: for a real secret use --from-file.
    #[arg(long, value_name = "KEY=VALUE")]
    pub from_literal: Vec<String>,
    /// A key and a file whose content is the value: [key=]path (repeatable; the key defaults to the
    /// file name, and a directory gives one key per regular file in it). KEY=- reads the value from
    /// standard input.
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,
    /// A dotenv file whose KEY=VALUE lines become keys (repeatable; - reads standard input).
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Vec<PathBuf>,
    /// The Secret type.
    #[arg(long = "type", value_name = "TYPE", default_value = "Opaque")]
    pub secret_type: String,
    /// A label key=value (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// An annotation key=value (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// Write to this file instead of standard output (also picks the .sops.yaml rule).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files or directories to check (default: the working directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Do not require the MACs to be verified: without an identity that decrypts a file, check only
    /// its structure and recipients (by default such a file is reported as not verified).
    #[arg(long)]
    pub no_verify: bool,
}

const RENDER_AFTER_HELP: &str = "\
Examples:
  sealctl render apps/                        # every Secret under apps/, references resolved, values masked
  sealctl render --no-resolve apps/team-a     # what would be fetched and from which store; contacts nothing
  sealctl render --reveal apps/db.yaml        # print the values too (mind the terminal's scrollback)
  VAULT_TOKEN=$(bao print token) sealctl render apps/    # your own Vault token for a token store
  sealctl render --json apps/ | jq '.secrets[] | {namespace, name, error}'

Documents are read as the agent reads them from git, with the same code: encrypted Secrets, plain
Secrets, ExternalSecrets with their SecretStores and ClusterSecretStores, and Secrets with
argocd-vault-plugin placeholders. For each Secret it prints its namespace/name and type, and each key
with its source: the file, or the store (kind/name), remote key, property and version it is fetched
from. A value shows as its size (<24 bytes>) unless --reveal. Documents the agent would refuse are
listed with the file and the agent's reason code (no_key, mac, invalid, policy, duplicate,
unsupported, unresolved_reference, ...); a reference that fails is reported on its Secret only, naming
the store and the remote key, and everything else is still rendered.

Credentials: encrypted files are decrypted with the identities sealctl finds (--identity,
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_KEY_CMD, the default key file); without one, the files that
could not be decrypted are listed and the rest is rendered. A store's credentials come, as in the
agent, from the Secret its tokenSecretRef or secretRef names, committed encrypted in the same folder.
VAULT_TOKEN stands in for a token store's Secret that is missing or cannot be decrypted here; an AWS
store without auth uses the SDK's default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, web identity, ...).

Exit codes: 0 every Secret rendered; 20 some documents were refused or some references failed (the
others are shown); 2 a path could not be read; 64 bad usage.";

/// How `render` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
#[command(after_help = RENDER_AFTER_HELP)]
pub struct RenderArgs {
    /// Files or folders of manifests (folders are searched recursively; default: the working
    /// directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print the values themselves instead of their sizes.
    #[arg(long)]
    pub reveal: bool,
    /// Contact no store: show what each reference would fetch, and from which store.
    #[arg(long)]
    pub no_resolve: bool,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub output: RenderFormat,
    /// Same as --output json.
    #[arg(long, conflicts_with = "output")]
    pub json: bool,
    /// Namespace of documents that name none (the agent's --default-namespace).
    #[arg(long, value_name = "NS", default_value = "default")]
    pub default_namespace: String,
    /// The store of argocd-vault-plugin Secrets without a sealsync.dev/store annotation (the agent's
    /// --default-store).
    #[arg(long, value_name = "NAME")]
    pub default_store: Option<String>,
    /// Paths a ClusterSecretStore, or a store that logs in as the agent itself, may be read from, as
    /// globs over the paths as given here (the agent's --cluster-store-path; repeatable). None: every
    /// such store is refused, as in the agent.
    #[arg(long, value_name = "GLOB")]
    pub cluster_store_path: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the completions every subcommand lists its own options before the global ones, as before
    /// deferral: a subcommand added to `Command` must also be added to `command_for_completions`.
    #[test]
    fn completions_list_own_options_first() {
        let mut cmd = command_for_completions();
        cmd.build();
        let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(
            names,
            [
                "encrypt",
                "decrypt",
                "edit",
                "set",
                "unset",
                "rotate",
                "updatekeys",
                "exec-env",
                "exec-file",
                "keygen",
                "create",
                "check",
                "render",
                "status",
                "refresh",
                "completion",
                "help"
            ]
        );
        for sub in cmd.get_subcommands() {
            let ids: Vec<&str> = sub
                .get_arguments()
                .map(|a| a.get_id().as_str())
                .filter(|id| !matches!(*id, "help" | "version"))
                .collect();
            let first_global = ids.iter().position(|id| *id == "identity");
            let own_after_global = first_global.is_some_and(|at| {
                ids[at..]
                    .iter()
                    .any(|id| !matches!(*id, "identity" | "config" | "max_file_size" | "indent"))
            });
            assert!(!own_after_global, "{}: {ids:?}", sub.get_name());
        }
    }
}
