//! age identities from key files (several per file, comments allowed), from one inline value
//! (`SOPS_AGE_KEY`), SSH private keys, and age-encrypted identity files. Secrets stay in `secrecy`/age
//! types; errors name the file and the line, never the content. A passphrase (for an encrypted SSH key
//! or identity file) is asked of the caller's [`Passphrase`] provider, if it gave one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use secrecy::{ExposeSecret, SecretString};

use super::KeyError;

/// Where identities come from. The caller (a binary) decides from flags and environment; the library
/// reads nothing by itself.
pub enum IdentitySource {
    /// A key file: age identities, one per line, or an unencrypted OpenSSH private key.
    File { path: PathBuf, origin: String },
    /// Identities given as text, e.g. the value of `SOPS_AGE_KEY`.
    Inline { origin: String, text: SecretString },
}

#[derive(Clone)]
struct Entry {
    key: Key,
    /// Derived when first asked for: a scalar multiplication that decrypting a file with one
    /// recipient never needs.
    recipient: OnceLock<Option<String>>,
}

#[derive(Clone)]
enum Key {
    X25519(age::x25519::Identity),
    Ssh(age::ssh::Identity),
    /// A passphrase-protected SSH key, unlocked through the passphrase provider when first needed.
    LockedSsh(Arc<dyn age::Identity + Send + Sync>),
}

/// Asks for a passphrase: the prompt in, the passphrase out (`None`: cannot ask, or the user gave none).
pub type Passphrase = Arc<dyn Fn(&str) -> Option<SecretString> + Send + Sync>;

impl Entry {
    fn new(key: Key) -> Entry {
        Entry {
            key,
            recipient: OnceLock::new(),
        }
    }

    fn identity(&self) -> &dyn age::Identity {
        match &self.key {
            Key::X25519(identity) => identity,
            Key::Ssh(identity) => identity,
            Key::LockedSsh(identity) => identity.as_ref(),
        }
    }

    fn recipient(&self) -> Option<&str> {
        self.recipient
            .get_or_init(|| match &self.key {
                Key::X25519(identity) => Some(identity.to_public().to_string()),
                Key::Ssh(identity) => age::ssh::Recipient::try_from(identity.clone())
                    .ok()
                    .map(|r| r.to_string()),
                Key::LockedSsh(_) => None,
            })
            .as_deref()
    }
}

/// The identities available for decryption.
#[derive(Default)]
pub struct Identities {
    entries: Vec<Entry>,
    origins: Vec<String>,
    /// Warnings about the sources read (a key file others can read, a plugin line skipped), for the
    /// caller to show.
    warnings: Vec<String>,
    passphrase: Option<Passphrase>,
}

impl Identities {
    /// Identities that can ask for the passphrase of an encrypted SSH key or identity file.
    pub fn with_passphrase(passphrase: Passphrase) -> Identities {
        Identities {
            passphrase: Some(passphrase),
            ..Identities::default()
        }
    }

    /// Reads identities from one source; returns how many it held.
    pub fn add(&mut self, source: IdentitySource) -> Result<usize, KeyError> {
        match source {
            IdentitySource::File { path, origin } => {
                let fail = |reason: String| KeyError::IdentityFile {
                    path: path.display().to_string(),
                    reason,
                };
                let (bytes, mode) = read_key_file(&path)?;
                let text = if is_age_file(&bytes) {
                    self.unlock_identity_file(&bytes, &path.display().to_string(), &fail)?
                } else {
                    let text = std::str::from_utf8(&bytes)
                        .map_err(|_| fail("is not UTF-8 text".into()))?;
                    SecretString::from(text.to_string())
                };
                let shown = path.display().to_string();
                let count = self.add_text(&text, &shown, &fail)?;
                self.origins.push(format!("{origin} ({})", path.display()));
                self.warnings.extend(loose_permissions(&path, mode));
                Ok(count)
            }
            IdentitySource::Inline { origin, text } => {
                let fail = |reason: String| KeyError::IdentityText {
                    origin: origin.clone(),
                    reason,
                };
                let count = self.add_text(&text, &origin, &fail)?;
                self.origins.push(origin);
                Ok(count)
            }
        }
    }

