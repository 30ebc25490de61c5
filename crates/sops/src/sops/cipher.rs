//! sops' value cipher: AES-256-GCM with a 32-byte IV, the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`
//! encoding, the value types it carries, and the additional data (the value's key path).

use std::collections::HashMap;

use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce, Tag};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::tree::{format_float, Value};

/// sops always writes 32-byte IVs (`cipher.NewGCMWithNonceSize(aes, 32)`).
const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

type Aes256Gcm32 = AesGcm<Aes256, U32>;
type Aes256Gcm12 = AesGcm<Aes256, U12>;

/// The 256-bit key that encrypts every value of one file. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(key.as_mut());
        DataKey(key)
    }

    /// A data key recovered from a master key; sops data keys are exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(array)))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Why a single value could not be decrypted. Never carries the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("not in sops' ENC[AES256_GCM,…] format")]
    Malformed,
    #[error("invalid base64 in its {0} field")]
    Base64(&'static str),
    #[error("unsupported IV length {0} (sops writes 32)")]
    IvLength(usize),
    #[error("authentication failed: the value was altered, moved to another key, or the data key is wrong")]
    Authentication,
    #[error("unknown value type '{0}'")]
    UnknownType(String),
    #[error("decrypted bytes are not a valid {0}")]
    BadPlaintext(&'static str),
    #[error("a {0} cannot be encrypted")]
    Unencryptable(&'static str),
}

/// Encrypts and decrypts values under one data key. It remembers the IV of every value it decrypted, so
/// re-encrypting an unchanged value yields the same ciphertext (as sops does) and edits make small diffs.
pub struct Cipher {
    key: DataKey,
    /// The key schedule for sops' 32-byte IVs, expanded once per file rather than once per value.
    gcm: Aes256Gcm32,
    stash: HashMap<[u8; 32], [u8; IV_LEN]>,
}

impl Cipher {
    pub fn new(key: DataKey) -> Cipher {
        let gcm = Aes256Gcm32::new_from_slice(key.as_bytes()).expect("32-byte key");
        Cipher {
            key,
            gcm,
            stash: HashMap::new(),
        }
    }

    pub fn key(&self) -> &DataKey {
        &self.key
    }

    /// Encrypts a scalar or comment text. Empty strings stay empty, as in sops.
    pub fn encrypt(&mut self, value: &Value, aad: &str) -> Result<String, ValueError> {
        let (plaintext, kind) = plaintext_of(value)?;
        if plaintext.is_empty() && matches!(kind, "str" | "comment") {
            return Ok(String::new());
        }
        // A new file has nothing stashed: no fingerprint to take.
        let stashed = if self.stash.is_empty() {
            None
        } else {
            self.stash.get(&stash_key(aad, kind, &plaintext))
        };
        let iv = match stashed {
            Some(iv) => *iv,
            None => {
                let mut iv = [0u8; IV_LEN];
                rand::thread_rng().fill_bytes(&mut iv);
                iv
            }
        };
        let mut buffer = plaintext;
        let tag = self
            .gcm
            .encrypt_in_place_detached(Nonce::from_slice(&iv), aad.as_bytes(), &mut buffer)
            .map_err(|_| ValueError::Unencryptable("value this large"))?;
        let b64_len = |n: usize| n.div_ceil(3) * 4;
        let mut out = String::with_capacity(
            36 + b64_len(buffer.len()) + b64_len(IV_LEN) + b64_len(TAG_LEN) + kind.len(),
        );
        out.push_str("ENC[AES256_GCM,data:");
        B64.encode_string(&*buffer, &mut out);
        out.push_str(",iv:");
        B64.encode_string(iv, &mut out);
        out.push_str(",tag:");
        B64.encode_string(tag, &mut out);
        out.push_str(",type:");
        out.push_str(kind);
        out.push(']');
        Ok(out)
    }

    /// Decrypts one `ENC[…]` string into a typed value (`Value::Comment` for comments).
    pub fn decrypt(&mut self, text: &str, aad: &str) -> Result<Value, ValueError> {
        if text.is_empty() {
            return Ok(Value::Str(String::new()));
        }
        let parts = parse(text)?;
        let mut buffer = Zeroizing::new(parts.data);
        let opened = match parts.iv.len() {
            IV_LEN => self.gcm.decrypt_in_place_detached(
                Nonce::from_slice(&parts.iv),
                aad.as_bytes(),
                &mut buffer,
                Tag::from_slice(&parts.tag),
            ),
            12 => Aes256Gcm12::new_from_slice(self.key.as_bytes())
                .expect("32-byte key")
                .decrypt_in_place_detached(
                    Nonce::from_slice(&parts.iv),
                    aad.as_bytes(),
                    &mut buffer,
                    Tag::from_slice(&parts.tag),
                ),
            n => return Err(ValueError::IvLength(n)),
        };
        opened.map_err(|_| ValueError::Authentication)?;
        let value = typed_value(&buffer, &parts.kind)?;
        if parts.iv.len() == IV_LEN {
            let fingerprint = with_plaintext(&value, |plain, kind| stash_key(aad, kind, plain))?;
            let mut iv = [0u8; IV_LEN];
            iv.copy_from_slice(&parts.iv);
            self.stash.insert(fingerprint, iv);
        }
        Ok(value)
    }
}

/// Whether a string looks like a sops ciphertext (used to spot files whose metadata was stripped).
pub fn is_encrypted_value(text: &str) -> bool {
    text.starts_with(ENC_PREFIX) && text.ends_with(']')
}

const ENC_PREFIX: &str = "ENC[AES256_GCM,";

/// Whether `text` is sops ciphertext, whole or cut short: a file truncated inside a value leaves
/// `ENC[AES256_GCM,data:…` without its `]`, or only the start of the prefix (`ENC[AES2`). A plain
/// document holding one was stripped of its metadata or truncated, never written so by a person.
pub fn is_encrypted_or_truncated_value(text: &str) -> bool {
    text.starts_with(ENC_PREFIX) || (text.len() >= "ENC[A".len() && ENC_PREFIX.starts_with(text))
}

struct Parts {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

fn parse(text: &str) -> Result<Parts, ValueError> {
    let inner = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or(ValueError::Malformed)?;
    let mut fields = inner.split(',');
    let mut field = |name: &'static str| -> Result<&str, ValueError> {
        fields
            .next()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix(':'))
            .ok_or(ValueError::Malformed)
    };
    let data = field("data")?;
    let iv = field("iv")?;
    let tag = field("tag")?;
    let kind = field("type")?;
    if fields.next().is_some() {
        return Err(ValueError::Malformed);
    }
    let decode = |name: &'static str, s: &str| B64.decode(s).map_err(|_| ValueError::Base64(name));
    let parts = Parts {
        data: decode("data", data)?,
        iv: decode("iv", iv)?,
        tag: decode("tag", tag)?,
        kind: kind.to_string(),
    };
    if parts.tag.len() != TAG_LEN {
        return Err(ValueError::Malformed);
    }
    Ok(parts)
}

/// The bytes sops encrypts for a value and its type name (`aes/cipher.go`); also what the MAC hashes.
pub fn plaintext_of(value: &Value) -> Result<(Zeroizing<Vec<u8>>, &'static str), ValueError> {
    with_plaintext(value, |bytes, kind| (Zeroizing::new(bytes.to_vec()), kind))
}

/// `plaintext_of` lent to `f` instead of copied: strings and comments are their own bytes.
pub fn with_plaintext<R>(
    value: &Value,
    f: impl FnOnce(&[u8], &'static str) -> R,
) -> Result<R, ValueError> {
    let formatted: Zeroizing<String>;
    let (bytes, kind): (&[u8], &'static str) = match value {
        Value::Str(s) => (s.as_bytes(), "str"),
        // Non-UTF-8 strings are Go strings too (the binary store): sops types them `str`.
        Value::Bytes(b) => (b, "str"),
        Value::Int(i) => {
            formatted = Zeroizing::new(i.to_string());
            (formatted.as_bytes(), "int")
        }
        Value::Float(x) => {
            formatted = Zeroizing::new(format_float(*x));
            (formatted.as_bytes(), "float")
        }
        // "The Python version encodes booleans with Titlecase".
        Value::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes(), "bool"),
        Value::Comment(c) => (c.as_bytes(), "comment"),
        Value::Time(t) => (t.as_bytes(), "time"),
        Value::Null => return Err(ValueError::Unencryptable("null")),
        Value::Map(_) => return Err(ValueError::Unencryptable("map")),
        Value::Seq(_) => return Err(ValueError::Unencryptable("list")),
    };
    Ok(f(bytes, kind))
}

fn typed_value(bytes: &[u8], kind: &str) -> Result<Value, ValueError> {
    let text = || std::str::from_utf8(bytes).map_err(|_| ValueError::BadPlaintext("text"));
    Ok(match kind {
        "str" => match std::str::from_utf8(bytes) {
            Ok(s) => Value::Str(s.to_string()),
            Err(_) => Value::Bytes(bytes.to_vec()),
        },
        "int" | "int64" => {
            Value::Int(parse_go_int(text()?).ok_or(ValueError::BadPlaintext("integer"))?)
        }
        "float" => Value::Float(parse_go_float(text()?).ok_or(ValueError::BadPlaintext("float"))?),
        "bool" => Value::Bool(parse_go_bool(text()?).ok_or(ValueError::BadPlaintext("boolean"))?),
        "bytes" => Value::Bytes(bytes.to_vec()),
        "comment" => Value::Comment(text()?.to_string()),
        // `time.Time.UnmarshalText`, then `MarshalText` again for the MAC: the canonical text.
        "time" => Value::Time(
            super::timestamp::from_rfc3339(text()?).ok_or(ValueError::BadPlaintext("timestamp"))?,
        ),
        other => {
            let mut name: String = other.chars().take(16).collect();
            name.retain(|c| c.is_ascii_alphanumeric());
            return Err(ValueError::UnknownType(name));
        }
    })
}

/// Go's `strconv.Atoi`: optional sign, decimal digits.
fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms sops writes (`FormatFloat 'f'`, `+Inf`, `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || body.contains('_') {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn stash_key(aad: &str, kind: &str, plaintext: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((aad.len() as u64).to_be_bytes());
    hasher.update(aad.as_bytes());
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(plaintext);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(DataKey::from_slice(&[7u8; 32]).unwrap())
    }

    #[test]
    fn round_trips_every_type() {
        let mut c = cipher();
        for v in [
            Value::Str("hunter2".into()),
            Value::Int(-42),
            Value::Float(0.75),
            Value::Float(5432.0),
            Value::Bool(true),
            Value::Bool(false),
            Value::Comment(" a comment".into()),
            Value::Bytes(vec![0xff, 0x00, 0x80]),
        ] {
            let enc = c.encrypt(&v, "a:b:").unwrap();
            assert!(is_encrypted_value(&enc), "{enc}");
            assert_eq!(c.decrypt(&enc, "a:b:").unwrap(), v);
        }
    }

    #[test]
    fn types_are_named_like_sops() {
        let mut c = cipher();
        let enc = c.encrypt(&Value::Bool(true), "k:").unwrap();
        assert!(enc.ends_with(",type:bool]"));
        let enc = c.encrypt(&Value::Float(1.0), "k:").unwrap();
        assert!(enc.ends_with(",type:float]"));
    }

    #[test]
    fn empty_strings_stay_empty() {
        let mut c = cipher();
        assert_eq!(c.encrypt(&Value::Str(String::new()), "k:").unwrap(), "");
        assert_eq!(c.decrypt("", "k:").unwrap(), Value::Str(String::new()));
    }

    #[test]
    fn wrong_path_is_refused() {
        let mut c = cipher();
        let enc = c.encrypt(&Value::Str("x".into()), "a:").unwrap();
        assert_eq!(c.decrypt(&enc, "b:"), Err(ValueError::Authentication));
    }

    #[test]
    fn unchanged_values_keep_their_ciphertext() {
        let mut c = cipher();
        let enc = c.encrypt(&Value::Str("same".into()), "k:").unwrap();
        let mut fresh = cipher();
        let v = fresh.decrypt(&enc, "k:").unwrap();
        assert_eq!(fresh.encrypt(&v, "k:").unwrap(), enc);
    }

    #[test]
    fn malformed_values_are_refused() {
        let mut c = cipher();
        for bad in [
            "ENC[AES256_GCM,data:xx]",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "plain",
        ] {
            assert!(c.decrypt(bad, "k:").is_err(), "{bad}");
        }
    }

    #[test]
    fn go_parsers() {
        assert_eq!(parse_go_int("+12"), Some(12));
        assert_eq!(parse_go_int("1_0"), None);
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
