//! `nanofleet logs`: a plugin's container output, optionally followed, from this machine's
//! engine or streamed from the server's API.

use futures::StreamExt as _;
use nanofleet_host::runtime::LogOptions;

use crate::{cli::LogsArgs, context::Context, error::CliError, fleet::Fleet, output};

/// Prints the last lines; with `--follow`, then each new line until Ctrl-C or the container
/// stops.
pub async fn run(ctx: &Context, args: &LogsArgs) -> Result<u8, CliError> {
    let options = LogOptions {
        tail: args.tail,
        since: args.since,
        timestamps: args.timestamps,
    };
    let mut lines = Fleet::new(ctx)
        .logs(&args.name, options, args.follow)
        .await?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(0),
            chunk = lines.next() => match chunk {
                Some(Ok(bytes)) => output::bytes(&bytes)?,
                Some(Err(err)) => return Err(err),
                None => return Ok(0),
            },
        }
    }
}
