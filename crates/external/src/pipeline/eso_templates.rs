//! The [`TemplateRenderer`] backed by `sealsync-template`: Go `text/template` + Sprig as ESO's engine
//! v2 runs them (`missingkey=error`; unsupported functions refused by name).

use std::collections::BTreeMap;

use sealsync_template::{Data, Template};
use serde_json::Value;
use zeroize::Zeroizing;

use super::property::parse_secret_json;
use super::template::TemplateRenderer;
use crate::value::SecretData;

/// ESO's template engine v2.
#[derive(Clone, Copy, Debug, Default)]
pub struct EsoTemplates;

impl TemplateRenderer for EsoTemplates {
    fn render(
        &self,
        name: &str,
        template: &str,
        data: &SecretData,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut dot = Data::default();
        for (k, v) in data {
            dot.insert(k.clone(), Zeroizing::new(v.expose().to_vec()));
        }
        let t = Template::parse(name, template).map_err(|e| e.to_string())?;
        t.execute(&dot).map_err(|e| e.to_string())
    }

    /// ESO unmarshals a `KeysAndValues` result into `map[string]string` with sigs.k8s.io/yaml: the
    /// engine's own `fromYaml` (go-yaml v2 typing) reads it, and a value that is not a string (a
    /// number, `yes`, a list) is an error, as in ESO; `null` is empty.
    fn parse_map(&self, rendered: &str) -> Result<BTreeMap<String, Zeroizing<String>>, String> {
        let mut dot = Data::default();
        dot.insert("yaml", Zeroizing::new(rendered.as_bytes().to_vec()));
        let json = Template::parse("keysAndValues", "{{ fromYaml .yaml | toJson }}")
            .and_then(|t| t.execute(&dot))
            .map_err(|e| e.to_string())?;
        let parsed = parse_secret_json(&json).ok_or("not YAML")?;
        let Value::Object(map) = &parsed.0 else {
            return Err("not a map of keys and values".into());
        };
        if let (Some(Value::String(_)), 1) = (map.get("Error"), map.len()) {
            // Sprig's fromYaml reports a parse failure as {"Error": ...}; the message may quote the input.
            return Err("not valid YAML".into());
        }
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let text = match v {
                Value::String(s) => Zeroizing::new(s.clone()),
                Value::Null => Zeroizing::new(String::new()),
                _ => return Err(format!("the value of {k:?} is not a string")),
            };
            out.insert(k.clone(), text);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::SecretValue;

    #[test]
    fn renders_and_reads_keys_and_values() {
        let mut data = SecretData::new();
        data.insert("user".into(), SecretValue::from_text("admin"));
        let out = EsoTemplates
            .render("k", "{{ .user | upper }}", &data)
            .unwrap();
        assert_eq!(&out[..], b"ADMIN");
        let e = EsoTemplates
            .render("k", "{{ .user | shout }}", &data)
            .unwrap_err();
        assert!(e.contains("shout"), "{e}");
        let e = EsoTemplates
            .render("k", "{{ .nobody }}", &data)
            .unwrap_err();
        assert!(e.contains("nobody"), "{e}");
        let m = EsoTemplates.parse_map("a: one\nb: \"two\"\nc:\n").unwrap();
        assert_eq!(
            (m["a"].as_str(), m["b"].as_str(), m["c"].as_str()),
            ("one", "two", "")
        );
        assert!(EsoTemplates
            .parse_map("a: 1\n")
            .unwrap_err()
            .contains("\"a\""));
        assert!(EsoTemplates.parse_map("- x\n").is_err());
    }
}
