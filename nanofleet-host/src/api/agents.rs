//! `/api/agents`: register and remove agents, link them to plugins, read what plugins told
//! them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiState,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody},
};
use crate::{
    Host,
    store::{AgentRecord, MessageRecord, StoreError},
};

/// An agent to register.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentRequest {
    /// The agent's id, sent to plugins as `agent_id`.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The agent's workspace (absolute path), where its client's file is written.
    #[schema(value_type = String)]
    pub workspace_dir: PathBuf,
    /// The MCP client the agent runs: `claude-code` (default; `.mcp.json`), `nanobot`
    /// (`config.json`, nanobot's home directory being the workspace), `codex`
    /// (`.codex/config.toml`) or `vscode` (`.vscode/mcp.json`).
    #[serde(default)]
    pub client: crate::linking::Client,
}

/// An agent as the admin API shows it (and the command line, in both its modes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// The agent's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its workspace.
    #[schema(value_type = String)]
    pub workspace_dir: PathBuf,
    /// The MCP client it runs.
    pub client: crate::linking::Client,
    /// The file the host writes its plugins into.
    #[schema(value_type = String)]
    pub config_path: PathBuf,
    /// The plugins it is linked to, by name.
    pub plugins: Vec<String>,
}

/// `{"agents": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    /// Every registered agent.
    pub agents: Vec<AgentInfo>,
}

impl AgentInfo {
    fn new(record: AgentRecord, plugins: Vec<String>) -> Self {
        Self {
            config_path: record.config_path(),
            client: record.client,
            id: record.id,
            name: record.name,
            workspace_dir: record.workspace_dir,
            plugins,
        }
    }

    /// The agent `id` with its links; `None` when it is not registered.
    pub async fn get(host: &Host, id: &str) -> Result<Option<Self>, StoreError> {
        let Some(record) = host.store().get_agent(id).await? else {
            return Ok(None);
        };
        let plugins = host.store().links_of_agent(id).await?;
        Ok(Some(Self::new(record, plugins)))
    }

    /// Every registered agent with its links.
    pub async fn list(host: &Host) -> Result<Vec<Self>, StoreError> {
        let store = host.store();
        let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for link in store.list_links().await? {
            links.entry(link.agent_id).or_default().push(link.plugin);
        }
        Ok(store
            .list_agents()
            .await?
            .into_iter()
            .map(|a| {
                let plugins = links.remove(&a.id).unwrap_or_default();
                Self::new(a, plugins)
            })
            .collect())
    }
}

/// A message a plugin sent to an agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageInfo {
    /// Increasing in the order messages were recorded.
    pub id: i64,
    /// The plugin that sent it.
    pub plugin: String,
    /// The text.
    pub content: String,
    /// When it was recorded (Unix seconds).
    pub created_at: i64,
}

impl From<MessageRecord> for MessageInfo {
    fn from(m: MessageRecord) -> Self {
        Self {
            id: m.id,
            plugin: m.plugin,
            content: m.content,
            created_at: m.created_at,
        }
    }
}

/// `{"messages": [...], "next": ...}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    /// The agent's messages, oldest first.
    pub messages: Vec<MessageInfo>,
    /// When more follow: the `after` of the next page.
    pub next: Option<i64>,
}

/// Which page of `GET /api/agents/{id}/messages`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only messages with an id above this one (the previous page's `next`).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

async fn known_agent(state: &ApiState, id: &str) -> Result<AgentRecord, ApiError> {
    state.host.store().get_agent(id).await?.ok_or_else(|| {
        ApiError::not_found("agent_not_found", format!("agent `{id}` is not registered"))
    })
}

/// Registers an agent (or updates one with that id) and writes its `.mcp.json`.
#[utoipa::path(
    post, path = "/api/agents", tag = "agents",
    request_body = AgentRequest,
    responses(
        (status = 201, description = "registered", body = AgentInfo),
        (status = 200, description = "updated", body = AgentInfo),
        (status = 422, description = "invalid id, name or workspace", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn register(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<AgentRequest>,
) -> Result<(StatusCode, Json<AgentInfo>), ApiError> {
    let store = state.host.store();
    let existed = store.get_agent(&request.id).await?.is_some();
    let record = AgentRecord::new(request.id, request.name, request.workspace_dir)
        .with_client(request.client);
    state.host.register_agent(record.clone()).await?;
    let plugins = store.links_of_agent(&record.id).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(AgentInfo::new(record, plugins))))
}

