//! Declaring tools without macros: [`Tool`], the values a handler can ask for ([`ToolCall`],
//! [`FromToolCall`]) and what a handler may return ([`IntoToolResult`]).
//!
//! ```
//! use nanofleet_sdk::tool::{Json, Tool, ToolCall, ToolError};
//! use nanofleet_sdk::AgentStore;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct AddNote {
//!     /// The note's text.
//!     text: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Added {
//!     id: u64,
//! }
//!
//! let tool = Tool::new("add_note", "Saves a note for the calling agent.")
//!     .output::<Added>()
//!     .handler(|args: AddNote, call: ToolCall| async move {
//!         let store: AgentStore = call.extract()?;
//!         let id = store.collection::<String>("notes").insert(&args.text).await?;
//!         Ok::<_, ToolError>(Json(Added { id }))
//!     });
//! assert_eq!(tool.name(), "add_note");
//! ```
//!
//! Values a handler needs at run time (the calling agent, its store, the MCP context, the host
//! API client, plugin state) come from the [`ToolCall`], the way axum extractors come from the
//! request: they never appear in the tool's input schema.

use std::{borrow::Cow, fmt, future::Future, pin::Pin, sync::Arc};

// MCP logging is deprecated from protocol 2026-07-28 on (SEP-2577), but every handshake-era
// client (2025-11-25 and before) still uses it, so `Context::log` keeps offering it.
#[allow(deprecated)]
use rmcp::model::LoggingMessageNotificationParam;
use rmcp::{
    RoleServer,
    model::{
        CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam, ProgressToken,
        ToolAnnotations,
    },
    service::{Peer, RequestContext},
    task_manager::TaskContext,
};
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "host-api")]
use crate::api::NanoApi;
use crate::logging::Client;
pub use crate::logging::LogLevel;
#[cfg(feature = "store")]
use crate::store::{AgentStore, SharedStore, StoreError};
use crate::{
    agent::{AgentId, AgentIdError},
    env::PluginEnv,
    plugin::Running,
    requirements::Requirements,
};

/// The key under which a non-object structured result is wrapped: MCP requires
/// `structuredContent` (and `outputSchema`) to be objects, so `Vec<Note>` becomes
/// `{"result": [...]}`, the convention FastMCP uses too.
pub const WRAPPED_RESULT_KEY: &str = "result";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type ErasedHandler =
    Arc<dyn Fn(Option<JsonObject>, ToolCall) -> BoxFuture<CallToolResult> + Send + Sync>;

