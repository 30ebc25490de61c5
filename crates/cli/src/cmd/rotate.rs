//! `sealctl rotate`: a new data key for each file, every value re-encrypted, recipients unchanged or
//! changed by `--add-age` / `--rm-age`.

use std::path::Path;

use crate::keys::parse_recipient_list;
use crate::sops::file;

use super::super::args::RotateArgs;
use super::super::context::{write_atomic, write_stdout, Context};
use super::super::exit::{CliError, Exit};
use super::batch::{self, Outcome};

pub fn run(ctx: &mut Context, args: &RotateArgs) -> Result<(), CliError> {
    // One path that is not a directory (a missing file fails below, when it is read).
    let single_file = args.paths.len() == 1 && !args.paths[0].is_dir();
    if !single_file && !args.in_place {
        return Err(CliError::new(
            Exit::Usage,
            "rotating several files or a directory rewrites them in place: add -i/--in-place",
        ));
    }
    let in_place = args.in_place;
    let recipients = |lists: &[String]| -> Result<Vec<_>, CliError> {
        let mut out = Vec::new();
        for list in lists {
            out.extend(parse_recipient_list(list)?);
        }
        Ok(out)
    };
    let (add, remove) = (recipients(&args.add_age)?, recipients(&args.rm_age)?);
    batch::run(
        ctx,
        &args.paths,
        args.input_type.as_deref(),
        "rotated",
        |ctx, path: &Path, format, bytes| {
            let shown = path.display().to_string();
            let layout = ctx.layout(format);
            let identities = ctx.identities()?;
            let mut decrypted =
                file::decrypt(&bytes, format, identities).map_err(|e| CliError::file(&shown, e))?;
            decrypted
                .rotate_for(&add, &remove)
                .map_err(|e| CliError::file(&shown, e))?;
            decrypted.set_layout(layout);
            let out = decrypted
                .encrypt(format)
                .map_err(|e| CliError::file(&shown, e))?;
            if in_place {
                write_atomic(path, &out)?;
            } else {
                write_stdout(&out)?;
            }
            Ok(Outcome::Done)
        },
    )?;
    Ok(())
}
