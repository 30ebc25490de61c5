//! What every `sealctl` command shares: the environment read once at start, identities, `.sops.yaml`
//! lookup, format choice, and bounded reads and atomic writes of files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;

use crate::keys::{parse_recipient_list, Identities, IdentitySource};
use crate::sops::creation_rules::{self, SopsConfig};
use crate::sops::file::EncryptionSpec;
use crate::sops::rules::RuleSet;
use crate::sops::stores::{Format, Layout};

use super::args::{GlobalArgs, KeyArgs, RuleArgs};
use super::exit::{CliError, Exit};

/// The process environment sealctl honours, read once by the binary.
#[derive(Default)]
pub struct Env {
    pub cwd: PathBuf,
    pub sops_age_key_file: Option<PathBuf>,
    pub sops_age_key: Option<SecretString>,
    pub sops_age_ssh_private_key_file: Option<PathBuf>,
    /// `SOPS_AGE_KEY_CMD`: a command whose standard output holds identities.
    pub sops_age_key_cmd: Option<String>,
    /// `$XDG_CONFIG_HOME/sops/age/keys.txt` or `~/.config/sops/age/keys.txt`.
    pub default_key_file: Option<PathBuf>,
    /// `~/.ssh`, where sops looks for `id_ed25519` and `id_rsa` without SOPS_AGE_SSH_PRIVATE_KEY_FILE.
    pub ssh_dir: Option<PathBuf>,
    /// `SOPS_EDITOR`, else `EDITOR`.
    pub editor: Option<String>,
    /// `VAULT_TOKEN`: `render` resolves through a token store with it when the store's token Secret is
    /// not in the folder (or cannot be decrypted here).
    pub vault_token: Option<SecretString>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let config_home = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
        Env {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            sops_age_key_file: var("SOPS_AGE_KEY_FILE").map(PathBuf::from),
            sops_age_key: std::env::var("SOPS_AGE_KEY")
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretString::from),
            sops_age_ssh_private_key_file: var("SOPS_AGE_SSH_PRIVATE_KEY_FILE").map(PathBuf::from),
            sops_age_key_cmd: std::env::var("SOPS_AGE_KEY_CMD")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            default_key_file: config_home.map(|c| c.join("sops/age/keys.txt")),
            ssh_dir: var("HOME").map(|h| PathBuf::from(h).join(".ssh")),
            editor: std::env::var("SOPS_EDITOR")
                .ok()
                .or_else(|| std::env::var("EDITOR").ok())
                .filter(|v| !v.trim().is_empty()),
            vault_token: std::env::var("VAULT_TOKEN")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(SecretString::from),
        }
    }
}

/// Shared state of one `sealctl` run.
pub struct Context {
    pub env: Env,
    pub global: GlobalArgs,
    identities: Option<Arc<Identities>>,
    /// Whether the warning about an ignored `.sops.yml` was printed (once a run).
    warned_config: std::cell::Cell<bool>,
}

impl Context {
    pub fn new(env: Env, global: GlobalArgs) -> Context {
        Context {
            env,
            global,
            identities: None,
            warned_config: std::cell::Cell::new(false),
        }
    }

    /// Identities from every source sops reads — --identity, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY,
    /// SOPS_AGE_KEY_CMD, the default key file, SOPS_AGE_SSH_PRIVATE_KEY_FILE or else `~/.ssh/id_ed25519`
    /// and `~/.ssh/id_rsa` — loaded once. As in sops, one broken source never hides a working one: its
    /// error is a warning when another source gave identities, and the failure only when none did.
    pub fn identities(&mut self) -> Result<&Identities, CliError> {
        self.shared_identities().map(|ids| &**ids)
    }