/// One tool: its description for `tools/list` and its handler.
#[derive(Clone)]
pub struct Tool {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) title: Option<String>,
    pub(crate) input_schema: Option<Arc<JsonObject>>,
    pub(crate) output_schema: Option<Arc<JsonObject>>,
    pub(crate) wrap_output: bool,
    pub(crate) annotations: ToolAnnotations,
    pub(crate) handler: Option<ErasedHandler>,
    pub(crate) requirements: Requirements,
    /// Whether a call may run as a task (see [`Tool::task`]).
    pub(crate) task: bool,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("has_handler", &self.handler.is_some())
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// A tool named `name` (`^[a-z][a-z0-9_]*$`, at most 64 characters, checked by
    /// [`PluginBuilder::build`](crate::plugin::PluginBuilder::build)) that the model will see
    /// described as `description`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            title: None,
            input_schema: None,
            output_schema: None,
            wrap_output: false,
            annotations: ToolAnnotations::default(),
            handler: None,
            requirements: Requirements::default(),
            task: false,
        }
    }

    /// Lets a call run as a task (MCP's tasks extension, `io.modelcontextprotocol/tasks`): when
    /// the client declares the extension, `tools/call` answers at once with a task the client
    /// polls (`tasks/get`) and may cancel (`tasks/cancel`); other clients get the result
    /// inline, as from any tool. Inside a task, [`Context::progress`] sets the task's status
    /// message and [`Context::cancelled`] resolves on `tasks/cancel`. See [`crate::task`].
    pub fn task(mut self, yes: bool) -> Self {
        self.task = yes;
        self
    }

    /// Declares that the handler takes a `T` (extracted with [`ToolCall::extract`]): what `T`
    /// needs from the plugin ([`FromToolCall::requirements`]) is then checked when the plugin
    /// starts. The macros call it for every injected parameter.
    pub fn requires<T: FromToolCall>(mut self) -> Self {
        T::requirements(&mut self.requirements);
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A human-readable title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        let title = title.into();
        self.annotations.title = Some(title.clone());
        self.title = Some(title);
        self
    }

    /// Uses `T`'s JSON Schema as the input schema. [`Tool::handler`] does this for its
    /// argument type; call it to override the schema a handler implies.
    pub fn input<T: JsonSchema>(mut self) -> Self {
        self.input_schema = Some(Arc::new(schema_object::<T>()));
        self
    }

    /// Uses a hand-written JSON Schema (an object schema) as the input schema.
    pub fn input_schema(mut self, schema: JsonObject) -> Self {
        self.input_schema = Some(Arc::new(schema));
        self
    }

    /// Declares the structured output: `T`'s JSON Schema becomes the `outputSchema` and the
    /// handler returns [`Json<T>`]. A `T` whose schema is not an object is wrapped as
    /// `{"result": T}` in both the schema and every result.
    pub fn output<T: JsonSchema>(mut self) -> Self {
        let schema = schema_object::<T>();
        if is_object_schema(&schema) {
            self.output_schema = Some(Arc::new(schema));
            self.wrap_output = false;
        } else {
            self.output_schema = Some(Arc::new(wrap_schema(schema)));
            self.wrap_output = true;
        }
        self
    }

    /// Hint: the tool does not change its environment.
    pub fn read_only(mut self, yes: bool) -> Self {
        self.annotations.read_only_hint = Some(yes);
        self
    }

    /// Hint: the tool may destroy or overwrite data.
    pub fn destructive(mut self, yes: bool) -> Self {
        self.annotations.destructive_hint = Some(yes);
        self
    }

    /// Hint: calling the tool twice with the same arguments has no further effect.
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.annotations.idempotent_hint = Some(yes);
        self
    }

    /// Hint: the tool reaches outside the plugin (the internet, other services).
    pub fn open_world(mut self, yes: bool) -> Self {
        self.annotations.open_world_hint = Some(yes);
        self
    }

    /// Sets the handler. Its first argument is decoded from the call's `arguments` (use
    /// [`NoArgs`] for a tool without any); its input schema becomes the tool's unless
    /// [`Tool::input`] set one. Arguments that do not match give an `isError` result naming
    /// the field, so the model can correct itself.
    pub fn handler<A, F, Fut, R>(mut self, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A, ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoToolResult,
    {
        if self.input_schema.is_none() {
            self.input_schema = Some(Arc::new(schema_object::<A>()));
        }
        let wrap = self.wrap_output;
        let handler = Arc::new(handler);
        self.handler = Some(Arc::new(move |args: Option<JsonObject>, call: ToolCall| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let args = match decode_arguments::<A>(args) {
                    Ok(args) => args,
                    Err(message) => {
                        return CallToolResult::error(vec![ContentBlock::text(message)]);
                    }
                };
                let result = handler(args, call).await.into_tool_result();
                if wrap {
                    wrap_structured(result)
                } else {
                    result
                }
            }) as BoxFuture<CallToolResult>
        }));
        self
    }
}

/// The argument type of a tool that takes no arguments. Accepts a missing, `null` or empty
/// `arguments`; extra fields are ignored.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, JsonSchema)]
pub struct NoArgs {}

fn decode_arguments<A: DeserializeOwned>(args: Option<JsonObject>) -> Result<A, String> {
    let value = serde_json::Value::Object(args.unwrap_or_default());
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            format!("invalid arguments: {inner}")
        } else {
            format!("invalid arguments: `{path}`: {inner}")
        }
    })
}

fn schema_object<T: JsonSchema>() -> JsonObject {
    match serde_json::to_value(schemars::schema_for!(T)) {
        Ok(serde_json::Value::Object(map)) => map,
        // schemars produces an object for every type it derives; `true` means "anything".
        _ => JsonObject::new(),
    }
}

fn is_object_schema(schema: &JsonObject) -> bool {
    schema.get("type").and_then(|t| t.as_str()) == Some("object")
}

pub(crate) fn is_valid_input_schema(schema: &JsonObject) -> bool {
    is_object_schema(schema)
}

