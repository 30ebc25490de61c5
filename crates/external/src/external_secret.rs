//! The `ExternalSecret` model (`external-secrets.io/v1`, `v1beta1` accepted) with ESO's field names,
//! defaults and admission rules, read from a parsed document.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::entries::{read_data, read_data_from, read_store_ref};
use crate::error::{Error, Unsupported};
use crate::fields::{enum_field, Obj};
use crate::meta::{read_meta, ObjectMeta, Origin};
use crate::target::{parse_target, Target};

/// ESO's default `refreshInterval`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V1Beta1,
}

/// An `ExternalSecret` as committed. Fields this crate does not implement are listed in
/// `unsupported`; the engine must report them and should not apply an object that has any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalSecret {
    pub origin: Origin,
    pub api_version: ApiVersion,
    pub metadata: ObjectMeta,
    /// `spec.refreshInterval`; `Duration::ZERO` means fetch once (ESO's `0`). Default 1h.
    pub refresh_interval: Duration,
    pub refresh_policy: RefreshPolicy,
    /// `spec.secretStoreRef`; absent only when every entry names its own store (`sourceRef.storeRef`).
    pub store_ref: Option<StoreRef>,
    pub target: Target,
    pub data: Vec<DataItem>,
    pub data_from: Vec<DataFrom>,
    pub unsupported: Vec<Unsupported>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshPolicy {
    Periodic,
    CreatedOnce,
    OnChange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreKind {
    SecretStore,
    ClusterSecretStore,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretStore => "SecretStore",
            StoreKind::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// `secretStoreRef` / `sourceRef.storeRef`: which store answers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreRef {
    pub name: String,
    /// Default `SecretStore`.
    pub kind: StoreKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreationPolicy {
    Owner,
    Orphan,
    Merge,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionPolicy {
    Retain,
    Delete,
    Merge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DecodingStrategy {
    #[default]
    None,
    Base64,
    Base64Url,
    /// Base64, else Base64URL, else the raw value.
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ConversionStrategy {
    /// Characters outside `[-._a-zA-Z0-9]` (Unicode letters and digits allowed) become `_`.
    #[default]
    Default,
    /// ... become `_UXXXX_` (their code point in hex).
    Unicode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MetadataPolicy {
    #[default]
    None,
    /// Fetch the remote secret's metadata (Vault KV v2 custom metadata, AWS tags) instead of its value.
    Fetch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NullBytePolicy {
    #[default]
    Ignore,
    /// A fetched value containing a NUL byte is an error.
    Fail,
}

/// `remoteRef` / `dataFrom[].extract`: one remote secret and how to read it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteRef {
    /// The provider's name for the secret (Vault path below the mount, AWS name or ARN).
    pub key: String,
    /// A gjson path into the JSON value (`a.b`); an exact top-level key wins.
    pub property: Option<String>,
    /// Vault KV v2 version number; AWS stage (`AWSCURRENT` default) or `uuid/<version id>`.
    pub version: Option<String>,
    pub decoding: DecodingStrategy,
    pub conversion: ConversionStrategy,
    pub metadata_policy: MetadataPolicy,
    pub null_bytes: NullBytePolicy,
}

/// `spec.data[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataItem {
    pub secret_key: String,
    pub remote_ref: RemoteRef,
    /// `sourceRef.storeRef`: this entry's own store, overriding `spec.secretStoreRef`.
    pub store_ref: Option<StoreRef>,
}

/// `spec.dataFrom[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFrom {
    pub source: DataFromSource,
    /// Applied in order to the keys (not the values) of what `source` returned.
    pub rewrite: Vec<Rewrite>,
    pub store_ref: Option<StoreRef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataFromSource {
    Extract(RemoteRef),
    Find(Find),
}

/// `dataFrom[].find`: every remote secret under `path` whose name matches and which carries `tags`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Find {
    pub path: Option<String>,
    /// `name.regexp` (Go RE2 syntax, unanchored), validated to compile within the limits.
    pub name_regexp: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub decoding: DecodingStrategy,
    pub conversion: ConversionStrategy,
    pub null_bytes: NullBytePolicy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// `regexp {source, target}`: every key becomes `source.replace_all(key, target)` (Go `$1` syntax).
    Regexp { source: String, target: String },
    /// `transform {template}`: every key becomes the template rendered with `.value` = the key.
    Transform { template: String },
}

impl ExternalSecret {
    /// Reads an `ExternalSecret` document. `file` names it in errors.
    pub fn parse(doc: &Value, file: &str) -> Result<ExternalSecret, Error> {
        let (api_version, metadata) = read_header(doc, file, "ExternalSecret")?;
        let origin = Origin {
            file: file.to_string(),
            kind: "ExternalSecret".into(),
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
        let refresh_interval = read_interval(&mut spec)?;
        let refresh_policy = enum_field(
            &mut spec,
            "refreshPolicy",
            &[
                ("Periodic", RefreshPolicy::Periodic),
                ("CreatedOnce", RefreshPolicy::CreatedOnce),
                ("OnChange", RefreshPolicy::OnChange),
            ],
            RefreshPolicy::Periodic,
            &mut unsupported,
        )?;
        let store_ref = match spec.opt_obj("secretStoreRef")? {
            Some(o) => read_store_ref(o, &mut unsupported)?,
            None => None,
        };
        let target = match spec.opt_obj("target")? {
            Some(o) => parse_target(o, &metadata.name, &mut unsupported)?,
            None => Target::defaults(&metadata.name),
        };
        spec.unsupported("syncWindows", &mut unsupported);
        // ESO's rule counts entries as written (generator entries included), not what is modelled.
        let written = spec.list("data")?.len() + spec.list("dataFrom")?.len();
        let data = read_data(&mut spec, store_ref.is_some(), &mut unsupported)?;
        let data_from = read_data_from(&mut spec, store_ref.is_some(), &mut unsupported)?;
        if written == 0 {
            return Err(Error::invalid(
                &origin,
                "spec",
                "either data or dataFrom should be specified",
            ));
        }
        spec.finish(&mut unsupported);
        let es = ExternalSecret {
            origin,
            api_version,
            metadata,
            refresh_interval,
            refresh_policy,
            store_ref,
            target,
            data,
            data_from,
            unsupported,
        };
        es.check_policies()?;
        Ok(es)
    }

    /// The name of the Secret this writes (`target.name`, defaulting to the ExternalSecret's name).
    pub fn target_name(&self) -> &str {
        &self.target.name
    }

    /// The store an entry uses: its own `sourceRef.storeRef`, else `spec.secretStoreRef`.
    pub fn store_for<'a>(&'a self, own: Option<&'a StoreRef>) -> Option<&'a StoreRef> {
        own.or(self.store_ref.as_ref())
    }

    /// ESO's admission rules across fields.
    fn check_policies(&self) -> Result<(), Error> {
        let t = &self.target;
        if t.deletion_policy == DeletionPolicy::Delete
            && matches!(
                t.creation_policy,
                CreationPolicy::Merge | CreationPolicy::None
            )
        {
            return Err(Error::invalid(
                &self.origin,
                "spec.target.deletionPolicy",
                "Delete must not be used when the Secret is not owned (creationPolicy Merge or None); set creationPolicy: Owner",
            ));
        }
        if t.deletion_policy == DeletionPolicy::Merge && t.creation_policy == CreationPolicy::None {
            return Err(Error::invalid(
                &self.origin,
                "spec.target.deletionPolicy",
                "Merge must not be used with creationPolicy: None (there is no Secret to merge with)",
            ));
        }
        if t.deletion_policy == DeletionPolicy::Retain {
            let mut seen = std::collections::BTreeSet::new();
            for (i, d) in self.data.iter().enumerate() {
                if !seen.insert(d.secret_key.as_str()) {
                    return Err(Error::invalid(
                        &self.origin,
                        format!("spec.data[{i}].secretKey"),
                        format!("duplicate secretKey {:?}", d.secret_key),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks `apiVersion` and `kind` and reads `metadata`.
pub(crate) fn read_header(
    doc: &Value,
    file: &str,
    kind: &str,
) -> Result<(ApiVersion, ObjectMeta), Error> {
    let document = |reason: String| Error::Document {
        file: file.to_string(),
        reason,
    };
    let got_kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if got_kind != kind {
        return Err(document(format!("kind {got_kind:?} is not {kind}")));
    }
    let api_version = match doc.get("apiVersion").and_then(Value::as_str).unwrap_or("") {
        "external-secrets.io/v1" => ApiVersion::V1,
        "external-secrets.io/v1beta1" => ApiVersion::V1Beta1,
        other => {
            return Err(document(format!(
                "{kind}: apiVersion {other:?} is not external-secrets.io/v1 or external-secrets.io/v1beta1"
            )))
        }
    };
    let metadata = read_meta(doc).map_err(|r| document(format!("{kind}: {r}")))?;
    Ok((api_version, metadata))
}

fn read_interval(spec: &mut Obj<'_>) -> Result<Duration, Error> {
    match spec.get("refreshInterval") {
        None => Ok(DEFAULT_REFRESH_INTERVAL),
        Some(Value::String(s)) => parse_go_duration(s)
            .map_err(|e| spec.err("refreshInterval", format!("not a Go duration: {e}"))),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Duration::ZERO),
        Some(_) => Err(spec.err(
            "refreshInterval",
            "must be a Go duration string such as 1h, 15m or 0",
        )),
    }
}
