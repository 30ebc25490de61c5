//! `dataFrom[].rewrite`: key renames by Go RE2 regular expression or by template, applied in order.

use crate::error::Error;
use crate::external_secret::Rewrite;
use crate::limits::compile_regex;
use crate::meta::Origin;
use crate::pipeline::template::{no_renderer, TemplateRenderer};
use crate::value::{SecretData, SecretValue};

/// Applies `rewrites` in order to the keys of `data`. `field` names the `dataFrom` entry in errors.
/// Two keys rewritten to the same name are an error (ESO keeps an arbitrary one).
pub fn apply_rewrites(
    origin: &Origin,
    field: &str,
    rewrites: &[Rewrite],
    mut data: SecretData,
    renderer: Option<&dyn TemplateRenderer>,
) -> Result<SecretData, Error> {
    for (i, rw) in rewrites.iter().enumerate() {
        let at = format!("{field}.rewrite[{i}]");
        data = match rw {
            Rewrite::Regexp { source, target } => {
                // Go's ReplaceAllString and the regex crate share the `$1` / `${name}` expansion syntax.
                let re = compile_regex(source)
                    .map_err(|r| Error::invalid(origin, format!("{at}.regexp.source"), r))?;
                rename(origin, &at, data, |k| {
                    Ok(re.replace_all(k, target.as_str()).into_owned())
                })?
            }
            Rewrite::Transform { template } => {
                let renderer =
                    renderer.ok_or_else(|| no_renderer(origin, &format!("{at}.transform")))?;
                rename(origin, &at, data, |k| {
                    let mut dot = SecretData::new();
                    dot.insert("value".into(), SecretValue::from_text(k));
                    renderer
                        .render("transform", template, &dot)
                        .and_then(|s| {
                            String::from_utf8(s.to_vec())
                                .map_err(|_| "the rendered key is not UTF-8".into())
                        })
                        .map_err(|reason| Error::Template {
                            origin: Box::new(origin.clone()),
                            field: format!("{at}.transform.template"),
                            reason,
                        })
                })?
            }
        };
    }
    Ok(data)
}

fn rename(
    origin: &Origin,
    at: &str,
    data: SecretData,
    mut f: impl FnMut(&str) -> Result<String, Error>,
) -> Result<SecretData, Error> {
    let mut out = SecretData::new();
    for (k, v) in data {
        let new = f(&k)?;
        if out.contains_key(&new) {
            return Err(Error::invalid_key(
                origin,
                &new,
                format!("{at}: two remote keys are rewritten to this key"),
            ));
        }
        out.insert(new, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "f.yaml".into(),
            kind: "ExternalSecret".into(),
            namespace: None,
            name: "es".into(),
        }
    }

    fn data(keys: &[&str]) -> SecretData {
        keys.iter()
            .map(|k| (k.to_string(), SecretValue::from_text("v")))
            .collect()
    }

    #[test]
    fn regexp_rewrites_in_order_with_go_expansion() {
        let rw = vec![
            Rewrite::Regexp {
                source: "^app/(.*)$".into(),
                target: "$1".into(),
            },
            Rewrite::Regexp {
                source: "/".into(),
                target: "_".into(),
            },
            Rewrite::Regexp {
                source: "^(?P<k>.*)$".into(),
                target: "APP_${k}".into(),
            },
        ];
        let out = apply_rewrites(
            &origin(),
            "spec.dataFrom[0]",
            &rw,
            data(&["app/db/user", "app/api"]),
            None,
        )
        .unwrap();
        assert_eq!(
            out.keys().collect::<Vec<_>>(),
            vec!["APP_api", "APP_db_user"]
        );
    }

    #[test]
    fn collisions_and_missing_renderer_are_errors() {
        let rw = vec![Rewrite::Regexp {
            source: ".*".into(),
            target: "same".into(),
        }];
        let e = apply_rewrites(&origin(), "spec.dataFrom[0]", &rw, data(&["a", "b"]), None)
            .unwrap_err();
        assert!(e.to_string().contains("same"), "{e}");
        let rw = vec![Rewrite::Transform {
            template: "{{ .value | upper }}".into(),
        }];
        let e = apply_rewrites(&origin(), "spec.dataFrom[0]", &rw, data(&["a"]), None).unwrap_err();
        assert!(matches!(e, Error::Template { .. }), "{e}");
    }
}
