//! Work over many files at once (`rotate`, `updatekeys`, `check`): directories searched recursively,
//! non-SOPS files skipped, a progress bar on a terminal, every failure reported at the end.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::sops::file::read_metadata;
use crate::sops::stores::Format;

use super::super::context::{format_for, io_reason, Context};
use super::super::exit::{CliError, Exit};

/// What happened to one file.
pub enum Outcome {
    Done,
    /// Not a SOPS file, or nothing to do; with the reason.
    Skipped(String),
}

/// All regular files below `paths` (files given directly are kept as they are), sorted, skipping `.git`
/// and symbolic links.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::symlink_metadata(path).map_err(|e| {
            CliError::new(
                Exit::Input,
                format!("{}: {}", path.display(), io_reason(&e)),
            )
        })?;
        if meta.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| CliError::new(Exit::Input, format!("{}: {}", dir.display(), io_reason(&e))))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                walk(&path, out)?;
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether the bytes are a SOPS file in `format` (metadata readable without a key).
pub fn is_sops_file(bytes: &[u8], format: Format) -> bool {
    let looks = bytes.windows(4).any(|w| w == b"sops") && bytes.windows(4).any(|w| w == b"ENC[");
    looks && read_metadata(bytes, format).is_ok()
}

/// Runs `each` over every file below `paths`, with a progress bar. Returns the number of files done.
/// A single file given directly fails with its own error; in a batch, failures are listed at the end
/// and the exit code is `Partial`.
pub fn run(
    ctx: &mut Context,
    paths: &[PathBuf],
    input_type: Option<&str>,
    verb: &str,
    mut each: impl FnMut(&mut Context, &Path, Format, Vec<u8>) -> Result<Outcome, CliError>,
) -> Result<usize, CliError> {
    let files = collect(paths)?;
    let single = paths.len() == 1 && files.len() == 1 && files[0] == paths[0];
    let bar = ProgressBar::new(files.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {wide_msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let mut done = 0;
    let mut failures = Vec::new();
    for path in &files {
        bar.set_message(path.display().to_string());
        let shown = path.display().to_string();
        let result = format_for(path, input_type)
            .and_then(|format| Ok((format, ctx.read_encrypted(&shown)?)))
            .and_then(|(format, bytes)| {
                if !is_sops_file(&bytes, format) {
                    if single {
                        return Err(CliError::new(
                            Exit::Input,
                            format!("{shown}: not a SOPS file (no readable sops metadata)"),
                        ));
                    }
                    return Ok(Outcome::Skipped("not a SOPS file".into()));
                }
                each(ctx, path, format, bytes)
            });
        match result {
            Ok(Outcome::Done) => done += 1,
            Ok(Outcome::Skipped(_)) => {}
            Err(e) if single => {
                bar.finish_and_clear();
                return Err(e);
            }
            Err(e) => failures.push(e),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !single {
        eprintln!(
            "{verb} {done} of {} files ({} failed)",
            files.len(),
            failures.len()
        );
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        for f in &failures {
            eprintln!("error: {f}");
        }
        Err(CliError::new(
            Exit::Partial,
            format!("{} file(s) failed; the others were {verb}", failures.len()),
        ))
    }
}
