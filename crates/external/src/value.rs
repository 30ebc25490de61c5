//! Secret values: bytes zeroized on drop and never printed, and the key → value map of a Secret.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

/// One secret value. `Debug` prints its length only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(Zeroizing::new(bytes))
    }

    pub fn from_text(text: &str) -> SecretValue {
        SecretValue::new(text.as_bytes().to_vec())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as UTF-8 text, when they are.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretValue {
    fn from(bytes: Zeroizing<Vec<u8>>) -> SecretValue {
        SecretValue(bytes)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// The data of a Secret: key → value, in key order (as the API server returns it).
pub type SecretData = BTreeMap<String, SecretValue>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let v = SecretValue::from_text("hunter2");
        assert_eq!(format!("{v:?}"), "<7 bytes>");
        let mut m = SecretData::new();
        m.insert("password".into(), v);
        assert!(!format!("{m:?}").contains("hunter2"));
    }
}