fn wrap_schema(mut inner: JsonObject) -> JsonObject {
    let mut outer = JsonObject::new();
    // Keep `$schema` and `$defs` at the root so `$ref`s inside the wrapped schema still resolve.
    for key in ["$schema", "$defs"] {
        if let Some(v) = inner.remove(key) {
            outer.insert(key.into(), v);
        }
    }
    outer.insert("type".into(), "object".into());
    outer.insert(
        "properties".into(),
        serde_json::json!({ WRAPPED_RESULT_KEY: serde_json::Value::Object(inner) }),
    );
    outer.insert("required".into(), serde_json::json!([WRAPPED_RESULT_KEY]));
    outer
}

fn wrap_structured(mut result: CallToolResult) -> CallToolResult {
    if result.is_error != Some(true)
        && let Some(value) = result.structured_content.take()
    {
        result.structured_content = Some(serde_json::json!({ WRAPPED_RESULT_KEY: value }));
    }
    result
}

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

/// A value a tool handler can take from its [`ToolCall`] instead of from its arguments.
///
/// The macros recognise such parameters by type and keep them out of the input schema.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be supplied by the SDK to a tool",
    label = "not an injected type",
    note = "injected parameters are `AgentId`, `Option<AgentId>`, `AgentStore`, `SharedStore`, \
            `Context`, `NanoApi`, `Option<NanoApi>`, `PluginEnv`, `ResourceUpdates` and `State<T>`; a type of your own with one of these names is \
            taken for it: rename it, or make it an argument of the tool"
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

impl From<crate::env::EnvError> for ToolError {
    fn from(e: crate::env::EnvError) -> Self {
        Self::new(e.to_string())
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

/// The MCP side of a call: progress notifications, log messages to the client, cancellation.
#[derive(Clone)]
pub struct Context {
    pub(crate) peer: Peer<RoleServer>,
    progress_token: Option<ProgressToken>,
    ct: CancellationToken,
    /// The lowest level the client asked for with `logging/setLevel`; `None`: everything.
    min_level: Option<LogLevel>,
    /// The task the call runs as, if it does: progress becomes its status message.
    task: Option<TaskContext>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("progress_token", &self.progress_token)
            .field("cancelled", &self.ct.is_cancelled())
            .finish()
    }
}

impl Context {
    /// Reports progress, when the client asked for it (a `progressToken` in the request);
    /// otherwise does nothing. `progress` should grow with every call.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        if let Some(task) = &self.task {
            // A task's client polls `tasks/get`: the report travels as its status message.
            let done = match total {
                Some(total) => format!("{progress}/{total}"),
                None => progress.to_string(),
            };
            task.set_status_message(match message {
                Some(message) => format!("{done}: {message}"),
                None => done,
            });
            return;
        }
        let Some(token) = self.progress_token.clone() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        param.total = total;
        param.message = message.map(str::to_owned);
        // A client that went away cannot be told; the tool's own result decides the outcome.
        if let Err(e) = self.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }

    /// Sends a log message to the client (`notifications/message`), unless the client asked
    /// (`logging/setLevel`) for a higher level only. MCP deprecates logging from protocol
    /// 2026-07-28 on (SEP-2577); every earlier client still uses it.
    pub async fn log(&self, level: LogLevel, message: impl Into<String>) {
        if self.min_level.is_some_and(|min| level < min) {
            return;
        }
        #[allow(deprecated)]
        let param = LoggingMessageNotificationParam::new(
            level.into(),
            serde_json::Value::String(message.into()),
        );
        #[allow(deprecated)]
        let sent = self.peer.notify_logging_message(param).await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "log notification not delivered");
        }
    }

    /// Whether the client cancelled the call (or went away).
    pub fn is_cancelled(&self) -> bool {
        self.ct.is_cancelled()
    }

    /// Resolves when the call is cancelled; `select!` on it to stop long work early.
    pub async fn cancelled(&self) {
        self.ct.cancelled().await;
    }
}

/// What a tool handler returns, turned into an MCP `CallToolResult`.
///
/// - [`String`] / `&'static str`: one text block.
/// - [`Json<T>`]: structured content (plus its JSON as text, for clients that read only text).
/// - `()`: an empty success.
/// - [`CallToolResult`]: as is.
/// - `Result<T, E: Display>`: `Err` becomes an `isError: true` result whose text is the error,
///   which the model sees and can act on.
pub trait IntoToolResult {
    /// Converts the value.
    fn into_tool_result(self) -> CallToolResult;
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> CallToolResult {
        self
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(self)])
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(self)])
    }
}

impl IntoToolResult for () {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(Vec::new())
    }
}

