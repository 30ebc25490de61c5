//! From whole remote secrets to placeholder values: which secrets to fetch, how a full Vault API
//! path splits into mount and key, and the key of each placeholder picked from its secret.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::parse::{AvpSecret, RemoteRef};
use crate::error::Error;
use crate::pipeline::property::{check_size, json_to_bytes, parse_json};
use crate::value::SecretValue;

/// One remote secret (every key of it comes from one fetch): a full Vault API path or an AWS
/// secret name, at an optional version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteSecretId {
    pub path: String,
    pub version: Option<String>,
}

impl RemoteRef {
    pub fn secret(&self) -> RemoteSecretId {
        RemoteSecretId {
            path: self.path.clone(),
            version: self.version.clone(),
        }
    }
}

impl AvpSecret {
    /// The distinct remote secrets this Secret needs, each fetched once.
    pub fn secrets_to_fetch(&self) -> BTreeSet<RemoteSecretId> {
        self.placeholders()
            .map(|(_, p)| p.reference.secret())
            .collect()
    }
}

/// Splits AVP's full Vault API path into the KV mount and the key below it. KV v2 paths carry
/// `/data/` after the mount (`secret/data/app/db` → `secret`, `app/db`); with `mount` known
/// (the store's `path`) it is stripped as is, otherwise v2 splits at the first `/data/` and v1 at
/// the first `/`. `None` when the path does not fit.
pub fn split_vault_path(
    path: &str,
    kv_version: u8,
    mount: Option<&str>,
) -> Option<(String, String)> {
    let path = path.trim_matches('/');
    let (mount, rest) = match mount.map(|m| m.trim_matches('/')) {
        Some(m) => (m, path.strip_prefix(m)?.strip_prefix('/')?),
        None if kv_version == 2 => path
            .split_once("/data/")
            .map(|(m, _)| (m, &path[m.len() + 1..]))?,
        None => path.split_once('/')?,
    };
    let key = if kv_version == 2 {
        rest.strip_prefix("data/")?
    } else {
        rest
    };
    (!mount.is_empty() && !key.is_empty()).then(|| (mount.to_string(), key.to_string()))
}

/// Picks each placeholder's key from the remote secrets fetched for `secret` (each a JSON object:
/// Vault's `data`, or an AWS SecretString). AVP reads the key as an exact top-level field; a string
/// is its text, anything else JSON. A secret absent from `fetched` (not found) is an error, as in
/// AVP; a key the secret lacks is left out, which [`super::fill`] reports (or drops with
/// `remove-missing`).
pub fn resolve(
    secret: &AvpSecret,
    fetched: &BTreeMap<RemoteSecretId, SecretValue>,
) -> Result<BTreeMap<RemoteRef, SecretValue>, Error> {
    let origin = &secret.origin;
    let mut out = BTreeMap::new();
    for reference in secret.references() {
        let Some(value) = fetched.get(&reference.secret()) else {
            continue;
        };
        check_size(origin, &reference.path, value.len())?;
        let parsed = parse_json(origin, &reference.path, value.expose())?;
        let Some(Value::Object(map)) = parsed.as_ref().map(|p| &p.0) else {
            return Err(Error::remote(
                origin,
                &reference.path,
                "the remote secret is not a JSON object of keys",
            ));
        };
        if let Some(v) = map.get(&reference.key) {
            out.insert(reference.clone(), SecretValue::new(json_to_bytes(v)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_paths() {
        let s = |p, v, m| split_vault_path(p, v, m);
        assert_eq!(
            s("secret/data/app/db", 2, None),
            Some(("secret".into(), "app/db".into()))
        );
        assert_eq!(
            s("team/kv/data/app", 2, Some("team/kv")),
            Some(("team/kv".into(), "app".into()))
        );
        assert_eq!(
            s("kv/app/db", 1, None),
            Some(("kv".into(), "app/db".into()))
        );
        assert_eq!(
            s("team/kv/app", 1, Some("team/kv")),
            Some(("team/kv".into(), "app".into()))
        );
        assert_eq!(s("secret/app", 2, None), None, "KV v2 paths need /data/");
        assert_eq!(s("other/data/x", 2, Some("secret")), None);
        assert_eq!(s("secret/data/", 2, None), None);
    }
}
