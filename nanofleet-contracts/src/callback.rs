//! The internal callback API: what a plugin may ask of its host with its `NANO_INTERNAL_TOKEN`
//! (`Authorization: Bearer <token>`), paths and bodies. NanoFleet's host answers these; so does
//! ours, and the SDK's `NanoApi` calls them.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /internal/agents` | | [`AgentList`] (or a bare array) |
//! | `GET /internal/agents/{id}` | | an agent (or `{"agent": …}`) |
//! | `POST /internal/agents/{id}/messages` | [`MessageRequest`] | any 2xx |
//!
//! # Links and revocation
//!
//! The answers name each agent's current link ([`Agent::link`]), the id the host also wrote
//! into that agent's URL ([`AGENT_LINK_PARAM`](crate::names::AGENT_LINK_PARAM)). A plugin
//! checks a signed request's link against `GET /internal/agents/{id}` (a 404 means the agent
//! is not linked any more) and may keep the answer for at most [`LINK_CACHE_TTL`]: that is how
//! long a URL keeps working after an unlink.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The path segments under the API's base URL: `internal`, `agents`.
pub const AGENTS_SEGMENTS: [&str; 2] = ["internal", "agents"];

/// `GET`: the agents linked to the calling plugin.
pub const AGENTS_PATH: &str = "/internal/agents";

/// The route pattern of one agent, with `{id}` for its id (percent-encoded on the wire).
pub const AGENT_ROUTE: &str = "/internal/agents/{id}";

/// The last segment of the messages path of one agent.
pub const MESSAGES_SEGMENT: &str = "messages";

/// The route pattern for messages to one agent.
pub const MESSAGES_ROUTE: &str = "/internal/agents/{id}/messages";

/// The field the list answer wraps its agents in (NanoFleet's shape).
pub const AGENTS_FIELD: &str = "agents";

/// The field the one-agent answer may wrap its agent in (NanoFleet's shape).
pub const AGENT_FIELD: &str = "agent";

/// The longest message a host must accept, in bytes of UTF-8.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// How long a plugin may rely on an answer about an agent's link before asking again: the
/// longest an unlinked agent's old URL keeps working.
pub const LINK_CACHE_TTL: Duration = Duration::from_secs(5);

/// Fields of an agent that are secrets and never reach a plugin (NanoFleet's host sent them).
pub const SECRET_AGENT_FIELDS: [&str; 1] = ["token"];

/// An agent as a host shows it to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = InternalAgent))]
pub struct Agent {
    /// The agent's id, as it arrives in `agent_id`.
    pub id: String,
    /// Its display name.
    #[serde(default)]
    pub name: String,
    /// The id of its current link to the calling plugin, as written in its URL's
    /// [`AGENT_LINK_PARAM`](crate::names::AGENT_LINK_PARAM). Absent from hosts that do not
    /// issue link ids (NanoFleet's), in which case being listed is all there is to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `{"agents": [...]}`: the agents linked to the calling plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = InternalAgentList))]
pub struct AgentList {
    /// The agents.
    pub agents: Vec<Agent>,
}

/// `{"content": "..."}`: a message for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = MessageRequest))]
pub struct MessageRequest {
    /// The text, at most [`MAX_MESSAGE_BYTES`].
    pub content: String,
}
