//! `sealsync`'s command line; the settings' flags come from [`SETTINGS`] (see `settings`).

use std::collections::BTreeMap;

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};

use super::settings::{self, SETTINGS};

const AFTER_HELP: &str = "\
Precedence: command-line flags, then SEALSYNC_* environment variables, then the --config file, then
defaults. `sealsync check-config` shows the result and where each value came from.

Exit codes of `run --once`:
  0  everything was applied
  1  fatal error (bad configuration, unreachable remote, sink unavailable): the sink was not touched
  2  some documents failed or a prune was refused; everything else was applied
  3  kube sink: another replica holds the leader Lease, so nothing was written (--ignore-leader
     writes anyway)";

#[derive(Parser, Debug)]
#[command(
    name = "sealsync",
    version,
    about = "The sealsync agent: keeps Kubernetes Secrets (or a folder) equal to what git declares, decrypting SOPS files with age identities that live only where the agent runs, and puts back Secrets edited by hand.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Reconcile continuously (or once with --once).
    Run(RunArgs),
    /// Validate the configuration and explain the value in force for each setting.
    CheckConfig(RunArgs),
}

/// What the command line gave `run` / `check-config`: the settings of [`SETTINGS`], by key.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Values given on the command line (environment and config file are read by the resolver).
    pub given: BTreeMap<&'static str, Vec<String>>,
}

impl FromArgMatches for RunArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(RunArgs {
            given: settings::from_matches(m),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.given.extend(settings::from_matches(m));
        Ok(())
    }
}

impl Args for RunArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(SETTINGS.iter().map(settings::clap_arg))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}
