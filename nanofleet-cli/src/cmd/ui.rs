//! `nanofleet ui <plugin>`: a URL opening the plugin's web UI through the host's UI proxy,
//! with a fresh UI session (a short-lived token for that plugin alone).

use nanofleet_host::api::plugins::UiSession;
use reqwest::Method;
use serde::Serialize;

use crate::{
    cli::UiArgs,
    context::Context,
    error::CliError,
    output::{self, clean, note},
    remote::Server,
};

/// What `ui --json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UiRow {
    plugin: String,
    url: String,
    token: String,
    expires_at: u64,
}

/// Asks the server for a UI session, then prints its URL or opens it.
pub async fn run(ctx: &Context, args: &UiArgs) -> Result<u8, CliError> {
    let local;
    let server = match ctx.server() {
        Some(server) => server,
        None => {
            local = local_server(ctx)?;
            &local
        }
    };
    let session: UiSession = server
        .call(
            Method::POST,
            &["api", "plugins", &args.plugin, "ui-session"],
            None,
        )
        .await?;
    let url = server.resolve(&session.url)?.to_string();
    if args.json {
        output::json(&UiRow {
            plugin: args.plugin.clone(),
            url,
            token: session.token,
            expires_at: session.expires_at,
        })?;
        return Ok(0);
    }
    if !args.open {
        output::line(&url)?;
        return Ok(0);
    }
    open::that_detached(&url).map_err(|e| {
        CliError::new(format!(
            "cannot open a browser here ({e}); run `nanofleet ui {}` and open the URL it prints",
            clean(&args.plugin)
        ))
    })?;
    note(format!(
        "opened the UI of {} in the browser (its session lasts a few minutes; reloads keep it)",
        clean(&args.plugin)
    ));
    Ok(0)
}

/// The `serve` running on this machine's data directory, with its own token.
fn local_server(ctx: &Context) -> Result<Server, CliError> {
    let data_dir = &ctx.config().data_dir;
    let Some(api) = crate::writer::running_server(data_dir) else {
        return Err(CliError::new(format!(
            "a plugin's UI is served through `nanofleet serve`, and none runs on {}: start \
             one, or pass --server with the URL of one that runs elsewhere",
            clean(&data_dir.display().to_string())
        )));
    };
    Server::new(
        &api,
        Some(&data_dir.join(nanofleet_host::api::auth::API_TOKEN_FILE)),
    )
}
