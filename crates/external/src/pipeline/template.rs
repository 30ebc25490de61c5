//! `spec.target.template` applied as ESO does (data, templateFrom, metadata, type, mergePolicy), with
//! the Go template engine behind the [`TemplateRenderer`] seam.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::external_secret::ExternalSecret;
use crate::limits::MAX_VALUE_BYTES;
use crate::meta::Origin;
use crate::pipeline::decode::decode;
use crate::pipeline::keys::check_key_name;
use crate::target::{MergePolicy, TemplateFromSource, TemplateItem, TemplateScope, TemplateTarget};
use crate::value::{SecretData, SecretValue};

/// The Go `text/template` engine (ESO engine v2, `missingkey=error`), plugged in by the integrator
/// (crate `sealsync-template`). Errors are messages naming the function or field, never a value.
pub trait TemplateRenderer {
    /// Renders `template` (named `name` in errors) with `data` as its dot: Secret key → value.
    /// The output is bytes, as Go strings are.
    fn render(
        &self,
        name: &str,
        template: &str,
        data: &SecretData,
    ) -> Result<Zeroizing<Vec<u8>>, String>;
    /// Parses the output of a `KeysAndValues` template (YAML `key: value` pairs) into strings.
    fn parse_map(&self, rendered: &str) -> Result<BTreeMap<String, Zeroizing<String>>, String>;
}

/// The Secret an ExternalSecret writes, before the engine adds its own labels and annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedSecret {
    pub name: String,
    /// `template.type` when set; otherwise the engine's default (`Opaque`).
    pub secret_type: Option<String>,
    pub immutable: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub data: SecretData,
}

/// Annotations of the ExternalSecret never copied onto its Secret.
const NOT_COPIED: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Applies `target` to the fetched `data`: with no template, the data as is and the
/// ExternalSecret's own labels and annotations (as ESO copies them); with a template, in ESO's order
/// of precedence, lowest first: fetched data (when `mergePolicy: Merge`, or the template has neither
/// `data` nor `templateFrom`), `templateFrom` entries in order, `template.data`, and the rendered
/// `template.metadata`. `template_secrets` holds the Secrets `templateFrom[].secret` names.
pub fn apply_target(
    es: &ExternalSecret,
    data: SecretData,
    template_secrets: &BTreeMap<String, SecretData>,
    renderer: Option<&dyn TemplateRenderer>,
) -> Result<RenderedSecret, Error> {
    let origin = &es.origin;
    let target = &es.target;
    let mut out = RenderedSecret {
        name: target.name.clone(),
        secret_type: None,
        immutable: target.immutable,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        data: SecretData::new(),
    };
    let Some(tpl) = &target.template else {
        out.labels = es.metadata.labels.clone();
        out.annotations = es.metadata.annotations.clone();
        out.annotations
            .retain(|k, _| !NOT_COPIED.contains(&k.as_str()));
        out.data = data;
        return Ok(out);
    };
    let renderer = renderer.ok_or_else(|| no_renderer(origin, "spec.target.template"))?;
    out.secret_type = tpl.secret_type.clone();
    if tpl.merge_policy == MergePolicy::Merge
        || (tpl.data.is_empty() && tpl.template_from.is_empty())
    {
        out.data = data.clone();
    }
    let r = Render {
        origin,
        renderer,
        data: &data,
    };
    for (i, from) in tpl.template_from.iter().enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        let rendered = match &from.source {
            TemplateFromSource::Literal(text) => r.keys_and_values(&field, "literal", text)?,
            TemplateFromSource::Secret { name, items } => {
                r.secret_items(&field, name, items, template_secrets)?
            }
        };
        for (k, v) in rendered {
            let v = decode(origin, &field, from.values_decoding, v)?;
            put(origin, &mut out, from.target, k, v)?;
        }
    }
    for (k, text) in &tpl.data {
        let v = r.one("spec.target.template.data", k, text)?;
        put(origin, &mut out, TemplateTarget::Data, k.clone(), v)?;
    }
    for (target, map) in [
        (TemplateTarget::Labels, &tpl.labels),
        (TemplateTarget::Annotations, &tpl.annotations),
    ] {
        for (k, text) in map {
            let v = r.one("spec.target.template.metadata", k, text)?;
            put(origin, &mut out, target, k.clone(), v)?;
        }
    }
    Ok(out)
}

