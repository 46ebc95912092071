//! MCP Apps (the `io.modelcontextprotocol/ui` extension): a tool with a page that clients
//! supporting it render next to the tool's result, in a sandboxed frame.
//!
//! A plugin offers one in two parts, linked by a `ui://` URI:
//!
//! - a resource at that URI whose contents are the page, of MIME type [`APP_MIME_TYPE`]
//!   (`#[resource(uri = "ui://board/view")]`; the MIME type is set for a `ui://` URI), with
//!   its `ui` settings (content-security domains, `prefersBorder`) in
//!   [`Resource::meta`](crate::resource::Resource::meta) if it needs any;
//! - a tool naming it, [`Tool::app`](crate::tool::Tool::app) or `#[tool(app = "ui://...")]`:
//!   its `tools/list` entry carries `_meta.ui.resourceUri` (and the older flat
//!   `_meta["ui/resourceUri"]`, which hosts built on earlier drafts read).
//!
//! The plugin refuses to start when a tool names a `ui://` page it does not declare, or a
//! `ui://` resource has another MIME type, so a typo is found before a client meets it.
//!
//! The page talks to the client that renders it, not to the plugin: JSON-RPC over
//! `window.parent.postMessage` — `ui/initialize` (then `ui/notifications/initialized`), the
//! tool's result in `ui/notifications/tool-result`, and `tools/call` to call the plugin's tools
//! through the client, as the agent. Clients without the extension show the tool's ordinary
//! result, so such a tool must still answer in text or structured content. The kanban example's
//! board is one page serving both as this app and as the plugin's sidebar UI.

/// The MIME type of an MCP App's page.
pub const APP_MIME_TYPE: &str = "text/html;profile=mcp-app";

/// The URI scheme of MCP App pages.
pub const APP_URI_SCHEME: &str = "ui://";

/// Whether `uri` names an MCP App page.
pub fn is_app_uri(uri: &str) -> bool {
    uri.starts_with(APP_URI_SCHEME)
}

/// The `_meta` of a tool whose page is at `uri`: the current key and the older flat one.
pub(crate) fn tool_meta(uri: &str) -> rmcp::model::JsonObject {
    let mut meta = rmcp::model::JsonObject::new();
    meta.insert("ui".into(), serde_json::json!({ "resourceUri": uri }));
    meta.insert("ui/resourceUri".into(), uri.into());
    meta
}
