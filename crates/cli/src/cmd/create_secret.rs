//! `sealctl create secret`: a Kubernetes Secret built from literals, files, directories, standard input
//! and env files, encrypted (`encrypted_regex: ^(data|stringData)$` unless the creation rule says otherwise)
//! and ready to commit.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use zeroize::Zeroizing;

use crate::names;
use crate::sops::file;
use crate::sops::rules::RuleSet;
use crate::sops::stores::Format;
use crate::sops::tree::{Map, Value};

use super::super::args::{CreateSecretArgs, RuleArgs};
use super::super::context::{write_atomic, write_stdout, Context};
use super::super::exit::{CliError, Exit};

/// One key of the Secret and its value bytes.
type SecretValue = (String, Zeroizing<Vec<u8>>);

pub fn validate_dns_subdomain(what: &str, name: &str) -> Result<(), CliError> {
    names::dns_subdomain(name)
        .map_err(|why| CliError::new(Exit::Usage, format!("invalid {what} '{name}': {why}")))
}

pub fn validate_dns_label(what: &str, name: &str) -> Result<(), CliError> {
    names::dns_label(name)
        .map_err(|why| CliError::new(Exit::Usage, format!("invalid {what} '{name}': {why}")))
}

fn split_pair<'a>(flag: &str, text: &'a str) -> Result<(&'a str, &'a str), CliError> {
    text.split_once('=')
        .ok_or_else(|| CliError::new(Exit::Usage, format!("{flag} expects KEY=VALUE")))
}

/// The encryption rule a Secret gets when the creation rule names none.
pub fn secret_rules() -> RuleSet {
    RuleSet {
        encrypted_regex: Some("^(data|stringData)$".into()),
        ..Default::default()
    }
}

pub fn run(ctx: &mut Context, args: &CreateSecretArgs) -> Result<(), CliError> {
    validate_dns_subdomain("Secret name", &args.name)?;
    if let Some(ns) = &args.namespace {
        validate_dns_label("namespace", ns)?;
    }
    let mut values: Vec<SecretValue> = Vec::new();
    for literal in &args.from_literal {
        let (k, v) = split_pair("--from-literal", literal)?;
        values.push((k.to_string(), Zeroizing::new(v.as_bytes().to_vec())));
    }
    let mut stdin = StdinOnce::default();
    for spec in &args.from_file {
        values.extend(read_from_file(ctx, spec, &mut stdin)?);
    }
    for path in &args.from_env_file {
        if path.as_os_str() == "-" {
            stdin.claim("--from-env-file -".into())?;
        }
        values.extend(read_env_file(ctx, path)?);
    }
    if values.is_empty() {
        return Err(CliError::new(
            Exit::Usage,
            "no values: give --from-literal, --from-file or --from-env-file",
        ));
    }
    let mut string_data = Map::new();
    let mut data = Map::new();
    for (key, bytes) in &values {
        names::secret_key(key)
            .map_err(|why| CliError::new(Exit::Usage, format!("invalid key '{key}': {why}")))?;
        if string_data.get(key).is_some() || data.get(key).is_some() {
            return Err(CliError::new(
                Exit::Usage,
                format!("key '{key}' is given twice"),
            ));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => string_data.insert(key.clone(), Value::Str(text.to_string())),
            Err(_) => data.insert(key.clone(), Value::Str(B64.encode(bytes))),
        }
    }
    let mut metadata = Map::new();
    metadata.insert("name", Value::Str(args.name.clone()));
    if let Some(ns) = &args.namespace {
        metadata.insert("namespace", Value::Str(ns.clone()));
    }
    for (field, pairs) in [("labels", &args.label), ("annotations", &args.annotation)] {
        if !pairs.is_empty() {
            let mut m = Map::new();
            for pair in pairs {
                let (k, v) = split_pair(&format!("--{}", &field[..field.len() - 1]), pair)?;
                m.insert(k, Value::Str(v.to_string()));
            }
            metadata.insert(field, Value::Map(m));
        }
    }
    let mut doc = Map::new();
    doc.insert("apiVersion", Value::Str("v1".into()));
    doc.insert("kind", Value::Str("Secret".into()));
    doc.insert("metadata", Value::Map(metadata));
    doc.insert("type", Value::Str(args.secret_type.clone()));
    if !data.is_empty() {
        doc.insert("data", Value::Map(data));
    }
    if !string_data.is_empty() {
        doc.insert("stringData", Value::Map(string_data));
    }
    // The path a path-based .sops.yaml rule is matched against: -o, else the file standard output is
    // redirected to (`> apps/db.yaml`), else NAME.yaml here.
    let rule_path = args
        .output
        .clone()
        .or_else(redirected_stdout)
        .unwrap_or_else(|| ctx.env.cwd.join(format!("{}.yaml", args.name)));
    let spec = ctx
        .encryption_spec(&rule_path, &args.keys, &RuleArgs::default(), secret_rules())
        .map_err(|mut e| {
            if args.output.is_none() && e.exit == Exit::Config {
                e.message.push_str(&format!(
                    " (the rule was matched against {}; pass -o FILE to match the file you write)",
                    rule_path.display()
                ));
            }
            e
        })?;
    let out =
        file::encrypt_docs_laid_out(vec![doc], Format::Yaml, &spec, ctx.layout(Format::Yaml))?;
    match &args.output {
        Some(path) => write_atomic(path, &out),
        None => write_stdout(&out),
    }
}

