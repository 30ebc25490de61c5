//! age recipients as sops names them: `age1…` X25519 keys, and SSH `ssh-ed25519`/`ssh-rsa` public keys.

use std::fmt;
use std::str::FromStr;

use super::KeyError;

/// A public key a data key can be wrapped for. Keeps the text it was written as, which is what sops
/// stores in `recipient`.
#[derive(Clone)]
pub struct Recipient {
    text: String,
    key: Kind,
}

#[derive(Clone)]
enum Kind {
    X25519(age::x25519::Recipient),
    Ssh(age::ssh::Recipient),
}

impl Recipient {
    pub(super) fn as_age(&self) -> &dyn age::Recipient {
        match &self.key {
            Kind::X25519(r) => r,
            Kind::Ssh(r) => r,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Recipient {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let text = s.trim();
        let key = if text.starts_with("age1") {
            text.parse::<age::x25519::Recipient>()
                .map(Kind::X25519)
                .map_err(|_| KeyError::BadRecipient(short(text)))?
        } else if text.starts_with("ssh-") {
            text.parse::<age::ssh::Recipient>()
                .map(Kind::Ssh)
                .map_err(|_| KeyError::BadRecipient(short(text)))?
        } else {
            return Err(KeyError::BadRecipient(short(text)));
        };
        Ok(Recipient {
            text: text.to_string(),
            key,
        })
    }
}

impl PartialEq for Recipient {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Recipient {}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({})", self.text)
    }
}

/// Parses a comma-separated list (`--age a,b`, `.sops.yaml`'s `age: "a,b"`), ignoring blanks.
pub fn parse_recipient_list(list: &str) -> Result<Vec<Recipient>, KeyError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// Recipients are public, but a mistyped private key pasted here must not be echoed whole.
fn short(text: &str) -> String {
    if text.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        return "AGE-SECRET-KEY-… (a private key, not a recipient)".into();
    }
    let mut s: String = text.chars().take(24).collect();
    if text.chars().count() > 24 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let list = parse_recipient_list(
            "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p, ,age1d3sm0xdkh7yzcxskhu0vax4vdpkst35drcr2kugyw58k3mq34eusj6rdqz",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[1].as_str().starts_with("age1d3sm"));
    }

    #[test]
    fn refuses_private_keys_without_echoing_them() {
        let err = "AGE-SECRET-KEY-1QQQQ"
            .parse::<Recipient>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("1QQQQ"), "{err}");
    }
}
