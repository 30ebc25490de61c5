//! The cache repository and the shallow fetch: resolve the configured reference on the remote and bring its commit in.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gix::remote::Direction;

use super::auth::{self, Token};
use super::config::{GitAuth, Reference, Settings};
use super::error::{self, FailureContext, GitError};
use budget::{Budget, BudgetProgress};

/// What a fetch brought in.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub commit: gix::ObjectId,
    /// The remote ref that was followed (`refs/heads/main`), or the commit id when one was configured.
    pub resolved_ref: String,
    /// Objects received in the pack (0 when nothing changed): what the fetch cost.
    pub objects_received: u64,
}

/// Opens the bare cache repository for `settings`, creating it on first use.
///
/// A cache that cannot be opened is rebuilt only when the failure proves it damaged
/// ([`proves_corruption`]): it only ever holds what the remote can send again, but a rebuild costs a
/// full fetch, and a process out of file descriptors or memory must not throw away a good cache.
pub(crate) fn open_cache(settings: &Settings) -> Result<gix::ThreadSafeRepository, GitError> {
    open_cache_with(settings, |dir, options| {
        gix::ThreadSafeRepository::open_opts(dir, options).map_err(Box::new)
    })
}

/// [`open_cache`] with the opening of an existing cache injected (tests fail it on purpose).
fn open_cache_with(
    settings: &Settings,
    open_existing: impl FnOnce(
        &Path,
        gix::open::Options,
    ) -> Result<gix::ThreadSafeRepository, Box<gix::open::Error>>,
) -> Result<gix::ThreadSafeRepository, GitError> {
    let dir = &settings.repo_dir;
    let options = open_options(settings);
    // `try_exists`, not `exists`: a failing stat (ENOMEM) must not read as "no cache here".
    let has_head = dir
        .join("HEAD")
        .try_exists()
        .map_err(|source| io_error(dir, source))?;
    if has_head {
        match open_existing(dir, options.clone()) {
            Ok(repo) => return Ok(repo),
            Err(e) if proves_corruption(&*e) => {
                tracing::warn!(
                    cache = %dir.display(),
                    error = %error::chain_text(&*e, &[]),
                    "git cache cannot be opened; rebuilding it"
                );
                std::fs::remove_dir_all(dir).map_err(|source| io_error(dir, source))?;
            }
            Err(e) => {
                // Out of file descriptors, memory or disk, or denied: the cache is likely fine; keep it
                // and let the next fetch try again.
                return Err(GitError::Io {
                    path: dir.clone(),
                    source: std::io::Error::other(format!(
                        "cannot open the git cache (kept, not rebuilt: the failure is not damage): {}",
                        error::chain_text(&*e, &[])
                    )),
                });
            }
        }
    } else if dir.try_exists().map_err(|source| io_error(dir, source))? {
        // A half-created cache from an interrupted first start.
        std::fs::remove_dir_all(dir).map_err(|source| io_error(dir, source))?;
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|source| io_error(parent, source))?;
    // Create next to the final place and rename, so a crash never leaves a half-initialized repository there.
    let staging = tempfile::Builder::new()
        .prefix(".init-")
        .tempdir_in(parent)
        .map_err(|source| io_error(parent, source))?;
    let staged = staging.path().join("repo.git");
    gix::ThreadSafeRepository::init_opts(
        &staged,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        options.clone(),
    )
    .map_err(|e| GitError::Corrupt {
        path: dir.clone(),
        reason: format!(
            "cannot create the cache repository: {}",
            error::chain_text(&e, &[])
        ),
    })?;
    std::fs::rename(&staged, dir).map_err(|source| io_error(dir, source))?;
    gix::ThreadSafeRepository::open_opts(dir, options).map_err(|e| GitError::Corrupt {
        path: dir.clone(),
        reason: error::chain_text(&e, &[]),
    })
}