    fn add_text(
        &mut self,
        text: &SecretString,
        source: &str,
        fail: &dyn Fn(String) -> KeyError,
    ) -> Result<usize, KeyError> {
        let content = text.expose_secret();
        if content.trim_start().starts_with("-----BEGIN") {
            return self.add_ssh(content, source, fail);
        }
        let mut count = 0;
        for (index, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            // A plugin identity must not block the keys beside it.
            if line.starts_with("AGE-PLUGIN-") {
                self.warnings.push(format!(
                    "{source}, line {number}: age plugin identities are not supported; skipped"
                ));
                continue;
            }
            let identity: age::x25519::Identity = line.parse().map_err(|_| {
                fail(format!(
                    "line {number} is not an age identity (expected AGE-SECRET-KEY-1…)"
                ))
            })?;
            self.entries.push(Entry::new(Key::X25519(identity)));
            count += 1;
        }
        if count == 0 {
            return Err(fail("holds no usable identity".into()));
        }
        Ok(count)
    }

    fn add_ssh(
        &mut self,
        content: &str,
        source: &str,
        fail: &dyn Fn(String) -> KeyError,
    ) -> Result<usize, KeyError> {
        let identity = age::ssh::Identity::from_buffer(content.as_bytes(), Some(source.into()))
            .map_err(|_| fail("not a valid OpenSSH private key".into()))?;
        let key = match identity {
            age::ssh::Identity::Unencrypted(_) => Key::Ssh(identity),
            age::ssh::Identity::Encrypted(_) => {
                let Some(passphrase) = self.passphrase.clone() else {
                    return Err(fail(
                        "is passphrase-protected and there is no terminal to ask for the passphrase (run where one is, or use an age identity)".into(),
                    ));
                };
                Key::LockedSsh(Arc::new(
                    identity.with_callbacks(PassphraseCallbacks(passphrase)),
                ))
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(fail("this SSH key type is not supported by age".into()))
            }
        };
        self.entries.push(Entry::new(key));
        Ok(1)
    }

    /// The identities inside an age-encrypted identity file (`age -p`), unlocked with a passphrase.
    fn unlock_identity_file(
        &self,
        bytes: &[u8],
        shown: &str,
        fail: &dyn Fn(String) -> KeyError,
    ) -> Result<SecretString, KeyError> {
        use std::io::Read;
        let Some(ask) = &self.passphrase else {
            return Err(fail(
                "is an encrypted identity file and there is no terminal to ask for its passphrase"
                    .into(),
            ));
        };
        let reader = age::armor::ArmoredReader::new(bytes);
        let decryptor = age::Decryptor::new(reader)
            .map_err(|e| fail(format!("not a readable age file: {e}")))?;
        if !decryptor.is_scrypt() {
            return Err(fail(
                "is encrypted to a recipient, not with a passphrase: it cannot be an identity file"
                    .into(),
            ));
        }
        let passphrase = ask(&format!("Passphrase for the identity file {shown}: "))
            .ok_or_else(|| fail("no passphrase was given".into()))?;
        let identity = age::scrypt::Identity::new(passphrase);
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .and_then(|mut r| r.read_to_end(&mut plain).map_err(Into::into))
            .map_err(|_| fail("wrong passphrase, or the file is damaged".into()))?;
        let text =
            std::str::from_utf8(&plain).map_err(|_| fail("holds no identity text".into()))?;
        Ok(SecretString::from(text.to_string()))
    }

