//! Every kind of value a tool can return, sync and async.
#![deny(warnings)]

use std::fmt;

use nanofleet_sdk::{
    plugin,
    rmcp::model::{CallToolResult, ContentBlock},
    tool::Json,
    ToolError,
};
use serde::Serialize;

#[derive(Serialize, schemars::JsonSchema)]
struct Note {
    id: u64,
    text: String,
}

/// An error type of the plugin's own: it only has to implement `Display`.
#[derive(Debug)]
struct NotFound(u64);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no note {}", self.0)
    }
}

#[derive(Default)]
struct Returns;

/// Every return form.
#[plugin(name = "returns", image = "acme/returns", mcp_port = 8080)]
impl Returns {
    /// Text.
    #[tool]
    fn string() -> String {
        "text".into()
    }

    /// Static text.
    #[tool]
    async fn static_str() -> &'static str {
        "text"
    }

    /// Nothing.
    #[tool]
    fn unit() {}

    /// Explicitly nothing.
    #[tool]
    async fn explicit_unit() -> () {}

    /// A struct: structured, schema as is.
    #[tool]
    async fn structured() -> Note {
        Note { id: 1, text: "a".into() }
    }

    /// A vector: structured, wrapped as `{"result": [...]}`.
    #[tool]
    fn vector() -> Vec<Note> {
        Vec::new()
    }

    /// A number: structured, wrapped.
    #[tool]
    fn number() -> u64 {
        7
    }

    /// An option: structured, wrapped.
    #[tool]
    fn option() -> Option<Note> {
        None
    }

    /// A result of a structured value with the SDK's error.
    #[tool]
    async fn result_structured(id: u64) -> Result<Note, ToolError> {
        Err(ToolError::new(format!("no note {id}")))
    }

    /// A result of text with the plugin's own error.
    #[tool]
    fn result_text(id: u64) -> Result<String, NotFound> {
        Err(NotFound(id))
    }

    /// A result of nothing, with `String` errors.
    #[tool]
    fn result_unit() -> Result<(), String> {
        Ok(())
    }

    /// A result alias, as `io::Result` and `anyhow::Result` are.
    #[tool]
    fn result_alias() -> std::io::Result<Vec<u8>> {
        Ok(vec![1])
    }

    /// Already `Json`.
    #[tool]
    fn json() -> Json<Note> {
        Json(Note { id: 1, text: "a".into() })
    }

    /// `Json` inside a result.
    #[tool]
    fn result_json() -> Result<Json<Vec<u8>>, ToolError> {
        Ok(Json(vec![]))
    }

    /// A raw MCP result.
    #[tool]
    fn raw() -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text("raw")])
    }

    /// A raw MCP result, fallibly.
    #[tool]
    async fn result_raw() -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult::success(Vec::new()))
    }
}

fn main() {
    let plugin = Returns.plugin().expect("a valid plugin");
    let outputs: Vec<(&str, Option<&str>)> = plugin
        .tools()
        .iter()
        .map(|t| {
            let kind = t.output_schema.as_ref().map(|s| {
                let wrapped = s.get("required") == Some(&serde_json::json!(["result"]));
                if wrapped { "wrapped" } else { "object" }
            });
            (t.name.as_ref(), kind)
        })
        .collect();
    assert_eq!(
        outputs,
        [
            ("string", None),
            ("static_str", None),
            ("unit", None),
            ("explicit_unit", None),
            ("structured", Some("object")),
            ("vector", Some("wrapped")),
            ("number", Some("wrapped")),
            ("option", Some("wrapped")),
            ("result_structured", Some("object")),
            ("result_text", None),
            ("result_unit", None),
            ("result_alias", Some("wrapped")),
            ("json", Some("object")),
            ("result_json", Some("wrapped")),
            ("raw", None),
            ("result_raw", None),
        ]
    );
}
