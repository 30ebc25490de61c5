//! The git source's error type, whose variant names double as metric labels, and the mapping of gix failures onto it.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;

use super::config::GitAuth;
use super::redact::scrub;
use super::signature::SignatureRefusal;
use crate::reason::Reason;

/// Why a git source operation failed. URLs in here are always redacted.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The configuration is invalid; nothing was fetched.
    #[error("invalid git source configuration for {url}: {reason}")]
    Config { url: String, reason: String },

    /// The remote could not be reached or has no repository at that address.
    #[error(
        "git remote {url} is unreachable: {reason}; the last good snapshot stays in use \
         (check the URL, DNS, network policy and that the repository exists)"
    )]
    Unreachable { url: String, reason: String },

    /// The configured branch, tag or commit does not exist on the remote (or vanished).
    #[error(
        "reference {reference:?} was not found on git remote {url}: {reason}; the last good snapshot stays in use \
         (check the branch, tag or commit in the configuration)"
    )]
    RefNotFound {
        url: String,
        reference: String,
        reason: String,
    },

    /// A short reference name matches both a branch and a tag.
    #[error(
        "reference {reference:?} is ambiguous on git remote {url}: both {candidates} exist; \
         configure the full name (refs/heads/... or refs/tags/...)"
    )]
    Ambiguous {
        url: String,
        reference: String,
        candidates: String,
    },

    /// The remote refused the credentials, or asked for some and none are configured.
    #[error(
        "git remote {url} refused access: {reason} \
         (check the token file or deploy key and its permissions on the repository)"
    )]
    Auth { url: String, reason: String },

    /// The TLS connection failed (untrusted or invalid certificate, protocol mismatch).
    #[error(
        "TLS with git remote {url} failed: {reason} (a private CA is trusted by pointing SSL_CERT_FILE \
         at a PEM bundle that contains it)"
    )]
    Tls { url: String, reason: String },

    /// A configured path does not exist at the fetched commit.
    #[error(
        "path {path:?} does not exist at commit {commit} of git remote {url}; the last good snapshot stays in use \
         (fix the configured paths or restore the folder in git)"
    )]
    PathNotFound {
        url: String,
        commit: String,
        path: String,
    },

    /// The remote answered, but the exchange failed for another reason.
    #[error("fetching from git remote {url} failed: {reason}")]
    Protocol { url: String, reason: String },

    /// A local file (cache, token, key) could not be read or written.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The local cache repository is damaged.
    #[error(
        "the git cache {} is corrupt: {reason} (stop the agent and delete that directory; it is rebuilt on the next fetch)",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },

    /// The fetch was interrupted on request.
    #[error("fetching from git remote {url} was interrupted")]
    Interrupted { url: String },

    /// The commit exceeds a bound on the whole snapshot (files, bytes): it is refused as a whole.
    #[error(
        "commit {commit} of git remote {url} is refused: {reason}; the last good commit stays in use"
    )]
    TooLarge {
        url: String,
        commit: String,
        reason: String,
    },

    /// `--allowed-signers` is set and the commit's signature is missing or not accepted: it is refused
    /// as a whole, before anything in it is read.
    #[error(
        "commit {commit} of git remote {url} is refused: {refusal}; the last good commit stays in use"
    )]
    Untrusted {
        url: String,
        commit: String,
        /// Boxed: the refusal's texts would make every `Result<_, GitError>` large.
        refusal: Box<SignatureRefusal>,
    },
}

impl GitError {
    /// A stable, low-cardinality name for metrics and logs (`reason` label).
    pub fn kind(&self) -> &'static str {
        match self {
            GitError::Config { .. } => "config",
            GitError::Unreachable { .. } => "unreachable",
            GitError::RefNotFound { .. } => "ref_not_found",
            GitError::Ambiguous { .. } => "ambiguous",
            GitError::Auth { .. } => "auth",
            GitError::Tls { .. } => "tls",
            GitError::PathNotFound { .. } => "path_not_found",
            GitError::Protocol { .. } => "protocol",
            GitError::Io { .. } => "io",
            GitError::Corrupt { .. } => "corrupt",
            GitError::Interrupted { .. } => "interrupted",
            GitError::TooLarge { .. } => "too_large",
            GitError::Untrusted { refusal, .. } => refusal.reason().code(),
        }
    }

    /// The reason of the single vocabulary: [`Reason::Git`] for a failed fetch, the signature's
    /// reason for a refused commit.
    pub fn reason(&self) -> Reason {
        match self {
            GitError::Untrusted { refusal, .. } => refusal.reason(),
            _ => Reason::Git,
        }
    }
}

