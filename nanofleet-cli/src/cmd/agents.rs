//! `nanofleet agents …`: agents and their links. None of these needs the engine, except
//! linking in development mode (the URL is the plugin's published port). With `--server`
//! they go through the server's API, with the same output.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use nanofleet_host::store::AgentRecord;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::report_changes;
use crate::{
    cli::{AgentAddArgs, AgentIdArgs, AgentsCommand, JsonArg, LinkArgs},
    context::Context,
    error::CliError,
    output::{self, clean, note},
    remote::Server,
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
    let name = args.name.clone().unwrap_or_else(|| args.id.clone());
    if let Some(server) = ctx.server() {
        let workspace = remote_workspace_dir(&args.workspace)?;
        let previous = find_remote_agent(server, &args.id).await?;
        let body = json!({
            "id": args.id,
            "name": name,
            "workspaceDir": workspace,
            "client": args.client,
        });
        let _: AgentRow = server
            .call(Method::POST, &["api", "agents"], Some(&body))
            .await?;
        note_added(
            &args.id,
            previous.as_ref().map(|row| &row.agent),
            &workspace,
        );
        return print_row(ctx, &args.id, args.json).await;
    }
    let workspace = workspace_dir(&args.workspace)?;
    let host = ctx.host_without_engine()?;
    let previous = host.store().get_agent(&args.id).await?;
    let mut events = host.subscribe();
    host.register_agent(AgentRecord::new(&args.id, name, &workspace).with_client(args.client))
        .await?;
    note_added(&args.id, previous.as_ref(), &workspace);
    report_changes(&mut events);
    print_row(ctx, &args.id, args.json).await
}

/// With `--json`, prints the agent as it is now.
async fn print_row(ctx: &Context, id: &str, json: bool) -> Result<u8, CliError> {
    if json {
        output::json(&agent_row(ctx, id).await?)?;
    }
    Ok(0)
}

fn note_added(id: &str, previous: Option<&AgentRecord>, workspace: &Path) {
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

/// An agent as `agents ls --json` shows it (and as the API lists it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRow {
    /// The agent.
    #[serde(flatten)]
    pub agent: AgentRecord,
    /// The plugins linked to it.
    pub plugins: Vec<String>,
    /// The client file the host writes the links into (computed here, from the workspace
    /// and the client).
    #[serde(default)]
    pub config_path: PathBuf,
}

impl AgentRow {
    fn new(agent: AgentRecord, plugins: Vec<String>) -> Self {
        Self {
            config_path: agent.config_path(),
            agent,
            plugins,
        }
    }
}

/// The agent `id` with its links, from the server or the store, for `--json` output.
async fn agent_row(ctx: &Context, id: &str) -> Result<AgentRow, CliError> {
    let row = match ctx.server() {
        Some(server) => find_remote_agent(server, id).await?,
        None => {
            let store = ctx.store()?;
            match store.get_agent(id).await? {
                Some(agent) => Some(AgentRow::new(agent, store.links_of_agent(id).await?)),
                None => None,
            }
        }
    };
    row.ok_or_else(|| CliError::new(format!("agent `{}` vanished meanwhile", clean(id))))
}

/// The agents, as the server's API lists them.
pub async fn remote_agents(server: &Server) -> Result<Vec<AgentRow>, CliError> {
    #[derive(Deserialize)]
    struct AgentList {
        agents: Vec<AgentRow>,
    }
    let list: AgentList = server.get(&["api", "agents"]).await?;
    Ok(list
        .agents
        .into_iter()
        .map(|row| AgentRow::new(row.agent, row.plugins))
        .collect())
}

async fn find_remote_agent(server: &Server, id: &str) -> Result<Option<AgentRow>, CliError> {
    Ok(remote_agents(server)
        .await?
        .into_iter()
        .find(|row| row.agent.id == id))
}

