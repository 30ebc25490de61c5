//! Reading many secrets: current versions through BatchGetSecretValue, at most 20 ids per call; pinned ones one by one.

use super::client::{classify, AwsProvider};
use super::Pin;
use crate::limits::with_retries;
use crate::{ErrorKind, ProviderError, RemoteRef, RemoteValue};
use std::collections::{HashMap, HashSet};

/// AWS's limit of ids per BatchGetSecretValue call (moto does not enforce it: we must).
pub const BATCH_MAX_IDS: usize = 20;
/// Pages of one batch's reply we follow at most (a reply of 20 ids should need one).
const MAX_PAGES: usize = 20;

type Results = HashMap<String, Result<RemoteValue, ProviderError>>;

impl AwsProvider {
    /// One result per reference, in order: unpinned ones in batches, pinned ones with GetSecretValue.
    pub(crate) async fn fetch_all(
        &self,
        refs: &[RemoteRef],
    ) -> Vec<Result<RemoteValue, ProviderError>> {
        let mut seen = HashSet::new();
        let current: Vec<String> = refs
            .iter()
            .filter(|r| {
                Pin::parse(r.version.as_deref()) == Pin::Current && seen.insert(r.key.as_str())
            })
            .map(|r| r.key.clone())
            .collect();
        let batches = futures_util::future::join_all(
            current.chunks(BATCH_MAX_IDS).map(|ids| self.batch(ids)),
        );
        let pinned = futures_util::future::join_all(
            refs.iter()
                .filter(|r| Pin::parse(r.version.as_deref()) != Pin::Current)
                .map(|r| self.get_one(r)),
        );
        let (batches, pinned) = futures_util::future::join(batches, pinned).await;
        let by_key: Results = batches.into_iter().flatten().collect();
        let mut pinned = pinned.into_iter();
        refs.iter()
            .map(|r| match Pin::parse(r.version.as_deref()) {
                Pin::Current => by_key
                    .get(&r.key)
                    .cloned()
                    .unwrap_or_else(|| Err(self.missing(&r.key))),
                _ => pinned.next().unwrap_or_else(|| Err(self.missing(&r.key))),
            })
            .collect()
    }

    /// One BatchGetSecretValue of at most [`BATCH_MAX_IDS`] ids, with its per-secret `Errors`.
    async fn batch(&self, ids: &[String]) -> Results {
        let label = match ids {
            [one] => one.clone(),
            [first, ..] => format!("{first} (and {} more)", ids.len() - 1),
            [] => return Results::new(),
        };
        let mut results = Results::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let reply = with_retries(&self.limits, &self.gate, || async {
                let req = self
                    .client
                    .batch_get_secret_value()
                    .set_secret_id_list(Some(ids.to_vec()))
                    .set_next_token(next.clone());
                req.send().await.map_err(|e| self.sdk_err(&label, e))
            })
            .await;
            let reply = match reply {
                Ok(reply) => reply,
                // A policy may allow GetSecretValue but not BatchGetSecretValue: read them one by one.
                Err(ProviderError::Denied { .. }) => return self.one_by_one(ids).await,
                Err(e) => {
                    return ids
                        .iter()
                        .map(|id| (id.clone(), Err(e.for_key(id))))
                        .collect()
                }
            };
            for entry in reply.secret_values.unwrap_or_default() {
                // One entry answers every id naming that secret (its name and its ARN may both be asked).
                let matching = requested(ids, entry.name.as_deref(), entry.arn.as_deref());
                let Some((first, others)) = matching.split_first() else {
                    continue;
                };
                let value = self.value(
                    first,
                    entry.secret_string,
                    entry.secret_binary,
                    entry.version_id,
                );
                for id in others {
                    results.insert((*id).to_owned(), value.clone().map_err(|e| e.for_key(id)));
                }
                results.insert((*first).to_owned(), value);
            }
            for error in reply.errors.unwrap_or_default() {
                let Some(secret) = error.secret_id.as_deref() else {
                    continue;
                };
                let code = error.error_code.as_deref();
                let message: String = error
                    .message
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect();
                let detail = format!("{}: {message}", code.unwrap_or("unknown error"));
                for id in requested(ids, Some(secret), Some(secret)) {
                    results.insert(
                        id.to_owned(),
                        Err(self.err(classify(code, 400), id, detail.clone())),
                    );
                }
            }
            next = reply.next_token;
            if next.is_none() {
                break;
            }
        }
        results
    }

    async fn one_by_one(&self, ids: &[String]) -> Results {
        let reads = ids
            .iter()
            .map(|id| async move { (id.clone(), self.get_one(&RemoteRef::current(id)).await) });
        futures_util::future::join_all(reads)
            .await
            .into_iter()
            .collect()
    }

    fn missing(&self, key: &str) -> ProviderError {
        // Not NotFound: only the service's own ResourceNotFoundException may say a secret is gone.
        self.err(
            ErrorKind::Invalid,
            key,
            "absent from the BatchGetSecretValue reply",
        )
    }
}

/// The requested ids a reply entry answers: by name, full ARN, or partial ARN (without AWS's suffix).
fn requested<'a>(ids: &'a [String], name: Option<&str>, arn: Option<&str>) -> Vec<&'a str> {
    ids.iter()
        .filter(|id| {
            Some(id.as_str()) == name
                || Some(id.as_str()) == arn
                || (id.starts_with("arn:") && arn.is_some_and(|a| a.starts_with(&format!("{id}-"))))
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::requested;

    #[test]
    fn reply_entries_match_names_and_arns() {
        let ids = vec![
            "app/db".to_owned(),
            "arn:aws:secretsmanager:us-east-1:1:secret:other".to_owned(),
        ];
        assert_eq!(requested(&ids, Some("app/db"), Some("arn:x")), ["app/db"]);
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:other-AbCdEf";
        assert_eq!(requested(&ids, Some("other"), Some(arn)), [ids[1].as_str()]);
        assert!(requested(&ids, Some("nope"), Some("arn:nope")).is_empty());
        let both = vec!["other".to_owned(), arn.to_owned()];
        assert_eq!(requested(&both, Some("other"), Some(arn)).len(), 2);
    }
}
