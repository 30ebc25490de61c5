//! `sealctl encrypt`: a plain file in, a SOPS file out.

use crate::sops::file;
use crate::sops::rules::RuleSet;

use super::super::args::EncryptArgs;
use super::super::context::{format_for, Context};
use super::super::exit::CliError;
use super::{deliver, naming_path};

pub fn run(ctx: &mut Context, args: &EncryptArgs) -> Result<(), CliError> {
    let name = naming_path(&args.io);
    let shown = args.io.file.as_str();
    let input_format = format_for(&name, args.io.input_type.as_deref())?;
    let output_format = match &args.io.output_type {
        Some(t) => format_for(&name, Some(t))?,
        None => input_format,
    };
    let spec = ctx
        .encryption_spec(&name, &args.keys, &args.rules, RuleSet::default())
        .map_err(|e| CliError::file(shown, e))?;
    super::require_file(shown)?;
    let plain = zeroize::Zeroizing::new(ctx.read_input(shown)?);
    let docs = file::parse_plain(&plain, input_format).map_err(|e| CliError::file(shown, e))?;
    let out = file::encrypt_docs_laid_out(docs, output_format, &spec, ctx.layout(output_format))
        .map_err(|e| CliError::file(shown, e))?;
    deliver(&args.io, &out)
}
