//! age identities from key files (several per file, comments allowed), from one inline value
//! (`SOPS_AGE_KEY`), or SSH private keys. Secrets stay in `secrecy`/age types; errors name the file and
//! the line, never the content.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
}

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
        }
    }

    fn recipient(&self) -> Option<&str> {
        self.recipient
            .get_or_init(|| match &self.key {
                Key::X25519(identity) => Some(identity.to_public().to_string()),
                Key::Ssh(identity) => age::ssh::Recipient::try_from(identity.clone())
                    .ok()
                    .map(|r| r.to_string()),
            })
            .as_deref()
    }
}

/// The identities available for decryption.
#[derive(Default)]
pub struct Identities {
    entries: Vec<Entry>,
    origins: Vec<String>,
}

impl Identities {
    /// Reads identities from one source; returns how many it held.
    pub fn add(&mut self, source: IdentitySource) -> Result<usize, KeyError> {
        match source {
            IdentitySource::File { path, origin } => {
                let text = read_key_file(&path)?;
                let fail = |reason: String| KeyError::IdentityFile {
                    path: path.display().to_string(),
                    reason,
                };
                let count = self.add_text(&text, &fail)?;
                self.origins.push(format!("{origin} ({})", path.display()));
                Ok(count)
            }
            IdentitySource::Inline { origin, text } => {
                let fail = |reason: String| KeyError::IdentityText {
                    origin: origin.clone(),
                    reason,
                };
                let count = self.add_text(&text, &fail)?;
                self.origins.push(origin);
                Ok(count)
            }
        }
    }

    fn add_text(
        &mut self,
        text: &SecretString,
        fail: &dyn Fn(String) -> KeyError,
    ) -> Result<usize, KeyError> {
        let content = text.expose_secret();
        if content.trim_start().starts_with("-----BEGIN") {
            return self.add_ssh(content, fail);
        }
        let mut count = 0;
        for (index, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            if line.starts_with("AGE-PLUGIN-") {
                return Err(fail(format!(
                    "line {number}: age plugin identities are not supported; use an X25519 key"
                )));
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
            return Err(fail("holds no identity".into()));
        }
        Ok(count)
    }

    fn add_ssh(
        &mut self,
        content: &str,
        fail: &dyn Fn(String) -> KeyError,
    ) -> Result<usize, KeyError> {
        let identity = age::ssh::Identity::from_buffer(content.as_bytes(), None)
            .map_err(|_| fail("not a valid OpenSSH private key".into()))?;
        match &identity {
            age::ssh::Identity::Unencrypted(_) => {}
            age::ssh::Identity::Encrypted(_) => {
                return Err(fail(
                    "passphrase-protected SSH keys are not supported; use an age identity".into(),
                ))
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(fail("this SSH key type is not supported by age".into()))
            }
        }
        self.entries.push(Entry::new(Key::Ssh(identity)));
        Ok(1)
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

fn read_key_file(path: &Path) -> Result<SecretString, KeyError> {
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
    let text = std::str::from_utf8(&bytes).map_err(|_| fail("is not UTF-8 text".into()))?;
    Ok(SecretString::from(text.to_string()))
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
            .join("tests/fixtures/sops/keys")
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
