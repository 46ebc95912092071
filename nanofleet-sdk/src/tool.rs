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
//!
//! The module holds the builder and the argument decoding; the values a handler takes
//! ([`ToolCall`], [`FromToolCall`], [`State`]), the MCP context ([`Context`]), results
//! ([`IntoToolResult`], [`Json`]) and errors ([`ToolError`]) live in submodules of their own
//! and are re-exported here.

use std::{borrow::Cow, fmt, future::Future, pin::Pin, sync::Arc};

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use crate::logging::LogLevel;
use crate::requirements::Requirements;

/// The key under which a non-object structured result is wrapped: MCP requires
/// `structuredContent` (and `outputSchema`) to be objects, so `Vec<Note>` becomes
/// `{"result": [...]}`, the convention FastMCP uses too.
pub const WRAPPED_RESULT_KEY: &str = "result";

mod call;
mod context;
mod error;
mod result;

pub(crate) use call::RequestAgent;
pub use call::{FromToolCall, State, ToolCall};
pub use context::Context;
pub(crate) use error::ErrorKind;
pub use error::ToolError;
pub use result::{IntoToolResult, Json};

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
    /// The `ui://` page clients supporting MCP Apps render for it (see [`Tool::app`]).
    pub(crate) app: Option<Cow<'static, str>>,
    /// Icons clients show beside it (see [`Tool::icon`]).
    pub(crate) icons: Vec<Cow<'static, str>>,
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
            app: None,
            icons: Vec::new(),
        }
    }

    /// Adds an icon clients may show beside the tool in `tools/list` (MCP's `icons`): an
    /// `https://` URL or a `data:image/...` URI, checked by
    /// [`PluginBuilder::build`](crate::plugin::PluginBuilder::build) with the manifest's icon
    /// rule. Listings on the host carry it.
    pub fn icon(mut self, src: impl Into<Cow<'static, str>>) -> Self {
        self.icons.push(src.into());
        self
    }

    /// Gives the tool a page (an MCP App, see [`crate::app`]): `uri` is a `ui://` resource of
    /// the plugin whose contents are HTML, which clients supporting MCP Apps render with the
    /// tool's result. The plugin refuses to start if it declares no such resource.
    pub fn app(mut self, uri: impl Into<Cow<'static, str>>) -> Self {
        self.app = Some(uri.into());
        self
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

    /// Adds to what the handler needs from the plugin, for needs that are not one type's:
    /// `add` is given the handler's [`Requirements`] (see
    /// [`Tool::requires`] for the usual way).
    pub fn requirements(
        mut self,
        add: impl FnOnce(&mut crate::requirements::Requirements),
    ) -> Self {
        add(&mut self.requirements);
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
    // Arguments that fit, the common case, are decoded without tracking where the decoder is;
    // only a failure is decoded again, to name the field at fault.
    if let Ok(args) = A::deserialize(&value) {
        return Ok(args);
    }
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
