//! `/mcp`: the fleet as an MCP server, so that an operator's own agent can run it. Built with
//! this project's SDK (the host is its largest plugin author), behind the API's bearer auth:
//! the operator token or a scoped token. A `read` token may call the read-only tools only;
//! every call of another tool goes to the audit log, as a mutating API call does.
//!
//! Each tool has exact annotations (read-only, destructive, idempotent) and structured
//! output. A tool naming a plugin or agent that does not exist is an error naming those that
//! do, never a silent success.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use nanofleet_sdk::{
    Plugin,
    env::PluginEnv,
    manifest::Manifest,
    resource::{Contents, ResourceTemplate},
    tool::{FromToolCall, Json, NoArgs, Tool, ToolCall, ToolError},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ApiState, MessageHandler, auth::Principal, trust::ImagePolicy};
use crate::{
    Host, HostError, InstallOptions, labels,
    linking::Client,
    runtime::LogOptions,
    store::{AgentRecord, PluginRecord, Scope},
};

/// The most log lines `plugin_logs` returns.
const MAX_LOG_LINES: usize = 1000;

/// The caller of a tool, as the API's auth found it. The `/mcp` route runs behind the same
/// middleware as `/api`, which leaves the [`Principal`] in the request's extensions.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromToolCall for Caller {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        call.http_parts()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .cloned()
            .map(Caller)
            .ok_or_else(|| ToolError::new("the call carries no authenticated caller"))
    }
}

/// What a tool handler shares: the host, the image policy installs follow, and where
/// messages to agents go.
#[derive(Clone)]
struct Fleet {
    host: Host,
    image_policy: ImagePolicy,
    messages: Arc<dyn MessageHandler>,
}

impl Fleet {
    /// Refuses a caller whose scope does not cover `needed`, and writes every call that
    /// mutates to the audit log with its outcome.
    async fn guard<T>(
        &self,
        call: &ToolCall,
        tool: &str,
        needed: Scope,
        work: impl std::future::Future<Output = Result<T, ToolError>>,
    ) -> Result<T, ToolError> {
        let Caller(principal) = call.extract()?;
        if !principal.scope.allows(needed) {
            let refusal = ToolError::new(format!(
                "{} has scope `{}`; tool `{tool}` needs scope `{needed}`",
                principal.subject, principal.scope
            ));
            self.audit(&principal, tool, 403).await;
            return Err(refusal);
        }
        let outcome = work.await;
        if needed == Scope::Operate {
            let status = if outcome.is_ok() { 200 } else { 422 };
            self.audit(&principal, tool, status).await;
        }
        outcome
    }

