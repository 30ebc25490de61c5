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
    } else if args.value_file {
        let path = args.value.clone().unwrap_or_default();
        let bytes = ctx.read_input(&path)?;
        String::from_utf8(bytes).map_err(|_| {
            CliError::new(Exit::Input, format!("{path}: the value file is not UTF-8"))
        })?
    } else {
        args.value.clone().unwrap_or_default()
    });
    let value = tree_path::parse_json_value(&text)?;
    let how = How {
        input_type: args.input_type.as_deref(),
        ignore_mac: args.ignore_mac,
    };
    change(ctx, &args.file, how, |doc| {
        if args.idempotent && tree_path::get(doc, &steps, &args.path).ok() == Some(&value) {
            return Ok(Changed::No);
        }
        tree_path::set(doc, &steps, value, &args.path).map(|()| Changed::Yes)
    })
}

pub fn run_unset(ctx: &mut Context, args: &UnsetArgs) -> Result<(), CliError> {
    let steps = tree_path::parse(&args.path)?;
    let how = How {
        input_type: args.input_type.as_deref(),
        ignore_mac: args.ignore_mac,
    };
    change(ctx, &args.file, how, |doc| {
        if args.idempotent && tree_path::get(doc, &steps, &args.path).is_err() {
            return Ok(Changed::No);
        }
        tree_path::unset(doc, &steps, &args.path).map(|()| Changed::Yes)
    })
}

/// Whether a change left the document as it was (`--idempotent`): then the file is not rewritten.
enum Changed {
    Yes,
    No,
}

/// How the file is read.
struct How<'a> {
    input_type: Option<&'a str>,
    ignore_mac: bool,
}

/// Decrypts `path`, applies `edit` to its first document, re-encrypts in place.
fn change(
    ctx: &mut Context,
    path: &Path,
    how: How<'_>,
    edit: impl FnOnce(&mut crate::sops::tree::Map) -> Result<Changed, CliError>,
) -> Result<(), CliError> {
    let shown = path.display().to_string();
    let format = format_for(path, how.input_type)?;
    let input = ctx.read_encrypted(&shown)?;
    let ignore_mac = how.ignore_mac;
    let identities = ctx.identities()?;
    let mut decrypted = if ignore_mac {
        warn_ignoring_mac(&shown);
        file::decrypt_ignoring_mac(&input, format, identities)
    } else {
        file::decrypt(&input, format, identities)
    }
    .map_err(|e| CliError::file(&shown, e))?;
    let doc = decrypted
        .docs_mut()
        .first_mut()
        .ok_or_else(|| CliError::new(Exit::Input, format!("{shown}: no document")))?;
    let layout = ctx.layout(format);
    if let Changed::No = edit(doc).map_err(|e| CliError::file(&shown, e))? {
        return Ok(());
    }
    decrypted.set_layout(layout);
    let out = decrypted
        .encrypt(format)
        .map_err(|e| CliError::file(&shown, e))?;
    write_atomic(path, &out)
}

/// The loud warning of `--ignore-mac`.
pub(crate) fn warn_ignoring_mac(file: &str) {
    eprintln!(
        "WARNING: {file}: --ignore-mac: the MAC is NOT verified. Values, or which values the file holds, may have been altered by someone without the key. Check them before you trust or re-encrypt them."
    );
}
