//! The KV secrets engine, v1 and v2: reading a secret (optionally a pinned version) and listing a folder.

use super::client::VaultProvider;
use super::KvVersion;
use crate::{ErrorKind, FindQuery, ProviderError, RemoteRef, RemoteValue};
use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

#[derive(Deserialize)]
struct V1<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct V2<'a> {
    #[serde(borrow)]
    data: V2Data<'a>,
}

#[derive(Deserialize)]
struct V2Data<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    metadata: Option<V2Meta>,
}

#[derive(Deserialize)]
struct V2Meta {
    version: Option<u64>,
}

#[derive(Deserialize)]
struct List {
    data: ListKeys,
}

#[derive(Deserialize)]
struct ListKeys {
    #[serde(default)]
    keys: Vec<String>,
}

impl VaultProvider {
    /// Reads one secret: its `data` object as JSON bytes, with the KV v2 version number.
    pub(crate) async fn read(&self, r: &RemoteRef) -> Result<RemoteValue, ProviderError> {
        let key = &r.key;
        let rel = check_key(key).map_err(|why| self.conn.err(ErrorKind::Invalid, key, why))?;
        let path = match (self.kv, &r.version) {
            (KvVersion::V2, None) => format!("{}/data/{rel}", self.mount),
            (KvVersion::V2, Some(v)) => match v.parse::<u64>() {
                Ok(n) if n > 0 => format!("{}/data/{rel}?version={n}", self.mount),
                _ => {
                    return Err(self.conn.err(
                        ErrorKind::Invalid,
                        key,
                        format!("version {v:?} is not a KV v2 version number"),
                    ))
                }
            },
            (KvVersion::V1, None) => format!("{}/{rel}", self.mount),
            (KvVersion::V1, Some(_)) => {
                return Err(self.conn.err(
                    ErrorKind::Invalid,
                    key,
                    "KV v1 secrets have no versions",
                ));
            }
        };
        let body = self.call(Method::GET, &path, key).await?;
        let (data, version) = parse(self.kv, &body).map_err(|e| {
            self.conn.err(
                ErrorKind::Invalid,
                key,
                format!("unexpected response: {}", e.classify_name()),
            )
        })?;
        // KV v2 answers a deleted or destroyed version with data: null.
        let data = data.filter(|d| d.get() != "null").ok_or_else(|| {
            self.conn
                .err(ErrorKind::NotFound, key, "no data (deleted version)")
        })?;
        let raw = data.get().as_bytes();
        let limit = self.conn.limits.max_value_bytes;
        if raw.len() > limit {
            return Err(ProviderError::too_large(
                &self.conn.store,
                key,
                raw.len() as u64,
                limit as u64,
            ));
        }
        Ok(RemoteValue::new(
            Zeroizing::new(raw.to_vec()),
            version.map(|v| v.to_string()),
        ))
    }

    /// Lists the secrets directly under `query.path` (folders are skipped), filters them by name and
    /// reads each one's current version.
    pub(crate) async fn find_keys(
        &self,
        query: &FindQuery,
    ) -> Result<Vec<(String, RemoteValue)>, ProviderError> {
        let folder = query.path.as_deref().unwrap_or("").trim_matches('/');
        let err = |kind, why: String| {
            self.conn
                .err(kind, if folder.is_empty() { "/" } else { folder }, why)
        };
        if !query.tags.is_empty() {
            return Err(err(
                ErrorKind::Invalid,
                "finding Vault secrets by tags is not supported".into(),
            ));
        }
        let name_re = crate::limits::name_regex(query.name_regex.as_deref())
            .map_err(|e| err(ErrorKind::Invalid, e))?;
        if !folder.is_empty() {
            check_key(folder).map_err(|why| err(ErrorKind::Invalid, why.into()))?;
        }
        let list_path = match self.kv {
            KvVersion::V2 => format!("{}/metadata/{folder}", self.mount),
            KvVersion::V1 => format!("{}/{folder}", self.mount),
        };
        let list =
            Method::from_bytes(b"LIST").map_err(|e| err(ErrorKind::Invalid, e.to_string()))?;
        let names = match self.call(list, &list_path, folder).await {
            Ok(body) => {
                serde_json::from_slice::<List>(&body)
                    .map_err(|e| {
                        err(
                            ErrorKind::Invalid,
                            format!("unexpected list response: {}", e.classify_name()),
                        )
                    })?
                    .data
                    .keys
            }
            // An empty folder does not exist for Vault.
            Err(ProviderError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut keys: Vec<String> = names
            .into_iter()
            .filter(|n| !n.ends_with('/') && name_re.as_ref().is_none_or(|re| re.is_match(n)))
            .map(|n| {
                if folder.is_empty() {
                    n
                } else {
                    format!("{folder}/{n}")
                }
            })
            .collect();
        keys.sort();
        let limit = self.conn.limits.max_find_results;
        if keys.len() > limit {
            return Err(err(
                ErrorKind::Invalid,
                format!(
                    "{} secrets match, more than the limit of {limit}",
                    keys.len()
                ),
            ));
        }
        let refs: Vec<RemoteRef> = keys.iter().map(RemoteRef::current).collect();
        let values = futures_util::future::join_all(refs.iter().map(|r| self.read(r))).await;
        keys.into_iter()
            .zip(values)
            .map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

/// The secret's `data` (borrowed, not copied into strings) and its KV v2 version number.
fn parse(
    kv: KvVersion,
    body: &[u8],
) -> Result<(Option<&RawValue>, Option<u64>), serde_json::Error> {
    match kv {
        KvVersion::V1 => serde_json::from_slice::<V1>(body).map(|v| (v.data, None)),
        KvVersion::V2 => serde_json::from_slice::<V2>(body)
            .map(|v| (v.data.data, v.data.metadata.and_then(|m| m.version))),
    }
}

/// A key is a relative path below the mount: no empty, `.` or `..` segment, no query or fragment.
fn check_key(key: &str) -> Result<&str, &'static str> {
    let rel = key.trim_matches('/');
    if rel.is_empty() {
        return Err("empty key");
    }
    if rel
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("key has an empty, '.' or '..' segment");
    }
    if rel.contains(['?', '#', '%']) || rel.chars().any(char::is_control) {
        return Err("key has '?', '#', '%' or a control character");
    }
    Ok(rel)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    /// serde_json's messages may quote input; name only the kind of failure.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "not the expected shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_stay_below_the_mount() {
        assert_eq!(check_key("/app/db/"), Ok("app/db"));
        for bad in [
            "",
            "/",
            "a//b",
            "../x",
            "a/./b",
            "a?version=2",
            "a#b",
            "a%2e%2e",
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
