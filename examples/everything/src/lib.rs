//! `everything`: every kind of MCP feature the SDK offers, in one plugin, under the names the
//! official MCP conformance suite calls (`test_simple_text`, `test://static-text`,
//! `test_simple_prompt`, …), so that `cargo xtask conformance` can run the suite's server
//! scenarios against it.
//!
//! Tools, resources, templates, prompts and completions are annotated methods (`#[tool]`,
//! `#[resource(...)]`, `#[prompt]`, `#[arg(complete = ...)]`); the one tool whose point is a
//! hand-written JSON Schema kept verbatim is added with the programmatic API, through
//! [`Everything::plugin_builder`].

use std::time::Duration;

use nanofleet_sdk::{
    Context, Error, LogLevel, Plugin, ToolError,
    ask::Elicitation,
    completion::Completion,
    content::Content,
    plugin,
    prompt::Message,
    resource::Contents,
    rmcp::model::{ElicitationSchema, JsonObject},
    subscription::ResourceUpdates,
    tool::{Tool, ToolCall},
};

/// A 1×1 red PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x05, 0x02, 0x00, 0x5f, 0xc8, 0xf1, 0xd2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The smallest WAV file: a header and no samples.
pub const WAV: &[u8] = &[
    0x52, 0x49, 0x46, 0x46, 0x26, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20,
    0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x40, 0x1f, 0x00, 0x00, 0x00, 0x7d, 0x00, 0x00,
    0x02, 0x00, 0x10, 0x00, 0x64, 0x61, 0x74, 0x61, 0x02, 0x00, 0x00, 0x00,
];

/// The plugin's state: none.
#[derive(Debug, Default)]
pub struct Everything;

