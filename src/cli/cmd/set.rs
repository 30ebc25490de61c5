//! `sealctl set` and `sealctl unset`: change one value without showing the others.

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::sops::file;

use super::super::args::{SetArgs, UnsetArgs};
use super::super::context::{format_for, write_atomic, Context};
use super::super::exit::{CliError, Exit};
use super::super::tree_path;

pub fn run_set(ctx: &mut Context, args: &SetArgs) -> Result<(), CliError> {
    let steps = tree_path::parse(&args.path)?;
    let text = Zeroizing::new(if args.value_stdin {
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .take(ctx.global.max_file_size)
            .read_to_string(&mut s)
            .map_err(|e| CliError::new(Exit::Input, format!("standard input: {e}")))?;
        s
    } else if let Some(path) = &args.value_file {
        let bytes = ctx.read_input(&path.to_string_lossy())?;
        String::from_utf8(bytes).map_err(|_| {
            CliError::new(
                Exit::Input,
                format!("{}: the value file is not UTF-8", path.display()),
            )
        })?
    } else {
        args.value.clone().unwrap_or_default()
    });
    let value = tree_path::parse_json_value(&text)?;
    change(ctx, &args.file, args.input_type.as_deref(), |doc| {
        tree_path::set(doc, &steps, value, &args.path)
    })
}

pub fn run_unset(ctx: &mut Context, args: &UnsetArgs) -> Result<(), CliError> {
    let steps = tree_path::parse(&args.path)?;
    change(ctx, &args.file, args.input_type.as_deref(), |doc| {
        tree_path::unset(doc, &steps, &args.path)
    })
}

/// Decrypts `path`, applies `edit` to its first document, re-encrypts in place.
fn change(
    ctx: &mut Context,
    path: &Path,
    input_type: Option<&str>,
    edit: impl FnOnce(&mut crate::sops::tree::Map) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let shown = path.display().to_string();
    let format = format_for(path, input_type)?;
    let input = ctx.read_encrypted(&shown)?;
    let identities = ctx.identities()?;
    let mut decrypted =
        file::decrypt(&input, format, identities).map_err(|e| CliError::file(&shown, e))?;
    let doc = decrypted
        .docs_mut()
        .first_mut()
        .ok_or_else(|| CliError::new(Exit::Input, format!("{shown}: no document")))?;
    edit(doc).map_err(|e| CliError::file(&shown, e))?;
    let out = decrypted
        .encrypt(format)
        .map_err(|e| CliError::file(&shown, e))?;
    write_atomic(path, &out)
}