    async fn audit(&self, principal: &Principal, tool: &str, status: u16) {
        let action = format!("MCP {tool}");
        if let Err(e) = self
            .host
            .store()
            .audit(&principal.subject, &action, status)
            .await
        {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    /// The installed plugin `name`, or an error naming those installed.
    async fn plugin(&self, name: &str) -> Result<PluginRecord, ToolError> {
        match self.host.store().get_plugin(name).await.map_err(err)? {
            Some(record) => Ok(record),
            None => {
                let names: Vec<String> = self
                    .host
                    .store()
                    .list_plugins()
                    .await
                    .map_err(err)?
                    .into_iter()
                    .map(|p| p.name)
                    .collect();
                Err(ToolError::new(if names.is_empty() {
                    format!("no plugin `{name}` is installed; none is")
                } else {
                    format!(
                        "no plugin `{name}` is installed; installed: {}",
                        names.join(", ")
                    )
                }))
            }
        }
    }

    /// The registered agent `id`, or an error naming those registered.
    async fn agent(&self, id: &str) -> Result<AgentRecord, ToolError> {
        match self.host.store().get_agent(id).await.map_err(err)? {
            Some(record) => Ok(record),
            None => {
                let ids: Vec<String> = self
                    .host
                    .store()
                    .list_agents()
                    .await
                    .map_err(err)?
                    .into_iter()
                    .map(|a| a.id)
                    .collect();
                Err(ToolError::new(if ids.is_empty() {
                    format!("no agent `{id}` is registered; none is")
                } else {
                    format!(
                        "no agent `{id}` is registered; registered: {}",
                        ids.join(", ")
                    )
                }))
            }
        }
    }

    /// The manifest of an install or upgrade: given, or from an image's label.
    async fn manifest(&self, source: &Source) -> Result<Manifest, ToolError> {
        let manifest = match (&source.manifest, &source.image, &source.url) {
            (None, None, Some(url)) => {
                super::trust::check_manifest_url(url).map_err(api_err)?;
                let report = crate::discovery::discover(
                    &[crate::discovery::Source::Url(url.clone())],
                    self.host.runtime().as_ref(),
                )
                .await;
                let Some(candidate) = report.candidates.into_iter().next() else {
                    return Err(ToolError::new(format!("nothing was read from {url}")));
                };
                match candidate.manifest {
                    Some(manifest) if !candidate.diagnostics.has_errors() => manifest,
                    _ => {
                        return Err(ToolError::new(format!(
                            "the manifest at {url} is not usable:\n{}",
                            candidate.diagnostics
                        )));
                    }
                }
            }
            (Some(value), None, None) => Manifest::parse_value(value)
                .into_result()
                .map(|(m, _)| m)
                .map_err(|d| ToolError::new(format!("the manifest is not valid:\n{d}")))?,
            (None, Some(image), None) => {
                nanofleet_contracts::image::parse_image_ref(image)
                    .map_err(|v| ToolError::new(format!("`image`: {v}")))?;
                self.image_policy.enforce(image).map_err(api_err)?;
                let text = self
                    .host
                    .runtime()
                    .image_label(image, labels::IMAGE_MANIFEST)
                    .await
                    .map_err(|e| ToolError::new(e.to_string()))?
                    .ok_or_else(|| {
                        ToolError::new(format!(
                            "image `{image}` has no {} label; give the manifest itself",
                            labels::IMAGE_MANIFEST
                        ))
                    })?;
                let mut manifest = Manifest::parse_json(&text)
                    .into_result()
                    .map(|(m, _)| m)
                    .map_err(|d| {
                        ToolError::new(format!("the image's manifest is not valid:\n{d}"))
                    })?;
                manifest.image = image.clone();
                manifest
            }
            _ => {
                return Err(ToolError::new(
                    "give exactly one of `manifest`, `url` or `image`",
                ));
            }
        };
        self.image_policy
            .enforce(&manifest.image)
            .map_err(api_err)?;
        Ok(manifest)
    }
}

fn err(error: impl std::fmt::Display) -> ToolError {
    ToolError::new(error.to_string())
}

fn api_err(error: super::error::ApiError) -> ToolError {
    ToolError::new(error.body().message.clone())
}

fn host_err(error: HostError) -> ToolError {
    ToolError::new(error.to_string())
}

// ---------------------------------------------------------------------------------------------
// Arguments and results
// ---------------------------------------------------------------------------------------------

/// A plugin, by name.
#[derive(Debug, Deserialize, JsonSchema)]
struct PluginName {
    /// The plugin's name, as `list_plugins` shows it.
    name: String,
}

/// Where a plugin comes from: exactly one of the three.
#[derive(Debug, Deserialize, JsonSchema)]
struct Source {
    /// A local image whose `com.nanofleet.manifest` label holds the manifest.
    image: Option<String>,
    /// The manifest itself, as `manifest.json` holds it.
    manifest: Option<Value>,
    /// An `http://` or `https://` URL serving the manifest.
    url: Option<String>,
}

/// What to install.
#[derive(Debug, Deserialize, JsonSchema)]
struct InstallArgs {
    #[serde(flatten)]
    source: Source,
    /// Values for the plugin's settings (its manifest's `config`), by key.
    #[serde(default)]
    config: BTreeMap<String, Value>,
}

/// A plugin to uninstall.
#[derive(Debug, Deserialize, JsonSchema)]
struct UninstallArgs {
    /// The plugin's name.
    name: String,
    /// Also delete its data volume: its data is gone for good.
    #[serde(default)]
    purge: bool,
}

/// A plugin's log.
#[derive(Debug, Deserialize, JsonSchema)]
struct LogsArgs {
    /// The plugin's name.
    name: String,
    /// How many of the last lines (default 100, at most 1000).
    lines: Option<usize>,
}

/// An agent to register.
#[derive(Debug, Deserialize, JsonSchema)]
struct RegisterArgs {
    /// The agent's id, sent to plugins as `agent_id`.
    id: String,
    /// A name for people (default: the id).
    name: Option<String>,
    /// The agent's workspace: an absolute path on the host's machine.
    workspace: PathBuf,
    /// The MCP client it runs: `claude-code` (default), `nanobot`, `codex` or `vscode`.
    #[serde(default)]
    client: Client,
}

/// An agent, by id.
#[derive(Debug, Deserialize, JsonSchema)]
struct AgentId {
    /// The agent's id, as `list_agents` shows it.
    agent: String,
}

/// An agent and a plugin.
#[derive(Debug, Deserialize, JsonSchema)]
struct LinkArgs {
    /// The agent's id.
    agent: String,
    /// The plugin's name.
    plugin: String,
}

/// A message for an agent.
#[derive(Debug, Deserialize, JsonSchema)]
struct MessageArgs {
    /// The agent's id.
    agent: String,
    /// The message or task, as text.
    text: String,
}

/// A page of an agent's message history.
#[derive(Debug, Deserialize, JsonSchema)]
struct HistoryArgs {
    /// The agent's id.
    agent: String,
    /// Only messages after this id: the previous page's `next`.
    after: Option<i64>,
    /// How many (default 50, at most 1000).
    limit: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Message {
    id: i64,
    /// Who sent it: a plugin, or `nanofleet-host` for this server.
    from: String,
    text: String,
    /// When (Unix seconds).
    at: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct History {
    /// Oldest first.
    messages: Vec<Message>,
    /// The `after` of the next page, when there is one.
    next: Option<i64>,
}

/// An API key to set.
#[derive(Deserialize, JsonSchema)]
struct KeyArgs {
    /// The environment variable name, e.g. `OPENAI_API_KEY`.
    name: String,
    /// The value; stored encrypted, never shown again.
    value: String,
}

/// A plugin's settings to change.
#[derive(Deserialize, JsonSchema)]
struct ConfigureArgs {
    /// The plugin's name.
    name: String,
    /// New values by key; `null` removes a value (its default applies again).
    values: BTreeMap<String, Option<Value>>,
}

/// An installed plugin.
#[derive(Debug, Serialize, JsonSchema)]
struct PluginSummary {
    name: String,
    version: String,
    image: String,
    /// `running` or `stopped`: what the operator wants.
    desired: String,
    /// What the host last observed.
    status: String,
    status_message: Option<String>,
    /// The names of its tools.
    tools: Vec<String>,
}

impl From<&PluginRecord> for PluginSummary {
    fn from(record: &PluginRecord) -> Self {
        Self {
            name: record.name.clone(),
            version: record.manifest.version.clone(),
            image: record.manifest.image.clone(),
            desired: record.desired.to_string(),
            status: record.status.to_string(),
            status_message: record.status_message.clone(),
            tools: record
                .tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
struct PluginList {
    plugins: Vec<PluginSummary>,
}

/// One plugin in full: its manifest and its tools with their schemas.
#[derive(Debug, Serialize, JsonSchema)]
struct PluginDetail {
    #[serde(flatten)]
    summary: PluginSummary,
    manifest: Value,
    /// The tools as `tools/list` gives them.
    tool_definitions: Vec<Value>,
    /// The permissions it runs with.
    permissions: Value,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Lines {
    lines: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct AgentSummary {
    id: String,
    name: String,
    workspace: String,
    client: String,
    /// The file the host writes its plugins into.
    config_path: String,
    /// The plugins it is linked to.
    plugins: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct AgentList {
    agents: Vec<AgentSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct ClientConfig {
    path: String,
    /// The file's content, as the agent's client reads it; `null` when there is none.
    content: Option<Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Done {
    /// What was done, in one sentence.
    message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct KeyNames {
    keys: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Status {
    version: String,
    engine_reachable: bool,
    engine_error: Option<String>,
    plugins: usize,
    running: usize,
    agents: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Settings {
    settings: Value,
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// The host's MCP server, a plugin of this project's SDK named `fleet`.
///
/// # Errors
///
/// When the tools do not make a valid plugin (a bug, caught by the tests).
pub fn plugin(
    host: Host,
    image_policy: ImagePolicy,
    messages: Arc<dyn MessageHandler>,
) -> Result<Plugin, nanofleet_sdk::Error> {
    let fleet = Fleet {
        host,
        image_policy,
        messages,
    };
    // The names the host keeps for itself (`nanofleet`, `nanofleet-host`) are reserved, so
    // no plugin can pass for it; its server goes by what it serves.
    let manifest = Manifest::new("fleet", env!("CARGO_PKG_VERSION"), "nanofleet-host", 8787)
        .with_description("Runs a NanoFleet fleet: plugins, agents, their links and API keys.");
    let builder = Plugin::builder(manifest).instructions(
        "Manage the NanoFleet fleet: install and run plugins (MCP servers in containers), \
         register agents, link them to plugins (the host writes each agent's client config), \
         set API keys. Read-only tools need a `read` token; the others an `operate` token.",
    );
    let mut builder = builder;
    for tool in tools(&fleet) {
        builder = builder.tool(tool);
    }
    for template in resources(&fleet) {
        builder = builder.resource_template(template);
    }
    builder.build()
}

/// The router serving [`plugin`] at `/mcp`, for the API's router to mount behind its auth.
pub(crate) fn router(state: &ApiState, stop: CancellationToken) -> Option<axum::Router> {
    let plugin = match plugin(
        state.host.clone(),
        state.config.image_policy.clone(),
        Arc::clone(&state.messages),
    ) {
        Ok(plugin) => plugin,
        Err(e) => {
            tracing::error!(error = %e, "the host's MCP server cannot be built; /mcp is off");
            return None;
        }
    };
    // Any `Host` header: the API's own auth guards this route, not the plugin's host check.
    let env = PluginEnv {
        allowed_hosts: vec!["*".into()],
        ..PluginEnv::default()
    };
    match plugin.start(env) {
        Ok(running) => Some(nanofleet_sdk::server::router(&running, stop)),
        Err(e) => {
            tracing::error!(error = %e, "the host's MCP server cannot start; /mcp is off");
            None
        }
    }
}

macro_rules! tool {
    ($fleet:expr, $name:literal, $scope:expr, |$args:ident: $ty:ty, $f:ident| $body:expr) => {{
        let fleet = $fleet.clone();
        move |$args: $ty, call: ToolCall| {
            let $f = fleet.clone();
            async move {
                $f.clone()
                    .guard(&call, $name, $scope, async move { $body })
                    .await
            }
        }
    }};
}

fn tools(fleet: &Fleet) -> Vec<Tool> {
    use Scope::{Operate, Read};
    vec![
        Tool::new(
            "list_plugins",
            "Lists the installed plugins: version, image, status, tools.",
        )
        .read_only(true)
        .output::<PluginList>()
        .requires::<Caller>()
        .handler(tool!(fleet, "list_plugins", Read, |_a: NoArgs, f| {
            let plugins = f.host.store().list_plugins().await.map_err(err)?;
            Ok(Json(PluginList {
                plugins: plugins.iter().map(PluginSummary::from).collect(),
            }))
        })),
        Tool::new(
            "inspect_plugin",
            "One installed plugin in full: manifest, permissions, tools with their schemas.",
        )
        .read_only(true)
        .output::<PluginDetail>()
        .requires::<Caller>()
        .handler(tool!(fleet, "inspect_plugin", Read, |a: PluginName, f| {
            let record = f.plugin(&a.name).await?;
            Ok(Json(PluginDetail {
                summary: PluginSummary::from(&record),
                manifest: serde_json::to_value(&record.manifest).unwrap_or_default(),
                tool_definitions: record.tools.clone(),
                permissions: serde_json::to_value(record.permissions()).unwrap_or_default(),
            }))
        })),
        Tool::new(
            "plugin_logs",
            "The last lines of a plugin's log (at most 1000).",
        )
        .read_only(true)
        .output::<Lines>()
        .requires::<Caller>()
        .handler(tool!(fleet, "plugin_logs", Read, |a: LogsArgs, f| {
            f.plugin(&a.name).await?;
            let lines = a.lines.unwrap_or(100).min(MAX_LOG_LINES);
            let container = f.host.config().instance.container_name(&a.name);
            let lines = f
                .host
                .runtime()
                .logs(&container, LogOptions::tail(lines))
                .await
                .map_err(err)?;
            Ok(Json(Lines { lines }))
        })),
        Tool::new(
            "install_plugin",
            "Installs a plugin from a local image (its manifest label), a manifest or a \
             manifest's URL, and waits until it lists its tools. Fails, changing nothing, when a required setting or API \
             key is missing.",
        )
        .output::<PluginSummary>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "install_plugin",
            Operate,
            |a: InstallArgs, f| {
                let manifest = f.manifest(&a.source).await?;
                let options = InstallOptions {
                    config: a.config.into_iter().collect(),
                    ..InstallOptions::default()
                };
                let record = f.host.install(manifest, options).await.map_err(host_err)?;
                Ok(Json(PluginSummary::from(&record)))
            }
        )),
        Tool::new(
            "upgrade_plugin",
            "Replaces an installed plugin by another version; the old one serves until the new \
             one lists its tools, and stays if it does not.",
        )
        .output::<PluginSummary>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "upgrade_plugin",
            Operate,
            |a: InstallArgs, f| {
                let manifest = f.manifest(&a.source).await?;
                f.plugin(&manifest.name).await?;
                let options = InstallOptions {
                    config: a.config.into_iter().collect(),
                    ..InstallOptions::default()
                };
                let record = f.host.upgrade(manifest, options).await.map_err(host_err)?;
                Ok(Json(PluginSummary::from(&record)))
            }
        )),
        Tool::new(
            "uninstall_plugin",
            "Uninstalls a plugin: its container and every agent's entry go; its data stays \
             unless `purge`.",
        )
        .destructive(true)
        .idempotent(false)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "uninstall_plugin",
            Operate,
            |a: UninstallArgs, f| {
                f.plugin(&a.name).await?;
                f.host.uninstall(&a.name, a.purge).await.map_err(host_err)?;
                Ok(Json(Done {
                    message: format!(
                        "uninstalled {}{}",
                        a.name,
                        if a.purge { " and deleted its data" } else { "" }
                    ),
                }))
            }
        )),
        Tool::new(
            "restart_plugin",
            "Restarts a plugin, whatever state its container is in.",
        )
        .destructive(false)
        .idempotent(true)
        .output::<PluginSummary>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "restart_plugin",
            Operate,
            |a: PluginName, f| {
                f.plugin(&a.name).await?;
                let record = f.host.restart(&a.name).await.map_err(host_err)?;
                Ok(Json(PluginSummary::from(&record)))
            }
        )),
        Tool::new(
            "enable_plugin",
            "Starts a disabled plugin, and keeps it running.",
        )
        .destructive(false)
        .idempotent(true)
        .output::<PluginSummary>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "enable_plugin",
            Operate,
            |a: PluginName, f| {
                f.plugin(&a.name).await?;
                let record = f.host.set_enabled(&a.name, true).await.map_err(host_err)?;
                Ok(Json(PluginSummary::from(&record)))
            }
        )),
        Tool::new(
            "disable_plugin",
            "Stops a plugin and keeps it stopped; its links stay.",
        )
        .destructive(true)
        .idempotent(true)
        .output::<PluginSummary>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "disable_plugin",
            Operate,
            |a: PluginName, f| {
                f.plugin(&a.name).await?;
                let record = f.host.set_enabled(&a.name, false).await.map_err(host_err)?;
                Ok(Json(PluginSummary::from(&record)))
            }
        )),
        Tool::new(
            "plugin_config",
            "A plugin's settings and the values it runs with (sensitive ones never shown).",
        )
        .read_only(true)
        .output::<Settings>()
        .requires::<Caller>()
        .handler(tool!(fleet, "plugin_config", Read, |a: PluginName, f| {
            f.plugin(&a.name).await?;
            let entries = f.host.config_entries(&a.name).await.map_err(host_err)?;
            Ok(Json(Settings {
                settings: serde_json::to_value(entries).unwrap_or_default(),
            }))
        })),
        Tool::new(
            "configure_plugin",
            "Changes a plugin's settings, then recreates it with the new values; `null` \
             removes a value. Every change is checked first: one that does not fit changes \
             nothing.",
        )
        .idempotent(true)
        .output::<Settings>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "configure_plugin",
            Operate,
            |a: ConfigureArgs, f| {
                f.plugin(&a.name).await?;
                let entries = f
                    .host
                    .configure(&a.name, a.values)
                    .await
                    .map_err(host_err)?;
                Ok(Json(Settings {
                    settings: serde_json::to_value(entries).unwrap_or_default(),
                }))
            }
        )),
        Tool::new(
            "list_agents",
            "Lists the agents: workspace, client, linked plugins.",
        )
        .read_only(true)
        .output::<AgentList>()
        .requires::<Caller>()
        .handler(tool!(fleet, "list_agents", Read, |_a: NoArgs, f| {
            let store = f.host.store();
            let mut agents = Vec::new();
            for agent in store.list_agents().await.map_err(err)? {
                let plugins = store.links_of_agent(&agent.id).await.map_err(err)?;
                agents.push(AgentSummary {
                    config_path: agent.config_path().display().to_string(),
                    workspace: agent.workspace_dir.display().to_string(),
                    client: agent.client.to_string(),
                    id: agent.id,
                    name: agent.name,
                    plugins,
                });
            }
            Ok(Json(AgentList { agents }))
        })),
        Tool::new(
            "register_agent",
            "Registers an agent (or updates it) with its workspace and MCP client.",
        )
        .idempotent(true)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "register_agent",
            Operate,
            |a: RegisterArgs, f| {
                let name = a.name.unwrap_or_else(|| a.id.clone());
                let record = AgentRecord::new(&a.id, name, &a.workspace).with_client(a.client);
                f.host.register_agent(record).await.map_err(host_err)?;
                Ok(Json(Done {
                    message: format!("registered agent {} ({})", a.id, a.client),
                }))
            }
        )),
        Tool::new(
            "remove_agent",
            "Removes an agent: its links go, and the host's entries leave its client config.",
        )
        .destructive(true)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(fleet, "remove_agent", Operate, |a: AgentId, f| {
            f.agent(&a.agent).await?;
            f.host.remove_agent(&a.agent).await.map_err(host_err)?;
            Ok(Json(Done {
                message: format!("removed agent {}", a.agent),
            }))
        })),
        Tool::new(
            "link_agent",
            "Links an agent to a plugin: its client config lists it.",
        )
        .idempotent(true)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(fleet, "link_agent", Operate, |a: LinkArgs, f| {
            f.agent(&a.agent).await?;
            f.plugin(&a.plugin).await?;
            f.host.link(&a.agent, &a.plugin).await.map_err(host_err)?;
            Ok(Json(Done {
                message: format!("linked {} to {}", a.agent, a.plugin),
            }))
        })),
        Tool::new(
            "unlink_agent",
            "Unlinks an agent from a plugin: the entry leaves its client config.",
        )
        .destructive(true)
        .idempotent(true)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(fleet, "unlink_agent", Operate, |a: LinkArgs, f| {
            f.agent(&a.agent).await?;
            f.plugin(&a.plugin).await?;
            let was = f.host.unlink(&a.agent, &a.plugin).await.map_err(host_err)?;
            Ok(Json(Done {
                message: if was {
                    format!("unlinked {} from {}", a.agent, a.plugin)
                } else {
                    format!("{} was not linked to {}", a.agent, a.plugin)
                },
            }))
        })),
        Tool::new(
            "agent_client_config",
            "The client config the host wrote for an agent: its path and content.",
        )
        .read_only(true)
        .output::<ClientConfig>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "agent_client_config",
            Read,
            |a: AgentId, f| {
                let agent = f.agent(&a.agent).await?;
                let path = agent.config_path();
                let content = match tokio::fs::read_to_string(&path).await {
                    Ok(text) => Some(serde_json::from_str(&text).unwrap_or(Value::String(text))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(ToolError::new(format!(
                            "cannot read {}: {e}",
                            path.display()
                        )));
                    }
                };
                Ok(Json(ClientConfig {
                    path: path.display().to_string(),
                    content,
                }))
            }
        )),
        Tool::new(
            "send_agent_message",
            "Sends an agent a message or task through the host's delivery handler.",
        )
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "send_agent_message",
            Operate,
            |a: MessageArgs, f| {
                let agent = f.agent(&a.agent).await?;
                f.messages
                    .deliver(crate::store::HOST_SENDER, &agent, &a.text)
                    .await
                    .map_err(ToolError::new)?;
                Ok(Json(Done {
                    message: format!("delivered to {}", a.agent),
                }))
            }
        )),
        Tool::new(
            "agent_message_history",
            "An agent's message history, oldest first, a page at a time.",
        )
        .read_only(true)
        .output::<History>()
        .requires::<Caller>()
        .handler(tool!(
            fleet,
            "agent_message_history",
            Read,
            |a: HistoryArgs, f| {
                f.agent(&a.agent).await?;
                let limit = a
                    .limit
                    .unwrap_or(50)
                    .clamp(1, crate::store::MAX_MESSAGES_PER_PAGE);
                let mut page = f
                    .host
                    .store()
                    .messages_page(&a.agent, a.after.unwrap_or(0), limit + 1)
                    .await
                    .map_err(err)?;
                let next = (page.len() > limit).then(|| {
                    page.truncate(limit);
                    page.last().map_or(0, |m| m.id)
                });
                Ok(Json(History {
                    messages: page
                        .into_iter()
                        .map(|m| Message {
                            id: m.id,
                            from: m.plugin,
                            text: m.content,
                            at: m.created_at,
                        })
                        .collect(),
                    next,
                }))
            }
        )),
        Tool::new(
            "set_api_key",
            "Sets an API key plugins require (stored encrypted, never shown again).",
        )
        .idempotent(true)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(fleet, "set_api_key", Operate, |a: KeyArgs, f| {
            f.host
                .store()
                .set_api_key(&a.name, &a.value)
                .await
                .map_err(err)?;
            Ok(Json(Done {
                message: format!("set API key {}", a.name),
            }))
        })),
        Tool::new(
            "list_api_keys",
            "The names of the API keys set (never their values).",
        )
        .read_only(true)
        .output::<KeyNames>()
        .requires::<Caller>()
        .handler(tool!(fleet, "list_api_keys", Read, |_a: NoArgs, f| {
            Ok(Json(KeyNames {
                keys: f.host.store().api_key_names().await.map_err(err)?,
            }))
        })),
        Tool::new(
            "reconcile",
            "Makes the engine and the agents' client configs match the desired state, once.",
        )
        .idempotent(true)
        .output::<Done>()
        .requires::<Caller>()
        .handler(tool!(fleet, "reconcile", Operate, |_a: NoArgs, f| {
            let report = f.host.reconcile().await.map_err(host_err)?;
            Ok(Json(Done {
                message: if report.is_noop() {
                    "everything was as desired".to_owned()
                } else {
                    format!("{report:?}")
                },
            }))
        })),
        Tool::new(
            "host_status",
            "The host's version, whether the engine answers, and how many plugins and agents.",
        )
        .read_only(true)
        .output::<Status>()
        .requires::<Caller>()
        .handler(tool!(fleet, "host_status", Read, |_a: NoArgs, f| {
            let store = f.host.store();
            let plugins = store.list_plugins().await.map_err(err)?;
            let engine = f.host.runtime().list_managed().await;
            Ok(Json(Status {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                engine_reachable: engine.is_ok(),
                engine_error: engine.err().map(|e| e.to_string()),
                running: plugins
                    .iter()
                    .filter(|p| p.status == crate::store::Status::Running)
                    .count(),
                plugins: plugins.len(),
                agents: store.list_agents().await.map_err(err)?.len(),
            }))
        })),
    ]
}

