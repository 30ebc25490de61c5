//! Signed commits: whether the commit the agent would apply carries an SSH signature (git's
//! `gpg.format ssh`) by a key of the allowed-signers file, judged as `git verify-commit` judges it with
//! `gpg.ssh.allowedSignersFile`, before anything in the commit is read.
//!
//! ```text
//! commit object --(gix: gpgsig header | the rest, the signed payload)--> sshsig (ssh-key)
//!   -> namespace "git" -> key listed in the allowed signers -> signature over the payload verifies
//!   -> a line listing the key allows namespace "git" and is valid at the commit's time and now
//! ```
//!
//! The primitives are the `ssh-key` crate's (sshsig, Ed25519, ECDSA, RSA); nothing here is crypto.

mod allowed_signers;

use std::fmt;
use std::time::SystemTime;

use ssh_key::SshSig;

use allowed_signers::{fingerprint, Signer};
pub use allowed_signers::{AllowedSigners, AllowedSignersError};

use crate::reason::Reason;

/// The namespace git signs commits and tags in (`ssh-keygen -Y sign -n git`).
const GIT_NAMESPACE: &str = "git";

/// A commit whose signature was accepted: by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The principals of the allowed-signers line that accepted it.
    pub principals: String,
}

/// Why a commit was refused. Carries fingerprints, principals, line numbers and times: no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// No `gpgsig` header.
    Unsigned,
    /// A signature of another kind than SSH (OpenPGP, X.509).
    OtherFormat(&'static str),
    /// The signature cannot be decoded.
    Malformed(String),
    /// Signed for another purpose than git's (`ssh-keygen -Y sign -n file`).
    WrongNamespace {
        fingerprint: String,
        namespace: String,
    },
    /// The key is not in the allowed signers file.
    UnknownKey { fingerprint: String, file: String },
    /// The key is listed, but the signature does not verify over this commit.
    BadSignature { fingerprint: String, reason: String },
    /// Every line listing the key restricts it: namespace, or validity. The first line's reason.
    NotAllowed {
        fingerprint: String,
        principals: String,
        file: String,
        line: usize,
        why: String,
    },
}

impl SignatureRefusal {
    /// The reason of the single vocabulary (metrics, `/status`, logs).
    pub fn reason(&self) -> Reason {
        match self {
            SignatureRefusal::Unsigned => Reason::UnsignedCommit,
            _ => Reason::UntrustedSignature,
        }
    }
}

impl fmt::Display for SignatureRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureRefusal::Unsigned => f.write_str(
                "it is not signed, and --allowed-signers requires an SSH signature by an allowed key",
            ),
            SignatureRefusal::OtherFormat(format) => {
                write!(f, "it is signed with {format}; only SSH signatures are verified")
            }
            SignatureRefusal::Malformed(why) => {
                write!(f, "its SSH signature cannot be read ({why})")
            }
            SignatureRefusal::WrongNamespace {
                fingerprint,
                namespace,
            } => write!(
                f,
                "it is signed by key {fingerprint} for namespace {namespace:?}, not for git's \
                 namespace {GIT_NAMESPACE:?}"
            ),
            SignatureRefusal::UnknownKey { fingerprint, file } => write!(
                f,
                "it is signed by key {fingerprint}, which is not in the allowed signers file {file}"
            ),
            SignatureRefusal::BadSignature {
                fingerprint,
                reason,
            } => write!(
                f,
                "its signature by key {fingerprint} does not verify ({reason}): the commit was changed \
                 after it was signed, or the signature is another commit's"
            ),
            SignatureRefusal::NotAllowed {
                fingerprint,
                principals,
                file,
                line,
                why,
            } => write!(
                f,
                "it is signed by key {fingerprint} ({principals}), which line {line} of the allowed \
                 signers file {file} does not allow here: {why}"
            ),
        }
    }
}

/// What [`verify`] needs of a commit.
pub struct CommitToVerify<'a> {
    /// The `gpgsig` header's value, unfolded; `None`: the commit is unsigned.
    pub signature: Option<&'a [u8]>,
    /// The commit object without its `gpgsig` header: what the signature covers.
    pub payload: &'a [u8],
    /// The committer time, which `git verify-commit` checks the key's validity at.
    pub committed_at: SystemTime,
}

