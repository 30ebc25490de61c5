//! The entries of an `ExternalSecret` spec: `data[]`, `dataFrom[]` (extract, find, rewrite), their
//! `remoteRef` and `sourceRef`, read with ESO's defaults and admission rules.

use crate::error::{Error, Unsupported};
use crate::external_secret::{
    ConversionStrategy, DataFrom, DataFromSource, DataItem, DecodingStrategy, Find, MetadataPolicy,
    NullBytePolicy, RemoteRef, Rewrite, StoreKind, StoreRef,
};
use crate::fields::{enum_field, Obj};
use crate::limits::compile_regex;

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

pub(crate) fn read_data(
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

pub(crate) fn read_data_from(
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
