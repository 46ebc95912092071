//! What a handler returns: [`IntoToolResult`] and [`Json`].

use std::fmt;

use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

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
/// [`Tool::output`](super::Tool::output) schema.
///
/// MCP requires `structuredContent` to be an object. Declare the output with [`Tool::output`](super::Tool::output)
/// (the macros always do) and a value that is not an object is wrapped as `{"result": ...}`;
/// without it, rmcp sends such a value to clients before protocol 2026-07-28 as text only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoToolResult for Json<T> {
    fn into_tool_result(self) -> CallToolResult {
        match serde_json::to_value(&self.0) {
            // `structured` also adds the value as JSON text, for clients that read only
            // `content`.
            Ok(value) => CallToolResult::structured(value),
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
