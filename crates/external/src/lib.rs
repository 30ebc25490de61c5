//! What users commit to reference external secrets, and the pure pipeline from fetched values to Secret data.
//!
//! Three inputs, each a parsed YAML document handed over as a `serde_json::Value` with the path of its
//! file (for error messages): an `external-secrets.io` `ExternalSecret` ([`external_secret`]), a
//! `SecretStore` / `ClusterSecretStore` ([`store`], with [`conditions`]), and a plain `Secret` carrying
//! argocd-vault-plugin placeholders ([`avp`]). The output is typed, validated models, and pure
//! functions ([`pipeline`], [`avp::fill`]) that turn the values a provider returned into Secret data
//! with the External Secrets Operator's (ESO) and argocd-vault-plugin's (AVP) semantics.
//!
//! This crate knows nothing of git, Kubernetes clients, sinks or the network: fetching is the
//! providers' job, deciding what to write the engine's.

pub mod avp;
pub mod conditions;
pub mod duration;
mod entries;
pub mod error;
pub mod external_secret;
mod fields;
pub mod limits;
pub mod meta;
pub mod pipeline;
pub mod store;
mod target;
mod value;

pub use error::{Error, Unsupported};
pub use external_secret::{
    ApiVersion, ConversionStrategy, CreationPolicy, DataFrom, DataFromSource, DataItem,
    DecodingStrategy, DeletionPolicy, ExternalSecret, Find, MetadataPolicy, NullBytePolicy,
    RefreshPolicy, RemoteRef, Rewrite, StoreKind, StoreRef,
};
pub use meta::{ObjectMeta, Origin};
pub use target::{
    MergePolicy, Target, Template, TemplateFrom, TemplateFromSource, TemplateItem, TemplateScope,
    TemplateTarget,
};
pub use value::{SecretData, SecretValue};

/// The `apiVersion` group of every ESO object this crate reads.
pub const ESO_GROUP: &str = "external-secrets.io";
