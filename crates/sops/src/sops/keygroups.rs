//! The data key and the key groups that protect it: wrapping it (whole, or as Shamir shares, one per
//! group) for every recipient, and recovering it with the identities at hand.

use crate::keys::{self, Identities, KeyError, Recipient};

use super::cipher::DataKey;
use super::metadata::{AgeKey, KeyGroup, Metadata};
use super::shamir::{self, ShamirError};

/// Why the data key could not be recovered or wrapped. Lists public recipients only.
#[derive(Debug, thiserror::Error)]
pub enum KeyGroupError {
    #[error("no identity can decrypt this file: it is encrypted for {recipients}, {available}")]
    NoMatchingIdentity {
        recipients: String,
        available: String,
    },
    #[error("only {found} of the {needed} key groups required could be decrypted ({detail})")]
    NotEnoughGroups {
        found: usize,
        needed: usize,
        detail: String,
    },
    #[error("a master key decrypted to {0} bytes, not a 32-byte data key: the file is corrupt")]
    BadDataKey(usize),
    #[error("Shamir secret sharing: {0}")]
    Shamir(#[from] ShamirError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "at least one recipient is needed to encrypt (give --age, or a .sops.yaml creation rule)"
    )]
    NoRecipients,
    #[error("key group {0} has no recipients")]
    EmptyGroup(usize),
}

/// Wraps `key` for the recipient groups: with one group every recipient wraps the whole key; with
/// several, the key is split with Shamir (threshold 0 = all groups) and each group wraps its share.
pub fn wrap(
    key: &DataKey,
    groups: &[Vec<Recipient>],
    threshold: usize,
) -> Result<Vec<KeyGroup>, KeyGroupError> {
    if groups.is_empty() || groups.iter().all(Vec::is_empty) {
        return Err(KeyGroupError::NoRecipients);
    }
    if let Some(i) = groups.iter().position(Vec::is_empty) {
        return Err(KeyGroupError::EmptyGroup(i + 1));
    }
    let shares = if groups.len() == 1 {
        vec![zeroize::Zeroizing::new(key.as_bytes().to_vec())]
    } else {
        let needed = if threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        shamir::split(key.as_bytes(), groups.len(), needed)?
    };
    groups
        .iter()
        .zip(&shares)
        .map(|(recipients, share)| {
            let age = recipients
                .iter()
                .map(|r| {
                    Ok(AgeKey {
                        recipient: r.to_string(),
                        enc: keys::wrap(share, r)?,
                    })
                })
                .collect::<Result<_, KeyError>>()?;
            Ok(KeyGroup {
                age,
                foreign: Vec::new(),
            })
        })
        .collect()
}

/// Recovers the data key of a file.
pub fn recover(metadata: &Metadata, identities: &Identities) -> Result<DataKey, KeyGroupError> {
    let groups = &metadata.key_groups;
    if groups.len() == 1 {
        let share =
            unwrap_group(&groups[0], identities)?.ok_or_else(|| no_match(metadata, identities))?;
        return DataKey::from_slice(&share).ok_or(KeyGroupError::BadDataKey(share.len()));
    }
    let needed = if metadata.shamir_threshold == 0 {
        groups.len()
    } else {
        metadata.shamir_threshold
    };
    let mut shares = Vec::new();
    let mut missing = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        if shares.len() == needed {
            break;
        }
        match unwrap_group(group, identities)? {
            Some(share) => shares.push(share),
            None => missing.push(index + 1),
        }
    }
    if shares.len() < needed {
        if shares.is_empty() {
            return Err(no_match(metadata, identities));
        }
        return Err(KeyGroupError::NotEnoughGroups {
            found: shares.len(),
            needed,
            detail: format!(
                "no identity for group(s) {}",
                missing
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let parts: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
    let key = shamir::combine(&parts)?;
    DataKey::from_slice(&key).ok_or(KeyGroupError::BadDataKey(key.len()))
}

/// The first age key of the group that one of the identities opens. Keys addressed to recipients we
/// hold are tried first, so a file with many recipients costs one decryption, not one per recipient.
fn unwrap_group(
    group: &KeyGroup,
    identities: &Identities,
) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, KeyGroupError> {
    // Our recipients take a scalar multiplication per identity to derive: only worth it to order
    // several keys, or to tell a damaged stanza from one addressed to someone else.
    let addressed_to_us = || {
        let ours: Vec<&str> = identities.recipients().collect();
        move |k: &&AgeKey| ours.contains(&k.recipient.as_str())
    };
    let (mine, others): (Vec<&AgeKey>, Vec<&AgeKey>) = if group.age.len() > 1 {
        group.age.iter().partition(addressed_to_us())
    } else {
        (group.age.iter().collect(), Vec::new())
    };
    let mut corrupt = None;
    for key in mine.into_iter().chain(others) {
        match keys::unwrap(&key.enc, identities) {
            Ok(plain) => return Ok(Some(plain)),
            Err(KeyError::NoMatchingIdentity) => {}
            Err(e) => corrupt = Some(e),
        }
    }
    match corrupt {
        // A stanza addressed to us that does not open means a damaged file, not a missing key.
        Some(e) => {
            let is_ours = addressed_to_us();
            if group.age.iter().any(|k| is_ours(&k)) {
                Err(e.into())
            } else {
                Ok(None)
            }
        }
        None => Ok(None),
    }
}

fn no_match(metadata: &Metadata, identities: &Identities) -> KeyGroupError {
    let recipients: Vec<String> = metadata
        .key_groups
        .iter()
        .flat_map(|g| {
            g.age
                .iter()
                .map(|k| k.recipient.clone())
                .chain(g.foreign_kinds().into_iter().map(|k| format!("a {k} key")))
        })
        .collect();
    let available = if identities.is_empty() {
        "and no age identity was given (use --identity FILE, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY)"
            .to_string()
    } else {
        format!(
            "but the {} identit{} given ({}) match{} none of them",
            identities.len(),
            if identities.len() == 1 { "y" } else { "ies" },
            identities.recipients().collect::<Vec<_>>().join(", "),
            if identities.len() == 1 { "es" } else { "" },
        )
    };
    KeyGroupError::NoMatchingIdentity {
        recipients: recipients.join(", "),
        available,
    }
}
