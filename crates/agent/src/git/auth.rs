//! Credentials for remotes: the token file as HTTP basic auth, and the ssh command line for a private key file.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::config::{GitAuth, Settings};
use super::error::GitError;

/// The basic-auth user sent with a token when the URL names none. GitHub documents `x-access-token`
/// for installation tokens and accepts it for personal tokens; GitLab and Gitea accept any user with a token.
pub const DEFAULT_TOKEN_USER: &str = "x-access-token";

/// A token read from its file; the value is only exposed to gix's credential callback.
pub(crate) struct Token {
    user: String,
    secret: SecretString,
}

impl Token {
    /// Reads the token file named by `settings`, if any. The file is read at every fetch so a rotated
    /// Secret takes effect without a restart.
    pub(crate) fn load(settings: &Settings) -> Result<Option<Token>, GitError> {
        let GitAuth::TokenFile(path) = &settings.auth else {
            return Ok(None);
        };
        let secret = read_token_file(path).map_err(|reason| GitError::Auth {
            url: settings.display_url.clone(),
            reason,
        })?;
        let user = settings
            .url_user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_USER.to_owned());
        Ok(Some(Token { user, secret }))
    }

    /// The token text, for scrubbing messages.
    pub(crate) fn expose_for_scrubbing(&self) -> &str {
        self.secret.expose_secret()
    }

    /// A credential callback for gix that answers every request with this token.
    // The callback's signature (and its large error type) is gix's.
    #[allow(clippy::result_large_err)]
    pub(crate) fn credentials(
        &self,
    ) -> impl FnMut(gix::credentials::helper::Action) -> gix::credentials::protocol::Result + '_
    {
        move |action| match action {
            gix::credentials::helper::Action::Get(ctx) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: self.user.clone(),
                        password: self.secret.expose_secret().to_owned(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                }))
            }
            // Nothing is stored or erased: the token file is the only source of truth.
            gix::credentials::helper::Action::Store(_)
            | gix::credentials::helper::Action::Erase(_) => Ok(None),
        }
    }
}

/// Used when no token is configured: never prompts, never runs credential helpers, so a remote that asks
/// for credentials fails fast with an `Auth` error instead of hanging a headless agent.
#[allow(clippy::result_large_err)] // gix's callback signature
pub(crate) fn no_credentials(
    action: gix::credentials::helper::Action,
) -> gix::credentials::protocol::Result {
    let _ = action;
    Ok(None)
}

fn read_token_file(path: &Path) -> Result<SecretString, String> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
    // Secrets mounted from Kubernetes or written by `echo` often end in a newline.
    let token = raw.trim();
    if token.is_empty() {
        return Err(format!("the token file {} is empty", path.display()));
    }
    if token.contains(['\n', '\r']) {
        return Err(format!(
            "the token file {} holds more than one line; it must hold only the token",
            path.display()
        ));
    }
    let secret = SecretString::from(token.to_owned());
    drop(zeroize::Zeroizing::new(raw));
    Ok(secret)
}

/// The `core.sshCommand`: no prompts, and with a key file only that key (no agent keys). With `pinned`, the host
/// key must be in that known_hosts file; otherwise it is trusted on first use and remembered in `remembered`
/// (never the user's `~/.ssh`). ssh's own messages go to `stderr_file`, to be quoted in errors.
pub(crate) fn ssh_command(
    key: Option<&Path>,
    pinned: Option<&Path>,
    remembered: &Path,
    stderr_file: &Path,
) -> String {
    let quote = |p: &Path| shell_quote(&p.to_string_lossy());
    let identity = match key {
        Some(key) => format!(
            "-i {} -o IdentitiesOnly=yes -o IdentityAgent=none ",
            quote(key)
        ),
        None => String::new(),
    };
    let host_keys = match pinned {
        Some(file) => format!(
            "-o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
            quote(file)
        ),
        None => format!(
            "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}",
            quote(remembered)
        ),
    };
    // gix runs this through `sh -c '<command> "$@"'`: the redirection applies to ssh itself.
    format!(
        "ssh {identity}-o BatchMode=yes {host_keys} -o ConnectTimeout=30 -o LogLevel=ERROR 2>{}",
        quote(stderr_file)
    )
}

/// Checks the key file before ssh runs, so a missing mount gives a clear error rather than ssh's.
pub(crate) fn check_key_file(settings: &Settings) -> Result<(), GitError> {
    if let GitAuth::SshKeyFile(key) = &settings.auth {
        std::fs::File::open(key).map_err(|e| GitError::Auth {
            url: settings.display_url.clone(),
            reason: format!("cannot read the ssh key file {}: {e}", key.display()),
        })?;
    }
    Ok(())
}

/// POSIX single-quoting: the command is run by `sh -c`, so a path with spaces or quotes stays one argument.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_paths_for_the_shell() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
        let err = Path::new("/c/err");
        let cmd = ssh_command(Some(Path::new("/keys/id")), None, Path::new("/c/kh"), err);
        assert!(
            cmd.starts_with("ssh -i '/keys/id' -o IdentitiesOnly=yes"),
            "{cmd}"
        );
        assert!(
            cmd.contains("accept-new -o UserKnownHostsFile='/c/kh'"),
            "{cmd}"
        );
        assert!(cmd.ends_with("2>'/c/err'"), "{cmd}");
        let cmd = ssh_command(None, Some(Path::new("/pin")), Path::new("/c/kh"), err);
        assert!(cmd.starts_with("ssh -o BatchMode=yes"), "{cmd}");
        assert!(
            cmd.contains("StrictHostKeyChecking=yes -o UserKnownHostsFile='/pin'"),
            "{cmd}"
        );
    }

    #[test]
    fn token_files_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "abc123\n").unwrap();
        assert_eq!(read_token_file(&p).unwrap().expose_secret(), "abc123");
        std::fs::write(&p, "\n").unwrap();
        assert!(read_token_file(&p).is_err());
        std::fs::write(&p, "tokenA\ntokenB\n").unwrap();
        let err = read_token_file(&p).unwrap_err();
        assert!(!err.contains("tokenA") && !err.contains("tokenB"), "{err}");
    }
}
