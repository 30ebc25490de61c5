//! `sealctl check`: for CI and pre-commit hooks. Reports, one line each, Kubernetes Secrets committed in
//! plaintext, SOPS values stripped of their metadata, SOPS files whose MAC does not verify (when an
//! identity is at hand) and SOPS files whose recipients differ from what `.sops.yaml` requires. A SOPS
//! file whose MAC could not be verified (no identity decrypts it, or the identities do not load) is a
//! finding too, unless `--no-verify` says structure and recipients are enough.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::sops::cipher::is_encrypted_or_truncated_value;
use crate::sops::file::{self, SopsError};
use crate::sops::keygroups::KeyGroupError;
use crate::sops::stores::{Format, METADATA_KEY};
use crate::sops::tree::{Map, Value};
use sealsync_external::avp::parse::{has_placeholder, PATH_ANNOTATION};

use super::super::args::CheckArgs;
use super::super::context::{write_stdout, Context};
use super::super::exit::{CliError, Exit};
use super::batch::collect;

/// The annotation that allows a plaintext Secret in git (for values that are not secret).
pub const PLAINTEXT_ALLOWED: &str = "sealsync.dev/plaintext";

pub fn run(ctx: &mut Context, args: &CheckArgs) -> Result<(), CliError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let config = ctx.sops_config()?;
    let mut findings = Vec::new();
    let mut checked = 0;
    for path in collect(&paths)? {
        let format = Format::from_path(&path);
        if !matches!(
            format,
            Format::Yaml | Format::Json | Format::Dotenv | Format::Ini
        ) {
            continue;
        }
        checked += 1;
        let shown = path.display().to_string();
        let bytes = match ctx.read_encrypted(&shown) {
            Ok(b) => b,
            Err(e) => {
                findings.push(e.message);
                continue;
            }
        };
        match file::read_metadata(&bytes, format) {
            Ok(metadata) => {
                let verified = check_sops_file(
                    ctx,
                    config.as_ref(),
                    (&path, &shown),
                    (&bytes, format),
                    &metadata,
                    &mut findings,
                );
                if let (Err(why), false) = (verified, args.no_verify) {
                    findings.push(format!(
                        "{shown}: MAC not verified: {why} (give an identity with --identity or SOPS_AGE_KEY_FILE, or pass --no-verify to check only structure and recipients)"
                    ));
                }
            }
            Err(SopsError::Metadata(crate::sops::metadata::MetadataError::Missing)) => {
                check_plain_file(&shown, &bytes, format, &mut findings)
            }
            Err(e) => findings.push(format!("{shown}: {e}")),
        }
    }
    let mut out = String::new();
    for f in &findings {
        out.push_str(f);
        out.push('\n');
    }
    write_stdout(out.as_bytes())?;
    if findings.is_empty() {
        eprintln!("checked {checked} file(s): no problems found");
        Ok(())
    } else {
        Err(CliError::new(
            Exit::Findings,
            format!("checked {checked} file(s): {} problem(s)", findings.len()),
        ))
    }
}

/// Checks recipients and, when an identity decrypts the file, its MAC and values. `Err` says why the MAC
/// could not be verified.
fn check_sops_file(
    ctx: &mut Context,
    config: Option<&crate::sops::creation_rules::SopsConfig>,
    (path, shown): (&Path, &str),
    (bytes, format): (&[u8], Format),
    metadata: &crate::sops::metadata::Metadata,
    findings: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(config) = config.filter(|c| c.has_rules()) {
        match config.rule_for(path) {
            Ok(rule) => {
                let want: Vec<Vec<String>> = rule
                    .groups
                    .iter()
                    .map(|g| sorted(g.iter().map(|r| r.to_string())))
                    .collect();
                let have: Vec<Vec<String>> = metadata
                    .recipients()
                    .iter()
                    .map(|g| sorted(g.iter().map(|r| r.to_string())))
                    .collect();
                if want != have {
                    findings.push(format!(
                        "{shown}: recipients differ from the .sops.yaml creation rule (run `sealctl updatekeys {shown}`)"
                    ));
                }
            }
            Err(crate::sops::creation_rules::ConfigError::NoMatch { .. }) => {}
            Err(e) => findings.push(format!("{shown}: {e}")),
        }
    }
    let identities = match ctx.identities() {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) => return Err("no identity".into()),
        Err(e) => {
            return Err(format!(
                "the identities could not be loaded ({})",
                e.message
            ))
        }
    };
    match file::decrypt(bytes, format, identities) {
        Ok(_) => Ok(()),
        // Without a matching key the MAC cannot be checked: not a problem of the file, but not a pass.
        Err(SopsError::Keys(KeyGroupError::NoMatchingIdentity { .. })) => {
            Err("no identity given decrypts it".into())
        }
        Err(e) => {
            findings.push(format!("{shown}: {e}"));
            Ok(())
        }
    }
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.collect();
    v.sort();
    v
}

