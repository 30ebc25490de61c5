//! age keys: identities (private, held only in memory, read from files or one environment value) and
//! recipients (public), and the wrapping of a data key for a recipient in armored age format, as sops
//! stores it in a file's `enc` fields.

mod identity;
mod recipient;

pub use identity::{Identities, IdentitySource, Passphrase};
pub use recipient::{parse_recipient_list, Recipient};

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// Why a key could not be read, or a data key not be wrapped or unwrapped. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("identity file '{path}': {reason}")]
    IdentityFile { path: String, reason: String },
    #[error("{origin}: {reason}")]
    IdentityText { origin: String, reason: String },
    #[error("'{0}' is not an age recipient (expected age1…, ssh-ed25519 … or ssh-rsa …)")]
    BadRecipient(String),
    #[error("could not encrypt the data key for {recipient}: {reason}")]
    Wrap { recipient: String, reason: String },
    #[error("no identity can decrypt this data key")]
    NoMatchingIdentity,
    #[error("the encrypted data key is not a valid age file: {0}")]
    CorruptStanza(String),
}

/// A new X25519 identity: its secret (`AGE-SECRET-KEY-1…`) and its recipient (`age1…`).
pub fn generate() -> (SecretString, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    (identity.to_string(), public)
}

/// Encrypts `secret` (a data key or a Shamir share) to one recipient, ASCII-armored as sops writes it.
pub fn wrap(secret: &[u8], recipient: &Recipient) -> Result<String, KeyError> {
    let fail = |reason: String| KeyError::Wrap {
        recipient: recipient.to_string(),
        reason,
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient.as_age()))
        .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    let armored = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
        .map_err(|e| fail(e.to_string()))?;
    let mut writer = encryptor
        .wrap_output(armored)
        .map_err(|e| fail(e.to_string()))?;
    writer.write_all(secret).map_err(|e| fail(e.to_string()))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(e.to_string()))?;
    let mut text = String::from_utf8(out).map_err(|e| fail(e.to_string()))?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Decrypts an armored age blob with any of the identities.
pub fn unwrap(armored: &str, identities: &Identities) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let reader = ArmoredReader::new(armored.trim_start().as_bytes());
    let decryptor = age::Decryptor::new(reader).map_err(corrupt)?;
    let mut stream = decryptor.decrypt(identities.iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => KeyError::NoMatchingIdentity,
        other => corrupt(other),
    })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(64));
    // A data key or share is tiny; refuse anything large instead of reading it.
    stream
        .by_ref()
        .take(4096)
        .read_to_end(&mut plain)
        .map_err(corrupt)?;
    Ok(plain)
}

/// A damaged stanza, said on one line: some of the age crate's messages add lines of advice for its
/// own CLI ("Unknown age format.\nHave you tried upgrading to the latest version?"), which split the
/// agent's log record and do not apply to a data key inside a sops file.
fn corrupt(e: impl std::fmt::Display) -> KeyError {
    let text = e.to_string();
    KeyError::CorruptStanza(
        text.lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_string(),
    )
}

/// The public recipient of an `AGE-SECRET-KEY-1…` string, for `sealctl keygen -y`-style uses.
pub fn public_of(secret: &SecretString) -> Result<String, KeyError> {
    let identity: age::x25519::Identity =
        secret
            .expose_secret()
            .trim()
            .parse()
            .map_err(|_| KeyError::IdentityText {
                origin: "identity".into(),
                reason: "not an AGE-SECRET-KEY-1… identity".into(),
            })?;
    Ok(identity.to_public().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap() {
        let (secret, public) = generate();
        let recipient: Recipient = public.parse().unwrap();
        let armored = wrap(&[1, 2, 3], &recipient).unwrap();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        assert!(armored.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        let mut ids = Identities::default();
        ids.add(IdentitySource::Inline {
            origin: "test".into(),
            text: secret,
        })
        .unwrap();
        assert_eq!(unwrap(&armored, &ids).unwrap().as_slice(), &[1, 2, 3]);
    }

    /// Found by the hostile corpus (age-stanza-corrupted.yaml): the error ended with the age CLI's
    /// "Have you tried upgrading to the latest version?" on a second line.
    #[test]
    fn a_damaged_stanza_is_one_line_without_advice() {
        let (secret, public) = generate();
        let armored = wrap(&[1], &public.parse().unwrap()).unwrap();
        let mut ids = Identities::default();
        ids.add(IdentitySource::Inline {
            origin: "test".into(),
            text: secret,
        })
        .unwrap();
        // One character of the stanza line (`-> X25519 …`), as the corpus file has it.
        let body = armored.lines().nth(1).unwrap().to_string();
        let c = if &body[48..49] == "A" { "B" } else { "A" };
        let damaged = armored.replacen(&body, &format!("{}{c}{}", &body[..48], &body[49..]), 1);
        let e = unwrap(&damaged, &ids).unwrap_err().to_string();
        assert!(!e.contains('\n') && !e.contains("upgrading"), "{e}");
    }

    #[test]
    fn unwrap_with_other_key_fails_cleanly() {
        let (_, public) = generate();
        let armored = wrap(&[1], &public.parse().unwrap()).unwrap();
        let (other, _) = generate();
        let mut ids = Identities::default();
        ids.add(IdentitySource::Inline {
            origin: "test".into(),
            text: other,
        })
        .unwrap();
        assert!(matches!(
            unwrap(&armored, &ids),
            Err(KeyError::NoMatchingIdentity)
        ));
    }
}
