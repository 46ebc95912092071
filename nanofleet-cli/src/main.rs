//! `nanofleet`: run NanoFleet MCP plugins on this machine from the command line.
//!
//! A thin layer over [`nanofleet_host`]: each command opens what it needs (the store alone,
//! or the host with the Docker engine), runs one operation, prints progress on stderr and
//! data on stdout (`--json` for scripts), and exits with 0 on success, 1 on failure and 2
//! on a usage error. Errors are one `error: …` sentence, saying what to do.
//!
//! `nanofleet serve` runs the host's HTTP API and reconciler; with `--server URL` the other
//! commands talk to such a server instead of the local store and engine.

mod cli;
mod cmd;
mod context;
mod error;
mod fleet;
mod output;
mod progress;
mod remote;
mod secret_input;
mod source;
mod writer;

use std::process::ExitCode;

use clap::Parser as _;

use crate::{
    cli::{Cli, Command},
    context::Context,
    error::{CliError, EXIT_FAILURE},
};

/// The commands that only work on this machine's store and engine, and why.
fn local_only(command: &Command) -> Option<&'static str> {
    match command {
        Command::Reconcile(_) => Some(
            "`nanofleet reconcile` works on this machine's engine only, and a server runs the \
             reconciler by itself; drop --server (and NANOFLEET_SERVER) to reconcile here",
        ),
        Command::Call(args) if args.url.is_none() => Some(
            "`nanofleet call` works on this machine only: the host API has no route to call \
             tools; run it on the server's machine without --server (and NANOFLEET_SERVER)",
        ),
        Command::Dev(_) => Some(
            "`nanofleet dev` builds and runs the plugin on this machine's engine; drop --server \
             (and NANOFLEET_SERVER)",
        ),
        Command::Serve(_) => Some(
            "`nanofleet serve` starts a server; --server (or NANOFLEET_SERVER) is for talking \
             to one: unset it to serve",
        ),
        _ => None,
    }
}

fn main() -> ExitCode {
    // Before any HTTP client is built (the remote server, `call --url`, the dev proxy, the
    // install probe): see the function's docs.
    nanofleet_sdk::ensure_crypto_provider();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with 0; mistakes to stderr with 2.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(EXIT_FAILURE));
        }
    };
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return report(&CliError::new(format!(
                "cannot start the async runtime: {err}"
            )));
        }
    };
    let outcome = runtime.block_on(run(&cli));
    // A blocking read of stdin interrupted by Ctrl-C must not hold the exit.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) => report(&err),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` when it is set, else by `-v`: nothing without it
/// (a command reports what it did itself, and an error once), each step with `-v`, details
/// with `-vv`, everything with `-vvv`. A server logs each step from the start.
fn init_logging(cli: &Cli) {
    let serving = u8::from(matches!(cli.command, Command::Serve(_)));
    let filter = match cli.global.verbose.saturating_add(serving) {
        0 => "off",
        // rmcp logs every request's parameters at `info`: only its warnings are news.
        1 => "info,rmcp=warn",
        2 => "debug,rmcp=info,hyper=info,h2=info,bollard=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Runs the command; `Ok` carries the exit status of a command that ran to its end.
async fn run(cli: &Cli) -> Result<u8, CliError> {
    // Needs no state at all: works before any data directory exists.
    match &cli.command {
        Command::Completions(args) => return cmd::completions::run(args),
        Command::Validate(args) => return cmd::validate::run(args).await,
        Command::New(args) => return cmd::new::run(args),
        Command::Build(args) => return cmd::build::run(args).await,
        _ => {}
    }
    if cli.global.server.is_some()
        && let Some(why) = local_only(&cli.command)
    {
        return Err(CliError::usage(why));
    }
    let ctx = Context::new(&cli.global)?;
    match &cli.command {
        Command::Validate(args) => cmd::validate::run(args).await,
        Command::New(args) => cmd::new::run(args),
        Command::Build(args) => cmd::build::run(args).await,
        Command::Inspect(args) => cmd::inspect::run(&ctx, args).await,
        Command::Dev(args) => cmd::dev::run(&ctx, args).await,
        Command::Install(args) => cmd::plugins::install(&ctx, args).await,
        Command::Ls(args) => cmd::plugins::ls(&ctx, args).await,
        Command::Tools(args) => cmd::tools::run(&ctx, args).await,
        Command::Ui(args) => cmd::ui::run(&ctx, args).await,
        Command::Completions(args) => cmd::completions::run(args),
        Command::Rm(args) => cmd::plugins::rm(&ctx, args).await,
        Command::Restart(args) => cmd::plugins::restart(&ctx, args).await,
        Command::Upgrade(args) => cmd::plugins::upgrade(&ctx, args).await,
        Command::Enable(args) => cmd::plugins::set_enabled(&ctx, args, true).await,
        Command::Disable(args) => cmd::plugins::set_enabled(&ctx, args, false).await,
        Command::Reconcile(args) => cmd::plugins::reconcile(&ctx, args).await,
        Command::Logs(args) => cmd::logs::run(&ctx, args).await,
        Command::Agents(command) => cmd::agents::run(&ctx, command).await,
        Command::Keys(command) => cmd::keys::run(&ctx, command).await,
        Command::Config(command) => cmd::config::run(&ctx, command).await,
        Command::Tokens(command) => cmd::tokens::run(&ctx, command).await,
        Command::Audit(args) => cmd::tokens::audit(&ctx, args).await,
        Command::Policy(args) => cmd::policy::run(&ctx, args).await,
        Command::Call(args) => cmd::call::run(&ctx, args).await,
        Command::Serve(args) => cmd::serve::run(&ctx, args).await,
    }
}

/// Prints `error: <message>` and its details on stderr; the exit status.
fn report(err: &CliError) -> ExitCode {
    if !err.quiet {
        output::note(format!("error: {}", err.message));
        for line in &err.details {
            output::note(line);
        }
    }
    ExitCode::from(err.code)
}
