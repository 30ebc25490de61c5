//! `spec.provider.aws` with `service: SecretsManager`: region, assumed role, and credentials.

use crate::error::{Error, Unsupported};
use crate::fields::Obj;

use super::{
    secret_key_selector, service_account_selector, Ctx, SecretKeySelector, ServiceAccountSelector,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsProvider {
    pub region: String,
    /// A role ARN to assume.
    pub role: Option<String>,
    /// `externalID` for the assumed role.
    pub external_id: Option<String>,
    pub auth: AwsAuth,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsAuth {
    /// No `auth`: the SDK's default chain (environment, web identity / IRSA, EKS Pod Identity).
    Default,
    /// Static keys from Secrets.
    SecretRef {
        access_key_id: SecretKeySelector,
        secret_access_key: SecretKeySelector,
        session_token: Option<SecretKeySelector>,
    },
    /// Web identity with a token requested for this ServiceAccount (IRSA-style).
    Jwt {
        service_account: ServiceAccountSelector,
    },
}

pub(super) fn parse(
    mut o: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<AwsProvider, Error> {
    match o.req_str("service")?.as_str() {
        "SecretsManager" => {}
        other @ ("ParameterStore" | "CertificateManager") => out.push(Unsupported::new(
            o.field("service"),
            Some(format!("{other}: only SecretsManager is supported")),
        )),
        other => {
            return Err(o.err(
                "service",
                format!("{other:?} is not SecretsManager, ParameterStore or CertificateManager"),
            ))
        }
    }
    let region = o.req_str("region")?;
    let role = o.opt_nonempty("role")?;
    let external_id = o.opt_nonempty("externalID")?;
    for k in [
        "additionalRoles",
        "sessionTags",
        "transitiveTagKeys",
        "prefix",
        "customSessionTags",
    ] {
        o.unsupported(k, out);
    }
    if let Some(policy) = o.opt_nonempty("sessionTagsPolicy")? {
        if policy != "None" {
            out.push(Unsupported::new(
                o.field("sessionTagsPolicy"),
                Some(format!("value {policy:?}")),
            ));
        }
    }
    // `secretsManager` only tunes deletion by PushSecret; reading is unaffected.
    o.get("secretsManager");
    let auth = match o.opt_obj("auth")? {
        None => AwsAuth::Default,
        Some(a) => parse_auth(a, ctx, out)?,
    };
    o.finish(out);
    Ok(AwsProvider {
        region,
        role,
        external_id,
        auth,
    })
}

fn parse_auth(mut a: Obj<'_>, ctx: &Ctx<'_>, out: &mut Vec<Unsupported>) -> Result<AwsAuth, Error> {
    let auth = match (a.opt_obj("secretRef")?, a.opt_obj("jwt")?) {
        (Some(mut s), None) => {
            let id = s
                .opt_obj("accessKeyIDSecretRef")?
                .ok_or_else(|| s.err("accessKeyIDSecretRef", "required"))?;
            let key = s
                .opt_obj("secretAccessKeySecretRef")?
                .ok_or_else(|| s.err("secretAccessKeySecretRef", "required"))?;
            let access_key_id = secret_key_selector(id, ctx, None, out)?;
            let secret_access_key = secret_key_selector(key, ctx, None, out)?;
            let session_token = match s.opt_obj("sessionTokenSecretRef")? {
                Some(t) => Some(secret_key_selector(t, ctx, None, out)?),
                None => None,
            };
            s.finish(out);
            AwsAuth::SecretRef {
                access_key_id,
                secret_access_key,
                session_token,
            }
        }
        (None, Some(mut j)) => {
            let sa = j
                .opt_obj("serviceAccountRef")?
                .ok_or_else(|| j.err("serviceAccountRef", "required"))?;
            let service_account = service_account_selector(sa, ctx, out)?;
            j.finish(out);
            AwsAuth::Jwt { service_account }
        }
        (None, None) => AwsAuth::Default,
        (Some(_), Some(_)) => return Err(a.err("", "set secretRef or jwt, not both")),
    };
    a.finish(out);
    Ok(auth)
}
