//! Whole-file operations: open an encrypted file (metadata, data key, values, then the MAC check before
//! anything is returned), encrypt a plain file, and re-encrypt a changed, rotated or re-keyed one.

use std::time::SystemTime;

use zeroize::Zeroize;

use crate::keys::{Identities, Recipient};

use super::cipher::{Cipher, DataKey, ValueError};
use super::keygroups::{self, KeyGroupError};
use super::metadata::{self, Metadata, MetadataError};
use super::rules::{RuleError, RuleSet};
use super::stores::{Format, FormatError, Layout, METADATA_KEY};
use super::tree::{Map, MapItem, Value};
use super::walk::{self, WalkError};

/// The sops format version sealsync writes (it follows sops 3.11's file format).
pub const FORMAT_VERSION: &str = "3.11.0";

/// Why a file could not be decrypted or encrypted. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error("cannot parse as {format}: {source}")]
    Format {
        format: &'static str,
        source: FormatError,
    },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Keys(#[from] KeyGroupError),
    #[error(transparent)]
    Value(#[from] WalkError),
    #[error("MAC mismatch: the file was changed after it was encrypted (a value, key or unencrypted field was edited, added or removed); refusing to use it")]
    MacMismatch,
    #[error("the stored MAC cannot be read: {0}")]
    BadMac(String),
    #[error("the file has no documents")]
    Empty,
    #[error("the file has a top-level 'sops' entry (in a dotenv file: a key starting with 'sops_'), where sops keeps its metadata: it is already encrypted, or that entry must be renamed")]
    AlreadyEncrypted,
    #[error("the file holds {0} master keys sealctl cannot use; re-key it with sops, or use updatekeys to replace them with age recipients")]
    ForeignKeys(String),
}

/// What to encrypt a new file for.
#[derive(Clone, Debug, Default)]
pub struct EncryptionSpec {
    /// Recipient groups; more than one group means Shamir secret sharing.
    pub groups: Vec<Vec<Recipient>>,
    /// Groups needed to decrypt (0 = all).
    pub threshold: usize,
    pub rules: RuleSet,
}

/// A decrypted file: its plaintext documents (zeroized on drop), its metadata and its data key.
pub struct Decrypted {
    docs: Vec<Map>,
    metadata: Metadata,
    cipher: Cipher,
    layout: Layout,
}

impl Drop for Decrypted {
    fn drop(&mut self) {
        self.docs.zeroize();
    }
}

fn load(input: &[u8], format: Format, encrypted: bool) -> Result<Vec<Map>, SopsError> {
    let store = format.store();
    let loaded = if encrypted {
        store.load_encrypted(input)
    } else {
        store.load_plain(input)
    };
    loaded.map_err(|source| SopsError::Format {
        format: format.name(),
        source,
    })
}

/// Reads only the metadata of an encrypted file (no key needed): recipients, rules, version.
pub fn read_metadata(input: &[u8], format: Format) -> Result<Metadata, SopsError> {
    let docs = load(input, format, true)?;
    let first = docs.first().ok_or(SopsError::Empty)?;
    Ok(Metadata::from_document(first)?)
}

/// Decrypts a file and verifies its MAC. Nothing is returned unless the MAC matches.
pub fn decrypt(
    input: &[u8],
    format: Format,
    identities: &Identities,
) -> Result<Decrypted, SopsError> {
    decrypt_docs(load(input, format, true)?, identities)
}

/// Decrypts documents already parsed from an encrypted file (each carrying its `sops` entry) and
/// verifies the MAC over all of them.
pub fn decrypt_docs(docs: Vec<Map>, identities: &Identities) -> Result<Decrypted, SopsError> {
    decrypt_checked(docs, identities, Mac::Verify)
}

/// Decrypts without refusing a MAC that does not match: recovery of a damaged file by a person
/// (`sealctl … --ignore-mac`), never the agent. Every value still has to decrypt under its own key path.
pub fn decrypt_ignoring_mac(
    input: &[u8],
    format: Format,
    identities: &Identities,
) -> Result<Decrypted, SopsError> {
    decrypt_checked(load(input, format, true)?, identities, Mac::Ignore)
}

#[derive(PartialEq, Eq)]
enum Mac {
    Verify,
    Ignore,
}

fn decrypt_checked(
    mut docs: Vec<Map>,
    identities: &Identities,
    mac: Mac,
) -> Result<Decrypted, SopsError> {
    let metadata = Metadata::from_document(docs.first().ok_or(SopsError::Empty)?)?;
    docs.iter_mut().for_each(metadata::strip);
    let rules = metadata.rules.compile()?;
    let key = keygroups::recover(&metadata, identities)?;
    let mut cipher = Cipher::new(key);
    let computed = walk::decrypt(&mut docs, &rules, &mut cipher);
    let decrypted = Decrypted {
        docs,
        metadata,
        cipher,
        layout: Layout::default(),
    };
    let computed = computed?;
    if mac == Mac::Ignore {
        return Ok(decrypted);
    }
    let aad = mac_additional_data(&decrypted.metadata.last_modified)?;
    let mut mac_cipher = Cipher::new(decrypted.cipher.key().clone());
    let stored = match mac_cipher.decrypt(&decrypted.metadata.mac, &aad) {
        Ok(Value::Str(s)) => s,
        Ok(_) => return Err(SopsError::BadMac("not a text value".into())),
        Err(ValueError::Authentication) => return Err(SopsError::MacMismatch),
        Err(e) => return Err(SopsError::BadMac(e.to_string())),
    };
    if !constant_time_eq(stored.as_bytes(), computed.as_bytes()) {
        return Err(SopsError::MacMismatch);
    }
    Ok(decrypted)
}

/// Parses a plain file, refusing one that is already encrypted.
pub fn parse_plain(input: &[u8], format: Format) -> Result<Vec<Map>, SopsError> {
    let mut docs = load(input, format, false)?;
    if holds_metadata_entry(&docs, format) {
        docs.zeroize();
        return Err(SopsError::AlreadyEncrypted);
    }
    Ok(docs)
}

/// Whether a document has an entry where the metadata would go: `sops`, or in a dotenv file any key
/// starting with `sops_` (the flat store writes the metadata as such keys, so one would be read back as
/// metadata and the file could never be decrypted again).
fn holds_metadata_entry(docs: &[Map], format: Format) -> bool {
    let flat_prefix = format!("{METADATA_KEY}_");
    docs.iter().any(|d| {
        d.get(METADATA_KEY).is_some()
            || (format == Format::Dotenv && d.entries().any(|(k, _)| k.starts_with(&flat_prefix)))
    })
}

/// Encrypts a plain file for the recipients of `spec` with a new data key.
pub fn encrypt(input: &[u8], format: Format, spec: &EncryptionSpec) -> Result<Vec<u8>, SopsError> {
    encrypt_docs(parse_plain(input, format)?, format, spec)
}

/// Encrypts documents built in memory (e.g. `sealctl create secret`).
pub fn encrypt_docs(
    docs: Vec<Map>,
    format: Format,
    spec: &EncryptionSpec,
) -> Result<Vec<u8>, SopsError> {
    encrypt_docs_laid_out(docs, format, spec, Layout::default())
}

/// `encrypt_docs`, written with `layout` (`--indent`, `.sops.yaml` `stores`).
pub fn encrypt_docs_laid_out(
    docs: Vec<Map>,
    format: Format,
    spec: &EncryptionSpec,
    layout: Layout,
) -> Result<Vec<u8>, SopsError> {
    if docs.is_empty() {
        return Err(SopsError::Empty);
    }
    let rules = spec.rules.clone().normalized()?;
    let compiled = rules.compile()?;
    let key = DataKey::generate();
    let key_groups = keygroups::wrap(&key, &spec.groups, spec.threshold)?;
    let threshold = if spec.groups.len() > 1 && spec.threshold == 0 {
        spec.groups.len()
    } else {
        spec.threshold
    };
    let mut file = Decrypted {
        docs,
        metadata: Metadata {
            key_groups,
            shamir_threshold: threshold,
            last_modified: String::new(),
            mac: String::new(),
            rules,
            version: FORMAT_VERSION.to_string(),
        },
        cipher: Cipher::new(key),
        layout,
    };
    // The documents are not needed afterwards: encrypt them where they are instead of a copy.
    let mut docs = std::mem::take(&mut file.docs);
    let result = file.encrypt_into(&mut docs, &compiled, format);
    docs.zeroize();
    result
}

impl Decrypted {
    pub fn docs(&self) -> &[Map] {
        &self.docs
    }

    /// The documents, for changes (`set`, `unset`, `edit`); `encrypt` afterwards writes them back.
    pub fn docs_mut(&mut self) -> &mut Vec<Map> {
        &mut self.docs
    }

    /// How `emit_plain` and `encrypt` lay the file out.
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The plaintext file in `format`.
    pub fn emit_plain(&self, format: Format) -> Result<Vec<u8>, SopsError> {
        format
            .store()
            .emit_plain_with(&self.docs, self.layout)
            .map_err(|source| SopsError::Format {
                format: format.name(),
                source,
            })
    }

    /// Encrypts the documents again under the same data key: unchanged values keep their ciphertext,
    /// `lastmodified` and the MAC are renewed.
    pub fn encrypt(&mut self, format: Format) -> Result<Vec<u8>, SopsError> {
        let rules = self.metadata.rules.compile()?;
        let mut docs = self.docs.clone();
        let result = self.encrypt_into(&mut docs, &rules, format);
        if result.is_err() {
            docs.zeroize();
        }
        result
    }

    fn encrypt_into(
        &mut self,
        docs: &mut [Map],
        rules: &super::rules::Rules,
        format: Format,
    ) -> Result<Vec<u8>, SopsError> {
        // `set` or `edit` may have added such an entry.
        if holds_metadata_entry(docs, format) {
            return Err(SopsError::AlreadyEncrypted);
        }
        let mac = walk::encrypt(docs, rules, &mut self.cipher)?;
        let last_modified = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let aad = mac_additional_data(&last_modified)?;
        self.metadata.mac = self
            .cipher
            .encrypt(&Value::Str(mac), &aad)
            .map_err(|e| SopsError::BadMac(e.to_string()))?;
        self.metadata.last_modified = last_modified;
        let meta = Value::Map(self.metadata.to_map());
        for doc in docs.iter_mut() {
            doc.0
                .push(MapItem::Entry(METADATA_KEY.to_string(), meta.clone()));
        }
        format
            .store()
            .emit_encrypted_with(docs, self.layout)
            .map_err(|source| SopsError::Format {
                format: format.name(),
                source,
            })
    }

    /// Draws a new data key and wraps it for the same recipients (`sealctl rotate`), with `add`
    /// joining the first key group and `remove` leaving every group (`rotate --add-age/--rm-age`).
    pub fn rotate_for(&mut self, add: &[Recipient], remove: &[Recipient]) -> Result<(), SopsError> {
        let named =
            |list: &[Recipient], r: &Recipient| list.iter().any(|x| x.to_string() == r.to_string());
        let mut groups = self.age_recipients()?;
        for group in &mut groups {
            group.retain(|r| !named(remove, r));
        }
        if let Some(first) = groups.first_mut() {
            for r in add {
                if !named(first, r) {
                    first.push(r.clone());
                }
            }
        }
        if groups.iter().any(Vec::is_empty) {
            return Err(SopsError::Keys(KeyGroupError::NoRecipients));
        }
        let key = DataKey::generate();
        self.metadata.key_groups = keygroups::wrap(&key, &groups, self.metadata.shamir_threshold)?;
        self.cipher = Cipher::new(key);
        Ok(())
    }

    /// Draws a new data key and wraps it for the same recipients (`sealctl rotate`).
    pub fn rotate(&mut self) -> Result<(), SopsError> {
        self.rotate_for(&[], &[])
    }

    /// Wraps the current data key for a new set of recipient groups (`sealctl updatekeys`).
    pub fn set_recipients(
        &mut self,
        groups: &[Vec<Recipient>],
        threshold: usize,
    ) -> Result<(), SopsError> {
        self.metadata.key_groups = keygroups::wrap(self.cipher.key(), groups, threshold)?;
        self.metadata.shamir_threshold = if groups.len() > 1 && threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        Ok(())
    }

    fn age_recipients(&self) -> Result<Vec<Vec<Recipient>>, SopsError> {
        let foreign: Vec<&str> = self
            .metadata
            .key_groups
            .iter()
            .flat_map(|g| g.foreign_kinds())
            .collect();
        if !foreign.is_empty() {
            return Err(SopsError::ForeignKeys(foreign.join(", ")));
        }
        self.metadata
            .key_groups
            .iter()
            .map(|g| {
                g.age
                    .iter()
                    .map(|k| {
                        k.recipient
                            .parse()
                            .map_err(|e| KeyGroupError::Key(e).into())
                    })
                    .collect()
            })
            .collect()
    }
}

/// sops authenticates the MAC with `LastModified.Format(time.RFC3339)` of the parsed timestamp:
/// fractional seconds dropped, a zero offset written as `Z`.
fn mac_additional_data(last_modified: &str) -> Result<String, SopsError> {
    let bad = || {
        SopsError::Metadata(MetadataError::Field {
            field: "lastmodified".into(),
            reason: "not an RFC 3339 timestamp".into(),
        })
    };
    let s = last_modified.trim();
    if s.len() < 20 || !s.is_char_boundary(19) {
        return Err(bad());
    }
    let (main, rest) = s.split_at(19);
    let b = main.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    if !digits.iter().all(|&i| b[i].is_ascii_digit())
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let rest = match rest.strip_prefix('.') {
        Some(frac) => {
            let digits_end = frac
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(frac.len());
            if digits_end == 0 {
                return Err(bad());
            }
            &frac[digits_end..]
        }
        None => rest,
    };
    let zone = match rest {
        "Z" | "z" | "+00:00" | "-00:00" => "Z".to_string(),
        z if z.len() == 6
            && matches!(z.as_bytes()[0], b'+' | b'-')
            && z.as_bytes()[3] == b':'
            && [1, 2, 4, 5]
                .iter()
                .all(|&i| z.as_bytes()[i].is_ascii_digit()) =>
        {
            z.to_string()
        }
        _ => return Err(bad()),
    };
    let mut main = main.to_string();
    main.replace_range(10..11, "T");
    Ok(main + &zone)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_timestamps_normalize_like_go() {
        let n = |s| mac_additional_data(s).unwrap();
        assert_eq!(n("2026-11-22T03:46:24Z"), "2026-11-22T03:46:24Z");
        assert_eq!(n("2026-11-22T03:46:24.123456Z"), "2026-11-22T03:46:24Z");
        assert_eq!(n("2026-11-22T05:46:24+02:00"), "2026-11-22T05:46:24+02:00");
        assert_eq!(n("2026-11-22T03:46:24+00:00"), "2026-11-22T03:46:24Z");
        assert!(mac_additional_data("yesterday").is_err());
        assert!(mac_additional_data("2026-11-22T03:46:24").is_err());
    }
}