/// Whether the commit's signature is by a key `allowed` lists for git's namespace, valid both at the
/// commit's time (as `git verify-commit` checks) and at `now` (so a key past its `valid-before`
/// cannot sign a commit dated back into its lifetime).
pub fn verify(
    commit: &CommitToVerify<'_>,
    allowed: &AllowedSigners,
    now: SystemTime,
) -> Result<Signed, SignatureRefusal> {
    let signature = commit.signature.ok_or(SignatureRefusal::Unsigned)?;
    let text = std::str::from_utf8(signature)
        .map_err(|_| SignatureRefusal::Malformed("it is not text".into()))?;
    let armor = text.trim_start();
    if armor.starts_with("-----BEGIN PGP SIGNATURE-----") {
        return Err(SignatureRefusal::OtherFormat("OpenPGP"));
    }
    if armor.starts_with("-----BEGIN SIGNED MESSAGE-----") {
        return Err(SignatureRefusal::OtherFormat("X.509 (gpgsm)"));
    }
    if !armor.starts_with("-----BEGIN SSH SIGNATURE-----") {
        return Err(SignatureRefusal::Malformed(
            "it is no OpenPGP, X.509 or SSH signature".into(),
        ));
    }
    let sig = SshSig::from_pem(armor.trim_end())
        .map_err(|e| SignatureRefusal::Malformed(e.to_string()))?;
    let key = sig.public_key();
    let fingerprint = fingerprint(key);
    if sig.namespace() != GIT_NAMESPACE {
        return Err(SignatureRefusal::WrongNamespace {
            fingerprint,
            namespace: sig.namespace().chars().take(64).collect(),
        });
    }
    let file = allowed.path().display().to_string();
    if allowed.lines_of(key).next().is_none() {
        return Err(SignatureRefusal::UnknownKey { fingerprint, file });
    }
    // The listed key checks the signature (ssh-key also checks that it is the key the signature names).
    ssh_key::PublicKey::from(key.clone())
        .verify(GIT_NAMESPACE, commit.payload, &sig)
        .map_err(|e| SignatureRefusal::BadSignature {
            fingerprint: fingerprint.clone(),
            reason: e.to_string(),
        })?;
    let mut refused = None;
    for signer in allowed.lines_of(key) {
        match allows(signer, commit.committed_at, now) {
            Ok(()) => {
                return Ok(Signed {
                    fingerprint,
                    principals: signer.principals.clone(),
                })
            }
            Err(why) if refused.is_none() => {
                refused = Some(SignatureRefusal::NotAllowed {
                    fingerprint: fingerprint.clone(),
                    principals: signer.principals.clone(),
                    file: file.clone(),
                    line: signer.line,
                    why,
                });
            }
            Err(_) => {}
        }
    }
    Err(refused.unwrap_or(SignatureRefusal::UnknownKey { fingerprint, file }))
}

/// Whether one allowed-signers line lets its key sign a commit made at `committed_at`, now.
fn allows(signer: &Signer, committed_at: SystemTime, now: SystemTime) -> Result<(), String> {
    if let Some(namespaces) = &signer.namespaces {
        if !pattern_list_matches(namespaces, GIT_NAMESPACE) {
            return Err(format!(
                "namespaces=\"{namespaces}\" does not include {GIT_NAMESPACE:?}"
            ));
        }
    }
    let when = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    for (at, what) in [(committed_at, "the commit was made"), (now, "it is now")] {
        if let Some(after) = signer.valid_after {
            if at < after {
                return Err(format!(
                    "the key is valid after {} only, and {what} at {}",
                    when(after),
                    when(at)
                ));
            }
        }
        if let Some(before) = signer.valid_before {
            if at > before {
                return Err(format!(
                    "the key expired at {} (valid-before), and {what} at {}",
                    when(before),
                    when(at)
                ));
            }
        }
    }
    Ok(())
}

