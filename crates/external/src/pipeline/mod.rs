//! The value pipeline, pure functions with ESO's semantics: from what providers returned for an
//! ExternalSecret's `data` and `dataFrom` entries to the Secret data it writes.
//!
//! Order, as ESO's controller runs it: each `dataFrom` entry in turn (extract or find → rewrite, or
//! key conversion when there is no rewrite → key validation → decoding), merged in order, later
//! entries winning; then each `data` entry (property → decoding) over them; then
//! [`template::apply_target`].

pub mod decode;
mod eso_templates;
pub mod keys;
pub mod property;
pub mod rewrite;
pub mod template;

use serde_json::Value;

use crate::error::Error;
use crate::external_secret::{
    DataFrom, DataFromSource, DataItem, DeletionPolicy, ExternalSecret, NullBytePolicy, RemoteRef,
};
use crate::limits::{MAX_KEYS_PER_SECRET, MAX_VALUE_BYTES};
use crate::meta::Origin;
use crate::value::{SecretData, SecretValue};

pub use eso_templates::EsoTemplates;
pub use template::{apply_target, RenderedSecret, TemplateRenderer};

/// What a provider returned for one `dataFrom` entry.
#[derive(Clone, Debug)]
pub enum Fetched {
    /// `extract`: the remote secret's whole value (Vault: its data as a JSON object; AWS: the
    /// SecretString or SecretBinary; with `metadataPolicy: Fetch`, the metadata as a JSON object).
    Extract(SecretValue),
    /// `find`: each matching remote secret by its name (Vault: path below the mount, including
    /// `find.path`; AWS: the secret name), with its whole value.
    Find(Vec<(String, SecretValue)>),
}

/// The value of one `spec.data[]` entry: `property` selected, then decoded; `fetched` is the remote
/// secret's whole value as the provider returned it.
pub fn data_item_value(
    origin: &Origin,
    item: &DataItem,
    fetched: &SecretValue,
) -> Result<SecretValue, Error> {
    let r = &item.remote_ref;
    let v = property::select_property(origin, &r.key, fetched, r.property.as_deref())?;
    let v = decode::decode(origin, &r.key, r.decoding, v)?;
    check_null_bytes(origin, &r.key, r.null_bytes, &v)?;
    Ok(v)
}

/// `dataFrom[].extract`: the (property-selected) value must be a JSON object; each top-level field
/// becomes a key, strings as their text and anything else JSON-encoded.
pub fn extract_map(
    origin: &Origin,
    r: &RemoteRef,
    fetched: &SecretValue,
) -> Result<SecretData, Error> {
    let v = property::select_property(origin, &r.key, fetched, r.property.as_deref())?;
    let not_object = || Error::remote(origin, &r.key, "dataFrom.extract needs a JSON object value");
    let parsed = property::parse_json(origin, &r.key, v.expose())?.ok_or_else(not_object)?;
    let Value::Object(map) = &parsed.0 else {
        return Err(not_object());
    };
    if map.len() > MAX_KEYS_PER_SECRET {
        return Err(too_many(origin, map.len()));
    }
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), SecretValue::new(property::json_to_bytes(v))))
        .collect())
}