/// Every MCP feature the SDK offers, as fixtures for the MCP conformance suite.
#[plugin(
    name = "everything",
    image = "nanofleet/everything",
    mcp_port = 8080,
    author = "nanofleet-rs"
)]
impl Everything {
    /// Returns a simple text response.
    #[tool(read_only)]
    fn test_simple_text(&self) -> &'static str {
        "This is a simple text response for testing."
    }

    /// Returns an image.
    #[tool(read_only)]
    fn test_image_content(&self) -> Content {
        Content::image(PNG, "image/png")
    }

    /// Returns audio.
    #[tool(read_only)]
    fn test_audio_content(&self) -> Content {
        Content::audio(WAV, "audio/wav")
    }

    /// Returns an embedded resource.
    #[tool(read_only)]
    fn test_embedded_resource(&self) -> Content {
        Content::resource(
            "test://embedded-resource",
            Contents::text("This is an embedded resource content.").mime_type("text/plain"),
        )
    }

    /// Returns text, an image and an embedded resource, in that order.
    #[tool(read_only)]
    fn test_multiple_content_types(&self) -> Vec<Content> {
        vec![
            Content::text("Multiple content types test:"),
            Content::image(PNG, "image/png"),
            Content::resource(
                "test://mixed-content-resource",
                Contents::text(r#"{"test":"data","value":123}"#).mime_type("application/json"),
            ),
        ]
    }

    /// Sends three log messages while it runs.
    #[tool(read_only)]
    async fn test_tool_with_logging(&self, ctx: Context) -> &'static str {
        for (i, message) in [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ctx.log(LogLevel::Info, message).await;
        }
        "Tool with logging executed successfully"
    }

    /// Reports progress three times, then finishes.
    #[tool(read_only)]
    async fn test_tool_with_progress(&self, ctx: Context) -> &'static str {
        for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let message = format!("Completed step {progress} of 100");
            ctx.progress(progress, Some(100.0), Some(&message)).await;
        }
        "Progress test completed"
    }

    /// Always fails, as a tool result the model reads (`isError`), not a protocol error.
    #[tool(read_only)]
    fn test_error_handling(&self) -> Result<String, ToolError> {
        Err(ToolError::new(
            "This tool intentionally returns an error for testing",
        ))
    }

    /// Asks the client's model to answer `prompt` (sampling), and returns its answer.
    #[tool]
    async fn test_sampling(
        &self,
        ctx: Context,
        /// The prompt to send to the LLM.
        prompt: String,
    ) -> Result<String, ToolError> {
        let answer = ctx.sample_text(prompt, 100).await?;
        Ok(format!("LLM response: {answer}"))
    }

    /// Asks the user for a username and an email address (elicitation).
    #[tool]
    async fn test_elicitation(
        &self,
        ctx: Context,
        /// The message to show the user.
        message: String,
    ) -> Result<String, ToolError> {
        ask_user_info(&ctx, message).await
    }

    /// Asks the user for a username and an email address, as a task for clients that ask for
    /// tasks (the question then waits in the task until `tasks/update` answers it).
    #[tool(task)]
    async fn elicit_in_task(
        &self,
        ctx: Context,
        /// The message to show the user.
        message: String,
    ) -> Result<String, ToolError> {
        ask_user_info(&ctx, message).await
    }

    /// Asks the user for a form whose every field has a default (SEP-1034).
    #[tool]
    async fn test_elicitation_sep1034_defaults(&self, ctx: Context) -> Result<String, ToolError> {
        let answer = ctx
            .elicit_with("Please review your profile", defaults_form())
            .await?;
        Ok(completed(&answer))
    }

    /// Asks the user to choose among every kind of enum a form offers (SEP-1330).
    #[tool]
    async fn test_elicitation_sep1330_enums(&self, ctx: Context) -> Result<String, ToolError> {
        let answer = ctx
            .elicit_with("Please choose your options", enums_form())
            .await?;
        Ok(completed(&answer))
    }

    /// Tells the clients subscribed to `test://watched-resource` that it changed; returns
    /// how many were told.
    #[tool]
    async fn update_watched_resource(&self, updates: ResourceUpdates) -> String {
        let told = updates.changed_for_everyone(WATCHED).await;
        format!("notified {told} subscriber(s)")
    }

    /// A static text resource.
    #[resource(
        uri = "test://static-text",
        name = "static-text",
        mime_type = "text/plain"
    )]
    fn static_text(&self) -> &'static str {
        "This is the content of the static text resource."
    }

    /// A static binary resource (a PNG image).
    #[resource(
        uri = "test://static-binary",
        name = "static-binary",
        mime_type = "image/png"
    )]
    fn static_binary(&self) -> Contents {
        Contents::blob(PNG)
    }

    /// A resource clients may subscribe to (`update_watched_resource` says it changed).
    #[resource(
        uri = "test://watched-resource",
        name = "watched-resource",
        mime_type = "text/plain"
    )]
    fn watched_resource(&self) -> &'static str {
        "Watched resource content"
    }

    /// Data for an id.
    #[resource(
        uri_template = "test://template/{id}/data",
        name = "template",
        mime_type = "application/json"
    )]
    fn template_data(
        &self,
        /// The id in the URI.
        #[arg(complete = complete_id)]
        id: String,
    ) -> String {
        serde_json::json!({
            "id": id,
            "templateTest": true,
            "data": format!("Data for ID: {id}"),
        })
        .to_string()
    }

    /// A simple prompt without arguments.
    #[prompt]
    fn test_simple_prompt(&self) -> &'static str {
        "This is a simple prompt for testing."
    }

    /// A prompt with two arguments.
    #[prompt]
    fn test_prompt_with_arguments(
        &self,
        /// First test argument
        #[arg(complete = complete_arg1)]
        arg1: String,
        /// Second test argument
        arg2: String,
    ) -> String {
        format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")
    }

    /// A prompt that embeds a resource.
    #[prompt]
    fn test_prompt_with_embedded_resource(
        &self,
        /// URI of the resource to embed
        #[arg(rename = "resourceUri")]
        resource_uri: String,
    ) -> Vec<Message> {
        vec![
            Message::user(Content::resource(
                resource_uri,
                Contents::text("Embedded resource content for testing.").mime_type("text/plain"),
            )),
            Message::user("Please process the embedded resource above."),
        ]
    }

    /// A prompt with an image.
    #[prompt]
    fn test_prompt_with_image(&self) -> Vec<Message> {
        vec![
            Message::user(Content::image(PNG, "image/png")),
            Message::user("Please analyze the image above."),
        ]
    }

    /// Counts to `steps`, one step every 50 ms, reporting progress; runs as a task for
    /// clients that ask for tasks, and stops early when cancelled.
    #[tool(task, read_only)]
    async fn count_slowly(
        &self,
        ctx: Context,
        /** How far to count. */
        steps: u32,
    ) -> String {
        for step in 1..=steps {
            tokio::select! {
                () = ctx.cancelled() => return format!("cancelled at {step}"),
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            let message = format!("step {step}");
            ctx.progress(f64::from(step), Some(f64::from(steps)), Some(&message))
                .await;
        }
        format!("counted to {steps}")
    }

    /// Answers at once (stream resumption is exercised by clients against it).
    #[tool(read_only)]
    fn test_reconnection(&self) -> &'static str {
        "Reconnection test completed successfully. If you received this, the client properly \
         reconnected after stream closure."
    }
}

