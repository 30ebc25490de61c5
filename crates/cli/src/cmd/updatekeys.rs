//! `sealctl updatekeys`: re-wrap each file's data key for the recipients its `.sops.yaml` creation
//! rule names now (values untouched), after showing what changes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::sops::file;

use super::super::args::{KeyArgs, RuleArgs, UpdatekeysArgs};
use super::super::context::{write_atomic, Context};
use super::super::exit::{CliError, Exit};
use super::batch::{self, Outcome};

pub fn run(ctx: &mut Context, args: &UpdatekeysArgs) -> Result<(), CliError> {
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            Exit::Usage,
            "updatekeys asks for confirmation on a terminal; pass -y to run without one",
        ));
    }
    let yes = args.yes;
    batch::run(
        ctx,
        &args.paths,
        args.input_type.as_deref(),
        "updated",
        |ctx, path: &Path, format, bytes| {
            let shown = path.display().to_string();
            let spec = ctx
                .encryption_spec(
                    path,
                    &KeyArgs::default(),
                    &RuleArgs::default(),
                    Default::default(),
                )
                .map_err(|e| CliError::file(&shown, e))?;
            let current =
                file::read_metadata(&bytes, format).map_err(|e| CliError::file(&shown, e))?;
            let wanted: Vec<Vec<String>> = spec
                .groups
                .iter()
                .map(|g| g.iter().map(|r| r.to_string()).collect())
                .collect();
            let have: Vec<Vec<String>> = current
                .recipients()
                .iter()
                .map(|g| g.iter().map(|r| r.to_string()).collect())
                .collect();
            let wanted_threshold = if spec.groups.len() > 1 && spec.threshold == 0 {
                spec.groups.len()
            } else {
                spec.threshold
            };
            if wanted == have && wanted_threshold == current.shamir_threshold {
                eprintln!("{shown}: already up to date");
                return Ok(Outcome::Skipped("up to date".into()));
            }
            eprintln!("{shown}: recipients change");
            for (i, group) in wanted.iter().enumerate() {
                let old = have.get(i).cloned().unwrap_or_default();
                for r in group.iter().filter(|r| !old.contains(r)) {
                    eprintln!("  group {}: + {r}", i + 1);
                }
                for r in old.iter().filter(|r| !group.contains(r)) {
                    eprintln!("  group {}: - {r}", i + 1);
                }
            }
            for (i, old) in have.iter().enumerate().skip(wanted.len()) {
                for r in old {
                    eprintln!("  group {}: - {r}", i + 1);
                }
            }
            if !yes && !confirm()? {
                eprintln!("{shown}: left unchanged");
                return Ok(Outcome::Skipped("declined".into()));
            }
            let layout = ctx.layout(format);
            let identities = ctx.identities()?;
            let mut decrypted =
                file::decrypt(&bytes, format, identities).map_err(|e| CliError::file(&shown, e))?;
            decrypted
                .set_recipients(&spec.groups, spec.threshold)
                .map_err(|e| CliError::file(&shown, e))?;
            decrypted.set_layout(layout);
            let out = decrypted
                .encrypt(format)
                .map_err(|e| CliError::file(&shown, e))?;
            write_atomic(path, &out)?;
            Ok(Outcome::Done)
        },
    )?;
    Ok(())
}

fn confirm() -> Result<bool, CliError> {
    eprint!("Is this okay? (y/n) ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::new(Exit::Input, format!("standard input: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
