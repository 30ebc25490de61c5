//! `sealctl`, the command-line tool: argument parsing, the shared context, and one module per command.

pub mod args;
pub mod cmd;
pub mod context;
pub mod exit;
pub mod scratch;
pub mod tree_path;

use clap::Parser;

use args::{Cli, Command, CompletionArgs, CreateCommand, StatusArgs};
use context::{Context, Env};
use exit::{CliError, Exit};

/// Runs `sealctl` with the process's arguments and environment; returns the exit code.
pub fn main() -> u8 {
    // Private keys and plaintext pass through this process: no core dumps, no ptrace attach.
    if let Err(e) = crate::hardening::harden() {
        eprintln!("warning: {e}");
    }
    let cli = match Cli::try_parse() {
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

fn dispatch(ctx: &mut Context, command: &Command) -> Result<(), CliError> {
    match command {
        Command::Encrypt(a) => cmd::encrypt::run(ctx, a),
        Command::Decrypt(a) => cmd::decrypt::run(ctx, a),
        Command::Edit(a) => cmd::edit::run(ctx, a),
        Command::Set(a) => cmd::set::run_set(ctx, a),
        Command::Unset(a) => cmd::set::run_unset(ctx, a),
        Command::Rotate(a) => cmd::rotate::run(ctx, a),
        Command::Updatekeys(a) => cmd::updatekeys::run(ctx, a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Create(CreateCommand::Secret(a)) => cmd::create_secret::run(ctx, a),
        Command::Check(a) => cmd::check::run(ctx, a),
        Command::Status(StatusArgs { url, json }) => {
            let body = crate::ops::fetch_status(url).map_err(|e| {
                CliError::new(
                    Exit::Failure,
                    format!("cannot read the agent's status at {url}: {e} (is the agent running and --listen reachable?)"),
                )
            })?;
            let out = if *json {
                body
            } else {
                crate::ops::render_status(&body)
            };
            context::write_stdout(out.as_bytes())
        }
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
