//! The tree walk shared by encryption and decryption: visits every scalar and comment in document
//! order with its key path and the comments above it, encrypts or decrypts what the rules select, and
//! hashes values into the MAC exactly as sops does (`walkBranch`/`walkSlice`, `Tree.Encrypt`/`Decrypt`).

use sha2::{Digest, Sha512};

use super::cipher::{with_plaintext, Cipher, ValueError};
use super::rules::Rules;
use super::tree::{Map, MapItem, Value};

/// Fed into the hash first when `mac_only_encrypted` is set (sha256("sops")), so that such a MAC always
/// differs from a full one.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// A value that could not be processed, named by its key path (`stringData.password`), never by content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("value at '{path}': {reason}")]
pub struct WalkError {
    pub path: String,
    pub reason: ValueError,
}

/// Where a scalar sits: only a list may hold a comment as an item.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    MapValue,
    ListItem,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Encrypt,
    Decrypt,
}

struct Walk<'a> {
    direction: Direction,
    rules: &'a Rules,
    cipher: &'a mut Cipher,
    mac: Sha512,
}

/// Encrypts, in place, every value the rules select, and returns the MAC (upper-case hex SHA-512) over
/// the plaintext values of all documents.
pub fn encrypt(docs: &mut [Map], rules: &Rules, cipher: &mut Cipher) -> Result<String, WalkError> {
    run(docs, rules, cipher, Direction::Encrypt)
}

/// Decrypts, in place, every value the rules select, and returns the MAC computed over the result.
/// The caller compares it with the stored MAC before using any value.
pub fn decrypt(docs: &mut [Map], rules: &Rules, cipher: &mut Cipher) -> Result<String, WalkError> {
    run(docs, rules, cipher, Direction::Decrypt)
}