/// Whether a failure to open the cache proves the cache damaged (a file missing, truncated or
/// unparsable), the only case in which deleting it is right.
///
/// Any other I/O error — out of file descriptors (EMFILE, ENFILE), memory (ENOMEM), disk (ENOSPC,
/// EDQUOT), a permission or an interrupted call — says nothing about the cache and is not corruption.
/// gix wraps some I/O errors transparently (their `source()` skips the `io::Error`), so besides the
/// typed chain the text is read for `(os error N)`, which every OS-level `io::Error` displays.
pub(crate) fn proves_corruption(err: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    let damage = |io: &std::io::Error| {
        matches!(io.kind(), K::NotFound | K::InvalidData | K::UnexpectedEof)
            && io.raw_os_error().is_none_or(|code| code == ENOENT)
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let io = match e.downcast_ref::<gix::open::Error>() {
            Some(gix::open::Error::Io(io)) => Some(io),
            _ => e.downcast_ref::<std::io::Error>(),
        };
        if io.is_some_and(|io| !damage(io)) {
            return false;
        }
        cur = e.source();
    }
    let text = error::chain_text(err, &[]);
    !text
        .split("(os error ")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.parse::<i32>().ok())
        .any(|code| code != ENOENT)
}

/// "No such file or directory": the one OS error that means something of the cache is missing.
#[cfg(target_os = "linux")]
const ENOENT: i32 = libc::ENOENT;
#[cfg(not(target_os = "linux"))]
const ENOENT: i32 = 2;

/// Isolated from the machine's git configuration (no credential helpers, no `insteadOf` rewrites, no prompts):
/// the agent's behaviour depends on its own configuration only.
pub(crate) fn open_options(settings: &Settings) -> gix::open::Options {
    let mut overrides = vec![
        "protocol.version=2".to_owned(),
        "protocol.file.allow=always".to_owned(),
        "core.logAllRefUpdates=false".to_owned(),
        "gc.auto=0".to_owned(),
        // No object larger than this is ever inflated, inside the configured paths or not: gix checks
        // the size each pack entry declares before it allocates (gix-pack's `alloc_limit_bytes`).
        format!("gitoxide.objects.allocLimit={}", settings.max_object_size()),
    ];
    if settings.is_ssh {
        let key = match &settings.auth {
            GitAuth::SshKeyFile(key) => Some(key.as_path()),
            _ => None,
        };
        let command = auth::ssh_command(
            key,
            settings.ssh_known_hosts.as_deref(),
            &known_hosts_path(&settings.repo_dir),
            &ssh_stderr_path(&settings.repo_dir),
        );
        overrides.push(format!("core.sshCommand={command}"));
        overrides.push("ssh.variant=ssh".to_owned());
    }
    gix::open::Options::isolated()
        .config_overrides(overrides)
        // The slot map is sized when the repository is opened and does not grow while it stays open: leave
        // room for the packs written until the next rebuild (MAX_PACKS).
        .object_store_slots(gix::odb::store::init::Slots::AsNeededByDiskState {
            multiplier: 1.1,
            minimum: 2 * MAX_PACKS,
        })
}

/// Where ssh's messages of the last connection go: gix recognizes only a few of them, and an operator needs
/// to read "Host key verification failed" or "Could not resolve hostname" in the error.
fn ssh_stderr_path(repo_dir: &Path) -> PathBuf {
    repo_dir.with_extension("ssh-stderr")
}

/// The last lines ssh wrote, if any.
fn ssh_messages(settings: &Settings) -> Option<String> {
    if !settings.is_ssh {
        return None;
    }
    let text = std::fs::read_to_string(ssh_stderr_path(&settings.repo_dir)).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '@'))
        .collect();
    let tail = &lines[lines.len().saturating_sub(4)..];
    (!tail.is_empty()).then(|| format!("ssh: {}", tail.join(" / ")))
}

/// Above this many pack files the cache is rebuilt (see `GitSource::fetch`).
pub(crate) const MAX_PACKS: usize = 32;

pub(crate) fn needs_repack(settings: &Settings) -> bool {
    std::fs::read_dir(settings.repo_dir.join("objects").join("pack"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
                > MAX_PACKS
        })
        .unwrap_or(false)
}

