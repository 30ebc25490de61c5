//! `sealctl decrypt`: verify the MAC, then print the plaintext file or one value of it.

use crate::sops::file;

use super::super::args::DecryptArgs;
use super::super::context::{format_for, Context};
use super::super::exit::{CliError, Exit};
use super::super::tree_path;
use super::{deliver, naming_path};

pub fn run(ctx: &mut Context, args: &DecryptArgs) -> Result<(), CliError> {
    let name = naming_path(&args.io);
    let shown = args.io.file.as_str();
    let input_format = format_for(&name, args.io.input_type.as_deref())?;
    let output_format = match &args.io.output_type {
        Some(t) => format_for(&name, Some(t))?,
        None => input_format,
    };
    let steps = args
        .extract
        .as_deref()
        .map(tree_path::parse)
        .transpose()
        .map_err(|e| CliError::new(Exit::BadTreePath, e.message))?;
    super::require_file(shown)?;
    let input = ctx.read_encrypted(shown)?;
    let layout = ctx.layout(output_format);
    let identities = ctx.identities()?;
    let mut decrypted = if args.ignore_mac {
        super::set::warn_ignoring_mac(shown);
        file::decrypt_ignoring_mac(&input, input_format, identities)
    } else {
        file::decrypt(&input, input_format, identities)
    }
    .map_err(|e| CliError::file(shown, e))?;
    decrypted.set_layout(layout);
    let out = zeroize::Zeroizing::new(match (&steps, &args.extract) {
        (Some(steps), Some(path)) => {
            let doc = decrypted
                .docs()
                .first()
                .ok_or_else(|| CliError::new(Exit::Input, format!("{shown}: no document")))?;
            let value = tree_path::get(doc, steps, path).map_err(|e| CliError::file(shown, e))?;
            output_format
                .store()
                .emit_value(value)
                .map_err(|e| CliError::new(Exit::Output, format!("{shown}: {e}")))?
        }
        _ => decrypted
            .emit_plain(output_format)
            .map_err(|e| CliError::file(shown, e))?,
    });
    deliver(&args.io, &out)
}
