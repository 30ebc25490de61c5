//! `render`'s output: a text listing for people, JSON for scripts. Values show as their size unless
//! `--reveal`; a revealed value is written into zeroized buffers only.

use std::fmt::Write;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::report::{Fetch, KeyRow, Origin, Rendered, Report, Source};

/// The text listing: one block per Secret, then the refused documents.
pub fn text(report: &Report, reveal: bool) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for s in &report.secrets {
        secret_text(s, reveal, report.resolved, &mut out);
        out.push('\n');
    }
    if report.secrets.is_empty() {
        out.push_str("no Secrets\n");
    }
    if !report.refused.is_empty() {
        out.push_str(if report.secrets.is_empty() { "\n" } else { "" });
        out.push_str("Refused:\n");
        for r in &report.refused {
            out.push_str(&format!("  [{}] {r}\n", r.reason.code()));
        }
    }
    out
}

fn secret_text(s: &Rendered, reveal: bool, resolved: bool, out: &mut String) {
    out.push_str(&format!("Secret {} ({})\n", s.key, s.secret_type));
    match &s.origin {
        Origin::File { path } => out.push_str(&format!("  from {path}\n")),
        Origin::Reference {
            path,
            document,
            kind,
            name,
            store,
        } => {
            let what = match *kind {
                "Secret" => format!("the placeholders of Secret {name}"),
                other => format!("{other} {name}"),
            };
            out.push_str(&format!("  from {what} in {path} (document {document})"));
            if let Some(store) = store {
                out.push_str(&format!(", store {store}"));
            }
            out.push('\n');
        }
    }
    if !s.fetches.is_empty() {
        let fetches: Vec<String> = s.fetches.iter().map(fetch_text).collect();
        let _ = writeln!(out, "  reads {}", fetches.join(", "));
    }
    if let Some((reason, message)) = &s.error {
        out.push_str(&format!("  error [{}] {message}\n", reason.code()));
    }
    let unfetched = if resolved && s.error.is_none() {
        "-"
    } else {
        "(not fetched)"
    };
    let values: Vec<Zeroizing<String>> = s
        .keys
        .iter()
        .map(|k| value_text(k, reveal, unfetched))
        .collect();
    let name_width = s.keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
    let value_width = values.iter().map(|v| v.chars().count()).max().unwrap_or(0);
    for (k, v) in s.keys.iter().zip(&values) {
        let sources: Vec<String> = k.sources.iter().map(source_text).collect();
        // Written in place: a revealed value goes into no buffer but `out`.
        let _ = writeln!(
            out,
            "  {:name_width$}  {:value_width$}  {}",
            k.name,
            v.as_str(),
            sources.join(" + ")
        );
    }
}

/// A value as shown: its size, or with `--reveal` the value as a JSON string (or `base64:…` when it is
/// not UTF-8 text), so that every character of it is visible and one line long.
fn value_text(k: &KeyRow, reveal: bool, unfetched: &str) -> Zeroizing<String> {
    let Some(value) = &k.value else {
        return Zeroizing::new(unfetched.to_string());
    };
    if !reveal {
        return Zeroizing::new(format!("<{} bytes>", value.len()));
    }
    Zeroizing::new(match std::str::from_utf8(value.expose()) {
        Ok(text) => serde_json::to_string(text).unwrap_or_default(),
        Err(_) => format!("base64:{}", B64.encode(value.expose())),
    })
}

/// `app/db`, `app/db (version 3)`, `app/db@AWSPREVIOUS (version 8f1…)`.
fn fetch_text(f: &Fetch) -> String {
    let mut text = f.key.clone();
    if let Some(v) = &f.version {
        let _ = write!(text, "@{v}");
    }
    if let Some(v) = &f.returned {
        let _ = write!(text, " (version {v})");
    }
    text
}

fn source_text(s: &Source) -> String {
    let version = |v: &Option<String>| match v {
        Some(v) => format!("version {v}"),
        None => "current version".to_string(),
    };
    match s {
        Source::File(path) => format!("file {path}"),
        Source::Remote {
            key,
            property,
            version: v,
        } => match property {
            Some(p) => format!("remote key {key}, property {p}, {}", version(v)),
            None => format!("remote key {key}, {}", version(v)),
        },
        Source::Extract { key, version: v } => {
            format!("every property of remote key {key}, {}", version(v))
        }
        Source::Find(what) => what.clone(),
        Source::Template(inputs) => {
            let inputs: Vec<String> = inputs.iter().map(source_text).collect();
            format!("target.template over {}", inputs.join("; "))
        }
        Source::Literal => "text in the manifest".into(),
    }
}

