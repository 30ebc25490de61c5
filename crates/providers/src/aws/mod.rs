//! AWS Secrets Manager: the store's configuration, as ESO's `aws` SecretStore provider has it.

mod batch;
mod client;
mod reply;
mod web_identity;

pub use client::AwsProvider;

use crate::Limits;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where the store's credentials come from (before an optional role assumption).
#[derive(Clone, Default)]
pub enum AwsAuth {
    /// The SDK's default chain: environment, web identity (IRSA: `AWS_WEB_IDENTITY_TOKEN_FILE` +
    /// `AWS_ROLE_ARN`), EKS Pod Identity, profile, instance metadata.
    #[default]
    Default,
    /// Static keys (ESO's `auth.secretRef`).
    Static {
        access_key_id: String,
        secret_access_key: Zeroizing<String>,
        session_token: Option<Zeroizing<String>>,
    },
    /// STS `AssumeRoleWithWebIdentity` of `role_arn` with a token from `token` (ESO's
    /// `auth.jwt.serviceAccountRef`: a TokenRequest for the account the role is annotated on).
    WebIdentity {
        role_arn: String,
        token: Arc<dyn crate::TokenSource>,
    },
}

impl fmt::Debug for AwsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AwsAuth::Default => f.write_str("Default"),
            // The key id is not a secret, but it identifies an account's key: keep it out of logs too.
            AwsAuth::Static { .. } => f.write_str("Static(<redacted>)"),
            AwsAuth::WebIdentity { role_arn, .. } => f
                .debug_struct("WebIdentity")
                .field("role_arn", role_arn)
                .finish(),
        }
    }
}

/// One Secrets Manager store.
#[derive(Clone, Debug)]
pub struct AwsStore {
    /// The store's name, as errors and logs name it.
    pub name: String,
    /// Empty: the SDK's default region chain (`AWS_REGION`, profile, instance metadata).
    pub region: String,
    /// A role ARN to assume with the base credentials.
    pub role: Option<String>,
    /// The external ID the role's trust policy asks for.
    pub external_id: Option<String>,
    pub auth: AwsAuth,
    /// An explicit endpoint for every AWS service (Secrets Manager and STS). None: the SDK's own
    /// resolution, which honours `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
    pub endpoint_url: Option<String>,
    pub limits: Limits,
}

/// Which version of a secret a reference asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pin {
    /// The current version (`AWSCURRENT`): these go in batches.
    Current,
    Stage(String),
    VersionId(String),
}

impl Pin {
    /// `None` or `AWSCURRENT`: current; `uuid/<id>`: a version id; anything else: a staging label.
    pub(crate) fn parse(version: Option<&str>) -> Pin {
        match version {
            None | Some("AWSCURRENT") | Some("") => Pin::Current,
            Some(v) => match v.strip_prefix("uuid/") {
                Some(id) => Pin::VersionId(id.to_owned()),
                None => Pin::Stage(v.to_owned()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pin;

    #[test]
    fn versions_are_stages_or_ids() {
        assert_eq!(Pin::parse(None), Pin::Current);
        assert_eq!(Pin::parse(Some("AWSCURRENT")), Pin::Current);
        assert_eq!(
            Pin::parse(Some("AWSPREVIOUS")),
            Pin::Stage("AWSPREVIOUS".into())
        );
        assert_eq!(Pin::parse(Some("uuid/0d1e")), Pin::VersionId("0d1e".into()));
    }
}