/// Deletes the cache repository and creates an empty one.
pub(crate) fn reset_cache(settings: &Settings) -> Result<gix::ThreadSafeRepository, GitError> {
    let dir = &settings.repo_dir;
    std::fs::remove_dir_all(dir).map_err(|source| io_error(dir, source))?;
    open_cache(settings)
}

/// Beside the cache repository, not inside it: a rebuilt cache must not forget the host key it trusted.
fn known_hosts_path(repo_dir: &Path) -> PathBuf {
    repo_dir.with_extension("known_hosts")
}

fn io_error(path: &Path, source: std::io::Error) -> GitError {
    GitError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Fetches the configured reference at depth 1 and returns its commit.
///
/// Objects already in the cache are not sent again (the previous commit is offered as common ground),
/// so the cost of a fetch follows the size of the change. A configured commit that is already cached
/// needs no network at all.
pub(crate) fn fetch_commit(
    repo: &gix::Repository,
    settings: &Settings,
    interrupt: &AtomicBool,
) -> Result<Fetched, GitError> {
    if let Reference::Commit(id) = &settings.reference {
        if repo.find_commit(*id).is_ok() {
            return Ok(Fetched {
                commit: *id,
                resolved_ref: id.to_string(),
                objects_received: 0,
            });
        }
    }
    auth::check_key_file(settings)?;
    let token = Token::load(settings)?;
    let mut secrets: Vec<&str> = Vec::new();
    if let Some(t) = &token {
        secrets.push(t.expose_for_scrubbing());
    }
    let reference = settings.reference.describe();
    if settings.is_ssh {
        // Only this fetch's messages, so an old failure never explains a new one.
        let _ = std::fs::remove_file(ssh_stderr_path(&settings.repo_dir));
    }
    let fail = |e: &(dyn std::error::Error + 'static)| {
        error::classify(
            e,
            &FailureContext {
                detail: ssh_messages(settings),
                display_url: &settings.display_url,
                reference: &reference,
                reference_is_commit: matches!(settings.reference, Reference::Commit(_)),
                secrets: &secrets,
                interrupted: interrupt.load(Ordering::Relaxed),
                auth: &settings.auth,
            },
        )
    };

    let specs: Vec<String> = match &settings.reference {
        Reference::RemoteHead => vec!["HEAD".into()],
        Reference::FullName(name) => vec![name.clone()],
        Reference::ShortName(name) => {
            vec![format!("refs/heads/{name}"), format!("refs/tags/{name}")]
        }
        Reference::Commit(id) => vec![id.to_string()],
    };
    let remote = repo
        .remote_at(settings.url.as_str())
        .map_err(|e| fail(&e))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(specs.iter().map(String::as_str), Direction::Fetch)
        .map_err(|e| fail(&e))?;
    let connection = remote.connect(Direction::Fetch).map_err(|e| fail(&e))?;
    let prepare = match &token {
        Some(token) => connection
            .with_credentials(token.credentials())
            .prepare_fetch(gix::progress::Discard, Default::default()),
        None => connection
            .with_credentials(auth::no_credentials)
            .prepare_fetch(gix::progress::Discard, Default::default()),
    }
    .map_err(|e| fail(&e))?;

    let (target, resolved_ref) = choose_mapping(prepare.ref_map(), settings)?;
    let budget = Budget::new(settings.max_fetch_bytes);
    let prepare = prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(
        std::num::NonZeroU32::new(1).expect("non-zero"),
    ));
    let outcome = budget
        .run(interrupt, |stop| {
            prepare
                .receive(BudgetProgress::new(Arc::clone(&budget)), stop)
                .map_err(Box::new)
        })
        .map_err(|e| match (fail(&e), &settings.reference) {
            _ if budget.exceeded() => too_large(
                settings,
                &resolved_ref,
                format!(
                    "its pack is more than {} bytes (--max-fetch-size): git cannot fetch part of a \
                     commit, so a repository for the agent should hold its manifests, not large files",
                    settings.max_fetch_bytes
                ),
            ),
            (err, _) if error::chain_text(&e, &[]).contains("too large to fit in memory") => too_large(
                settings,
                &resolved_ref,
                format!(
                    "it holds an object of more than {} bytes (the larger of --max-file-size and {} \
                     bytes), inside the configured paths or not; git cannot fetch part of a commit ({err})",
                    settings.max_object_size(),
                    super::config::MIN_OBJECT_LIMIT
                ),
            ),
            // The remote answered the ref listing, so it is reachable; a server that hangs up on a `want`
            // for a commit id does not have that commit (upload-pack's "not our ref").
            (
                GitError::Unreachable { reason, .. } | GitError::Protocol { reason, .. },
                Reference::Commit(id),
            ) => GitError::RefNotFound {
                url: settings.display_url.clone(),
                reference: id.to_string(),
                reason: format!(
                    "the remote refused to send this commit, it does not have it ({reason})"
                ),
            },
            (other, _) => other,
        })?;
    let objects_received = match &outcome.status {
        gix::remote::fetch::Status::Change {
            write_pack_bundle, ..
        } => u64::from(write_pack_bundle.index.num_objects),
        gix::remote::fetch::Status::NoPackReceived { .. } => 0,
    };

    let commit = repo
        .find_object(target)
        .and_then(|o| o.peel_tags_to_end())
        .map_err(|e| GitError::Corrupt {
            path: settings.repo_dir.clone(),
            reason: format!(
                "the fetched object {target} is missing: {}",
                error::chain_text(&e, &[])
            ),
        })?;
    if commit.kind != gix::object::Kind::Commit {
        return Err(GitError::RefNotFound {
            url: settings.display_url.clone(),
            reference,
            reason: format!("{resolved_ref} points to a {}, not a commit", commit.kind),
        });
    }
    Ok(Fetched {
        commit: commit.id,
        resolved_ref,
        objects_received,
    })
}

