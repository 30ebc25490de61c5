//! `sealctl keygen`: a new age identity, to a file (0600), to standard output, or wrapped in a
//! Kubernetes Secret manifest so that the private key goes straight into the cluster.

use std::io::Write;

use secrecy::ExposeSecret;

use crate::keys;
use crate::sops::stores::Format;
use crate::sops::tree::{Map, Value};

use super::super::args::KeygenArgs;
use super::super::context::write_stdout;
use super::super::exit::{CliError, Exit};
use super::create_secret::{validate_dns_label, validate_dns_subdomain};

/// The key in the Secret's data under which the identity is stored (the name Flux uses too).
pub const SECRET_KEY_NAME: &str = "age.agekey";

pub fn run(args: &KeygenArgs) -> Result<(), CliError> {
    let (secret, public) = keys::generate();
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let file = zeroize::Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        secret.expose_secret()
    ));
    if let Some(name) = &args.k8s_secret {
        validate_dns_subdomain("Secret name", name)?;
        validate_dns_label("namespace", &args.namespace)?;
        let mut metadata = Map::new();
        metadata.insert("name", Value::Str(name.clone()));
        metadata.insert("namespace", Value::Str(args.namespace.clone()));
        let mut labels = Map::new();
        labels.insert("app.kubernetes.io/part-of", Value::Str("sealsync".into()));
        metadata.insert("labels", Value::Map(labels));
        let mut annotations = Map::new();
        annotations.insert("sealsync.dev/age-recipient", Value::Str(public.clone()));
        metadata.insert("annotations", Value::Map(annotations));
        let mut data = Map::new();
        data.insert(SECRET_KEY_NAME, Value::Str(file.to_string()));
        let mut doc = Map::new();
        doc.insert("apiVersion", Value::Str("v1".into()));
        doc.insert("kind", Value::Str("Secret".into()));
        doc.insert("metadata", Value::Map(metadata));
        doc.insert("type", Value::Str("Opaque".into()));
        doc.insert("stringData", Value::Map(data));
        let mut docs = vec![doc];
        let out = Format::Yaml.store().emit_plain(&docs);
        zeroize::Zeroize::zeroize(&mut docs);
        let out =
            zeroize::Zeroizing::new(out.map_err(|e| CliError::new(Exit::Output, e.to_string()))?);
        eprintln!("Public key: {public}");
        eprintln!(
            "Apply with: sealctl keygen --k8s-secret {name} -n {} | kubectl apply -f -",
            args.namespace
        );
        return write_stdout(&out);
    }
    if let Some(path) = &args.output {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(path).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "already exists; refusing to overwrite an identity".to_string()
            } else {
                e.to_string()
            };
            CliError::new(Exit::Output, format!("{}: {why}", path.display()))
        })?;
        f.write_all(file.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| CliError::new(Exit::Output, format!("{}: {e}", path.display())))?;
        eprintln!("Public key: {public}");
        return Ok(());
    }
    eprintln!("Public key: {public}");
    write_stdout(file.as_bytes())
}
