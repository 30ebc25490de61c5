//! `sealctl render`: the Secrets the agent would produce from a folder of manifests, computed by the
//! agent's own engine — its classifier, its decryption, its resolver — so render cannot disagree with
//! the agent. The folder stands in for a git snapshot; references are resolved for real unless
//! `--no-resolve`.

mod print;
mod report;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use sealsync_agent::documents::{self, ClusterStorePaths, Reason, Refusal};
use sealsync_agent::external::{self, Login, Resolver};
use sealsync_agent::git::{Snapshot, SourceFile};
use sealsync_agent::keys::Identities;
use sealsync_agent::policy::{DecryptionPolicy, Fallback, NamespacePolicy};
use sealsync_agent::reconcile::{DesiredState, Engine, EngineSettings};

use super::super::args::{RenderArgs, RenderFormat};
use super::super::context::{io_reason, write_stdout, Context};
use super::super::exit::{CliError, Exit};
use super::batch::collect;

/// The "commit" of a folder read from disk, recorded as the source of its Secrets.
const WORKING_TREE: &str = "working-tree";

pub fn run(ctx: &mut Context, args: &RenderArgs) -> Result<(), CliError> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let cluster_store_paths = ClusterStorePaths::new(&args.cluster_store_path).map_err(|e| {
        CliError::new(
            Exit::Usage,
            format!("--cluster-store-path: invalid glob: {e}"),
        )
    })?;
    let (files, unreadable) = read_manifests(ctx, &paths)?;
    let file_count = files.len() + unreadable.len();
    let mut engine = Engine::new(EngineSettings {
        identities: identities(ctx),
        decryption: DecryptionPolicy::default(),
        policy: NamespacePolicy::new(Vec::new(), Fallback::AllowAll),
        default_namespace: args.default_namespace.clone(),
        max_file_size: ctx.encrypted_limit(),
        cluster_store_paths,
    });
    engine.resolver = Resolver::new(args.default_store.clone(), Login::default());
    engine.resolver.env_credentials.vault_token = ctx
        .env
        .vault_token
        .as_ref()
        .map(|t| Zeroizing::new(t.expose_secret().trim().as_bytes().to_vec()));
    engine.resolve_all = true;

    let snapshot = Snapshot::new(WORKING_TREE, files);
    let declared = engine.desired(&snapshot);
    let previews = external::preview(
        &engine.external_objects(),
        &declared.secrets,
        &engine.resolver,
    );
    let mut state = if args.no_resolve {
        declared
    } else {
        resolve(&mut engine, &snapshot)?
    };
    state.refused.extend(unreadable);

    let resolver = (!args.no_resolve).then_some(&engine.resolver);
    let report = report::build(&state, previews, resolver);
    let json = args.json || args.output == RenderFormat::Json;
    let out = if json {
        print::json(&report, args.reveal)
    } else {
        print::text(&report, args.reveal)
    };
    write_stdout(out.as_bytes())?;

    let failed = report.secrets.iter().filter(|s| s.error.is_some()).count();
    let refused = report.refused.len();
    let summary = format!(
        "{} Secret(s) from {file_count} file(s){}",
        report.secrets.len(),
        if args.no_resolve {
            ", references not resolved (--no-resolve)"
        } else {
            ""
        }
    );
    if failed == 0 && refused == 0 {
        eprintln!("{summary}");
        return Ok(());
    }
    Err(CliError::new(
        Exit::Partial,
        format!("{summary}: {failed} could not be rendered, {refused} document(s) refused"),
    ))
}

/// The identities sealctl finds; none when they do not load (every encrypted file is then reported as
/// not decrypted, and the rest is rendered).
fn identities(ctx: &mut Context) -> Arc<Identities> {
    match ctx.shared_identities() {
        Ok(ids) => Arc::clone(ids),
        Err(e) => {
            eprintln!("warning: {}; encrypted files are not decrypted", e.message);
            Arc::new(Identities::default())
        }
    }
}

/// Resolves every reference now, as `sealsync run --once` does.
fn resolve(engine: &mut Engine, snapshot: &Snapshot) -> Result<DesiredState, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot start the resolver: {e}")))?;
    Ok(runtime.block_on(engine.desired_resolved(snapshot)))
}

/// The manifests below `paths` (as the agent picks them: YAML and JSON, nothing hidden below the
/// path given), each named by its path as given; and the files that could not be read, refused.
fn read_manifests(
    ctx: &Context,
    paths: &[PathBuf],
) -> Result<(Vec<SourceFile>, Vec<Refusal>), CliError> {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for root in paths {
        for path in collect(std::slice::from_ref(root))? {
            let relative = match path.strip_prefix(root) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
                _ => PathBuf::from(path.file_name().unwrap_or_default()),
            };
            if !documents::is_manifest(&relative.to_string_lossy()) {
                continue;
            }
            let shown = shown(&path);
            // A file under two of the paths given is read once.
            if !seen.insert(shown.clone()) {
                continue;
            }
            match read(ctx, &path) {
                Ok(file) => files.push(file_at(shown, file)),
                Err(why) => unreadable.push(Refusal {
                    path: shown,
                    document: None,
                    key: None,
                    reason: Reason::Unreadable,
                    message: why,
                }),
            }
        }
    }
    Ok((files, unreadable))
}

/// A file's bytes, or its size when it is over the limit (the engine refuses it, as the agent does).
enum Read {
    Bytes(Vec<u8>),
    TooLarge(u64),
}

fn read(ctx: &Context, path: &Path) -> Result<Read, String> {
    let size = std::fs::metadata(path).map_err(|e| io_reason(&e))?.len();
    if size > ctx.encrypted_limit() {
        return Ok(Read::TooLarge(size));
    }
    ctx.read_encrypted(&path.display().to_string())
        .map(Read::Bytes)
        .map_err(|e| {
            // The message names the file already; the refusal names it once.
            let prefix = format!("{}: ", path.display());
            e.message
                .strip_prefix(&prefix)
                .map(String::from)
                .unwrap_or(e.message)
        })
}

fn file_at(shown: String, read: Read) -> SourceFile {
    match read {
        Read::Bytes(bytes) => SourceFile::from_bytes(shown, Arc::from(bytes)),
        Read::TooLarge(size) => SourceFile {
            blob_id: format!("too-large:{shown}"),
            path: shown,
            content: sealsync_agent::git::FileContent::TooLarge { size },
        },
    }
}

/// A path as the user gave it, without `./` steps, '/'-separated (as git names files).
fn shown(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let joined = parts.join("/");
    // An absolute path's root component is "/" itself.
    joined
        .strip_prefix("//")
        .map_or(joined.clone(), |rest| format!("/{rest}"))
}

#[cfg(test)]
mod tests {
    use super::shown;
    use std::path::Path;

    #[test]
    fn paths_are_shown_without_dot_steps() {
        assert_eq!(shown(Path::new("./apps/./db.yaml")), "apps/db.yaml");
        assert_eq!(shown(Path::new("../x/db.yaml")), "../x/db.yaml");
        assert_eq!(shown(Path::new("/tmp/x/db.yaml")), "/tmp/x/db.yaml");
    }
}
