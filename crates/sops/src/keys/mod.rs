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
    let decryptor =
        age::Decryptor::new(reader).map_err(|e| KeyError::CorruptStanza(e.to_string()))?;
    let mut stream = decryptor.decrypt(identities.iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => KeyError::NoMatchingIdentity,
        other => KeyError::CorruptStanza(other.to_string()),
    })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(64));
    // A data key or share is tiny; refuse anything large instead of reading it.
    stream
        .by_ref()
        .take(4096)
        .read_to_end(&mut plain)
        .map_err(|e| KeyError::CorruptStanza(e.to_string()))?;
    Ok(plain)
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
