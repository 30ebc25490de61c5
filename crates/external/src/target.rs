//! `spec.target` of an `ExternalSecret`: the Secret it writes, its policies, and its template.

use std::collections::BTreeMap;

use crate::error::{Error, Unsupported};
use crate::external_secret::{CreationPolicy, DecodingStrategy, DeletionPolicy};
use crate::fields::{enum_field, Obj};

/// `spec.target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Defaults to the ExternalSecret's name.
    pub name: String,
    /// Default `Owner`. (`CreateOrMerge` is reported unsupported.)
    pub creation_policy: CreationPolicy,
    /// Default `Retain`.
    pub deletion_policy: DeletionPolicy,
    pub immutable: bool,
    pub template: Option<Template>,
}

impl Target {
    pub(crate) fn defaults(name: &str) -> Target {
        Target {
            name: name.to_string(),
            creation_policy: CreationPolicy::Owner,
            deletion_policy: DeletionPolicy::Retain,
            immutable: false,
            template: None,
        }
    }
}

/// `spec.target.template` (engine v2, the only one ESO still accepts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    /// The Secret `type`; `None` keeps the default (`Opaque`).
    pub secret_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Key → Go template.
    pub data: BTreeMap<String, String>,
    pub merge_policy: MergePolicy,
    pub template_from: Vec<TemplateFrom>,
}

/// How rendered template data combines with the fetched data: `Replace` (default) keeps only the
/// rendered keys; `Merge` keeps the fetched keys too, rendered keys winning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergePolicy {
    #[default]
    Replace,
    Merge,
}

/// `templateFrom[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateFrom {
    pub source: TemplateFromSource,
    /// Where the rendered result goes. Default `Data`.
    pub target: TemplateTarget,
    /// `valuesDecodingStrategy` of the rendered values. Default `None`.
    pub values_decoding: DecodingStrategy,
}