async fn ls(ctx: &Context, args: &JsonArg) -> Result<u8, CliError> {
    let rows = if let Some(server) = ctx.server() {
        remote_agents(server).await?
    } else {
        let store = ctx.store()?;
        let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for link in store.list_links().await? {
            links.entry(link.agent_id).or_default().push(link.plugin);
        }
        store
            .list_agents()
            .await?
            .into_iter()
            .map(|agent| {
                let plugins = links.remove(&agent.id).unwrap_or_default();
                AgentRow::new(agent, plugins)
            })
            .collect()
    };
    if args.json {
        output::json(&rows)?;
        return Ok(0);
    }
    if rows.is_empty() {
        output::line(
            "no agents registered; add one with `nanofleet agents add <id> --workspace <dir>`",
        )?;
        return Ok(0);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                clean(&row.agent.id),
                clean(&row.agent.name),
                clean(&row.agent.workspace_dir.display().to_string()),
                row.agent.client.to_string(),
                if row.plugins.is_empty() {
                    "-".to_owned()
                } else {
                    row.plugins.join(", ")
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
    let (agent, plugins) = if let Some(server) = ctx.server() {
        let row = find_remote_agent(server, &args.id)
            .await?
            .ok_or_else(not_registered)?;
        server
            .call_empty(Method::DELETE, &["api", "agents", &args.id], &[], None)
            .await
            .map_err(|failure| {
                if failure.code() == Some("agent_not_found") {
                    not_registered()
                } else {
                    failure.into()
                }
            })?;
        (row.agent, row.plugins)
    } else {
        let host = ctx.host_without_engine()?;
        let agent = host
            .store()
            .get_agent(&args.id)
            .await?
            .ok_or_else(not_registered)?;
        let plugins = host.store().links_of_agent(&args.id).await?;
        host.remove_agent(&args.id).await?;
        (agent, plugins)
    };
    if args.json {
        output::json(&json!({
            "removed": agent.id,
            "unlinked": plugins,
            "configPath": agent.config_path(),
        }))?;
    }
    let file = clean(&agent.config_path().display().to_string());
    if plugins.is_empty() {
        note(format!("removed agent {id}"));
    } else {
        note(format!(
            "removed agent {id}; {file} no longer lists {}",
            plugins.join(", ")
        ));
    }
    Ok(0)
}

async fn link(ctx: &Context, args: &LinkArgs) -> Result<u8, CliError> {
    if let Some(server) = ctx.server() {
        server
            .call_empty(
                Method::PUT,
                &["api", "agents", &args.agent, "links", &args.plugin],
                &[],
                None,
            )
            .await?;
        note(format!(
            "linked agent {} to {}; the server wrote it into the agent's client config",
            clean(&args.agent),
            clean(&args.plugin)
        ));
        return print_row(ctx, &args.agent, args.json).await;
    }
    let host = ctx.host_without_engine()?;
    let mut events = host.subscribe();
    host.link(&args.agent, &args.plugin).await?;
    if report_changes(&mut events) == 0 {
        note(format!(
            "agent {} is linked to {}; its client config already said so",
            clean(&args.agent),
            clean(&args.plugin)
        ));
    }
    print_row(ctx, &args.agent, args.json).await
}

async fn unlink(ctx: &Context, args: &LinkArgs) -> Result<u8, CliError> {
    let not_linked = || {
        CliError::new(format!(
            "agent `{}` was not linked to `{}`; see `nanofleet agents ls`",
            clean(&args.agent),
            clean(&args.plugin)
        ))
    };
    let changed = if let Some(server) = ctx.server() {
        server
            .call_empty(
                Method::DELETE,
                &["api", "agents", &args.agent, "links", &args.plugin],
                &[],
                None,
            )
            .await
            .map_err(|failure| {
                if failure.code() == Some("link_not_found") {
                    not_linked()
                } else {
                    failure.into()
                }
            })?;
        0
    } else {
        let host = ctx.host_without_engine()?;
        let mut events = host.subscribe();
        let existed = host.unlink(&args.agent, &args.plugin).await?;
        let changed = report_changes(&mut events);
        if !existed {
            return Err(not_linked());
        }
        changed
    };
    if changed == 0 {
        note(format!(
            "unlinked agent {} from {}",
            clean(&args.agent),
            clean(&args.plugin)
        ));
    }
    print_row(ctx, &args.agent, args.json).await
}
