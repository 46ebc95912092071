//! The values a handler takes from its call rather than its arguments: [`ToolCall`],
//! [`FromToolCall`] and its implementations, [`State`].

use std::{fmt, sync::Arc};

use rmcp::{
    RoleServer, model::ProtocolVersion, service::RequestContext, task_manager::TaskContext,
};

#[cfg(feature = "host-api")]
use crate::api::NanoApi;
#[cfg(feature = "store")]
use crate::store::{AgentStore, SharedStore};
use crate::{
    agent::{AgentId, AgentIdError},
    ask::InputRound,
    env::PluginEnv,
    logging::Client,
    plugin::Running,
    requirements::Requirements,
};

use super::{Context, ErrorKind, ToolError};

/// Everything about one tool call besides its arguments: the MCP request context, the HTTP
/// request it arrived in, and the plugin it is for. Handlers pull what they need with
/// [`ToolCall::extract`].
#[derive(Clone)]
pub struct ToolCall {
    pub(crate) ctx: RequestContext<RoleServer>,
    pub(crate) plugin: Arc<Running>,
    /// The agent the request is for (see [`crate::caller`]), or why it names none.
    pub(crate) agent: Result<AgentId, AgentIdError>,
    /// The task the call runs as, if it does.
    pub(crate) task: Option<TaskContext>,
    /// The questions asked and answers given through `input_required` (protocol 2026-07-28).
    pub(crate) round: Option<Arc<InputRound>>,
}

impl fmt::Debug for ToolCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolCall")
            .field("request_id", &self.ctx.id)
            .finish_non_exhaustive()
    }
}

impl ToolCall {
    /// Extracts a value of any [`FromToolCall`] type: [`AgentId`], `Option<AgentId>`,
    /// [`AgentStore`], [`SharedStore`], [`Context`], [`NanoApi`], [`PluginEnv`], [`State<T>`].
    pub fn extract<T: FromToolCall>(&self) -> Result<T, ToolError> {
        T::from_tool_call(self)
    }

    /// The calling agent, or why there is none.
    pub fn agent(&self) -> Result<AgentId, ToolError> {
        self.extract()
    }

    /// The environment the plugin runs with, including its own variables
    /// ([`PluginEnv::var`]).
    pub fn env(&self) -> &PluginEnv {
        &self.plugin.env
    }

    /// The HTTP request's method, URI, headers and extensions, when the call came over HTTP.
    pub fn http_parts(&self) -> Option<&http::request::Parts> {
        self.ctx.extensions.get::<http::request::Parts>()
    }

    /// The underlying rmcp request context.
    pub fn request_context(&self) -> &RequestContext<RoleServer> {
        &self.ctx
    }
}

/// A value a handler can take from its [`ToolCall`] instead of from its arguments.
///
/// The macros recognise such parameters by this trait, not by name: a parameter whose type
/// implements it is supplied by the SDK and kept out of the input schema, and any other is an
/// argument. Implement it for a type of your own to have it injected the same way.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be supplied by the SDK",
    label = "not a value the SDK supplies (`FromToolCall`)",
    note = "the SDK supplies `AgentId`, `Option<AgentId>`, `AgentStore`, `SharedStore`, \
            `Context`, `NanoApi`, `Option<NanoApi>`, `PluginEnv`, `ResourceUpdates`, `State<T>`, \
            `Config<T>` \
            and any type implementing `FromToolCall`; a resource's other parameters are the \
            variables of its `uri_template`, by name"
)]
pub trait FromToolCall: Sized {
    /// Extracts the value, or explains why it is unavailable.
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError>;

    /// What the value needs from the plugin (its store, the host API, a state value), so that
    /// a plugin missing it fails when it starts rather than at the first call. Nothing, by
    /// default.
    fn requirements(needs: &mut Requirements) {
        let _ = needs;
    }
}

/// The outcome of reading `agent_id` from a request, stored in the request's extensions by
/// the HTTP layer after the signature check.
#[derive(Debug, Clone)]
pub(crate) struct RequestAgent(pub(crate) Result<AgentId, AgentIdError>);

impl FromToolCall for AgentId {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        call.agent.clone().map_err(ToolError::from)
    }
}

impl FromToolCall for Option<AgentId> {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        match AgentId::from_tool_call(call) {
            Ok(id) => Ok(Some(id)),
            Err(ToolError {
                kind: ErrorKind::Agent(AgentIdError::Missing),
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(feature = "store")]
impl FromToolCall for AgentStore {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        let agent = AgentId::from_tool_call(call)?;
        Ok(call.plugin.store()?.for_agent(agent))
    }

    fn requirements(needs: &mut Requirements) {
        needs.store();
    }
}

#[cfg(feature = "store")]
impl FromToolCall for SharedStore {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        Ok(call.plugin.store()?.shared())
    }

    fn requirements(needs: &mut Requirements) {
        needs.store();
    }
}

#[cfg(feature = "host-api")]
impl FromToolCall for NanoApi {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        call.plugin
            .nano_api()
            .map_err(|e| ToolError::new(e.to_string()))
    }

    fn requirements(needs: &mut Requirements) {
        needs.host_api();
    }
}

/// `None` when no host API is configured (`NANO_API_URL` unset), for tools that also work
/// without callbacks. A host API that is configured but unusable (a malformed URL, a missing
/// token) is an error naming the problem, not a silent `None`.
#[cfg(feature = "host-api")]
impl FromToolCall for Option<NanoApi> {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        if call.plugin.env.api_url.is_none() {
            return Ok(None);
        }
        call.plugin.nano_api().map(Some).map_err(ToolError::new)
    }
}

/// The plugin's environment; its own variables are read with [`PluginEnv::var`].
impl FromToolCall for PluginEnv {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        Ok(call.plugin.env.clone())
    }
}

impl FromToolCall for Context {
    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        let min_level = Client::of(call.http_parts(), call.agent.as_ref().ok())
            .and_then(|client| call.plugin.log_levels().get(&client));
        Ok(Context {
            peer: call.ctx.peer.clone(),
            progress_token: call.ctx.meta.get_progress_token(),
            ct: call.ctx.ct.clone(),
            min_level,
            task: call.task.clone(),
            client: call.ctx.client_capabilities(),
            input_required: call
                .ctx
                .protocol_version()
                .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28),
            round: call.round.clone(),
        })
    }
}

/// Shared plugin state of type `T`, set with
/// [`PluginBuilder::state`](crate::plugin::PluginBuilder::state).
#[derive(Debug)]
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> std::ops::Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromToolCall for State<T> {
    fn requirements(needs: &mut Requirements) {
        needs.state::<T>();
    }

    fn from_tool_call(call: &ToolCall) -> Result<Self, ToolError> {
        call.plugin
            .state::<T>()
            .map(State)
            .ok_or_else(|| ToolError::new(format!(
                "the plugin has no state of type `{}`: give it to the plugin builder with `.state(..)`",
                std::any::type_name::<T>()
            )))
    }
}
