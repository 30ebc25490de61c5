//! The `ExternalSecret` model (`external-secrets.io/v1`, `v1beta1` accepted) with ESO's field names,
//! defaults and admission rules, read from a parsed document.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_go_duration;
use crate::error::{Error, Unsupported};
use crate::fields::{enum_field, Obj};
use crate::limits::compile_regex;
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
        let data = read_data(&mut spec, store_ref.is_some(), &mut unsupported)?;
        let data_from = read_data_from(&mut spec, store_ref.is_some(), &mut unsupported)?;
        if !spec.has("data") && !spec.has("dataFrom") {
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

    /// The namespace/name of the Secret this writes (`target.name`, defaulting to the object's name).
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

/// Reads a store reference; `None` when it names no store (an empty `secretStoreRef: {}`).
pub(crate) fn read_store_ref(
    mut o: Obj<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<Option<StoreRef>, Error> {
    let name = o.opt_nonempty("name")?;
    let kind = match o.opt_nonempty("kind")?.as_deref() {
        None | Some("SecretStore") => StoreKind::SecretStore,
        Some("ClusterSecretStore") => StoreKind::ClusterSecretStore,
        Some(other) => {
            return Err(o.err(
                "kind",
                format!("unknown store kind {other:?} (SecretStore or ClusterSecretStore)"),
            ))
        }
    };
    o.finish(out);
    Ok(name.map(|name| StoreRef { name, kind }))
}

/// `sourceRef` of a `data` or `dataFrom` entry: a store override, or a generator (unsupported).
fn read_source_ref(
    parent: &mut Obj<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<(Option<StoreRef>, bool), Error> {
    let Some(mut src) = parent.opt_obj("sourceRef")? else {
        return Ok((None, false));
    };
    let generator = src.has("generatorRef");
    src.unsupported("generatorRef", out);
    let store = match src.opt_obj("storeRef")? {
        Some(o) => read_store_ref(o, out)?,
        None => None,
    };
    if store.is_none() && !generator {
        return Err(src.err(
            "storeRef",
            "sourceRef needs storeRef (with a name) or generatorRef",
        ));
    }
    src.finish(out);
    Ok((store, generator))
}

fn read_data(
    spec: &mut Obj<'_>,
    has_store: bool,
    out: &mut Vec<Unsupported>,
) -> Result<Vec<DataItem>, Error> {
    let origin = spec.origin;
    let mut items = Vec::new();
    for (i, v) in spec.list("data")?.iter().enumerate() {
        let mut o = Obj::new(origin, v, &format!("spec.data[{i}]"))?;
        let secret_key = o.req_str("secretKey")?;
        crate::pipeline::keys::check_key_name(&secret_key).map_err(|r| o.err("secretKey", r))?;
        let remote = o
            .opt_obj("remoteRef")?
            .ok_or_else(|| o.err("remoteRef", "required"))?;
        let remote_ref = read_remote_ref(remote, out)?;
        let (store_ref, generator) = read_source_ref(&mut o, out)?;
        if store_ref.is_none() && !has_store && !generator {
            return Err(o.err(
                "sourceRef",
                "no store: set spec.secretStoreRef or this entry's sourceRef.storeRef",
            ));
        }
        o.finish(out);
        if !generator {
            items.push(DataItem {
                secret_key,
                remote_ref,
                store_ref,
            });
        }
    }
    Ok(items)
}

fn read_data_from(
    spec: &mut Obj<'_>,
    has_store: bool,
    out: &mut Vec<Unsupported>,
) -> Result<Vec<DataFrom>, Error> {
    let origin = spec.origin;
    let mut items = Vec::new();
    for (i, v) in spec.list("dataFrom")?.iter().enumerate() {
        let mut o = Obj::new(origin, v, &format!("spec.dataFrom[{i}]"))?;
        let extract = match o.opt_obj("extract")? {
            Some(e) => Some(read_remote_ref(e, out)?),
            None => None,
        };
        let find = match o.opt_obj("find")? {
            Some(f) => Some(read_find(f, out)?),
            None => None,
        };
        let rewrite = read_rewrites(&mut o, out)?;
        let (store_ref, generator) = read_source_ref(&mut o, out)?;
        let source = match (extract, find, generator) {
            (Some(e), None, false) => DataFromSource::Extract(e),
            (None, Some(f), false) => DataFromSource::Find(f),
            (None, None, true) => {
                o.finish(out);
                continue; // a generator: reported unsupported above
            }
            (None, None, false) => {
                return Err(o.err("extract", "one of extract or find is required"))
            }
            _ => {
                return Err(Error::invalid(
                    origin,
                    o.path(),
                    "extract, find and generatorRef cannot be set at the same time",
                ))
            }
        };
        if store_ref.is_none() && !has_store {
            return Err(o.err(
                "sourceRef",
                "no store: set spec.secretStoreRef or this entry's sourceRef.storeRef",
            ));
        }
        o.finish(out);
        items.push(DataFrom {
            source,
            rewrite,
            store_ref,
        });
    }
    Ok(items)
}

const DECODING: &[(&str, DecodingStrategy)] = &[
    ("None", DecodingStrategy::None),
    ("Base64", DecodingStrategy::Base64),
    ("Base64URL", DecodingStrategy::Base64Url),
    ("Auto", DecodingStrategy::Auto),
];
const CONVERSION: &[(&str, ConversionStrategy)] = &[
    ("Default", ConversionStrategy::Default),
    ("Unicode", ConversionStrategy::Unicode),
];
const NULL_BYTES: &[(&str, NullBytePolicy)] = &[
    ("Ignore", NullBytePolicy::Ignore),
    ("Fail", NullBytePolicy::Fail),
];

fn read_remote_ref(mut o: Obj<'_>, out: &mut Vec<Unsupported>) -> Result<RemoteRef, Error> {
    let r = RemoteRef {
        key: o.req_str("key")?,
        property: o.opt_nonempty("property")?,
        version: o.opt_nonempty("version")?,
        decoding: enum_field(
            &mut o,
            "decodingStrategy",
            DECODING,
            DecodingStrategy::None,
            out,
        )?,
        conversion: enum_field(
            &mut o,
            "conversionStrategy",
            CONVERSION,
            ConversionStrategy::Default,
            out,
        )?,
        metadata_policy: enum_field(
            &mut o,
            "metadataPolicy",
            &[
                ("None", MetadataPolicy::None),
                ("Fetch", MetadataPolicy::Fetch),
            ],
            MetadataPolicy::None,
            out,
        )?,
        null_bytes: enum_field(
            &mut o,
            "nullBytePolicy",
            NULL_BYTES,
            NullBytePolicy::Ignore,
            out,
        )?,
    };
    o.finish(out);
    Ok(r)
}

fn read_find(mut o: Obj<'_>, out: &mut Vec<Unsupported>) -> Result<Find, Error> {
    let path = o.opt_nonempty("path")?;
    let name_regexp = match o.opt_obj("name")? {
        Some(mut n) => {
            let re = n.opt_str("regexp")?.map(str::to_string);
            if let Some(re) = &re {
                compile_regex(re).map_err(|r| n.err("regexp", r))?;
            }
            n.finish(out);
            re
        }
        None => None,
    };
    let tags = o.str_map("tags")?;
    if name_regexp.is_none() && tags.is_empty() {
        return Err(o.err("name", "find needs name.regexp or tags"));
    }
    let f = Find {
        path,
        name_regexp,
        tags,
        decoding: enum_field(
            &mut o,
            "decodingStrategy",
            DECODING,
            DecodingStrategy::None,
            out,
        )?,
        conversion: enum_field(
            &mut o,
            "conversionStrategy",
            CONVERSION,
            ConversionStrategy::Default,
            out,
        )?,
        null_bytes: enum_field(
            &mut o,
            "nullBytePolicy",
            NULL_BYTES,
            NullBytePolicy::Ignore,
            out,
        )?,
    };
    o.finish(out);
    Ok(f)
}

fn read_rewrites(o: &mut Obj<'_>, out: &mut Vec<Unsupported>) -> Result<Vec<Rewrite>, Error> {
    let origin = o.origin;
    let base = o.field("rewrite");
    let mut rewrites = Vec::new();
    for (i, v) in o.list("rewrite")?.iter().enumerate() {
        let mut r = Obj::new(origin, v, &format!("{base}[{i}]"))?;
        r.unsupported("merge", out);
        let regexp = r.opt_obj("regexp")?;
        let transform = r.opt_obj("transform")?;
        match (regexp, transform) {
            (Some(mut re), None) => {
                let source = re.req_str("source")?;
                compile_regex(&source).map_err(|e| re.err("source", e))?;
                let target = match re.opt_str("target")? {
                    Some(t) => t.to_string(),
                    None => return Err(re.err("target", "required")),
                };
                re.finish(out);
                rewrites.push(Rewrite::Regexp { source, target });
            }
            (None, Some(mut t)) => {
                let template = t.req_str("template")?;
                t.finish(out);
                rewrites.push(Rewrite::Transform { template });
            }
            (None, None) if r.has("merge") => {}
            (None, None) => {
                return Err(Error::invalid(
                    origin,
                    r.path(),
                    "one of regexp or transform is required",
                ))
            }
            _ => {
                return Err(Error::invalid(
                    origin,
                    r.path(),
                    "only one of regexp or transform per entry",
                ))
            }
        }
        r.finish(out);
    }
    Ok(rewrites)
}