/// One `dataFrom` entry end to end: keys from `fetched`, rewritten (or converted when there is no
/// rewrite), validated (empty keys dropped, as ESO does), then values decoded. `index` names it.
pub fn data_from_map(
    origin: &Origin,
    index: usize,
    entry: &DataFrom,
    fetched: &Fetched,
    renderer: Option<&dyn TemplateRenderer>,
) -> Result<SecretData, Error> {
    let field = format!("spec.dataFrom[{index}]");
    let (raw, conversion, decoding, null_bytes) = match (&entry.source, fetched) {
        (DataFromSource::Extract(r), Fetched::Extract(v)) => (
            extract_map(origin, r, v)?,
            r.conversion,
            r.decoding,
            r.null_bytes,
        ),
        (DataFromSource::Find(f), Fetched::Find(found)) => {
            if found.len() > MAX_KEYS_PER_SECRET {
                return Err(too_many(origin, found.len()));
            }
            let mut m = SecretData::new();
            for (name, v) in found {
                property::check_size(origin, name, v.len())?;
                m.insert(name.clone(), v.clone());
            }
            (m, f.conversion, f.decoding, f.null_bytes)
        }
        _ => {
            return Err(Error::invalid(
                origin,
                field,
                "the fetched result does not match the entry (extract vs find)",
            ))
        }
    };
    let keyed = if entry.rewrite.is_empty() {
        let mut out = SecretData::new();
        for (k, v) in raw {
            let new = keys::convert_key(conversion, &k);
            if out.insert(new.clone(), v).is_some() {
                return Err(Error::invalid_key(
                    origin,
                    &new,
                    format!("{field}: two remote keys convert to this key"),
                ));
            }
        }
        out
    } else {
        rewrite::apply_rewrites(origin, &field, &entry.rewrite, raw, renderer)?
    };
    let mut out = SecretData::new();
    for (k, v) in keyed {
        if k.is_empty() {
            continue;
        }
        keys::check_key_name(&k)
            .map_err(|r| Error::invalid_key(origin, &k, format!("{field}: {r}")))?;
        let v = decode::decode(origin, &k, decoding, v)?;
        check_null_bytes(origin, &k, null_bytes, &v)?;
        out.insert(k, v);
    }
    Ok(out)
}

/// The Secret data of an ExternalSecret from everything its providers returned, index-aligned with
/// `es.data_from` and `es.data`. `None` = the remote secret does not exist (an authoritative "not
/// found"): skipped when `deletionPolicy` is `Delete` or `Merge`, an error when `Retain` (ESO).
pub fn build_data(
    es: &ExternalSecret,
    data_from: &[Option<Fetched>],
    data: &[Option<SecretValue>],
    renderer: Option<&dyn TemplateRenderer>,
) -> Result<SecretData, Error> {
    let origin = &es.origin;
    if data_from.len() != es.data_from.len() || data.len() != es.data.len() {
        return Err(Error::invalid(
            origin,
            "spec",
            "fetched results do not match the data and dataFrom entries",
        ));
    }
    let retain = es.target.deletion_policy == DeletionPolicy::Retain;
    let mut out = SecretData::new();
    for (i, (entry, fetched)) in es.data_from.iter().zip(data_from).enumerate() {
        match fetched {
            Some(f) => out.extend(data_from_map(origin, i, entry, f, renderer)?),
            None if retain => return Err(not_found(origin, &format!("spec.dataFrom[{i}]"))),
            None => {}
        }
        if out.len() > MAX_KEYS_PER_SECRET {
            return Err(too_many(origin, out.len()));
        }
    }
    for (item, fetched) in es.data.iter().zip(data) {
        match fetched {
            Some(v) => {
                out.insert(item.secret_key.clone(), data_item_value(origin, item, v)?);
            }
            None if retain => return Err(not_found(origin, &item.remote_ref.key)),
            None => {}
        }
    }
    check_secret_size(origin, &out)?;
    Ok(out)
}

/// Refuses Secret data over the Kubernetes limits (total size, number of keys).
pub fn check_secret_size(origin: &Origin, data: &SecretData) -> Result<(), Error> {
    if data.len() > MAX_KEYS_PER_SECRET {
        return Err(too_many(origin, data.len()));
    }
    let total: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_VALUE_BYTES {
        return Err(Error::limit(
            origin,
            "Secret data",
            format!("{total} bytes exceed the Kubernetes limit of {MAX_VALUE_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_null_bytes(
    origin: &Origin,
    key: &str,
    policy: NullBytePolicy,
    v: &SecretValue,
) -> Result<(), Error> {
    if policy == NullBytePolicy::Fail && v.expose().contains(&0) {
        return Err(Error::remote(
            origin,
            key,
            "the value contains NUL bytes and nullBytePolicy is Fail",
        ));
    }
    Ok(())
}

fn not_found(origin: &Origin, what: &str) -> Error {
    Error::remote(
        origin,
        what,
        "not found in the store (deletionPolicy Retain keeps the Secret as it is)",
    )
}

fn too_many(origin: &Origin, n: usize) -> Error {
    Error::limit(
        origin,
        "Secret data",
        format!("{n} keys exceed the limit of {MAX_KEYS_PER_SECRET}"),
    )
}
