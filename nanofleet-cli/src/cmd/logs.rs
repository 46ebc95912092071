//! `nanofleet logs`: a plugin's container output, optionally followed; with `--server`,
//! streamed from the server's API.

use futures::StreamExt as _;
use nanofleet_host::runtime::LogOptions;

use crate::{cli::LogsArgs, context::Context, error::CliError, output, remote::Server};

/// Prints the last lines; with `--follow`, then each new line until Ctrl-C or the container
/// stops.
pub async fn run(ctx: &Context, args: &LogsArgs) -> Result<u8, CliError> {
    if let Some(server) = ctx.server() {
        return remote(server, args).await;
    }
    let host = ctx.host().await?;
    // Says "not installed" rather than the engine's "no such container".
    host.plugin(&args.name).await?;
    let container = host.config().instance.container_name(&args.name);
    let options = LogOptions {
        tail: args.tail,
        since: args.since,
        timestamps: args.timestamps,
    };
    if !args.follow {
        for line in host.runtime().logs(&container, options).await? {
            output::line(line)?;
        }
        return Ok(0);
    }
    let mut lines = host.runtime().follow_logs(&container, options).await?;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(0),
            line = lines.next() => match line {
                Some(Ok(line)) => output::line(line)?,
                Some(Err(err)) => return Err(err.into()),
                None => return Ok(0),
            },
        }
    }
}

/// The server sends the lines as `text/plain`, each ending with a newline: they are
/// copied to stdout as they arrive.
async fn remote(server: &Server, args: &LogsArgs) -> Result<u8, CliError> {
    let mut query = vec![
        ("tail", args.tail.to_string()),
        ("follow", args.follow.to_string()),
        ("timestamps", args.timestamps.to_string()),
    ];
    if let Some(since) = args.since {
        query.push(("since", since.to_string()));
    }
    let response = server
        .stream(&["api", "plugins", &args.name, "logs"], &query)
        .await?;
    let mut chunks = response.bytes_stream();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(0),
            chunk = chunks.next() => match chunk {
                Some(Ok(bytes)) => output::bytes(&bytes)?,
                Some(Err(err)) => return Err(server.transport(&err)),
                None => return Ok(0),
            },
        }
    }
}
