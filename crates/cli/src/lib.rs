//! `sealctl`, the command-line tool: argument parsing, the shared context, and one module per command.

pub mod args;
pub mod cmd;
pub mod context;
pub mod exit;
pub mod scratch;
pub mod status;
pub mod tree_path;

use clap::Parser;

// The crates this one builds on, under the paths the modules below used when they were one crate
// (`crate::sops::…`, `crate::keys::…`, `crate::names`).
use sealsync_agent::names;
use sealsync_sops::{keys, sops};

use args::{Cli, Command, CompletionArgs, CreateCommand, StatusArgs};
use context::{Context, Env};
use exit::{CliError, Exit};

/// Runs `sealctl` with the process's arguments and environment; returns the exit code.
pub fn main() -> u8 {
    // Private keys and plaintext pass through this process: no core dumps, no ptrace attach.
    if let Err(e) = sealsync_agent::hardening::harden() {
        eprintln!("warning: {e}");
    }
    let cli = match Cli::try_parse_from(sops_forms(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { Exit::Usage as u8 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let mut ctx = Context::new(Env::from_process(), cli.global);
    match dispatch(&mut ctx, &cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.exit as u8
        }
    }
}

/// The subcommands, so that the command forms sops users type from memory can be told apart.
const SUBCOMMANDS: [&str; 17] = [
    "encrypt",
    "decrypt",
    "edit",
    "set",
    "unset",
    "rotate",
    "updatekeys",
    "exec-env",
    "exec-file",
    "keygen",
    "create",
    "check",
    "render",
    "status",
    "refresh",
    "completion",
    "help",
];
/// Global options that take a value (the value is not a subcommand or a file).
const GLOBAL_VALUES: [&str; 4] = ["--identity", "--config", "--max-file-size", "--indent"];

/// Rewrites sops' command forms into subcommands: `-d FILE` / `--decrypt` is `decrypt FILE`, `-e` /
/// `--encrypt` is `encrypt`, `-r` / `--rotate` is `rotate`, and a bare `FILE` is `edit FILE`. A command
/// line that names a subcommand is left as it is.
pub fn sops_forms(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut first_word = None;
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        if GLOBAL_VALUES.contains(&arg.as_ref()) {
            i += 2;
            continue;
        }
        if !arg.starts_with('-') || arg == "-" {
            first_word = Some(arg.into_owned());
            break;
        }
        i += 1;
    }
    if first_word
        .as_deref()
        .is_some_and(|w| SUBCOMMANDS.contains(&w))
    {
        return args;
    }
    let form = args.iter().skip(1).position(|a| {
        matches!(
            a.to_str(),
            Some("-d" | "--decrypt" | "-e" | "--encrypt" | "-r" | "--rotate")
        )
    });
    let subcommand = match form {
        Some(at) => match args.remove(at + 1).to_str() {
            Some("-d" | "--decrypt") => "decrypt",
            Some("-e" | "--encrypt") => "encrypt",
            _ => "rotate",
        },
        None if first_word.is_some() => "edit",
        None => return args,
    };
    args.insert(1.min(args.len()), subcommand.into());
    args
}

fn dispatch(ctx: &mut Context, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Encrypt(a) => cmd::encrypt::run(ctx, a),
        Command::Decrypt(a) => cmd::decrypt::run(ctx, a),
        Command::Edit(a) => cmd::edit::run(ctx, a),
        Command::Set(a) => cmd::set::run_set(ctx, a),
        Command::Unset(a) => cmd::set::run_unset(ctx, a),
        Command::Rotate(a) => cmd::rotate::run(ctx, a),
        Command::Updatekeys(a) => cmd::updatekeys::run(ctx, a),
        Command::ExecEnv(a) => cmd::exec::run_env(ctx, a),
        Command::ExecFile(a) => cmd::exec::run_file(ctx, a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Create(CreateCommand::Secret(a)) => cmd::create_secret::run(ctx, a),
        Command::Check(a) => cmd::check::run(ctx, a),
        Command::Render(a) => cmd::render::run(ctx, a),
        Command::Status(StatusArgs { url, json }) => {
            let body = status::fetch_status(url).map_err(|e| {
                CliError::new(
                    Exit::Failure,
                    format!("cannot read the agent's status at {url}: {e} (is the agent running and --listen reachable?)"),
                )
            })?;
            let out = if *json {
                body
            } else {
                status::render_status(&body)
            };
            context::write_stdout(out.as_bytes())
        }
        Command::Refresh(a) => cmd::refresh::run(a),
        Command::Completion(CompletionArgs { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(
                *shell,
                &mut args::command_for_completions(),
                "sealctl",
                &mut out,
            );
            context::write_stdout(&out)
        }
    }
}

#[cfg(test)]
mod forms_tests {
    use super::{args, sops_forms, SUBCOMMANDS};

    #[test]
    fn every_subcommand_is_known_to_the_sops_forms() {
        let names: Vec<String> = args::command_for_completions()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .chain(["help".to_string()])
            .collect();
        assert_eq!(
            names, SUBCOMMANDS,
            "a new subcommand goes in SUBCOMMANDS too"
        );
    }

    fn forms(line: &str) -> String {
        let args = line.split(' ').map(Into::into).collect();
        sops_forms(args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn sops_command_forms_become_subcommands() {
        assert_eq!(forms("sealctl -d f.yaml"), "sealctl decrypt f.yaml");
        assert_eq!(forms("sealctl -i -e f.yaml"), "sealctl encrypt -i f.yaml");
        assert_eq!(
            forms("sealctl --rotate -i f.yaml"),
            "sealctl rotate -i f.yaml"
        );
        assert_eq!(forms("sealctl f.yaml"), "sealctl edit f.yaml");
        assert_eq!(
            forms("sealctl --identity k f.yaml"),
            "sealctl edit --identity k f.yaml"
        );
        assert_eq!(forms("sealctl decrypt -d"), "sealctl decrypt -d");
        assert_eq!(forms("sealctl --help"), "sealctl --help");
        assert_eq!(forms("sealctl"), "sealctl");
    }
}
