//! `nanofleet agents …`: agents and their links. None of these needs the engine, except
//! linking in development mode (the URL is the plugin's published port). With `--server`
//! they go through the server's API, with the same output.

use std::io;
use std::path::{Path, PathBuf};

use nanofleet_host::api::agents::{AgentInfo, AgentRequest};
use serde_json::json;

use crate::{
    cli::{AgentAddArgs, AgentIdArgs, AgentsCommand, JsonArg, LinkArgs},
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, clean, note},
};

/// Runs an `agents` subcommand.
pub async fn run(ctx: &Context, command: &AgentsCommand) -> Result<u8, CliError> {
    match command {
        AgentsCommand::Add(args) => add(ctx, args).await,
        AgentsCommand::Ls(args) => ls(ctx, args).await,
        AgentsCommand::Rm(args) => rm(ctx, args).await,
        AgentsCommand::Link(args) => link(ctx, args).await,
        AgentsCommand::Unlink(args) => unlink(ctx, args).await,
    }
}

async fn add(ctx: &Context, args: &AgentAddArgs) -> Result<u8, CliError> {
    let fleet = Fleet::new(ctx);
    let workspace = match &fleet {
        Fleet::Local(_) => workspace_dir(&args.workspace)?,
        Fleet::Remote(_) => remote_workspace_dir(&args.workspace)?,
    };
    let previous = fleet.agent(&args.id).await?;
    let agent = fleet
        .register_agent(AgentRequest {
            id: args.id.clone(),
            name: args.name.clone().unwrap_or_else(|| args.id.clone()),
            workspace_dir: workspace.clone(),
            client: args.client,
        })
        .await?;
    note_added(&args.id, previous.as_ref(), &workspace);
    print_agent(&agent, args.json)
}

/// With `--json`, prints the agent as it is now.
fn print_agent(agent: &AgentInfo, json: bool) -> Result<u8, CliError> {
    if json {
        output::json(agent)?;
    }
    Ok(0)
}

/// The agent `id` as it is after a change.
async fn agent_now(fleet: &Fleet<'_>, id: &str) -> Result<AgentInfo, CliError> {
    fleet
        .agent(id)
        .await?
        .ok_or_else(|| CliError::new(format!("agent `{}` vanished meanwhile", clean(id))))
}

fn note_added(id: &str, previous: Option<&AgentInfo>, workspace: &Path) {
    let shown = clean(&workspace.display().to_string());
    match previous {
        None => note(format!(
            "registered agent {} (workspace {shown})",
            clean(id)
        )),
        Some(old) if old.workspace_dir != workspace => note(format!(
            "updated agent {}: workspace {shown}; the host's entries left the file in its \
             previous workspace {}",
            clean(id),
            clean(&old.workspace_dir.display().to_string())
        )),
        Some(_) => note(format!("updated agent {} (workspace {shown})", clean(id))),
    }
}

/// The workspace sent to a server: resolved here when it exists on this machine (the
/// server is usually on it), else as given if absolute, for the server to check.
fn remote_workspace_dir(dir: &Path) -> Result<PathBuf, CliError> {
    if dir.is_absolute() && !dir.exists() {
        return Ok(dir.to_owned());
    }
    workspace_dir(dir)
}

/// The workspace as an absolute path to an existing directory.
fn workspace_dir(dir: &Path) -> Result<PathBuf, CliError> {
    let shown = clean(&dir.display().to_string());
    match std::fs::canonicalize(dir) {
        Ok(path) if path.is_dir() => Ok(path),
        Ok(_) => Err(CliError::new(format!(
            "workspace {shown} is not a directory: give the agent's workspace directory"
        ))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(CliError::new(format!(
            "workspace {shown} does not exist: create it first (mkdir -p {shown})"
        ))),
        Err(err) => Err(CliError::new(format!(
            "cannot read workspace {shown}: {err}"
        ))),
    }
}

async fn ls(ctx: &Context, args: &JsonArg) -> Result<u8, CliError> {
    let agents = Fleet::new(ctx).agents().await?;
    if args.json {
        output::json(&agents)?;
        return Ok(0);
    }
    if agents.is_empty() {
        output::line(
            "no agents registered; add one with `nanofleet agents add <id> --workspace <dir>`",
        )?;
        return Ok(0);
    }
    let table: Vec<Vec<String>> = agents
        .iter()
        .map(|agent| {
            vec![
                clean(&agent.id),
                clean(&agent.name),
                clean(&agent.workspace_dir.display().to_string()),
                agent.client.to_string(),
                if agent.plugins.is_empty() {
                    "-".to_owned()
                } else {
                    agent.plugins.join(", ")
                },
            ]
        })
        .collect();
    output::raw(&output::table(
        &["ID", "NAME", "WORKSPACE", "CLIENT", "PLUGINS"],
        &table,
    ))?;
    Ok(0)
}

async fn rm(ctx: &Context, args: &AgentIdArgs) -> Result<u8, CliError> {
    let id = clean(&args.id);
    let not_registered = || {
        CliError::new(format!(
            "agent `{id}` is not registered; see `nanofleet agents ls`"
        ))
    };
    let fleet = Fleet::new(ctx);
    let agent = fleet.agent(&args.id).await?.ok_or_else(not_registered)?;
    fleet.remove_agent(&args.id).await.map_err(|failure| {
        if failure.code() == Some("agent_not_found") {
            not_registered()
        } else {
            failure.into()
        }
    })?;
    if args.json {
        output::json(&json!({
            "removed": agent.id,
            "unlinked": agent.plugins,
            "configPath": agent.config_path,
        }))?;
    }
    let file = clean(&agent.config_path.display().to_string());
    if agent.plugins.is_empty() {
        note(format!("removed agent {id}"));
    } else {
        note(format!(
            "removed agent {id}; {file} no longer lists {}",
            agent.plugins.join(", ")
        ));
    }
    Ok(0)
}

async fn link(ctx: &Context, args: &LinkArgs) -> Result<u8, CliError> {
    let fleet = Fleet::new(ctx);
    let changed = fleet.link(&args.agent, &args.plugin).await?;
    if let Some(server) = fleet.server_url() {
        note(format!(
            "linked agent {} to {}; {server} wrote it into the agent's client config",
            clean(&args.agent),
            clean(&args.plugin)
        ));
    } else if changed == 0 {
        note(format!(
            "agent {} is linked to {}; its client config already said so",
            clean(&args.agent),
            clean(&args.plugin)
        ));
    }
    print_agent(&agent_now(&fleet, &args.agent).await?, args.json)
}

async fn unlink(ctx: &Context, args: &LinkArgs) -> Result<u8, CliError> {
    let fleet = Fleet::new(ctx);
    let changed = fleet
        .unlink(&args.agent, &args.plugin)
        .await
        .map_err(|failure| {
            if failure.code() == Some("link_not_found") {
                CliError::new(format!(
                    "agent `{}` was not linked to `{}`; see `nanofleet agents ls`",
                    clean(&args.agent),
                    clean(&args.plugin)
                ))
            } else {
                failure.into()
            }
        })?;
    if changed == 0 {
        note(format!(
            "unlinked agent {} from {}",
            clean(&args.agent),
            clean(&args.plugin)
        ));
    }
    print_agent(&agent_now(&fleet, &args.agent).await?, args.json)
}
