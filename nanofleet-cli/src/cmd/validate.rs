//! `nanofleet validate`: discovery diagnostics, with the exit codes of
//! [`nanofleet_host::discovery`].

use std::sync::Arc;

use nanofleet_host::discovery::{self, EXIT_USAGE, ImageManifests, NoImages, Source};

use crate::{cli::ValidateArgs, error::CliError, output, source::EngineImages};

/// Checks every source and prints the report; the exit status says whether errors were
/// found. Only image sources connect to the engine.
pub async fn run(args: &ValidateArgs) -> Result<u8, CliError> {
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let images: Box<dyn ImageManifests> = if sources.iter().any(|s| matches!(s, Source::Image(_))) {
        match nanofleet_host::runtime::DockerRuntime::connect() {
            Ok(engine) => Box::new(EngineImages(Arc::new(engine))),
            // Reported on each image source, as any other unreadable source.
            Err(err) => Box::new(Unavailable(err.to_string())),
        }
    } else {
        Box::new(NoImages)
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

/// The engine could not be connected to; every image source says why.
struct Unavailable(String);

impl ImageManifests for Unavailable {
    fn manifest_label<'a>(
        &'a self,
        _image: &'a str,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<String>, String>> + Send + 'a>,
    > {
        let message = self.0.clone();
        Box::pin(async move { Err(message) })
    }
}

/// The discovery exit codes are small `i32` constants.
fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(crate::error::EXIT_FAILURE)
}
