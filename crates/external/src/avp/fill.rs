//! Filling an argocd-vault-plugin plan with resolved values: modifiers applied, surrounding text kept,
//! `data` values re-encoded as AVP does, into the Secret's data.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::parse::{AvpSecret, Encoding, Entry, Part, RemoteRef};
use crate::error::Error;
use crate::limits::MAX_VALUE_BYTES;
use crate::pipeline::check_secret_size;
use crate::pipeline::decode::decode_base64;
use crate::value::{SecretData, SecretValue};

/// Fills every placeholder of `secret` from `resolved` (the value of each remote key: a string as its
/// text, anything else JSON-encoded). A reference absent from `resolved` is a missing key: an error
/// naming it, or, with `avp.kubernetes.io/remove-missing`, the key is left out of the Secret.
/// Fetch failures are the caller's: it does not call this without every fetch answered.
pub fn fill(
    secret: &AvpSecret,
    resolved: &BTreeMap<RemoteRef, SecretValue>,
) -> Result<SecretData, Error> {
    let mut out = SecretData::new();
    for entry in &secret.entries {
        // None: remove-missing dropped this field's key (a `data` twin of a dropped `stringData`
        // key stays, as AVP deletes only the field it could not fill).
        if let Some(v) = fill_entry(secret, entry, resolved)? {
            out.insert(entry.key.clone(), v);
        }
    }
    check_secret_size(&secret.origin, &out)?;
    Ok(out)
}

/// One key's value; `None` when a remote key is missing and `remove-missing` is set.
fn fill_entry(
    secret: &AvpSecret,
    entry: &Entry,
    resolved: &BTreeMap<RemoteRef, SecretValue>,
) -> Result<Option<SecretValue>, Error> {
    let origin = &secret.origin;
    let location = entry.location();
    // The pieces first, then one buffer of their total size: a buffer that grew would reallocate and
    // leave a copy of the values in the block it left, which is not zeroized.
    let mut pieces: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(entry.parts.len());
    let mut len = 0;
    for part in &entry.parts {
        match part {
            Part::Text(t) => pieces.push(Zeroizing::new(t.as_bytes().to_vec())),
            Part::Placeholder(p) => {
                let Some(value) = resolved.get(&p.reference) else {
                    if secret.remove_missing {
                        return Ok(None);
                    }
                    return Err(Error::MissingValue {
                        origin: Box::new(origin.clone()),
                        location,
                        path: p.reference.path.clone(),
                        key: p.reference.key.clone(),
                    });
                };
                let mut v: Zeroizing<Vec<u8>> = Zeroizing::new(value.expose().to_vec());
                for m in &p.modifiers {
                    v = m.apply(&v).map_err(|reason| Error::Placeholder {
                        origin: Box::new(origin.clone()),
                        location: location.clone(),
                        reason,
                    })?;
                }
                pieces.push(v);
            }
        }
        len += pieces.last().map_or(0, |p| p.len());
        if len > MAX_VALUE_BYTES {
            return Err(Error::limit(
                origin,
                location,
                format!("filled value exceeds {MAX_VALUE_BYTES} bytes"),
            ));
        }
    }
    let mut text = Zeroizing::new(Vec::with_capacity(len));
    pieces.iter().for_each(|p| text.extend_from_slice(p));
    let bytes = match entry.encoding {
        Encoding::Text | Encoding::Base64Wrapped => text,
        Encoding::Base64 => decode_base64(&text, false).ok_or_else(|| {
            let reason = if entry.parts.iter().any(|p| matches!(p, Part::Placeholder(_))) {
                "the filled value is not base64: add | base64encode to the placeholder, or move the key to stringData"
            } else {
                "not valid base64"
            };
            Error::invalid(origin, location.clone(), reason)
        })?,
    };
    Ok(Some(SecretValue::from(bytes)))
}