/// OpenSSH's pattern lists (`namespaces="git,!file*"`): comma-separated patterns with `*` and `?`;
/// a match of a `!` pattern denies, else any positive match allows.
fn pattern_list_matches(list: &str, name: &str) -> bool {
    let mut allowed = false;
    for pattern in list.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard_matches(negated.as_bytes(), name.as_bytes()) => return false,
            Some(_) => {}
            None => allowed |= wildcard_matches(pattern.as_bytes(), name.as_bytes()),
        }
    }
    allowed
}

/// `*` matches any run of bytes, `?` any one byte; the rest literally. Linear in both lengths
/// (the last `*` is the only backtracking point).
fn wildcard_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_lists_follow_openssh() {
        assert!(pattern_list_matches("git", "git"));
        assert!(pattern_list_matches("file,git", "git"));
        assert!(pattern_list_matches("g*", "git"));
        assert!(pattern_list_matches("g?t", "git"));
        assert!(pattern_list_matches("*", "git"));
        assert!(!pattern_list_matches("file", "git"));
        assert!(!pattern_list_matches("*,!git", "git"));
        assert!(!pattern_list_matches("!git,git", "git"));
        assert!(!pattern_list_matches("!file", "git"));
        assert!(!pattern_list_matches("gi", "git"));
        assert!(!pattern_list_matches("", "git"));
        assert!(wildcard_matches(b"*a*b*c", b"xxaxxbxxc"));
        assert!(!wildcard_matches(b"*a*b*c", b"xxaxxbxxcx"));
    }

    fn signer(namespaces: Option<&str>, after: Option<&str>, before: Option<&str>) -> Signer {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBIBybN6x5WS2KKbhJzM60AtUYYW/GlHfxVa44cUa2Qm";
        let at = |t: &str| humantime::parse_rfc3339(t).unwrap();
        Signer {
            line: 7,
            principals: "alice@example.com".into(),
            key: ssh_key::PublicKey::from_openssh(key)
                .unwrap()
                .key_data()
                .clone(),
            namespaces: namespaces.map(Into::into),
            valid_after: after.map(at),
            valid_before: before.map(at),
        }
    }

    /// git checks the window at the commit's time only; the agent also at the time of the fetch, so
    /// an expired key cannot sign a commit dated back into its lifetime.
    #[test]
    fn a_key_must_be_valid_when_the_commit_was_made_and_now() {
        let at = |t: &str| humantime::parse_rfc3339(t).unwrap();
        let window = signer(
            None,
            Some("2020-01-01T00:00:00Z"),
            Some("2030-01-01T00:00:00Z"),
        );
        let (inside, before, after) = (
            at("2025-01-01T00:00:00Z"),
            at("2019-01-01T00:00:00Z"),
            at("2031-01-01T00:00:00Z"),
        );
        assert_eq!(allows(&window, inside, inside), Ok(()));
        let backdated = allows(&window, inside, after).unwrap_err();
        assert!(
            backdated
                .contains("the key expired at 2030-01-01T00:00:00Z (valid-before), and it is now"),
            "{backdated}"
        );
        let early = allows(&window, before, inside).unwrap_err();
        assert!(
            early
                .contains("valid after 2020-01-01T00:00:00Z only, and the commit was made at 2019"),
            "{early}"
        );
        let files = signer(Some("file,!git"), None, None);
        assert_eq!(
            allows(&files, inside, inside).unwrap_err(),
            "namespaces=\"file,!git\" does not include \"git\""
        );
        assert_eq!(
            allows(&signer(Some("g*"), None, None), inside, inside),
            Ok(())
        );
    }

    #[test]
    fn refusals_map_onto_two_reasons() {
        assert_eq!(SignatureRefusal::Unsigned.reason(), Reason::UnsignedCommit);
        assert_eq!(
            SignatureRefusal::OtherFormat("OpenPGP").reason(),
            Reason::UntrustedSignature
        );
        assert_eq!(
            SignatureRefusal::OtherFormat("OpenPGP").to_string(),
            "it is signed with OpenPGP; only SSH signatures are verified"
        );
    }
}
