//! The Secrets Manager client: SDK set-up on rustls + ring, single reads, `find`, and error classification.

use super::{AwsAuth, AwsStore, Pin};
use crate::limits::{with_retries, Gate};
use crate::{
    BoxFuture, ErrorKind, FindQuery, Limits, Provider, ProviderError, RemoteRef, RemoteValue,
};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider as TlsProvider};
use zeroize::Zeroizing;

/// A Secrets Manager store.
pub struct AwsProvider {
    pub(crate) store: String,
    pub(crate) client: aws_sdk_secretsmanager::Client,
    pub(crate) limits: Limits,
    pub(crate) gate: Gate,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("store", &self.store)
            .finish()
    }
}

impl AwsProvider {
    /// Loads the SDK configuration (region, credentials chain, optional role) for the store. Credentials
    /// are resolved lazily, at the first request.
    pub async fn new(store: AwsStore) -> Result<Self, ProviderError> {
        let limits = &store.limits;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(TlsProvider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(limits.connect_timeout)
            .operation_attempt_timeout(limits.request_timeout)
            .build();
        // Retries are ours (crate::limits), for every store alike; the SDK's would multiply them.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::disabled());
        if !store.region.is_empty() {
            loader = loader.region(Region::new(store.region.clone()));
        }
        if let Some(url) = &store.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let AwsAuth::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } = &store.auth
        {
            let token = session_token.as_ref().map(|t| t.to_string());
            let creds = Credentials::new(
                access_key_id,
                secret_access_key.as_str(),
                token,
                None,
                "sealsync-store",
            );
            loader = loader.credentials_provider(creds);
        }
        let mut config = loader.load().await;
        if let AwsAuth::WebIdentity { role_arn, token } = &store.auth {
            let identity = super::web_identity::WebIdentity {
                sts: aws_sdk_sts::Client::new(&config),
                role_arn: role_arn.clone(),
                token: token.clone(),
            };
            config = config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(identity))
                .build();
        }
        if config.region().is_none() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                &store.name,
                "(store)",
                "no region configured or found",
            ));
        }
        if let Some(role) = &store.role {
            let mut assume =
                aws_config::sts::AssumeRoleProvider::builder(role).session_name("sealsync");
            if let Some(id) = &store.external_id {
                assume = assume.external_id(id);
            }
            let assume = assume.configure(&config).build().await;
            config = config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(assume))
                .build();
        }
        let config = aws_sdk_secretsmanager::config::Builder::from(&config)
            .interceptor(super::reply::ZeroizeReplies)
            .build();
        Ok(AwsProvider {
            store: store.name.clone(),
            client: aws_sdk_secretsmanager::Client::from_conf(config),
            gate: Gate::new(limits),
            limits: store.limits.clone(),
        })
    }

    /// GetSecretValue for one reference, retried on Unavailable/Throttled.
    pub(crate) async fn get_one(&self, r: &RemoteRef) -> Result<RemoteValue, ProviderError> {
        let key = &r.key;
        with_retries(&self.limits, &self.gate, || async {
            let mut req = self.client.get_secret_value().secret_id(key);
            req = match Pin::parse(r.version.as_deref()) {
                Pin::Current => req,
                Pin::Stage(stage) => req.version_stage(stage),
                Pin::VersionId(id) => req.version_id(id),
            };
            let out = req.send().await.map_err(|e| self.sdk_err(key, e))?;
            self.value(key, out.secret_string, out.secret_binary, out.version_id)
        })
        .await
    }

    /// The value of a reply, moved (not copied) into a zeroized buffer; refused over the size limit.
    pub(crate) fn value(
        &self,
        key: &str,
        string: Option<String>,
        binary: Option<aws_smithy_types::Blob>,
        version: Option<String>,
    ) -> Result<RemoteValue, ProviderError> {
        let bytes = match (string, binary) {
            (Some(s), _) => Zeroizing::new(s.into_bytes()),
            (None, Some(b)) => Zeroizing::new(b.into_inner()),
            (None, None) => {
                return Err(self.err(
                    ErrorKind::Invalid,
                    key,
                    "reply has neither SecretString nor SecretBinary",
                ))
            }
        };
        let limit = self.limits.max_value_bytes;
        if bytes.len() > limit {
            return Err(ProviderError::too_large(
                &self.store,
                key,
                bytes.len() as u64,
                limit as u64,
            ));
        }
        Ok(RemoteValue::new(bytes, version))
    }

    pub(crate) fn err(
        &self,
        kind: ErrorKind,
        key: &str,
        detail: impl Into<String>,
    ) -> ProviderError {
        ProviderError::new(kind, &self.store, key, detail)
    }

    /// Classifies an SDK error: by the service's error code first, then by HTTP status.
    pub(crate) fn sdk_err<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        key: &str,
        e: SdkError<E>,
    ) -> ProviderError {
        match &e {
            SdkError::ServiceError(ctx) => {
                let (code, status) = (ctx.err().code(), ctx.raw().status().as_u16());
                let message: String = ctx
                    .err()
                    .message()
                    .unwrap_or("")
                    .chars()
                    .take(300)
                    .collect();
                let detail = format!(
                    "{} (HTTP {status}): {message}",
                    code.unwrap_or("unknown error")
                );
                self.err(classify(code, status), key, detail)
            }
            SdkError::ResponseError(ctx) => {
                let status = ctx.raw().status().as_u16();
                self.err(
                    classify(None, status),
                    key,
                    format!("unreadable reply (HTTP {status})"),
                )
            }
            SdkError::TimeoutError(_) => self.err(ErrorKind::Unavailable, key, "timed out"),
            SdkError::DispatchFailure(d) => {
                let what = if d.is_timeout() {
                    "timed out"
                } else if d.is_io() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                // The chain's text names the endpoint or the credential provider that failed, never a key.
                let why = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                self.err(
                    ErrorKind::Unavailable,
                    key,
                    format!("{what}: {}", why.chars().take(400).collect::<String>()),
                )
            }
            _ => {
                let why = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                self.err(
                    ErrorKind::Invalid,
                    key,
                    why.chars().take(400).collect::<String>(),
                )
            }
        }
    }

    /// ListSecrets under a name prefix and with tags, then the current values of those whose name matches.
    async fn find_secrets(
        &self,
        q: &FindQuery,
    ) -> Result<Vec<(String, RemoteValue)>, ProviderError> {
        let what = q.path.as_deref().unwrap_or("*");
        let name_re = crate::limits::name_regex(q.name_regex.as_deref())
            .map_err(|e| self.err(ErrorKind::Invalid, what, e))?;
        let mut filters = Vec::new();
        if let Some(prefix) = q.path.as_deref().filter(|p| !p.is_empty()) {
            filters.push(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            );
        }
        for (k, v) in &q.tags {
            filters.push(
                Filter::builder()
                    .key(FilterNameStringType::TagKey)
                    .values(k)
                    .build(),
            );
            filters.push(
                Filter::builder()
                    .key(FilterNameStringType::TagValue)
                    .values(v)
                    .build(),
            );
        }
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = with_retries(&self.limits, &self.gate, || async {
                let req = self
                    .client
                    .list_secrets()
                    .set_filters(Some(filters.clone()))
                    .max_results(100)
                    .set_next_token(next.clone());
                req.send().await.map_err(|e| self.sdk_err(what, e))
            })
            .await?;
            for entry in page.secret_list() {
                let tagged = q.tags.iter().all(|(k, v)| {
                    entry
                        .tags()
                        .iter()
                        .any(|t| t.key() == Some(k) && t.value() == Some(v))
                });
                match entry.name() {
                    Some(n) if tagged && name_re.as_ref().is_none_or(|re| re.is_match(n)) => {
                        names.push(n.to_owned())
                    }
                    _ => {}
                }
            }
            if names.len() > self.limits.max_find_results {
                let detail = format!(
                    "more than the limit of {} secrets match",
                    self.limits.max_find_results
                );
                return Err(self.err(ErrorKind::Invalid, what, detail));
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        let refs: Vec<RemoteRef> = names.iter().map(RemoteRef::current).collect();
        let values = self.fetch_all(&refs).await;
        names
            .into_iter()
            .zip(values)
            .map(|(n, v)| v.map(|v| (n, v)))
            .collect()
    }
}