    /// The identities of [`identities`](Self::identities), shareable with the agent's engine.
    pub fn shared_identities(&mut self) -> Result<&Arc<Identities>, CliError> {
        if self.identities.is_none() {
            // Passphrases are asked on the terminal only: without one, an encrypted key is an error
            // that says so, not a silent miss.
            let terminal = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .is_ok();
            let mut ids = if terminal {
                Identities::with_passphrase(std::sync::Arc::new(ask_passphrase))
            } else {
                Identities::default()
            };
            let mut errors = Vec::new();
            for source in self.identity_sources() {
                match source {
                    Ok(source) => {
                        if let Err(e) = ids.add(source) {
                            errors.push(CliError::from(e));
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
            for warning in ids.warnings() {
                eprintln!("warning: {warning}");
            }
            if ids.is_empty() {
                if let Some(first) = errors.into_iter().next() {
                    return Err(first);
                }
            } else {
                for e in &errors {
                    eprintln!(
                        "warning: {} (using the identities of the other sources)",
                        e.message
                    );
                }
            }
            for warning in ids.warnings() {
                eprintln!("warning: {warning}");
            }
            self.identities = Some(Arc::new(ids));
        }
        Ok(self.identities.as_ref().expect("just set"))
    }

    fn identity_sources(&self) -> Vec<Result<IdentitySource, CliError>> {
        let file = |path: &Path, origin: &str| {
            Ok(IdentitySource::File {
                path: path.to_path_buf(),
                origin: origin.into(),
            })
        };
        let mut sources = Vec::new();
        for path in &self.global.identity {
            sources.push(file(path, "--identity"));
        }
        if let Some(path) = &self.env.sops_age_key_file {
            sources.push(file(path, "SOPS_AGE_KEY_FILE"));
        }
        if let Some(text) = &self.env.sops_age_key {
            sources.push(Ok(IdentitySource::Inline {
                origin: "SOPS_AGE_KEY".into(),
                text: text.clone(),
            }));
        }
        if let Some(command) = &self.env.sops_age_key_cmd {
            sources.push(run_key_command(command).map(|text| IdentitySource::Inline {
                origin: "SOPS_AGE_KEY_CMD".into(),
                text,
            }));
        }
        if let Some(path) = self.env.default_key_file.as_ref().filter(|p| p.is_file()) {
            sources.push(file(path, "default key file"));
        }
        match (&self.env.sops_age_ssh_private_key_file, &self.env.ssh_dir) {
            (Some(path), _) => sources.push(file(path, "SOPS_AGE_SSH_PRIVATE_KEY_FILE")),
            (None, Some(dir)) => {
                for name in ["id_ed25519", "id_rsa"] {
                    let path = dir.join(name);
                    if path.is_file() {
                        sources.push(file(&path, "default SSH key"));
                    }
                }
            }
            (None, None) => {}
        }
        sources
    }

    /// The `.sops.yaml` in force: --config (or SOPS_CONFIG), else looked up from the working directory
    /// upward; a `.sops.yml` on the way is ignored with sops' warning.
    pub fn sops_config(&self) -> Result<Option<SopsConfig>, CliError> {
        let path = match &self.global.config {
            Some(p) => Some(p.clone()),
            None => {
                let lookup = creation_rules::find(&self.env.cwd);
                if let Some(warning) = lookup.warning() {
                    if !self.warned_config.replace(true) {
                        eprintln!("warning: {warning}");
                    }
                }
                lookup.path
            }
        };
        path.map(|p| SopsConfig::load(&p).map_err(CliError::from))
            .transpose()
    }

    /// How a file of `format` is written: --indent, else `.sops.yaml`'s `stores`, else sops' default.
    pub fn layout(&self, format: Format) -> Layout {
        if let Some(n) = self.global.indent {
            return Layout {
                indent: Some(usize::from(n)),
            };
        }
        self.sops_config()
            .ok()
            .flatten()
            .map(|c| c.layout(format))
            .unwrap_or_default()
    }

    /// Recipients and rules for a new file: flags win over the matching `.sops.yaml` rule. `--age`
    /// replaces only the rule's recipients: its encryption rules (`encrypted_regex`,
    /// `mac_only_encrypted`, ...) still apply, as in sops.
    pub fn encryption_spec(
        &self,
        file: &Path,
        keys: &KeyArgs,
        rules: &RuleArgs,
        default_rules: RuleSet,
    ) -> Result<EncryptionSpec, CliError> {
        let config = self.sops_config()?;
        let mut spec = if keys.age.is_empty() {
            let config = config.ok_or_else(|| {
                CliError::new(
                    Exit::NoRecipients,
                    "no recipients: pass --age age1… (or set SOPS_AGE_RECIPIENTS), or add a .sops.yaml with creation_rules",
                )
            })?;
            let rule = config.rule_for(file)?;
            EncryptionSpec {
                groups: rule.groups,
                threshold: rule.threshold,
                rules: rule.rules,
            }
        } else {
            let mut recipients = Vec::new();
            for list in &keys.age {
                recipients.extend(parse_recipient_list(list)?);
            }
            // As sops: a config whose rules do not match the file is an error even with --age.
            let rule = config.map(|c| c.rule_for(file)).transpose()?;
            EncryptionSpec {
                groups: vec![recipients],
                threshold: 0,
                rules: rule.map(|r| r.rules).unwrap_or_default(),
            }
        };
        if let Some(t) = keys.shamir_secret_sharing_threshold {
            spec.threshold = t;
        }
        let flags = rule_set(rules);
        if flags != RuleSet::default() {
            spec.rules = flags;
        } else if spec.rules == RuleSet::default() {
            spec.rules = default_rules;
        }
        Ok(spec)
    }

    /// Reads a plain file (or standard input for '-') up to the size limit.
    pub fn read_input(&self, file: &str) -> Result<Vec<u8>, CliError> {
        let limit = self.global.max_file_size;
        self.read_bounded(file, limit, &format!("the size limit of {limit} bytes"))
    }

    /// Reads an encrypted file (or standard input for '-'): the limit applies to the plaintext, so the
    /// ciphertext of any file within it is read (each value grows to its base64 text with an IV, a tag
    /// and a type — up to 17 times a one-digit value — and the metadata adds a few KiB per recipient).
    pub fn read_encrypted(&self, file: &str) -> Result<Vec<u8>, CliError> {
        let limit = self.global.max_file_size;
        let bound = self.encrypted_limit();
        self.read_bounded(
            file,
            bound,
            &format!("the limit of {bound} bytes for an encrypted file ({CIPHERTEXT_GROWTH} times the plaintext limit of {limit} bytes)"),
        )
    }

    /// The largest encrypted file [`read_encrypted`](Self::read_encrypted) reads.
    pub fn encrypted_limit(&self) -> u64 {
        self.global
            .max_file_size
            .saturating_mul(CIPHERTEXT_GROWTH)
            .saturating_add(METADATA_ALLOWANCE)
    }

    fn read_bounded(&self, file: &str, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
        let too_big = |size: &str| {
            CliError::new(
                Exit::Input,
                format!(
                    "{file}: {size} bytes exceeds {what} (raise it with --max-file-size or SEALCTL_MAX_FILE_SIZE)"
                ),
            )
        };
        if file == "-" {
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .take(limit + 1)
                .read_to_end(&mut buf)
                .map_err(|e| CliError::new(Exit::Input, format!("standard input: {e}")))?;
            if buf.len() as u64 > limit {
                // Reading stopped one byte past the limit: the true size is unknown.
                return Err(too_big(&format!("more than {limit}")));
            }
            return Ok(buf);
        }
        let path = Path::new(file);
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::new(Exit::Input, format!("{file}: {}", io_reason(&e))))?;
        if meta.is_dir() {
            return Err(CliError::new(
                Exit::Input,
                format!("{file}: is a directory"),
            ));
        }
        if meta.len() > limit {
            return Err(too_big(&meta.len().to_string()));
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut buf))
            .map_err(|e| CliError::new(Exit::Input, format!("{file}: {}", io_reason(&e))))?;
        if buf.len() as u64 > limit {
            return Err(too_big(&format!("more than {limit}")));
        }
        Ok(buf)
    }
}

/// How many times its plaintext limit an encrypted file may be (see `Context::read_encrypted`).
const CIPHERTEXT_GROWTH: u64 = 20;
/// Room for the `sops` metadata of an encrypted file beyond its values.
const METADATA_ALLOWANCE: u64 = 256 * 1024;

/// The most a `SOPS_AGE_KEY_CMD` may print: identities are short lines.
const MAX_KEY_COMMAND_OUTPUT: u64 = 1024 * 1024;

/// Runs `SOPS_AGE_KEY_CMD` as sops does (split into words, no shell) and returns what it printed.
fn run_key_command(command: &str) -> Result<SecretString, CliError> {
    let fail = |reason: String| CliError::new(Exit::NoKey, format!("SOPS_AGE_KEY_CMD: {reason}"));
    let words = shlex::split(command)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| fail("cannot split the command into words (unbalanced quotes?)".into()))?;
    let mut child = std::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run '{}': {}", words[0], io_reason(&e))))?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(MAX_KEY_COMMAND_OUTPUT)
        .read_to_end(&mut out);
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    read.map_err(|e| fail(format!("reading its output: {e}")))?;
    if !status.success() {
        return Err(fail(format!("'{}' failed ({status})", words[0])));
    }
    let text =
        std::str::from_utf8(&out).map_err(|_| fail("its output is not UTF-8 text".into()))?;
    Ok(SecretString::from(text.to_string()))
}

/// Asks for a passphrase on the terminal (`/dev/tty`), never echoing it; `None` without a terminal.
fn ask_passphrase(prompt: &str) -> Option<SecretString> {
    rpassword::prompt_password(prompt)
        .ok()
        .map(SecretString::from)
}

/// The rules given on the command line.
pub fn rule_set(rules: &RuleArgs) -> RuleSet {
    RuleSet {
        unencrypted_suffix: rules.unencrypted_suffix.clone(),
        encrypted_suffix: rules.encrypted_suffix.clone(),
        unencrypted_regex: rules.unencrypted_regex.clone(),
        encrypted_regex: rules.encrypted_regex.clone(),
        unencrypted_comment_regex: rules.unencrypted_comment_regex.clone(),
        encrypted_comment_regex: rules.encrypted_comment_regex.clone(),
        mac_only_encrypted: rules.mac_only_encrypted,
    }
}

/// The format for a path, or the one named by a `--input-type`/`--output-type` flag.
pub fn format_for(path: &Path, flag: Option<&str>) -> Result<Format, CliError> {
    match flag {
        Some(name) => Format::from_name(name).ok_or_else(|| {
            CliError::new(
                Exit::Usage,
                format!("unknown file type '{name}' (use yaml, json, dotenv, ini or binary)"),
            )
        }),
        None => Ok(Format::from_path(path)),
    }
}

/// Writes `bytes` over the file `path` names, as an in-place edit must:
/// - through a symbolic link to the file it points at (the link stays a link);
/// - atomically (a temporary file beside the target, then rename), keeping the target's permissions and
///   owner; a new file gets 0600;
/// - in place when the target has other hard links, or when its owner cannot be kept (a file of another
///   user that this one may write): a rename would detach the other names, or hand the file to this
///   user. That write is not atomic, as sops' never is.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let target = link_target(path)?;
    let fail = |e: std::io::Error| {
        CliError::new(
            Exit::Output,
            format!("{}: cannot write: {e}", target.display()),
        )
    };
    let existing = std::fs::metadata(&target).ok();
    #[cfg(unix)]
    if existing.as_ref().is_some_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.nlink() > 1
    }) {
        return write_in_place(&target, bytes).map_err(fail);
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sealctl-")
        .tempfile_in(&dir)
        .map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = existing
            .as_ref()
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        if let Some(meta) = &existing {
            let kept = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
            if kept.is_err() {
                drop(tmp);
                return write_in_place(&target, bytes).map_err(fail);
            }
        }
        // After chown, which clears set-id bits.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(fail)?;
    }
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(&target).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The file a path names once symbolic links are followed (also when the last one dangles: the file
/// is created where it points).
fn link_target(path: &Path) -> Result<PathBuf, CliError> {
    let mut current = path.to_path_buf();
    // As the kernel does (ELOOP): a bounded number of links.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).map_err(|e| {
                    CliError::new(
                        Exit::Output,
                        format!(
                            "{}: cannot read the link: {}",
                            current.display(),
                            io_reason(&e)
                        ),
                    )
                })?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(CliError::new(
        Exit::Output,
        format!("{}: too many levels of symbolic links", path.display()),
    ))
}

/// Overwrites the file's content in its own inode, so every hard link and the owner stay.
fn write_in_place(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(target)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Writes to standard output; a closed pipe (`| head`) is a normal end, not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(Exit::Output, format!("standard output: {e}"))),
    }
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
