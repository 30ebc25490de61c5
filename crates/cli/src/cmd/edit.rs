//! `sealctl edit`: decrypt into a private temporary file, run $EDITOR on it, check the result, and
//! re-encrypt. An invalid result is never saved; no plaintext is left behind.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::sops::file::{self, Decrypted};
use crate::sops::stores::Format;

use super::super::args::EditArgs;
use super::super::context::{format_for, write_atomic, Context};
use super::super::exit::{CliError, Exit};
use super::super::scratch::Scratch;
use super::create_secret::secret_rules;

/// What a new file starts with, per format.
fn template(format: Format) -> &'static str {
    match format {
        Format::Yaml => {
            "# New file: replace this example with your values.\nexample_key: example_value\n"
        }
        Format::Json => "{\n\t\"example_key\": \"example_value\"\n}\n",
        Format::Dotenv => "EXAMPLE_KEY=example_value\n",
        Format::Ini => "[section]\nexample_key = example_value\n",
        Format::Binary => "example content\n",
    }
}

pub fn run(ctx: &mut Context, args: &EditArgs) -> Result<(), CliError> {
    let path = &args.file;
    let shown = path.display().to_string();
    let format = format_for(path, args.input_type.as_deref())?;
    let editor = find_editor(ctx)?;

    let existing = path.exists();
    if !existing {
        // Recipients are checked before the editor opens: what the user types is never lost to a
        // missing .sops.yaml rule or --age.
        ctx.encryption_spec(path, &args.keys, &args.rules, Default::default())
            .map_err(|e| CliError::file(&shown, e))?;
    }
    let mut decrypted: Option<Decrypted> = None;
    let initial = Zeroizing::new(if existing {
        let input = ctx.read_encrypted(&shown)?;
        let identities = ctx.identities()?;
        let d = file::decrypt(&input, format, identities).map_err(|e| CliError::file(&shown, e))?;
        let text = d
            .emit_plain(format)
            .map_err(|e| CliError::file(&shown, e))?;
        decrypted = Some(d);
        text
    } else {
        template(format).as_bytes().to_vec()
    });

    // A private directory (0700) holding one 0600 file; wiped on every exit path, signals included.
    let scratch = Scratch::create("sealctl-edit-").map_err(|e| {
        CliError::new(
            Exit::Output,
            format!("cannot create a temporary directory: {e}"),
        )
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "secret".into());
    let tmp = scratch.path().join(name);
    write_private(&tmp, &initial)?;

    loop {
        run_editor(&scratch, &editor, &tmp)?;
        let edited = Zeroizing::new(std::fs::read(&tmp).map_err(|e| {
            CliError::new(
                Exit::Input,
                format!("cannot read the edited file back: {e}"),
            )
        })?);
        if *edited == *initial {
            drop(scratch);
            let why = if existing {
                "file has not changed, nothing written"
            } else {
                "the new file was left as the template, nothing written"
            };
            return Err(CliError::new(Exit::Unchanged, format!("{shown}: {why}")));
        }
        match encrypt_edited(ctx, path, format, &edited, decrypted.as_mut(), args) {
            Ok(out) => {
                drop(scratch);
                return write_atomic(path, &out);
            }
            Err(e) if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
                eprintln!("error: {e}");
                eprint!(
                    "The file was not saved. Press Enter to edit again, or Ctrl-C to discard: "
                );
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                    return Err(CliError::new(
                        e.exit,
                        format!("{shown}: not saved: {}", e.message),
                    ));
                }
            }
            Err(e) => {
                return Err(CliError::new(
                    e.exit,
                    format!("{shown}: edit not saved: {}", e.message),
                ));
            }
        }
    }
}

fn encrypt_edited(
    ctx: &Context,
    path: &Path,
    format: Format,
    edited: &[u8],
    decrypted: Option<&mut Decrypted>,
    args: &EditArgs,
) -> Result<Vec<u8>, CliError> {
    let docs = file::parse_plain(edited, format)?;
    if docs.is_empty() {
        return Err(CliError::new(
            Exit::NoDocument,
            "the edited file holds nothing (to delete the file, remove it instead)",
        ));
    }
    match decrypted {
        Some(d) => {
            *d.docs_mut() = docs;
            d.set_layout(ctx.layout(format));
            Ok(d.encrypt(format)?)
        }
        None => {
            let is_secret = docs.first().is_some_and(|d| {
                d.get("kind").and_then(|v| v.as_str()) == Some("Secret")
                    && d.get("apiVersion").and_then(|v| v.as_str()) == Some("v1")
            });
            let defaults = if is_secret {
                secret_rules()
            } else {
                Default::default()
            };
            let spec = ctx.encryption_spec(path, &args.keys, &args.rules, defaults)?;
            Ok(file::encrypt_docs_laid_out(
                docs,
                format,
                &spec,
                ctx.layout(format),
            )?)
        }
    }
}

/// The editor command: `$SOPS_EDITOR` / `$EDITOR` run as git runs it (`sh -c '$EDITOR "$@"'`), so
/// arguments (`code --wait`) and quoted paths work; else the first of vim, nano and vi found.
fn find_editor(ctx: &Context) -> Result<Vec<String>, CliError> {
    if let Some(cmd) = &ctx.env.editor {
        return Ok(vec![
            "sh".into(),
            "-c".into(),
            // `exec`: the editor is the child sealctl waits for and signals, not a shell around it.
            format!("exec {cmd} \"$@\""),
            cmd.clone(),
        ]);
    }
    for candidate in ["vim", "nano", "vi"] {
        if which(candidate).is_some() {
            return Ok(vec![candidate.to_string()]);
        }
    }
    Err(CliError::new(
        Exit::NoEditor,
        "no editor found: set SOPS_EDITOR or EDITOR (e.g. EDITOR=nano)",
    ))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn run_editor(scratch: &Scratch, editor: &[String], file: &Path) -> Result<(), CliError> {
    let mut command = std::process::Command::new(&editor[0]);
    // The editor needs the plaintext, not the key that decrypts everything else.
    command
        .args(&editor[1..])
        .arg(file)
        .env_remove("SOPS_AGE_KEY");
    let shown = editor.last().map(String::as_str).unwrap_or_default();
    let status = scratch.run_editor(&mut command).map_err(|e| {
        CliError::new(
            Exit::NoEditor,
            format!("cannot start editor '{shown}': {e}"),
        )
    })?;
    // sh's 127 and 126: the editor named by $EDITOR could not be found or run.
    if matches!(status.code(), Some(126 | 127)) && editor[0] == "sh" {
        return Err(CliError::new(
            Exit::NoEditor,
            format!(
                "cannot start editor '{shown}' (set SOPS_EDITOR or EDITOR to an editor on PATH)"
            ),
        ));
    }
    if !status.success() {
        return Err(CliError::new(
            Exit::Failure,
            format!("editor '{shown}' exited with {status}; nothing was saved"),
        ));
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .map_err(|e| {
            CliError::new(
                Exit::Output,
                format!("cannot write the temporary file: {e}"),
            )
        })
}
