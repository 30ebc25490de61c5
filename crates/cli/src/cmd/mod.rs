//! One file per `sealctl` subcommand.

pub mod batch;
pub mod check;
pub mod create_secret;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod exec;
pub mod keygen;
pub mod refresh;
pub mod render;
pub mod rotate;
pub mod set;
pub mod updatekeys;

use std::path::{Path, PathBuf};

use super::args::IoArgs;
use super::context::{write_atomic, write_stdout};
use super::exit::{CliError, Exit};

/// The path that decides format and creation rule: --filename-override, else the file itself.
pub(crate) fn naming_path(io: &IoArgs) -> PathBuf {
    io.filename_override
        .clone()
        .unwrap_or_else(|| PathBuf::from(&io.file))
}

/// Writes a command's result where the flags say: back in place, to --output, or to standard output.
pub(crate) fn deliver(io: &IoArgs, bytes: &[u8]) -> Result<(), CliError> {
    if io.in_place {
        if io.file == "-" {
            return Err(CliError::new(
                Exit::Usage,
                "--in-place needs a file, not standard input",
            ));
        }
        write_atomic(Path::new(&io.file), bytes)
    } else if let Some(out) = &io.output {
        write_atomic(out, bytes)
    } else {
        write_stdout(bytes)
    }
}

/// sops' check before `encrypt` and `decrypt`: a file that does not exist is its own failure
/// (exit 100), apart from one that cannot be read.
pub(crate) fn require_file(file: &str) -> Result<(), CliError> {
    if file != "-"
        && std::fs::symlink_metadata(file).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    {
        return Err(CliError::new(
            Exit::NoFile,
            format!("{file}: no such file (encrypt or decrypt an existing file, or '-' for standard input)"),
        ));
    }
    Ok(())
}