/// Where a `templateFrom` entry's templates come from. (`configMap` is reported unsupported: the
/// agent reads Secrets from git, not ConfigMaps.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateFromSource {
    /// The named Secret's keys (a Secret sealsync materializes, or one in the cluster).
    Secret {
        name: String,
        items: Vec<TemplateItem>,
    },
    /// One literal template; it renders to YAML/JSON `key: value` pairs (`KeysAndValues`).
    Literal(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateItem {
    pub key: String,
    /// Default `Values`.
    pub template_as: TemplateScope,
}

/// `Values`: the item's content is a template for the value of the key of the same name;
/// `KeysAndValues`: it renders to a map of keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateScope {
    Values,
    KeysAndValues,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateTarget {
    Data,
    Annotations,
    Labels,
}

pub(crate) fn parse_target(
    mut o: Obj<'_>,
    default_name: &str,
    out: &mut Vec<Unsupported>,
) -> Result<Target, Error> {
    let name = match o.opt_nonempty("name")? {
        Some(n) => {
            if !crate::pipeline::keys::is_dns_subdomain(&n) {
                return Err(o.err(
                    "name",
                    "not a valid Secret name (a lowercase RFC 1123 subdomain)",
                ));
            }
            n
        }
        None => default_name.to_string(),
    };
    let creation_policy = enum_field(
        &mut o,
        "creationPolicy",
        &[
            ("Owner", CreationPolicy::Owner),
            ("Orphan", CreationPolicy::Orphan),
            ("Merge", CreationPolicy::Merge),
            ("None", CreationPolicy::None),
        ],
        CreationPolicy::Owner,
        out,
    )?;
    let deletion_policy = enum_field(
        &mut o,
        "deletionPolicy",
        &[
            ("Retain", DeletionPolicy::Retain),
            ("Delete", DeletionPolicy::Delete),
            ("Merge", DeletionPolicy::Merge),
        ],
        DeletionPolicy::Retain,
        out,
    )?;
    let immutable = o.opt_bool("immutable")?.unwrap_or(false);
    o.unsupported("manifest", out);
    let template = match o.opt_obj("template")? {
        Some(t) => Some(parse_template(t, out)?),
        None => None,
    };
    o.finish(out);
    Ok(Target {
        name,
        creation_policy,
        deletion_policy,
        immutable,
        template,
    })
}

fn parse_template(mut o: Obj<'_>, out: &mut Vec<Unsupported>) -> Result<Template, Error> {
    let secret_type = o.opt_nonempty("type")?;
    if let Some(v) = o.opt_nonempty("engineVersion")? {
        if v != "v2" {
            out.push(Unsupported::new(
                o.field("engineVersion"),
                Some(format!("value {v:?}; supported: v2")),
            ));
        }
    }
    let (labels, annotations) = match o.opt_obj("metadata")? {
        Some(mut m) => {
            let labels = m.str_map("labels")?;
            let annotations = m.str_map("annotations")?;
            m.unsupported("finalizers", out);
            m.finish(out);
            (labels, annotations)
        }
        None => Default::default(),
    };
    check_privileged(&o, secret_type.as_deref(), &annotations)?;
    let merge_policy = enum_field(
        &mut o,
        "mergePolicy",
        &[
            ("Replace", MergePolicy::Replace),
            ("Merge", MergePolicy::Merge),
        ],
        MergePolicy::Replace,
        out,
    )?;
    let data = o.str_map("data")?;
    for (key, source) in &data {
        check_template(&o, "data", key, source)?;
    }
    let template_from = parse_template_from(&mut o, out)?;
    for t in &template_from {
        if let TemplateFromSource::Literal(source) = &t.source {
            check_template(&o, "templateFrom", "literal", source)?;
        }
    }
    if secret_type.as_deref() == Some("kubernetes.io/service-account-token")
        && template_from
            .iter()
            .any(|t| t.target == TemplateTarget::Annotations)
    {
        return Err(o.err("templateFrom", "templateFrom target Annotations is not allowed with type kubernetes.io/service-account-token"));
    }
    o.finish(out);
    Ok(Template {
        secret_type,
        labels,
        annotations,
        data,
        merge_policy,
        template_from,
    })
}

/// Parses a template when the ExternalSecret is read, so that bad syntax or a function outside the
/// supported set (named in the error) refuses the document before any store is asked, and `sealctl
/// render --no-resolve` reports it too. The source is text from git, never a secret.
fn check_template(o: &Obj<'_>, field: &str, name: &str, source: &str) -> Result<(), Error> {
    sealsync_template::Template::parse(name, source)
        .map(drop)
        .map_err(|e| o.err(field, e.to_string()))
}

/// ESO refuses templates that would mint long-lived tokens beyond the user's RBAC.
fn check_privileged(
    o: &Obj<'_>,
    ty: Option<&str>,
    annotations: &BTreeMap<String, String>,
) -> Result<(), Error> {
    match ty {
        Some("bootstrap.kubernetes.io/token") => Err(o.err("type", "bootstrap.kubernetes.io/token is not allowed")),
        Some("kubernetes.io/service-account-token") if annotations.contains_key("kubernetes.io/service-account.name") => {
            Err(o.err("metadata.annotations", "kubernetes.io/service-account.name is not allowed with type kubernetes.io/service-account-token"))
        }
        _ => Ok(()),
    }
}

fn parse_template_from(
    o: &mut Obj<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<Vec<TemplateFrom>, Error> {
    let origin = o.origin;
    let base = o.field("templateFrom");
    let mut entries = Vec::new();
    for (i, v) in o.list("templateFrom")?.iter().enumerate() {
        let mut e = Obj::new(origin, v, &format!("{base}[{i}]"))?;
        let target = match e
            .opt_nonempty("target")?
            .map(|t| t.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("data") => TemplateTarget::Data,
            Some("annotations") => TemplateTarget::Annotations,
            Some("labels") => TemplateTarget::Labels,
            Some(_) => {
                return Err(e.err(
                    "target",
                    "must be Data, Annotations or Labels when the target is a Secret",
                ))
            }
        };
        let values_decoding = enum_field(
            &mut e,
            "valuesDecodingStrategy",
            &[
                ("None", DecodingStrategy::None),
                ("Base64", DecodingStrategy::Base64),
                ("Base64URL", DecodingStrategy::Base64Url),
                ("Auto", DecodingStrategy::Auto),
            ],
            DecodingStrategy::None,
            out,
        )?;
        let has_config_map = e.has("configMap");
        e.unsupported("configMap", out);
        let secret = match e.opt_obj("secret")? {
            Some(s) => Some(parse_template_ref(s, out)?),
            None => None,
        };
        let literal = e.opt_str("literal")?.map(str::to_string);
        let source = match (secret, literal) {
            (Some((name, items)), None) => Some(TemplateFromSource::Secret { name, items }),
            (None, Some(l)) => Some(TemplateFromSource::Literal(l)),
            (None, None) if has_config_map => None,
            (None, None) => {
                return Err(Error::invalid(
                    origin,
                    e.path(),
                    "one of configMap, secret or literal is required",
                ))
            }
            _ => {
                return Err(Error::invalid(
                    origin,
                    e.path(),
                    "only one of configMap, secret or literal per entry",
                ))
            }
        };
        e.finish(out);
        if let Some(source) = source {
            entries.push(TemplateFrom {
                source,
                target,
                values_decoding,
            });
        }
    }
    Ok(entries)
}

fn parse_template_ref(
    mut o: Obj<'_>,
    out: &mut Vec<Unsupported>,
) -> Result<(String, Vec<TemplateItem>), Error> {
    let origin = o.origin;
    let name = o.req_str("name")?;
    let base = o.field("items");
    let mut items = Vec::new();
    for (i, v) in o.list("items")?.iter().enumerate() {
        let mut it = Obj::new(origin, v, &format!("{base}[{i}]"))?;
        let key = it.req_str("key")?;
        let template_as = match it.opt_nonempty("templateAs")?.as_deref() {
            None | Some("Values") => TemplateScope::Values,
            Some("KeysAndValues") => TemplateScope::KeysAndValues,
            Some(_) => return Err(it.err("templateAs", "must be Values or KeysAndValues")),
        };
        it.finish(out);
        items.push(TemplateItem { key, template_as });
    }
    if items.is_empty() {
        return Err(o.err("items", "required (at least one key)"));
    }
    o.finish(out);
    Ok((name, items))
}
