//! `everything`: every kind of MCP feature the SDK offers, in one plugin, under the names the
//! official MCP conformance suite calls (`test_simple_text`, `test://static-text`,
//! `test_simple_prompt`, …), so that `cargo xtask conformance` can run the suite's server
//! scenarios against it.
//!
//! Tools are `#[tool]` methods; the resources, prompts and the tool with a hand-written
//! JSON Schema are added to the same plugin with the programmatic API, through
//! [`Everything::plugin_builder`].

use std::time::Duration;

use nanofleet_sdk::{
    Context, Error, LogLevel, Plugin, ToolError,
    ask::Elicitation,
    content::Content,
    plugin,
    prompt::{Message, Prompt},
    resource::{Contents, Resource, ResourceTemplate},
    rmcp::model::{ElicitationSchema, JsonObject},
    subscription::ResourceUpdates,
    tool::{NoArgs, Tool, ToolCall},
};
use serde::Deserialize;

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
        let answer = ctx.elicit_with(message, user_info_form()).await?;
        Ok(format!("User response: <{answer}>"))
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

    /// Answers at once (stream resumption is exercised by clients against it).
    #[tool(read_only)]
    fn test_reconnection(&self) -> &'static str {
        "Reconnection test completed successfully. If you received this, the client properly \
         reconnected after stream closure."
    }
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

/// The variables of `test://template/{id}/data`.
#[derive(Debug, Deserialize)]
pub struct TemplateUri {
    /// The id in the URI.
    pub id: String,
}

/// The arguments of `test_prompt_with_arguments`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PromptArguments {
    /// First test argument
    pub arg1: String,
    /// Second test argument
    pub arg2: String,
}

/// The arguments of `test_prompt_with_embedded_resource`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EmbedArguments {
    /// URI of the resource to embed
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
}

/// Values `test_prompt_with_arguments` completes `arg1` from.
pub const ARG1_VALUES: [&str; 3] = ["test", "testing", "tested"];

/// The plugin: the `#[tool]` methods, plus the resources, prompts and a tool with a
/// hand-written schema.
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
        .resource(
            Resource::new("test://static-text", "static-text")
                .description("A static text resource.")
                .mime_type("text/plain")
                .handler(|_: ToolCall| async {
                    "This is the content of the static text resource."
                }),
        )
        .resource(
            Resource::new("test://static-binary", "static-binary")
                .description("A static binary resource (a PNG image).")
                .mime_type("image/png")
                .handler(|_: ToolCall| async { Contents::blob(PNG) }),
        )
        .resource(
            Resource::new(WATCHED, "watched-resource")
                .description("A resource clients may subscribe to.")
                .mime_type("text/plain")
                .handler(|_: ToolCall| async { "Watched resource content" }),
        )
        .resource_template(
            ResourceTemplate::new("test://template/{id}/data", "template")
                .description("Data for an id.")
                .mime_type("application/json")
                .handler(|uri: TemplateUri, _: ToolCall| async move {
                    serde_json::json!({
                        "id": uri.id,
                        "templateTest": true,
                        "data": format!("Data for ID: {}", uri.id),
                    })
                    .to_string()
                })
                .complete("id", |typed, _| async move {
                    ["1", "2", "123"]
                        .into_iter()
                        .filter(|id| id.starts_with(typed.value()))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                }),
        )
        .prompt(
            Prompt::new("test_simple_prompt", "A simple prompt without arguments.")
                .handler(|_: NoArgs, _: ToolCall| async { "This is a simple prompt for testing." }),
        )
        .prompt(
            Prompt::new("test_prompt_with_arguments", "A prompt with two arguments.")
                .handler(|args: PromptArguments, _: ToolCall| async move {
                    format!(
                        "Prompt with arguments: arg1='{}', arg2='{}'",
                        args.arg1, args.arg2
                    )
                })
                .complete("arg1", |typed, _| async move {
                    ARG1_VALUES
                        .into_iter()
                        .filter(|v| v.starts_with(typed.value()))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                }),
        )
        .prompt(
            Prompt::new(
                "test_prompt_with_embedded_resource",
                "A prompt that embeds a resource.",
            )
            .handler(|args: EmbedArguments, _: ToolCall| async move {
                vec![
                    Message::user(Content::resource(
                        args.resource_uri,
                        Contents::text("Embedded resource content for testing.")
                            .mime_type("text/plain"),
                    )),
                    Message::user("Please process the embedded resource above."),
                ]
            }),
        )
        .prompt(
            Prompt::new("test_prompt_with_image", "A prompt with an image.").handler(
                |_: NoArgs, _: ToolCall| async {
                    vec![
                        Message::user(Content::image(PNG, "image/png")),
                        Message::user("Please analyze the image above."),
                    ]
                },
            ),
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
