//! Web identity with a requested token: STS `AssumeRoleWithWebIdentity` with a fresh token from a
//! [`TokenSource`] each time the SDK's credentials cache needs new credentials.

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::TokenSource;

pub(crate) struct WebIdentity {
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) role_arn: String,
    pub(crate) token: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for WebIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentity")
            .field("role_arn", &self.role_arn)
            .finish()
    }
}

impl WebIdentity {
    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let token = self
            .token
            .token()
            .await
            .map_err(|e| CredentialsError::provider_error(e.reason))?;
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name("sealsync")
            .web_identity_token(token.as_str())
            .send()
            .await
            .map_err(|e| {
                // The error's context names STS and the role, never the token it was sent.
                CredentialsError::provider_error(format!(
                    "AssumeRoleWithWebIdentity {}: {}",
                    self.role_arn,
                    DisplayErrorContext(&e)
                ))
            })?;
        let c = out.credentials.ok_or_else(|| {
            CredentialsError::provider_error("AssumeRoleWithWebIdentity returned no credentials")
        })?;
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            SystemTime::try_from(c.expiration).ok(),
            "sealsync-web-identity",
        ))
    }
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}
