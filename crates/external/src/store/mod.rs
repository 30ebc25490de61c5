//! `SecretStore` / `ClusterSecretStore` (`external-secrets.io/v1`, `v1beta1` accepted): the providers
//! this crate models (`vault`, `aws` Secrets Manager), the references to credentials, and the
//! conditions of a cluster store.

mod aws;
mod vault;

use serde_json::Value;

pub use aws::{AwsAuth, AwsProvider};
pub use vault::{
    AppRoleId, CaProvider, CaProviderKind, JwtSource, KubernetesSource, KvVersion, VaultAuth,
    VaultAuthMethod, VaultProvider,
};

use crate::conditions::{parse_conditions, Condition};
use crate::error::{Error, Unsupported};
use crate::external_secret::{read_header, ApiVersion, StoreKind};
use crate::fields::Obj;
use crate::meta::{ObjectMeta, Origin};

/// A store as committed. `unsupported` lists what this crate does not implement; the engine must
/// report it and should not use a store that has any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretStore {
    pub origin: Origin,
    pub api_version: ApiVersion,
    pub kind: StoreKind,
    pub metadata: ObjectMeta,
    pub provider: Provider,
    /// `spec.conditions` (ClusterSecretStore only): who may use it; empty = every namespace.
    pub conditions: Vec<Condition>,
    pub unsupported: Vec<Unsupported>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    Vault(VaultProvider),
    Aws(AwsProvider),
    /// Any other ESO provider, by its field name (`gcpsm`, `azurekv`, ...); also in `unsupported`.
    Unsupported(String),
}

/// A reference to a key of a Secret (`esmeta.SecretKeySelector`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretKeySelector {
    pub name: String,
    /// The key; defaulted where ESO defaults it (`token` for Kubernetes auth's `secretRef`).
    pub key: String,
    pub namespace: Option<String>,
}

/// A reference to a ServiceAccount (`esmeta.ServiceAccountSelector`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceAccountSelector {
    pub name: String,
    pub namespace: Option<String>,
    pub audiences: Vec<String>,
}

/// The namespace a store's credential reference points into, with ESO's rules: in a `SecretStore`
/// the store's own namespace (a different one is refused); in a `ClusterSecretStore` the one
/// written, else the namespace of the ExternalSecret using it ("referent" authentication).
pub fn referent_namespace(
    kind: StoreKind,
    written: Option<&str>,
    store_namespace: &str,
    external_secret_namespace: &str,
) -> Result<String, String> {
    match (kind, written) {
        (StoreKind::SecretStore, Some(ns)) if ns != store_namespace => Err(format!(
            "namespace {ns:?} is not allowed in a SecretStore of namespace {store_namespace:?}"
        )),
        (StoreKind::SecretStore, _) => Ok(store_namespace.to_string()),
        (StoreKind::ClusterSecretStore, Some(ns)) => Ok(ns.to_string()),
        (StoreKind::ClusterSecretStore, None) => Ok(external_secret_namespace.to_string()),
    }
}

impl SecretStore {
    /// Whether the store logs in as the agent itself: Vault Kubernetes auth with neither
    /// `serviceAccountRef` nor `secretRef` (the agent's own service account token), or AWS without
    /// `auth` (the SDK's default chain: the agent's environment, IRSA, EKS Pod Identity). Whoever
    /// commits such a store borrows the agent's identity, and chooses the server it is sent to.
    pub fn uses_agent_identity(&self) -> bool {
        match &self.provider {
            Provider::Vault(v) => matches!(
                v.auth.as_ref().map(|a| &a.method),
                Some(vault::VaultAuthMethod::Kubernetes {
                    source: vault::KubernetesSource::Own,
                    ..
                })
            ),
            Provider::Aws(a) => a.auth == aws::AwsAuth::Default,
            Provider::Unsupported(_) => false,
        }
    }