    /// Every identity of `parts`, once each (for a path that several decryption rules match).
    pub fn union(parts: &[&Identities]) -> Identities {
        let mut out = Identities::default();
        for part in parts {
            for entry in &part.entries {
                let known = entry
                    .recipient()
                    .is_some_and(|r| out.recipients().any(|have| have == r));
                if !known {
                    out.entries.push(entry.clone());
                }
            }
            for origin in &part.origins {
                if !out.origins.contains(origin) {
                    out.origins.push(origin.clone());
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The public recipients of the identities held (public information, safe to show).
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(Entry::recipient)
    }

    /// Warnings about the sources read, e.g. a key file other users can read; the binary shows them.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the identities came from, for error messages.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.entries.iter().map(Entry::identity)
    }
}

/// Key files are small; anything large is not a key file and is refused before reading it whole.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// age's callbacks for an encrypted SSH key: only the passphrase is ever asked.
#[derive(Clone)]
struct PassphraseCallbacks(Passphrase);

impl age::Callbacks for PassphraseCallbacks {
    fn display_message(&self, _message: &str) {}

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        (self.0)(description)
    }
}

/// Whether a key file is itself an age file (armored or binary): an encrypted identity file.
fn is_age_file(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
        || start.starts_with(b"age-encryption.org/")
}

/// Reads a key file; returns its bytes and its permission bits.
fn read_key_file(path: &Path) -> Result<(zeroize::Zeroizing<Vec<u8>>, u32), KeyError> {
    let fail = |reason: String| KeyError::IdentityFile {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(io_reason(&e)))?;
    if !meta.is_file() {
        return Err(fail("is not a regular file".into()));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(fail(format!(
            "is {} bytes, too large for a key file",
            meta.len()
        )));
    }
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| fail(io_reason(&e)))?);
    Ok((bytes, mode_of(&meta)))
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_meta: &std::fs::Metadata) -> u32 {
    0o600
}

/// A warning, naming the fix, for a key file other users can read or change, or its group change. A
/// group may read it: that is how the kubelet mounts a Secret for the pod's `fsGroup` (0440).
fn loose_permissions(path: &Path, mode: u32) -> Option<String> {
    let mut what = Vec::new();
    if mode & 0o004 != 0 {
        what.push("readable by every user");
    }
    if mode & 0o002 != 0 {
        what.push("writable by every user");
    }
    if mode & 0o020 != 0 {
        what.push("writable by its group");
    }
    if what.is_empty() && mode & 0o001 != 0 {
        what.push("accessible to every user");
    }
    if what.is_empty() {
        return None;
    }
    Some(format!(
        "identity file '{}' is {} (mode {:04o}): run `chmod 600 {}` (mounted from a Kubernetes \
         Secret: defaultMode 0400, or 0440 with the pod's fsGroup)",
        path.display(),
        what.join(" and "),
        mode & 0o777,
        path.display()
    ))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sops/keys")
            .join(name)
    }

    #[test]
    fn reads_several_identities_from_one_file() {
        let mut ids = Identities::default();
        let n = ids
            .add(IdentitySource::File {
                path: fixture("all-three.agekeys"),
                origin: "--identity".into(),
            })
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(ids.recipients().count(), 3);
    }

    #[test]
    fn bad_line_is_named_without_content() {
        let mut ids = Identities::default();
        let err = ids
            .add(IdentitySource::Inline {
                origin: "SOPS_AGE_KEY".into(),
                text: SecretString::from("# comment\nAGE-SECRET-KEY-1NOTAKEYATALL\n".to_string()),
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("NOTAKEY"), "{err}");
    }

    #[test]
    fn a_key_file_others_can_read_or_change_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.txt");
        std::fs::copy(fixture("one.agekey"), &file).unwrap();
        let warnings = |mode: u32| {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let mut ids = Identities::default();
            ids.add(IdentitySource::File {
                path: file.clone(),
                origin: "--identity".into(),
            })
            .unwrap();
            ids.warnings().to_vec()
        };
        for quiet in [0o600, 0o400, 0o440, 0o640] {
            assert!(
                warnings(quiet).is_empty(),
                "{quiet:o}: {:?}",
                warnings(quiet)
            );
        }
        let shown = file.display().to_string();
        for (loose, why) in [
            (0o644, "readable by every user"),
            (0o444, "readable by every user"),
            (0o660, "writable by its group"),
            (0o602, "writable by every user"),
        ] {
            let w = warnings(loose);
            assert_eq!(w.len(), 1, "{loose:o}");
            assert!(w[0].contains(why), "{loose:o}: {}", w[0]);
            assert!(w[0].contains(&format!("chmod 600 {shown}")), "{}", w[0]);
            assert!(!w[0].contains("AGE-SECRET-KEY"), "{}", w[0]);
        }
    }

    #[test]
    fn missing_file_is_named() {
        let mut ids = Identities::default();
        let err = ids
            .add(IdentitySource::File {
                path: "/nonexistent/keys.txt".into(),
                origin: "SOPS_AGE_KEY_FILE".into(),
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/keys.txt") && err.contains("does not exist"),
            "{err}"
        );
    }
}
