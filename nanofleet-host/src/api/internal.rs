//! `/internal/*`: the callbacks plugins make with their `NANO_INTERNAL_TOKEN` (the SDK's
//! `NanoApi`).
//!
//! A request is from the plugin whose internal token it carries as `Authorization: Bearer`
//! (every installed plugin's token is compared, each in constant time); anything else is 401.
//! A plugin sees and messages only the agents linked to it: any other agent is 404, exactly
//! like an agent that does not exist, so a plugin cannot even learn which ids exist. No
//! response carries a token, a workspace path or anything about other plugins (NanoFleet
//! handed every plugin every agent, tokens included). Each agent comes with the id of its
//! current link to the calling plugin, which the plugin checks against the `agent_link` of
//! signed requests (see [`nanofleet_contracts::callback`]).

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
};
use futures::future::BoxFuture;
use nanofleet_contracts::callback::{
    Agent as InternalAgent, AgentList as InternalAgentList, MAX_MESSAGE_BYTES, MessageRequest,
};

use super::{
    ApiState,
    auth::bearer,
    error::{ApiError, ApiJson, ApiPath, ErrorBody},
};
use crate::store::{AgentRecord, Store};

/// Delivers a plugin's message to an agent. The embedding application decides what that
/// means (queue it, wake the agent); [`StoreMessages`] records it in the store.
pub trait MessageHandler: Send + Sync {
    /// Delivers `content` from `plugin` to `agent` (an agent linked to that plugin).
    ///
    /// # Errors
    ///
    /// A sentence for the plugin when the message cannot be delivered (502 `delivery_failed`).
    fn deliver<'a>(
        &'a self,
        plugin: &'a str,
        agent: &'a AgentRecord,
        content: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The default [`MessageHandler`]: records each message in the store, where
/// `GET /api/agents/{id}/messages` reads it back.
#[derive(Debug, Clone)]
pub struct StoreMessages {
    store: Store,
}

impl StoreMessages {
    /// Records messages into `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl MessageHandler for StoreMessages {
    fn deliver<'a>(
        &'a self,
        plugin: &'a str,
        agent: &'a AgentRecord,
        content: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.store
                .record_message(plugin, &agent.id, content)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// The plugin a callback comes from, found by its internal token.
#[derive(Debug, Clone)]
pub struct PluginCaller(pub String);

impl FromRequestParts<ApiState> for PluginCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let refuse = || {
            ApiError::unauthorized(
                "send the plugin's NANO_INTERNAL_TOKEN as `Authorization: Bearer`",
            )
        };
        let candidate = bearer(parts).ok_or_else(refuse)?.as_bytes().to_vec();
        let store = state.host.store();
        let mut found = None;
        // Every token is compared, matched or not, so timing says nothing about which one.
        for plugin in store.list_plugins().await? {
            if let Some(token) = store.plugin_token(&plugin.name).await?
                && token.matches(&candidate)
                && found.is_none()
            {
                found = Some(plugin.name);
            }
        }
        found.map(Self).ok_or_else(refuse)
    }
}

/// The agent `id` and the id of its link, when it is linked to `plugin`; 404 otherwise
/// (unknown or not linked alike).
async fn linked_agent(
    state: &ApiState,
    plugin: &str,
    id: &str,
) -> Result<(AgentRecord, String), ApiError> {
    let store = state.host.store();
    let not_found =
        || ApiError::not_found("agent_not_found", "no such agent linked to this plugin");
    let link = store.link_id(id, plugin).await?.ok_or_else(not_found)?;
    let agent = store.get_agent(id).await?.ok_or_else(not_found)?;
    Ok((agent, link))
}

/// The agents linked to the calling plugin.
#[utoipa::path(
    get, path = "/internal/agents", tag = "internal",
    responses((status = 200, body = InternalAgentList), (status = 401, body = ErrorBody)),
    security(("plugin_token" = []))
)]
pub(crate) async fn list_agents(
    State(state): State<ApiState>,
    PluginCaller(plugin): PluginCaller,
) -> Result<Json<InternalAgentList>, ApiError> {
    let store = state.host.store();
    let mut agents = Vec::new();
    for id in store.agents_of_plugin(&plugin).await? {
        if let Some(agent) = store.get_agent(&id).await? {
            agents.push(InternalAgent {
                link: store.link_id(&id, &plugin).await?,
                id: agent.id,
                name: agent.name,
            });
        }
    }
    Ok(Json(InternalAgentList { agents }))
}

/// One agent linked to the calling plugin.
#[utoipa::path(
    get, path = "/internal/agents/{id}", tag = "internal",
    params(("id" = String, Path, description = "agent id")),
    responses(
        (status = 200, body = InternalAgent),
        (status = 401, body = ErrorBody),
        (status = 404, description = "unknown, or not linked to this plugin", body = ErrorBody),
    ),
    security(("plugin_token" = []))
)]
pub(crate) async fn get_agent(
    State(state): State<ApiState>,
    PluginCaller(plugin): PluginCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<InternalAgent>, ApiError> {
    let (agent, link) = linked_agent(&state, &plugin, &id).await?;
    Ok(Json(InternalAgent {
        id: agent.id,
        name: agent.name,
        link: Some(link),
    }))
}

/// Sends a message to an agent linked to the calling plugin.
#[utoipa::path(
    post, path = "/internal/agents/{id}/messages", tag = "internal",
    params(("id" = String, Path, description = "agent id")),
    request_body = MessageRequest,
    responses(
        (status = 204, description = "delivered"),
        (status = 401, body = ErrorBody),
        (status = 404, description = "unknown, or not linked to this plugin", body = ErrorBody),
        (status = 413, description = "content over 256 KiB", body = ErrorBody),
        (status = 502, description = "the message handler failed", body = ErrorBody),
    ),
    security(("plugin_token" = []))
)]
pub(crate) async fn send_message(
    State(state): State<ApiState>,
    PluginCaller(plugin): PluginCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<MessageRequest>,
) -> Result<StatusCode, ApiError> {
    let (agent, _) = linked_agent(&state, &plugin, &id).await?;
    if request.content.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            format!(
                "the message is {} bytes, over the {MAX_MESSAGE_BYTES}-byte limit",
                request.content.len()
            ),
        ));
    }
    state
        .messages
        .deliver(&plugin, &agent, &request.content)
        .await
        .map_err(|why| ApiError::new(StatusCode::BAD_GATEWAY, "delivery_failed", why))?;
    Ok(StatusCode::NO_CONTENT)
}