fn run(
    docs: &mut [Map],
    rules: &Rules,
    cipher: &mut Cipher,
    direction: Direction,
) -> Result<String, WalkError> {
    let mut walk = Walk {
        direction,
        rules,
        cipher,
        mac: Sha512::new(),
    };
    if rules.mac_only_encrypted {
        walk.mac.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    for doc in docs {
        let mut path = Vec::new();
        let mut comments = Vec::new();
        walk.map(doc, &mut path, &mut comments)?;
    }
    Ok(hex::encode_upper(walk.mac.finalize()))
}

impl Walk<'_> {
    fn map(
        &mut self,
        map: &mut Map,
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
    ) -> Result<(), WalkError> {
        comments.push(Vec::new());
        for item in &mut map.0 {
            match item {
                MapItem::Comment(text) => {
                    last(comments).push(text.clone());
                    self.comment(text, path, comments)?;
                }
                MapItem::Entry(key, value) => {
                    path.push(key.clone());
                    let result = self.value(value, path, comments, Context::MapValue);
                    path.pop();
                    result?;
                    last(comments).clear();
                }
            }
        }
        comments.pop();
        Ok(())
    }

    fn seq(
        &mut self,
        items: &mut [Value],
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
    ) -> Result<(), WalkError> {
        comments.push(Vec::new());
        for item in items {
            if let Value::Comment(text) = item {
                last(comments).push(text.clone());
                self.comment(text, path, comments)?;
                // sops' YAML store writes an encrypted comment of a list as a list item
                // (`- ENC[…,type:comment]`), not as a `#` line: it is a value of the list there.
                if self.direction == Direction::Encrypt && super::cipher::is_encrypted_value(text) {
                    *item = Value::Str(std::mem::take(text));
                }
            } else {
                self.value(item, path, comments, Context::ListItem)?;
                last(comments).clear();
            }
        }
        comments.pop();
        Ok(())
    }

    fn value(
        &mut self,
        value: &mut Value,
        path: &mut Vec<String>,
        comments: &mut Vec<Vec<String>>,
        context: Context,
    ) -> Result<(), WalkError> {
        match value {
            Value::Map(map) => self.map(map, path, comments),
            Value::Seq(items) => self.seq(items, path, comments),
            // "it doesn't make sense to encrypt or decrypt a nil value"
            Value::Null => Ok(()),
            Value::Comment(text) => self.comment(text, path, comments),
            _ => self.scalar(value, path, comments, context),
        }
    }

    fn scalar(
        &mut self,
        value: &mut Value,
        path: &[String],
        comments: &[Vec<String>],
        context: Context,
    ) -> Result<(), WalkError> {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        let encrypted = self.rules.should_encrypt(&keys, comments, false);
        let fail = |reason| WalkError {
            path: keys.join("."),
            reason,
        };
        let aad = aad(path);
        match self.direction {
            Direction::Encrypt => {
                self.hash(value, encrypted).map_err(fail)?;
                if encrypted {
                    *value = Value::Str(self.cipher.encrypt(value, &aad).map_err(fail)?);
                }
            }
            Direction::Decrypt => {
                if encrypted {
                    let Value::Str(text) = &*value else {
                        return Err(fail(ValueError::Malformed));
                    };
                    let plain = self.cipher.decrypt(text, &aad).map_err(fail)?;
                    // A comment is a value only as an item of a list (see `seq`), and like every
                    // comment it is not part of the MAC.
                    if matches!(plain, Value::Comment(_)) {
                        if context != Context::ListItem {
                            return Err(fail(ValueError::Malformed));
                        }
                        *value = plain;
                        return Ok(());
                    }
                    *value = plain;
                }
                self.hash(value, encrypted).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Comments are encrypted like values (with the enclosing path as additional data) but never hashed.
    fn comment(
        &mut self,
        text: &mut String,
        path: &[String],
        comments: &[Vec<String>],
    ) -> Result<(), WalkError> {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        if !self.rules.should_encrypt(&keys, comments, true) {
            return Ok(());
        }
        let aad = aad(path);
        match self.direction {
            Direction::Encrypt => {
                let encrypted = self
                    .cipher
                    .encrypt(&Value::Comment(std::mem::take(text)), &aad)
                    .map_err(|reason| WalkError {
                        path: keys.join("."),
                        reason,
                    })?;
                *text = encrypted;
            }
            Direction::Decrypt => {
                // sops keeps a comment that does not decrypt as it is: files from old versions of sops
                // carry plaintext comments.
                if let Ok(Value::Comment(plain)) = self.cipher.decrypt(text, &aad) {
                    *text = plain;
                }
            }
        }
        Ok(())
    }

    fn hash(&mut self, value: &Value, encrypted: bool) -> Result<(), ValueError> {
        if !self.rules.mac_only_encrypted || encrypted {
            with_plaintext(value, |bytes, _| self.mac.update(bytes))?;
        }
        Ok(())
    }
}

fn last(comments: &mut [Vec<String>]) -> &mut Vec<String> {
    comments.last_mut().expect("a level is pushed before items")
}

/// The additional data of a value: its key path joined by ':' with a trailing ':'.
fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::cipher::DataKey;
    use crate::sops::rules::RuleSet;

    fn doc() -> Map {
        let mut inner = Map::new();
        inner.0.push(MapItem::Comment(" note".into()));
        inner.insert("password", Value::Str("hunter2".into()));
        inner.insert("port_unencrypted", Value::Int(5432));
        let mut m = Map::new();
        m.insert("db", Value::Map(inner));
        m.insert(
            "list",
            Value::Seq(vec![Value::Bool(true), Value::Null, Value::Float(0.5)]),
        );
        m
    }

    #[test]
    fn encrypt_then_decrypt_restores_tree_and_mac() {
        let rules = RuleSet::default().normalized().unwrap().compile().unwrap();
        let key = DataKey::generate();
        let mut docs = vec![doc()];
        let mac_enc = encrypt(&mut docs, &rules, &mut Cipher::new(key.clone())).unwrap();
        let db = docs[0].get("db").unwrap().as_map().unwrap();
        assert!(db
            .get("password")
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("ENC["));
        assert_eq!(db.get("port_unencrypted"), Some(&Value::Int(5432)));
        let mac_dec = decrypt(&mut docs, &rules, &mut Cipher::new(key)).unwrap();
        assert_eq!(mac_enc, mac_dec);
        assert_eq!(docs[0], doc());
    }

    #[test]
    fn moving_a_value_to_another_key_is_detected() {
        let rules = RuleSet::default().normalized().unwrap().compile().unwrap();
        let key = DataKey::generate();
        let mut docs = vec![doc()];
        encrypt(&mut docs, &rules, &mut Cipher::new(key.clone())).unwrap();
        let Value::Map(db) = docs[0].get_mut("db").unwrap() else {
            panic!()
        };
        let MapItem::Entry(k, _) = &mut db.0[1] else {
            panic!()
        };
        *k = "passwd".into();
        let err = decrypt(&mut docs, &rules, &mut Cipher::new(key)).unwrap_err();
        assert_eq!(err.path, "db.passwd");
        assert_eq!(err.reason, ValueError::Authentication);
    }

    #[test]
    fn mac_only_encrypted_ignores_plain_values() {
        let rules = RuleSet {
            mac_only_encrypted: true,
            ..Default::default()
        }
        .normalized()
        .unwrap()
        .compile()
        .unwrap();
        let key = DataKey::generate();
        let mut a = vec![doc()];
        let mac_a = encrypt(&mut a, &rules, &mut Cipher::new(key.clone())).unwrap();
        let mut changed = doc();
        let Value::Map(db) = changed.get_mut("db").unwrap() else {
            panic!()
        };
        db.insert("port_unencrypted", Value::Int(1));
        let mut b = vec![changed];
        let mac_b = encrypt(&mut b, &rules, &mut Cipher::new(key)).unwrap();
        assert_eq!(mac_a, mac_b);
    }
}