    /// Reads a `SecretStore` or `ClusterSecretStore` document. `file` names it in errors.
    pub fn parse(doc: &Value, file: &str) -> Result<SecretStore, Error> {
        let kind = match doc.get("kind").and_then(Value::as_str) {
            Some("ClusterSecretStore") => StoreKind::ClusterSecretStore,
            _ => StoreKind::SecretStore,
        };
        let (api_version, metadata) = read_header(doc, file, kind.as_str())?;
        let origin = Origin {
            file: file.to_string(),
            kind: kind.as_str().into(),
            namespace: metadata.namespace.clone(),
            name: metadata.name.clone(),
        };
        let mut unsupported = Vec::new();
        let mut top = Obj::new(&origin, doc, "")?;
        for k in ["apiVersion", "kind", "metadata", "status"] {
            top.get(k);
        }
        let spec_value = top
            .get("spec")
            .ok_or_else(|| Error::invalid(&origin, "spec", "required"))?;
        top.finish(&mut unsupported);
        let mut spec = Obj::new(&origin, spec_value, "spec")?;
        if spec.opt_nonempty("controller")?.is_some() {
            unsupported.push(Unsupported::new(
                "spec.controller",
                Some("controller classes are not supported".into()),
            ));
        }
        spec.unsupported("retrySettings", &mut unsupported);
        spec.unsupported("refreshInterval", &mut unsupported);
        let conditions = match kind {
            StoreKind::ClusterSecretStore => parse_conditions(&mut spec)?,
            StoreKind::SecretStore => {
                spec.unsupported("conditions", &mut unsupported);
                Vec::new()
            }
        };
        let provider_obj = spec
            .opt_obj("provider")?
            .ok_or_else(|| spec.err("provider", "required"))?;
        let ctx = Ctx {
            kind,
            namespace: metadata.namespace.as_deref(),
        };
        let provider = parse_provider(provider_obj, &ctx, &mut unsupported)?;
        spec.finish(&mut unsupported);
        Ok(SecretStore {
            origin,
            api_version,
            kind,
            metadata,
            provider,
            conditions,
            unsupported,
        })
    }
}

/// What selector validation needs to know about the store being read.
pub(crate) struct Ctx<'a> {
    pub kind: StoreKind,
    pub namespace: Option<&'a str>,
}

fn parse_provider(
    mut p: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<Provider, Error> {
    let mut found = Vec::new();
    let names: Vec<String> = p.keys().filter(|k| p.has(k)).map(str::to_string).collect();
    for name in &names {
        match name.as_str() {
            "vault" => {
                let o = p
                    .opt_obj("vault")?
                    .ok_or_else(|| p.err("vault", "required"))?;
                found.push(Provider::Vault(vault::parse(o, ctx, out)?));
            }
            "aws" => {
                let o = p.opt_obj("aws")?.ok_or_else(|| p.err("aws", "required"))?;
                found.push(Provider::Aws(aws::parse(o, ctx, out)?));
            }
            other => {
                out.push(Unsupported::new(
                    p.field(other),
                    Some(format!(
                        "provider {other:?}: only vault and aws are supported"
                    )),
                ));
                found.push(Provider::Unsupported(other.to_string()));
            }
        }
    }
    match found.len() {
        0 => Err(p.err("", "exactly one provider is required (vault or aws)")),
        1 => Ok(found.remove(0)),
        _ => Err(p.err(
            "",
            format!("only one provider may be set, found {}", names.join(", ")),
        )),
    }
}

/// Reads a `SecretKeySelector`; `default_key` applies when `key` is absent.
pub(crate) fn secret_key_selector(
    mut o: Obj<'_>,
    ctx: &Ctx<'_>,
    default_key: Option<&str>,
    out: &mut Vec<Unsupported>,
) -> Result<SecretKeySelector, Error> {
    let name = o.req_str("name")?;
    let key = match (o.opt_nonempty("key")?, default_key) {
        (Some(k), _) => k,
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err(o.err("key", "required")),
    };
    let namespace = o.opt_nonempty("namespace")?;
    check_namespace(&o, ctx, namespace.as_deref())?;
    o.finish(out);
    Ok(SecretKeySelector {
        name,
        key,
        namespace,
    })
}

pub(crate) fn service_account_selector(
    mut o: Obj<'_>,
    ctx: &Ctx<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<ServiceAccountSelector, Error> {
    let name = o.req_str("name")?;
    let namespace = o.opt_nonempty("namespace")?;
    check_namespace(&o, ctx, namespace.as_deref())?;
    let audiences = o.str_list("audiences")?;
    o.finish(out);
    Ok(ServiceAccountSelector {
        name,
        namespace,
        audiences,
    })
}

/// A `SecretStore` may only reference its own namespace (checked when the document names it).
fn check_namespace(o: &Obj<'_>, ctx: &Ctx<'_>, written: Option<&str>) -> Result<(), Error> {
    if let (StoreKind::SecretStore, Some(own), Some(ns)) = (ctx.kind, ctx.namespace, written) {
        if own != ns {
            return Err(o.err(
                "namespace",
                format!("a SecretStore of namespace {own:?} may not reference namespace {ns:?}"),
            ));
        }
    }
    Ok(())
}