/// The JSON document: `{"resolved", "secrets": [...], "refused": [...]}`.
pub fn json(report: &Report, reveal: bool) -> Zeroizing<String> {
    let secrets: Vec<Value> = report
        .secrets
        .iter()
        .map(|s| secret_json(s, reveal))
        .collect();
    let refused: Vec<Value> = report
        .refused
        .iter()
        .map(|r| {
            json!({
                "path": r.path,
                "document": r.document,
                "secret": r.key.as_ref().map(ToString::to_string),
                "reason": r.reason.code(),
                "message": r.message,
            })
        })
        .collect();
    let mut doc = json!({
        "resolved": report.resolved,
        "secrets": secrets,
        "refused": refused,
    });
    let mut out = Zeroizing::new(serde_json::to_string_pretty(&doc).unwrap_or_default());
    out.push('\n');
    scrub(&mut doc);
    out
}

fn secret_json(s: &Rendered, reveal: bool) -> Value {
    let from = match &s.origin {
        Origin::File { path } => json!({ "kind": "file", "path": path }),
        Origin::Reference {
            path,
            document,
            kind,
            name,
            store,
        } => json!({
            "kind": kind,
            "name": name,
            "path": path,
            "document": document,
            "store": store,
        }),
    };
    let keys: Vec<Value> = s.keys.iter().map(|k| key_json(k, reveal)).collect();
    let fetches: Vec<Value> = s
        .fetches
        .iter()
        .map(|f| json!({ "remote_key": f.key, "version": f.version, "returned_version": f.returned }))
        .collect();
    json!({
        "namespace": s.key.namespace,
        "name": s.key.name,
        "type": s.secret_type,
        "from": from,
        "error": s.error.as_ref().map(|(reason, message)| json!({
            "reason": reason.code(),
            "message": message,
        })),
        "keys": keys,
        "fetches": fetches,
    })
}

fn key_json(k: &KeyRow, reveal: bool) -> Value {
    let mut m = Map::new();
    m.insert("key".into(), k.name.clone().into());
    m.insert("size".into(), k.value.as_ref().map(|v| v.len()).into());
    if let (true, Some(value)) = (reveal, &k.value) {
        match std::str::from_utf8(value.expose()) {
            Ok(text) => m.insert("value".into(), text.to_string().into()),
            Err(_) => m.insert("value_base64".into(), B64.encode(value.expose()).into()),
        };
    }
    let sources: Vec<Value> = k.sources.iter().map(source_json).collect();
    m.insert("sources".into(), sources.into());
    Value::Object(m)
}

fn source_json(s: &Source) -> Value {
    match s {
        Source::File(path) => json!({ "kind": "file", "path": path }),
        Source::Remote {
            key,
            property,
            version,
        } => {
            json!({ "kind": "remote", "remote_key": key, "property": property, "version": version })
        }
        Source::Extract { key, version } => {
            json!({ "kind": "extract", "remote_key": key, "version": version })
        }
        Source::Find(what) => json!({ "kind": "find", "description": what }),
        Source::Template(inputs) => {
            let inputs: Vec<Value> = inputs.iter().map(source_json).collect();
            json!({ "kind": "template", "inputs": inputs })
        }
        Source::Literal => json!({ "kind": "literal" }),
    }
}

/// Wipes every string of a JSON tree (revealed values among them) before it is dropped.
fn scrub(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(m) => m.values_mut().for_each(scrub),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealsync_agent::desired::{SecretBytes, SecretKey};

    fn report(value: &[u8]) -> Report {
        Report {
            secrets: vec![Rendered {
                key: SecretKey::new("app", "db"),
                secret_type: "Opaque".into(),
                origin: Origin::File {
                    path: "db.yaml".into(),
                },
                keys: vec![KeyRow {
                    name: "password".into(),
                    value: Some(SecretBytes::new(value.to_vec())),
                    sources: vec![Source::File("db.yaml".into())],
                }],
                fetches: Vec::new(),
                error: None,
            }],
            refused: Vec::new(),
            resolved: true,
        }
    }

    #[test]
    fn values_show_only_when_revealed() {
        let r = report(b"hunter2\n");
        for masked in [text(&r, false), json(&r, false)] {
            assert!(!masked.contains("hunter2"), "{}", masked.as_str());
        }
        assert!(text(&r, false).contains("  password  <8 bytes>  file db.yaml\n"));
        assert!(text(&r, true).contains("  password  \"hunter2\\n\"  file db.yaml\n"));
        assert!(json(&r, true).contains("\"value\": \"hunter2\\n\""));
    }

    #[test]
    fn binary_values_are_revealed_as_base64() {
        let r = report(&[0xff, 0x00]);
        assert!(text(&r, true).contains("base64:/wA="));
        assert!(json(&r, true).contains("\"value_base64\": \"/wA=\""));
    }
}