/// Lists the agents and their links.
#[utoipa::path(
    get, path = "/api/agents", tag = "agents",
    responses((status = 200, body = AgentList)),
    security(("bearer" = []))
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<AgentList>, ApiError> {
    Ok(Json(AgentList {
        agents: AgentInfo::list(&state.host).await?,
    }))
}

/// One agent with its links.
#[utoipa::path(
    get, path = "/api/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "agent id")),
    responses((status = 200, body = AgentInfo), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentInfo>, ApiError> {
    match AgentInfo::get(&state.host, &id).await? {
        Some(agent) => Ok(Json(agent)),
        None => Err(crate::HostError::UnknownAgent(id).into()),
    }
}

/// Removes an agent; the host's entries leave its `.mcp.json`.
#[utoipa::path(
    delete, path = "/api/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "agent id")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.host.remove_agent(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Links an agent to a plugin and rewrites the agent's `.mcp.json`. Idempotent.
#[utoipa::path(
    put, path = "/api/agents/{id}/links/{plugin}", tag = "agents",
    params(
        ("id" = String, Path, description = "agent id"),
        ("plugin" = String, Path, description = "plugin name"),
    ),
    responses(
        (status = 204, description = "linked"),
        (status = 404, description = "unknown agent or plugin", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn link(
    State(state): State<ApiState>,
    ApiPath((id, plugin)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.host.link(&id, &plugin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlinks an agent from a plugin; the entry leaves `.mcp.json` and stays gone.
#[utoipa::path(
    delete, path = "/api/agents/{id}/links/{plugin}", tag = "agents",
    params(
        ("id" = String, Path, description = "agent id"),
        ("plugin" = String, Path, description = "plugin name"),
    ),
    responses(
        (status = 204, description = "unlinked"),
        (status = 404, description = "unknown agent, or no such link", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn unlink(
    State(state): State<ApiState>,
    ApiPath((id, plugin)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    known_agent(&state, &id).await?;
    if state.host.unlink(&id, &plugin).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "link_not_found",
            format!("agent `{id}` is not linked to plugin `{plugin}`"),
        ))
    }
}

/// The messages plugins sent to an agent.
#[utoipa::path(
    get, path = "/api/agents/{id}/messages", tag = "agents",
    params(("id" = String, Path, description = "agent id"), MessagesQuery),
    responses((status = 200, body = MessageList), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn messages(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    known_agent(&state, &id).await?;
    let limit = query
        .limit
        .unwrap_or(100)
        .clamp(1, crate::store::MAX_MESSAGES_PER_PAGE);
    // One more than asked tells whether a next page exists.
    let mut messages = state
        .host
        .store()
        .messages_page(&id, query.after.unwrap_or(0), limit + 1)
        .await?;
    let next = (messages.len() > limit).then(|| {
        messages.truncate(limit);
        messages.last().map_or(0, |m| m.id)
    });
    Ok(Json(MessageList {
        messages: messages.into_iter().map(MessageInfo::from).collect(),
        next,
    }))
}

/// The client file the host writes an agent's links into, as it is on disk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfigInfo {
    /// The client the file is for (`claude-code`, `nanobot`, `codex`, `vscode`).
    pub client: String,
    /// The file's absolute path.
    pub path: String,
    /// Its text; `null` while the file does not exist (no links yet).
    pub content: Option<String>,
}

/// The most of a client file returned: more is not a file the host wrote.
const MAX_CLIENT_CONFIG_BYTES: u64 = 1024 * 1024;

/// The client file of an agent as it is on disk: the host's entries and the user's own.
#[utoipa::path(
    get, path = "/api/agents/{id}/client-config", tag = "agents",
    params(("id" = String, Path, description = "agent id")),
    responses((status = 200, body = ClientConfigInfo), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn client_config(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientConfigInfo>, ApiError> {
    let agent = known_agent(&state, &id).await?;
    let path = agent.config_path();
    let content = match tokio::fs::metadata(&path).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ApiError::internal("read the client file", &e)),
        Ok(meta) if meta.len() > MAX_CLIENT_CONFIG_BYTES => {
            return Err(ApiError::internal(
                "read the client file",
                &format!("{} is larger than 1 MiB", path.display()),
            ));
        }
        Ok(_) => Some(
            tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| ApiError::internal("read the client file", &e))?,
        ),
    };
    Ok(Json(ClientConfigInfo {
        client: agent.client.to_string(),
        path: path.display().to_string(),
        content,
    }))
}