/// A structured tool result: serialised into `structuredContent`, described by the tool's
/// [`Tool::output`] schema.
///
/// MCP requires `structuredContent` to be an object. Declare the output with [`Tool::output`]
/// (the macros always do) and a value that is not an object is wrapped as `{"result": ...}`;
/// without it, rmcp sends such a value to clients before protocol 2026-07-28 as text only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoToolResult for Json<T> {
    fn into_tool_result(self) -> CallToolResult {
        match serde_json::to_value(&self.0) {
            Ok(value) => {
                let text = value.to_string();
                let mut result = CallToolResult::structured(value);
                // `structured` already adds the text block; keep exactly one.
                if result.content.is_empty() {
                    result.content.push(ContentBlock::text(text));
                }
                result
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "the tool's result could not be serialised: {e}"
            ))]),
        }
    }
}

impl<T: IntoToolResult, E: fmt::Display> IntoToolResult for Result<T, E> {
    fn into_tool_result(self) -> CallToolResult {
        match self {
            Ok(v) => v.into_tool_result(),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        }
    }
}

/// An error a tool reports to its caller as an `isError: true` result.
///
/// Converts from the SDK's own errors and from `String`/`&str`; for any other error type use
/// [`ToolError::new`] or `map_err(ToolError::from_display)`.
#[derive(Debug)]
pub struct ToolError {
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    Message(String),
    Agent(AgentIdError),
}

impl ToolError {
    /// An error with `message`, shown to the caller.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Message(message.into()),
        }
    }

    /// An error from anything that displays.
    pub fn from_display(err: impl fmt::Display) -> Self {
        Self::new(err.to_string())
    }

    /// The agent problem behind this error, if it is one.
    pub fn agent_error(&self) -> Option<&AgentIdError> {
        match &self.kind {
            ErrorKind::Agent(e) => Some(e),
            ErrorKind::Message(_) => None,
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Message(m) => f.write_str(m),
            ErrorKind::Agent(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<AgentIdError> for ToolError {
    fn from(e: AgentIdError) -> Self {
        Self {
            kind: ErrorKind::Agent(e),
        }
    }
}

#[cfg(feature = "store")]
impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        Self::new(e.to_string())
    }
}

#[cfg(feature = "host-api")]
impl From<crate::api::NanoApiError> for ToolError {
    fn from(e: crate::api::NanoApiError) -> Self {
        Self::new(e.to_string())
    }
}

impl From<String> for ToolError {
    fn from(e: String) -> Self {
        Self::new(e)
    }
}

impl From<&str> for ToolError {
    fn from(e: &str) -> Self {
        Self::new(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, JsonSchema)]
    struct Args {
        #[allow(dead_code)]
        text: String,
        #[allow(dead_code)]
        count: Option<u32>,
    }

    #[test]
    fn wrong_argument_types_name_the_field() {
        let args = serde_json::json!({"text": 5});
        let err = decode_arguments::<Args>(args.as_object().cloned()).expect_err("must fail");
        assert!(err.contains("`text`"), "{err}");
        let args = serde_json::json!({"text": "x", "count": -1});
        let err = decode_arguments::<Args>(args.as_object().cloned()).expect_err("must fail");
        assert!(err.contains("`count`"), "{err}");
        let err = decode_arguments::<Args>(None).expect_err("must fail");
        assert!(err.contains("missing field `text`"), "{err}");
    }

    #[test]
    fn no_args_accepts_nothing_at_all() {
        assert!(decode_arguments::<NoArgs>(None).is_ok());
        let schema = schema_object::<NoArgs>();
        assert!(is_valid_input_schema(&schema), "{schema:?}");
    }

    #[test]
    fn non_object_outputs_are_wrapped_in_schema_and_value() {
        let tool = Tool::new("t", "d").output::<Vec<u32>>();
        let schema = tool.output_schema.as_deref().expect("schema");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], serde_json::json!(["result"]));
        assert!(tool.wrap_output);
        let wrapped = wrap_structured(Json(vec![1, 2]).into_tool_result());
        assert_eq!(
            wrapped.structured_content,
            Some(serde_json::json!({"result": [1, 2]}))
        );
    }

    #[test]
    fn errors_become_is_error_results_with_their_message() {
        let r: Result<String, ToolError> = Err(ToolError::new("no such note"));
        let result = r.into_tool_result();
        assert_eq!(result.is_error, Some(true));
        let text = serde_json::to_string(&result.content).expect("json");
        assert!(text.contains("no such note"), "{text}");
    }
}