/// What is known about a failing network operation, to turn a gix error into a [`GitError`].
pub(crate) struct FailureContext<'a> {
    pub display_url: &'a str,
    /// What the transport program said besides the error (ssh's stderr), added to the reason.
    pub detail: Option<String>,
    /// The configured reference, as written.
    pub reference: &'a str,
    /// Whether the reference is a commit id (a server refusing it means "not found").
    pub reference_is_commit: bool,
    /// Texts that must never appear in messages (the raw URL if it differs, the token).
    pub secrets: &'a [&'a str],
    pub interrupted: bool,
    /// The configured credentials, to explain a refusal.
    pub auth: &'a GitAuth,
}

/// Why the remote may have refused us, in terms of what was configured.
fn refusal_reason(auth: &GitAuth, detail: &str) -> String {
    match auth {
        GitAuth::None => {
            format!("the remote requires credentials and none are configured ({detail})")
        }
        GitAuth::TokenFile(p) => {
            format!("the token from {} was not accepted ({detail})", p.display())
        }
        GitAuth::SshKeyFile(p) => {
            format!("the ssh key {} was not accepted ({detail})", p.display())
        }
    }
}

/// The chain of messages of `err`, with duplicates (transparent wrappers) removed, scrubbed of secrets.
pub(crate) fn chain_text(err: &(dyn StdError + 'static), secrets: &[&str]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = e.source();
    }
    scrub(&parts.join(": "), secrets)
}

/// Steps into gix's `#[error(transparent)]` wrappers, whose `source()` skips the wrapped error itself.
fn unwrap_transparent<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    use gix::remote::{fetch::prepare, ref_map};
    match e.downcast_ref::<prepare::Error>() {
        Some(prepare::Error::RefMap(inner)) => return Some(inner),
        Some(_) => return None,
        None => {}
    }
    match e.downcast_ref::<ref_map::Error>() {
        Some(ref_map::Error::Handshake(inner)) => Some(inner),
        Some(ref_map::Error::Transport(inner)) => Some(inner),
        Some(ref_map::Error::InitRefMap(inner)) => Some(inner),
        _ => None,
    }
}