/// Standard input holds one value: a second `-` would silently read nothing.
#[derive(Default)]
struct StdinOnce {
    used: Option<String>,
}

impl StdinOnce {
    /// Records that `flag` reads standard input; refused if another flag already did.
    fn claim(&mut self, flag: String) -> Result<(), CliError> {
        if let Some(first) = &self.used {
            return Err(CliError::new(
                Exit::Usage,
                format!(
                    "{flag}: standard input is already read by {first} (it gives one value only)"
                ),
            ));
        }
        self.used = Some(flag);
        Ok(())
    }
}

/// `--from-file [KEY=]PATH`, as kubectl reads it: a file's content under KEY (default: its name), a
/// directory's regular files each under its own name, or standard input for `KEY=-`.
fn read_from_file(
    ctx: &Context,
    spec: &str,
    stdin: &mut StdinOnce,
) -> Result<Vec<SecretValue>, CliError> {
    let (key, path) = match spec.split_once('=') {
        Some((k, p)) => (Some(k.to_string()), PathBuf::from(p)),
        None => (None, PathBuf::from(spec)),
    };
    let shown = path.to_string_lossy().into_owned();
    if shown == "-" {
        let Some(key) = key else {
            return Err(CliError::new(
                Exit::Usage,
                "--from-file -: standard input has no file name to use as the key; give one: --from-file KEY=-",
            ));
        };
        stdin.claim(format!("--from-file {key}=-"))?;
        return Ok(vec![(key, Zeroizing::new(ctx.read_input("-")?))]);
    }
    if path.is_dir() {
        if key.is_some() {
            return Err(CliError::new(
                Exit::Usage,
                format!("--from-file {spec}: a directory gives one key per file; drop the KEY="),
            ));
        }
        return read_dir_values(ctx, &path);
    }
    let key = key.unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(vec![(key, Zeroizing::new(ctx.read_input(&shown)?))])
}

/// Every regular file of a directory (symlinks followed, as kubectl does), in name order.
fn read_dir_values(ctx: &Context, dir: &Path) -> Result<Vec<SecretValue>, CliError> {
    let shown = dir.display().to_string();
    let listing =
        std::fs::read_dir(dir).map_err(|e| CliError::new(Exit::Input, format!("{shown}: {e}")))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in listing {
        let path = entry
            .map_err(|e| CliError::new(Exit::Input, format!("{shown}: {e}")))?
            .path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let key = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = ctx.read_input(&path.to_string_lossy())?;
            Ok((key, Zeroizing::new(bytes)))
        })
        .collect()
}

/// The regular file standard output writes to, if it is one (Linux: `/proc/self/fd/1`).
fn redirected_stdout() -> Option<PathBuf> {
    let target = std::fs::read_link("/proc/self/fd/1").ok()?;
    std::fs::metadata(&target)
        .ok()
        .filter(|m| m.is_file())
        .map(|_| target)
}

/// `KEY=VALUE` lines as kubectl reads them: blank lines and `#` comments skipped, no quote handling.
fn read_env_file(ctx: &Context, path: &Path) -> Result<Vec<SecretValue>, CliError> {
    let shown = path.display().to_string();
    let bytes = Zeroizing::new(ctx.read_input(&shown)?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::new(Exit::Input, format!("{shown}: not UTF-8 text")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| {
            CliError::new(
                Exit::Input,
                format!("{shown}: line {} is not KEY=VALUE", i + 1),
            )
        })?;
        out.push((k.trim().to_string(), Zeroizing::new(v.as_bytes().to_vec())));
    }
    Ok(out)
}