fn check_plain_file(shown: &str, bytes: &[u8], format: Format, findings: &mut Vec<String>) {
    let docs = match format.store().load_plain(bytes) {
        Ok(d) => d,
        Err(e) => {
            findings.push(format!("{shown}: cannot parse as {}: {e}", format.name()));
            return;
        }
    };
    let many = docs.len() > 1;
    for (index, doc) in docs.iter().enumerate() {
        let at = if many {
            format!("{shown} (document {})", index + 1)
        } else {
            shown.to_string()
        };
        if doc.get(METADATA_KEY).is_some() {
            continue;
        }
        if let Some(problem) = secret_problem(doc) {
            findings.push(format!("{at}: {problem}"));
        }
    }
}

/// What is wrong with a plaintext document, if it is a Kubernetes Secret with values.
pub fn secret_problem(doc: &Map) -> Option<String> {
    let is_secret = doc.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && doc.get("kind").and_then(Value::as_str) == Some("Secret");
    if !is_secret {
        return first_ciphertext(doc).map(|key| {
            format!("value '{key}' is SOPS ciphertext but the document has no sops metadata (stripped or truncated)")
        });
    }
    let metadata = doc.get("metadata").and_then(Value::as_map);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let annotations = metadata
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_map);
    let allowed = annotations
        .and_then(|a| a.get(PLAINTEXT_ALLOWED))
        .and_then(Value::as_str)
        == Some("allowed");
    // An argocd-vault-plugin Secret's placeholders are references, not plaintext.
    let avp_path = annotations.is_some_and(|a| a.get(PATH_ANNOTATION).is_some());
    let is_reference = |text: &str| has_placeholder(text, avp_path);
    let mut plain_keys = Vec::new();
    for field in ["data", "stringData"] {
        let Some(values) = doc.get(field).and_then(Value::as_map) else {
            continue;
        };
        for (key, value) in values.entries() {
            let text = match value {
                Value::Str(s) => s.clone(),
                Value::Null => continue,
                other => other.kind().to_string(),
            };
            if is_encrypted_or_truncated_value(&text) {
                return Some(format!(
                    "Secret '{name}': {field}.{key} is SOPS ciphertext but the document has no sops metadata (stripped or truncated)"
                ));
            }
            let decoded = (field == "data")
                .then(|| B64.decode(text.trim()).ok())
                .flatten()
                .and_then(|b| String::from_utf8(b).ok());
            let reference = is_reference(&text) || decoded.as_deref().is_some_and(is_reference);
            if !reference {
                plain_keys.push(format!("{field}.{key}"));
            }
        }
    }
    if plain_keys.is_empty() || allowed {
        return None;
    }
    Some(format!(
        "Secret '{name}' is committed in plaintext ({}); encrypt it with `sealctl encrypt -i`, or annotate it {PLAINTEXT_ALLOWED}: \"allowed\" if its values are not secret",
        plain_keys.join(", ")
    ))
}

fn first_ciphertext(doc: &Map) -> Option<String> {
    fn walk(value: &Value, path: &mut Vec<String>) -> Option<String> {
        match value {
            Value::Str(s) if is_encrypted_or_truncated_value(s) => Some(path.join(".")),
            Value::Map(m) => m.entries().find_map(|(k, v)| {
                path.push(k.to_string());
                let found = walk(v, path);
                path.pop();
                found
            }),
            Value::Seq(items) => items.iter().find_map(|v| walk(v, path)),
            _ => None,
        }
    }
    walk(&Value::Map(doc.clone()), &mut Vec::new())
}