/// Picks the remote ref that the configured reference names, from what the remote advertised.
fn choose_mapping(
    ref_map: &gix::remote::fetch::RefMap,
    settings: &Settings,
) -> Result<(gix::ObjectId, String), GitError> {
    use gix::remote::fetch::refmap::Source;
    let reference = settings.reference.describe();
    let mut candidates: Vec<(gix::ObjectId, String)> = Vec::new();
    for mapping in &ref_map.mappings {
        if !matches!(
            mapping.spec_index,
            gix::remote::fetch::refmap::SpecIndex::ExplicitInRemote(_)
        ) {
            continue;
        }
        let name = match &mapping.remote {
            Source::ObjectId(id) => id.to_string(),
            Source::Ref(r) => r.unpack().0.to_string(),
        };
        match mapping.remote.as_id() {
            Some(id) if !candidates.iter().any(|(_, n)| *n == name) => {
                candidates.push((id.to_owned(), name))
            }
            Some(_) => {}
            None => {
                return Err(GitError::RefNotFound {
                    url: settings.display_url.clone(),
                    reference,
                    reason: format!("{name} on the remote has no commit yet (empty repository)"),
                })
            }
        }
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(GitError::RefNotFound {
            url: settings.display_url.clone(),
            reference,
            reason: if ref_map.remote_refs.is_empty() {
                "the remote advertises no refs (empty repository, or no such branch or tag)".into()
            } else {
                format!(
                    "none of the {} refs the remote advertised matches",
                    ref_map.remote_refs.len()
                )
            },
        }),
        _ => Err(GitError::Ambiguous {
            url: settings.display_url.clone(),
            reference,
            candidates: candidates
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
                .join(" and "),
        }),
    }
}

/// The commit behind `resolved_ref` is refused as a whole, before any of it is read.
fn too_large(settings: &Settings, resolved_ref: &str, reason: String) -> GitError {
    GitError::TooLarge {
        url: settings.display_url.clone(),
        commit: format!("at {resolved_ref}"),
        reason,
    }
}

mod budget;
#[cfg(test)]
mod tests;