/// Asks for [`user_info_form`]: `User response: <action: ..., content: {...}>`, as the suite
/// words it.
async fn ask_user_info(ctx: &Context, message: String) -> Result<String, ToolError> {
    let answer = ctx.elicit_with(message, user_info_form()).await?;
    Ok(format!("User response: <{answer}>"))
}

/// `Elicitation completed: action=<action>, content=<content>`, as the suite words it.
fn completed(answer: &Elicitation<JsonObject>) -> String {
    let content = match answer {
        Elicitation::Accepted(content) => serde_json::Value::Object(content.clone()),
        Elicitation::Declined | Elicitation::Cancelled => serde_json::Value::Null,
    };
    format!(
        "Elicitation completed: action={}, content={content}",
        answer.action()
    )
}

/// The resource clients subscribe to.
pub const WATCHED: &str = "test://watched-resource";

fn form(schema: serde_json::Value) -> ElicitationSchema {
    let serde_json::Value::Object(object) = schema else {
        unreachable!("every form here is a JSON object")
    };
    ElicitationSchema::from_json_schema(object).expect("every form here is a valid form")
}

/// The form of `test_elicitation`.
pub fn user_info_form() -> ElicitationSchema {
    form(serde_json::json!({
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"}
        },
        "required": ["username", "email"]
    }))
}

/// The form of `test_elicitation_sep1034_defaults`: a default for every kind of field.
pub fn defaults_form() -> ElicitationSchema {
    form(serde_json::json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": {"type": "boolean", "description": "Verification status", "default": true}
        }
    }))
}

/// The form of `test_elicitation_sep1330_enums`: untitled, titled and legacy single choices,
/// untitled and titled multiple choices.
pub fn enums_form() -> ElicitationSchema {
    form(serde_json::json!({
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {
                "type": "string",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"}
                ]
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
            },
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"}
                    ]
                }
            }
        }
    }))
}

/// Completes the `id` of `test://template/{id}/data`.
async fn complete_id(typed: Completion, _: ToolCall) -> Vec<String> {
    ["1", "2", "123"]
        .into_iter()
        .filter(|id| id.starts_with(typed.value()))
        .map(str::to_owned)
        .collect()
}

/// Values `test_prompt_with_arguments` completes `arg1` from.
pub const ARG1_VALUES: [&str; 3] = ["test", "testing", "tested"];

/// Completes `arg1` of `test_prompt_with_arguments`.
async fn complete_arg1(typed: Completion, _: ToolCall) -> Vec<String> {
    ARG1_VALUES
        .into_iter()
        .filter(|v| v.starts_with(typed.value()))
        .map(str::to_owned)
        .collect()
}

/// The plugin: the annotated methods, plus the one tool whose hand-written input schema the
/// suite checks is kept verbatim (what [`Tool::input_schema`] is for).
pub fn plugin() -> Result<Plugin, Error> {
    Everything
        .plugin_builder()
        .tool(
            Tool::new(
                "json_schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features",
            )
            .input_schema(json_schema_2020_12())
            .handler(|args: serde_json::Value, _: ToolCall| async move {
                format!("JSON Schema 2020-12 tool called with: {args}")
            }),
        )
        .build()
}

/// The input schema the suite's `json-schema-2020-12` scenario expects, verbatim: `$schema`,
/// `$defs` and `additionalProperties` must survive.
fn json_schema_2020_12() -> serde_json::Map<String, serde_json::Value> {
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
            }
        },
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": false
    });
    schema.as_object().cloned().unwrap_or_default()
}
