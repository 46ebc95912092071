//! `nanofleet validate`: discovery diagnostics, with the exit codes of
//! [`nanofleet_host::discovery`].

use std::sync::Arc;

use nanofleet_host::discovery::{self, EXIT_USAGE, Source};
use nanofleet_host::runtime::{Engine, Offline, Runtime};

use crate::{cli::ValidateArgs, error::CliError, output};

/// Checks every source and prints the report; the exit status says whether errors were
/// found. Only image sources connect to the engine.
pub async fn run(args: &ValidateArgs) -> Result<u8, CliError> {
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let images: Arc<dyn Runtime> = if sources.iter().any(|s| matches!(s, Source::Image(_))) {
        // Images are read on this machine's engine; one that cannot be reached is reported
        // on each image source, as any other unreadable source.
        crate::context::engine_or_offline(Engine::Docker)
    } else {
        Arc::new(Offline::not_configured())
    };
    let report = discovery::discover(&sources, images.as_ref()).await;
    let written = if args.json {
        output::json(&report)
    } else {
        output::raw(&discovery::render_text(&report))
    };
    // Cannot write the report: a problem of the command itself.
    written.map_err(|e| e.with_code(exit_code(EXIT_USAGE)))?;
    Ok(exit_code(report.exit_code()))
}

/// The discovery exit codes are small `i32` constants.
fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(crate::error::EXIT_FAILURE)
}