/// Maps a failed connect, handshake or fetch onto the variant an operator can act on.
pub(crate) fn classify(err: &(dyn StdError + 'static), ctx: &FailureContext<'_>) -> GitError {
    let mut reason = chain_text(err, ctx.secrets);
    if let Some(detail) = &ctx.detail {
        reason = format!("{reason} ({})", scrub(detail, ctx.secrets));
    }
    let url = ctx.display_url.to_owned();
    if ctx.interrupted {
        return GitError::Interrupted { url };
    }
    // Before the structure: TLS failures arrive as "connect" errors, but the fix is a certificate, not the network.
    if is_tls_failure(&reason) {
        return GitError::Tls { url, reason };
    }
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(inner) = unwrap_transparent(e) {
            cur = Some(inner);
            continue;
        }
        if let Some(h) = e.downcast_ref::<gix::protocol::handshake::Error>() {
            use gix::protocol::handshake::Error as H;
            match h {
                H::InvalidCredentials { .. } | H::EmptyCredentials | H::Credentials(_) => {
                    return GitError::Auth {
                        url,
                        reason: refusal_reason(ctx.auth, &reason),
                    }
                }
                _ => {}
            }
        }
        if let Some(c) = e.downcast_ref::<gix::remote::connect::Error>() {
            use gix::remote::connect::Error as C;
            if matches!(c, C::FileUrl { .. } | C::InvalidRemoteRepositoryPath { .. }) {
                return GitError::Unreachable { url, reason };
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            use io::ErrorKind as K;
            match io.kind() {
                K::PermissionDenied => {
                    return GitError::Auth {
                        url,
                        reason: refusal_reason(ctx.auth, &reason),
                    }
                }
                K::ConnectionRefused
                | K::ConnectionReset
                | K::ConnectionAborted
                | K::TimedOut
                | K::HostUnreachable
                | K::NetworkUnreachable
                | K::AddrNotAvailable
                | K::NotConnected => return GitError::Unreachable { url, reason },
                _ => {}
            }
        }
        cur = e.source();
    }
    classify_text(reason, ctx)
}

fn is_tls_failure(reason: &str) -> bool {
    let lower = reason.to_ascii_lowercase();
    [
        "invalid peer certificate",
        "certificate verify failed",
        "tls handshake",
        "invalidcertificate",
        "unknownissuer",
    ]
    .iter()
    .any(|n| lower.contains(n))
}

/// Last resort: the transports (reqwest, ssh, upload-pack) report many failures only as text.
fn classify_text(reason: String, ctx: &FailureContext<'_>) -> GitError {
    let url = ctx.display_url.to_owned();
    let lower = reason.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&[
        "host key verification failed",
        "remote host identification has changed",
    ]) {
        return GitError::Auth {
            url,
            reason: format!(
                "the ssh server's host key is not the one in the known_hosts file (a changed key or an \
                 impostor) ({reason})"
            ),
        };
    }
    if any(&[
        "no credentials were returned",
        "were not accepted by the remote",
        "failed to obtain credentials",
        "permission denied",
        "authentication failed",
        "status code 401",
        "status code 403",
        "401 unauthorized",
        "403 forbidden",
    ]) {
        return GitError::Auth {
            url,
            reason: refusal_reason(ctx.auth, &reason),
        };
    }
    if any(&[
        "not our ref",
        "no such remote ref",
        "not a valid object",
        "unadvertised object",
    ]) {
        return GitError::RefNotFound {
            url,
            reference: ctx.reference.to_owned(),
            reason,
        };
    }
    if any(&[
        "connection refused",
        "dns error",
        "failed to lookup address",
        "could not resolve",
        "name or service not known",
        "no route to host",
        "network is unreachable",
        "timed out",
        "connection reset",
        "does not appear to be a git repository",
        "repository not found",
        "no such file or directory",
        "status code 404",
        "404 not found",
        "not found",
        "could not read from remote",
        "early eof",
        "connection closed",
        "error sending request",
    ]) {
        return GitError::Unreachable { url, reason };
    }
    if ctx.reference_is_commit && lower.contains("upload-pack") {
        return GitError::RefNotFound {
            url,
            reference: ctx.reference.to_owned(),
            reason,
        };
    }
    GitError::Protocol { url, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> FailureContext<'static> {
        FailureContext {
            display_url: "https://***@h/r",
            detail: None,
            reference: "main",
            reference_is_commit: false,
            secrets: &["tok3n-secret"],
            interrupted: false,
            auth: &GitAuth::None,
        }
    }

    #[test]
    fn io_kinds_map_to_variants() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(classify(&refused, &ctx()).kind(), "unreachable");
        let denied = io::Error::new(io::ErrorKind::PermissionDenied, "401");
        assert_eq!(classify(&denied, &ctx()).kind(), "auth");
    }

    #[test]
    fn messages_never_carry_the_token() {
        let e = io::Error::other("sent tok3n-secret to https://x:tok3n-secret@h/r and failed");
        let msg = classify(&e, &ctx()).to_string();
        assert!(!msg.contains("tok3n-secret"), "{msg}");
    }

    #[test]
    fn ssh_texts_are_understood() {
        let e = io::Error::other("git@h: Permission denied (publickey).");
        assert_eq!(classify(&e, &ctx()).kind(), "auth");
        let e = io::Error::other("ssh: connect to host 127.0.0.1 port 1: Connection refused");
        assert_eq!(classify(&e, &ctx()).kind(), "unreachable");
    }
}
