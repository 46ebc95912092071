//! `nanofleet completions <shell>`: the shell's completion script, generated from the same
//! command definition clap parses, so it never lags behind a new command or option.

use clap::CommandFactory as _;

use crate::{
    cli::{Cli, CompletionsArgs},
    error::CliError,
    output,
};

/// Prints the script for `args.shell` on stdout.
pub fn run(args: &CompletionsArgs) -> Result<u8, CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "nanofleet", &mut script);
    output::bytes(&script)?;
    Ok(0)
}