/// Only ResourceNotFoundException is an authoritative absence: a bare 404 (from a proxy) is not.
pub(crate) fn classify(code: Option<&str>, status: u16) -> ErrorKind {
    match code {
        Some("ResourceNotFoundException") => ErrorKind::NotFound,
        Some(
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException"
            | "DecryptionFailure",
        ) => ErrorKind::Denied,
        Some(
            "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
        ) => ErrorKind::Throttled,
        Some("InternalServiceError" | "InternalFailure" | "ServiceUnavailable") => {
            ErrorKind::Unavailable
        }
        _ => match status {
            401 | 403 => ErrorKind::Denied,
            429 => ErrorKind::Throttled,
            500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Invalid,
        },
    }
}

impl Provider for AwsProvider {
    fn store(&self) -> &str {
        &self.store
    }

    fn fetch<'a>(
        &'a self,
        refs: &'a [RemoteRef],
    ) -> BoxFuture<'a, Vec<Result<RemoteValue, ProviderError>>> {
        Box::pin(self.fetch_all(refs))
    }

    fn find<'a>(
        &'a self,
        query: &'a FindQuery,
    ) -> BoxFuture<'a, Result<Vec<(String, RemoteValue)>, ProviderError>> {
        Box::pin(self.find_secrets(query))
    }
}

#[cfg(test)]
mod tests {
    use super::classify;
    use crate::ErrorKind;

    #[test]
    fn only_the_service_says_not_found() {
        assert_eq!(
            classify(Some("ResourceNotFoundException"), 400),
            ErrorKind::NotFound
        );
        assert_eq!(classify(None, 404), ErrorKind::Invalid);
        assert_eq!(
            classify(Some("ThrottlingException"), 400),
            ErrorKind::Throttled
        );
        assert_eq!(classify(None, 502), ErrorKind::Unavailable);
        assert_eq!(
            classify(Some("AccessDeniedException"), 400),
            ErrorKind::Denied
        );
    }
}