/// The `{name}` of a plugin resource's URI.
#[derive(Debug, Deserialize)]
struct PluginUri {
    name: String,
}

/// The `{agent}` of an agent resource's URI.
#[derive(Debug, Deserialize)]
struct AgentUri {
    agent: String,
}

/// JSON contents, pretty-printed.
fn json_contents(value: &impl Serialize) -> Contents {
    Contents::text(serde_json::to_string_pretty(value).unwrap_or_default())
        .mime_type("application/json")
}

/// Each plugin's manifest and tool list, and each agent's client config, by URI. Readable
/// with any scope; an unknown name is "resource not found".
fn resources(fleet: &Fleet) -> Vec<ResourceTemplate> {
    let (f1, f2, f3) = (fleet.clone(), fleet.clone(), fleet.clone());
    vec![
        ResourceTemplate::new("nanofleet://plugins/{name}/manifest", "plugin-manifest")
            .description("An installed plugin's manifest.json.")
            .mime_type("application/json")
            .requires::<Caller>()
            .handler(move |uri: PluginUri, _call: ToolCall| {
                let f = f1.clone();
                async move {
                    let record = f.host.store().get_plugin(&uri.name).await.map_err(err)?;
                    Ok::<_, ToolError>(record.map(|r| json_contents(&r.manifest)))
                }
            }),
        ResourceTemplate::new("nanofleet://plugins/{name}/tools", "plugin-tools")
            .description("The tools an installed plugin lists, with their schemas.")
            .mime_type("application/json")
            .requires::<Caller>()
            .handler(move |uri: PluginUri, _call: ToolCall| {
                let f = f2.clone();
                async move {
                    let record = f.host.store().get_plugin(&uri.name).await.map_err(err)?;
                    Ok::<_, ToolError>(record.map(|r| json_contents(&r.tools)))
                }
            }),
        ResourceTemplate::new(
            "nanofleet://agents/{agent}/client-config",
            "agent-client-config",
        )
        .description("The client config the host wrote for an agent (.mcp.json, config.json).")
        .mime_type("application/json")
        .requires::<Caller>()
        .handler(move |uri: AgentUri, _call: ToolCall| {
            let f = f3.clone();
            async move {
                let Some(agent) = f.host.store().get_agent(&uri.agent).await.map_err(err)? else {
                    return Ok::<_, ToolError>(None);
                };
                match tokio::fs::read_to_string(agent.config_path()).await {
                    Ok(text) => Ok(Some(Contents::text(text).mime_type("application/json"))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(ToolError::new(format!(
                        "cannot read {}: {e}",
                        agent.config_path().display()
                    ))),
                }
            }
        }),
    ]
}