pub(crate) fn no_renderer(origin: &Origin, field: &str) -> Error {
    Error::Template {
        origin: Box::new(origin.clone()),
        field: field.to_string(),
        reason: "no template engine is available in this build".into(),
    }
}

struct Render<'a> {
    origin: &'a Origin,
    renderer: &'a dyn TemplateRenderer,
    data: &'a SecretData,
}

impl Render<'_> {
    fn fail(&self, field: &str, key: &str, reason: String) -> Error {
        Error::Template {
            origin: Box::new(self.origin.clone()),
            field: format!("{field} ({key})"),
            reason,
        }
    }

    fn one(&self, field: &str, key: &str, text: &str) -> Result<SecretValue, Error> {
        let s = self
            .renderer
            .render(key, text, self.data)
            .map_err(|e| self.fail(field, key, e))?;
        if s.len() > MAX_VALUE_BYTES {
            return Err(Error::limit(
                self.origin,
                format!("{field} ({key})"),
                format!("rendered value exceeds {MAX_VALUE_BYTES} bytes"),
            ));
        }
        Ok(SecretValue::from(s))
    }

    /// `templateFrom[].secret`: each item of the named Secret rendered as its scope says.
    fn secret_items(
        &self,
        field: &str,
        name: &str,
        items: &[TemplateItem],
        template_secrets: &BTreeMap<String, SecretData>,
    ) -> Result<Vec<(String, SecretValue)>, Error> {
        let origin = self.origin;
        let source = template_secrets.get(name).ok_or_else(|| {
            Error::invalid(
                origin,
                format!("{field}.secret.name"),
                format!("Secret {name:?} not found"),
            )
        })?;
        let mut all = Vec::new();
        for item in items {
            let text = source
                .get(&item.key)
                .and_then(SecretValue::as_str)
                .ok_or_else(|| {
                    Error::invalid(
                        origin,
                        format!("{field}.secret.items"),
                        format!("Secret {name:?} has no text key {:?}", item.key),
                    )
                })?;
            match item.template_as {
                TemplateScope::Values => {
                    all.push((item.key.clone(), self.one(field, &item.key, text)?))
                }
                TemplateScope::KeysAndValues => {
                    all.extend(self.keys_and_values(field, &item.key, text)?)
                }
            }
        }
        Ok(all)
    }

    fn keys_and_values(
        &self,
        field: &str,
        key: &str,
        text: &str,
    ) -> Result<Vec<(String, SecretValue)>, Error> {
        let rendered = self.one(field, key, text)?;
        let text = rendered
            .as_str()
            .ok_or_else(|| self.fail(field, key, "rendered text is not UTF-8".into()))?;
        let map = self
            .renderer
            .parse_map(text)
            .map_err(|e| self.fail(field, key, format!("not a map of keys and values: {e}")))?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, SecretValue::new(v.as_bytes().to_vec())))
            .collect())
    }
}

fn put(
    origin: &Origin,
    out: &mut RenderedSecret,
    target: TemplateTarget,
    key: String,
    v: SecretValue,
) -> Result<(), Error> {
    match target {
        TemplateTarget::Data => {
            check_key_name(&key).map_err(|r| Error::invalid_key(origin, &key, r))?;
            out.data.insert(key, v);
        }
        TemplateTarget::Labels | TemplateTarget::Annotations => {
            // Metadata is not secret: a rendered label or annotation is stored as plain text.
            let text = v
                .as_str()
                .ok_or_else(|| Error::invalid_key(origin, &key, "rendered metadata is not UTF-8"))?
                .to_string();
            let map = if target == TemplateTarget::Labels {
                &mut out.labels
            } else {
                &mut out.annotations
            };
            map.insert(key, text);
        }
    }
    Ok(())
}
