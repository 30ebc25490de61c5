//! `spec.provider.vault`: server, KV mount and version, namespace, TLS trust, headers and auth.

use std::collections::BTreeMap;

use crate::error::{Error, Unsupported};
use crate::fields::Obj;
use crate::pipeline::decode::decode_base64;

use super::{
    secret_key_selector, service_account_selector, Ctx, SecretKeySelector, ServiceAccountSelector,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultProvider {
    /// `https://vault.example.com:8200`.
    pub server: String,
    /// The KV mount (`secret`); ESO adds `/data` for v2. `None`: the first path segment of each key.
    pub path: Option<String>,
    /// Default v2.
    pub version: KvVersion,
    /// Sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// `caBundle`, decoded from base64: PEM certificates to trust.
    pub ca_bundle: Option<Vec<u8>>,
    pub ca_provider: Option<CaProvider>,
    pub headers: BTreeMap<String, String>,
    /// `None`: no `auth` written (ESO then fails to build a client; the engine reports it).
    pub auth: Option<VaultAuth>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvVersion {
    V1,
    V2,
}

/// `caProvider`: a Secret or ConfigMap key holding PEM certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaProvider {
    pub kind: CaProviderKind,
    pub name: String,
    pub key: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaProviderKind {
    Secret,
    ConfigMap,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultAuth {
    /// `auth.namespace`: the namespace to log in to (defaults to the provider's).
    pub namespace: Option<String>,
    pub method: VaultAuthMethod,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultAuthMethod {
    Token(SecretKeySelector),
    AppRole {
        /// Mount path, default `approle`.
        path: String,
        role_id: AppRoleId,
        secret_ref: SecretKeySelector,
    },
    Kubernetes {
        /// `mountPath`, default `kubernetes`.
        mount_path: String,
        role: String,
        source: KubernetesSource,
    },
    Jwt {
        /// Default `jwt`.
        path: String,
        role: Option<String>,
        source: JwtSource,
    },
    /// `ldap`, `userPass`, `cert`, `iam` or `gcp`: also listed in the store's `unsupported`.
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppRoleId {
    Literal(String),
    Ref(SecretKeySelector),
}

/// Where the Kubernetes login's JWT comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubernetesSource {
    /// A token requested for this ServiceAccount (TokenRequest).
    ServiceAccount(ServiceAccountSelector),
    /// A token stored in a Secret (key defaults to `token`).
    Secret(SecretKeySelector),
    /// Neither written: the agent's own service account token.
    Own,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtSource {
    Secret(SecretKeySelector),
    ServiceAccountToken {
        service_account: ServiceAccountSelector,
        /// Deprecated `audiences`, added to the selector's (ESO adds `vault` when this is not written).
        audiences: Vec<String>,
        expiration_seconds: Option<i64>,
    },
}

pub(super) fn parse(
    mut o: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<VaultProvider, Error> {
    let server = o.req_str("server")?;
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(o.err("server", "must be an http:// or https:// URL"));
    }
    let path = o
        .opt_nonempty("path")?
        .map(|p| p.trim_matches('/').to_string());
    let version = match o.opt_nonempty("version")?.as_deref() {
        None | Some("v2") => KvVersion::V2,
        Some("v1") => KvVersion::V1,
        Some(other) => return Err(o.err("version", format!("{other:?} is not v1 or v2"))),
    };
    let namespace = o.opt_nonempty("namespace")?;
    let ca_bundle = match o.opt_nonempty("caBundle")? {
        Some(b64) => {
            let pem = decode_base64(b64.as_bytes(), false).ok_or_else(|| {
                o.err(
                    "caBundle",
                    "not valid base64 (the PEM bundle, base64-encoded)",
                )
            })?;
            if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
                return Err(o.err("caBundle", "does not decode to PEM certificates"));
            }
            Some(pem.to_vec())
        }
        None => None,
    };
    let ca_provider = match o.opt_obj("caProvider")? {
        Some(c) => Some(parse_ca_provider(c, out)?),
        None => None,
    };
    let headers = o.str_map("headers")?;
    for k in ["tls", "readYourWrites", "forwardInconsistent"] {
        o.unsupported(k, out);
    }
    // Check-and-set only governs writes (PushSecret); reading is unaffected.
    o.get("checkAndSet");
    let auth = match o.opt_obj("auth")? {
        Some(a) => Some(parse_auth(a, ctx, out)?),
        None => None,
    };
    o.finish(out);
    Ok(VaultProvider {
        server,
        path,
        version,
        namespace,
        ca_bundle,
        ca_provider,
        headers,
        auth,
    })
}

fn parse_ca_provider(mut c: Obj<'_>, out: &mut Vec<Unsupported>) -> Result<CaProvider, Error> {
    let kind = match c.req_str("type")?.as_str() {
        "Secret" => CaProviderKind::Secret,
        "ConfigMap" => CaProviderKind::ConfigMap,
        other => return Err(c.err("type", format!("{other:?} is not Secret or ConfigMap"))),
    };
    let p = CaProvider {
        kind,
        name: c.req_str("name")?,
        key: c.req_str("key")?,
        namespace: c.opt_nonempty("namespace")?,
    };
    c.finish(out);
    Ok(p)
}

fn parse_auth(
    mut a: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<VaultAuth, Error> {
    let namespace = a.opt_nonempty("namespace")?;
    for k in ["ldap", "userPass", "cert", "iam", "gcp"] {
        a.unsupported(k, out);
    }
    let mut methods = Vec::new();
    if let Some(t) = a.opt_obj("tokenSecretRef")? {
        methods.push(VaultAuthMethod::Token(secret_key_selector(
            t, ctx, None, out,
        )?));
    }
    if let Some(r) = a.opt_obj("appRole")? {
        methods.push(parse_approle(r, ctx, out)?);
    }
    if let Some(k) = a.opt_obj("kubernetes")? {
        methods.push(parse_kubernetes(k, ctx, out)?);
    }
    if let Some(j) = a.opt_obj("jwt")? {
        methods.push(parse_jwt(j, ctx, out)?);
    }
    let other = ["ldap", "userPass", "cert", "iam", "gcp"]
        .into_iter()
        .find(|k| a.has(k));
    let method = match (methods.len(), other) {
        (1, None) => methods.remove(0),
        // Only an unsupported method: already reported in `unsupported`.
        (0, Some(name)) => VaultAuthMethod::Unsupported(name.to_string()),
        (0, None) => {
            return Err(a.err(
                "",
                "one of tokenSecretRef, appRole, kubernetes or jwt is required",
            ))
        }
        _ => return Err(a.err("", "only one auth method may be set")),
    };
    a.finish(out);
    Ok(VaultAuth { namespace, method })
}

fn parse_approle(
    mut r: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<VaultAuthMethod, Error> {
    let path = r.opt_nonempty("path")?.unwrap_or_else(|| "approle".into());
    let role_id = match (r.opt_nonempty("roleId")?, r.opt_obj("roleRef")?) {
        (Some(id), None) => AppRoleId::Literal(id),
        (None, Some(sel)) => AppRoleId::Ref(secret_key_selector(sel, ctx, None, out)?),
        (None, None) => return Err(r.err("roleId", "one of roleId or roleRef is required")),
        (Some(_), Some(_)) => return Err(r.err("roleRef", "set roleId or roleRef, not both")),
    };
    let sel = r
        .opt_obj("secretRef")?
        .ok_or_else(|| r.err("secretRef", "required"))?;
    let secret_ref = secret_key_selector(sel, ctx, None, out)?;
    r.finish(out);
    Ok(VaultAuthMethod::AppRole {
        path,
        role_id,
        secret_ref,
    })
}

fn parse_kubernetes(
    mut k: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<VaultAuthMethod, Error> {
    let mount_path = k
        .opt_nonempty("mountPath")?
        .unwrap_or_else(|| "kubernetes".into());
    let role = k.req_str("role")?;
    let source = match (k.opt_obj("serviceAccountRef")?, k.opt_obj("secretRef")?) {
        (Some(sa), _) => KubernetesSource::ServiceAccount(service_account_selector(sa, ctx, out)?),
        (None, Some(s)) => {
            KubernetesSource::Secret(secret_key_selector(s, ctx, Some("token"), out)?)
        }
        (None, None) => KubernetesSource::Own,
    };
    k.finish(out);
    Ok(VaultAuthMethod::Kubernetes {
        mount_path,
        role,
        source,
    })
}

fn parse_jwt(
    mut j: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<VaultAuthMethod, Error> {
    let path = j.opt_nonempty("path")?.unwrap_or_else(|| "jwt".into());
    let role = j.opt_nonempty("role")?;
    let source = match (
        j.opt_obj("secretRef")?,
        j.opt_obj("kubernetesServiceAccountToken")?,
    ) {
        (Some(s), None) => JwtSource::Secret(secret_key_selector(s, ctx, None, out)?),
        (None, Some(mut t)) => {
            let sa = t
                .opt_obj("serviceAccountRef")?
                .ok_or_else(|| t.err("serviceAccountRef", "required"))?;
            let service_account = service_account_selector(sa, ctx, out)?;
            let audiences = t.str_list("audiences")?;
            let expiration_seconds = match t.get("expirationSeconds") {
                None => None,
                Some(v) => Some(
                    v.as_i64()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| t.err("expirationSeconds", "must be a positive integer"))?,
                ),
            };
            t.finish(out);
            JwtSource::ServiceAccountToken {
                service_account,
                audiences,
                expiration_seconds,
            }
        }
        (None, None) => {
            return Err(j.err(
                "secretRef",
                "one of secretRef or kubernetesServiceAccountToken is required",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(j.err(
                "secretRef",
                "set secretRef or kubernetesServiceAccountToken, not both",
            ))
        }
    };
    j.finish(out);
    Ok(VaultAuthMethod::Jwt { path, role, source })
}
