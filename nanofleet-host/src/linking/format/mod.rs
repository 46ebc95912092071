//! The files clients read their servers from, parsed and edited in place.
//!
//! Every format keeps what the host does not own exactly as it was: other servers, other
//! settings, their order, and comments where the format has them. The host only ever adds,
//! replaces or removes whole entries of the servers' table (and, for nanobot, one item of
//! its list of allowed address ranges).
//!
//! | format | used by | editor |
//! |---|---|---|
//! | strict JSON | Claude Code (`.mcp.json`), nanobot (`config.json`) | [`json`]: members kept as raw text |
//! | JSON with comments | VS Code (`.vscode/mcp.json`) | [`jsonc`]: `jsonc-parser`'s concrete syntax tree |
//! | TOML | codex (`.codex/config.toml`) | [`toml`]: `toml_edit`'s format-preserving document |

mod json;
mod jsonc;
mod toml;

use serde_json::Value;

use super::Client;

/// A client's config file, parsed, with its servers' table open for editing.
pub(super) trait ServersFile {
    /// The servers' entries in file order: each name with its value, `None` when the value
    /// cannot be read as data (a TOML date, say), which the host never takes for its own.
    fn entries(&self) -> Vec<(String, Option<Value>)>;

    /// Sets the entry `name` to `entry`: in place when there is one, else at the end.
    ///
    /// # Errors
    ///
    /// When `entry` cannot be written in the format (never for the entries the host makes).
    fn set_entry(&mut self, name: &str, entry: &Value) -> Result<(), String>;

    /// Removes the entry `name`, if there is one.
    fn remove_entry(&mut self, name: &str);

    /// Keeps `range` in the client's list of private address ranges it may reach while
    /// `wanted`, and takes it out when not; other items of the list are the user's. Returns
    /// whether the list changed. Only nanobot has such a list.
    ///
    /// # Errors
    ///
    /// When the list is there but is not a list.
    fn allow_range(&mut self, range: &str, wanted: bool) -> Result<bool, String> {
        let _ = (range, wanted);
        Ok(false)
    }

    /// The file's new text.
    ///
    /// # Errors
    ///
    /// When the document cannot be written out.
    fn render(self: Box<Self>) -> Result<String, String>;
}

/// Parses `text`, the content of `client`'s file (empty when there is none).
///
/// # Errors
///
/// When the text is not of the format, or not of the shape the client reads (the top
/// level or the servers' table not a table, duplicate keys), with the position of a syntax
/// error.
pub(super) fn parse(client: Client, text: &str) -> Result<Box<dyn ServersFile>, String> {
    Ok(match client {
        Client::ClaudeCode => Box::new(json::Document::parse(text, &["mcpServers"], false)?),
        Client::Nanobot => Box::new(json::Document::parse(text, &["tools", "mcpServers"], true)?),
        Client::VsCode => Box::new(jsonc::Document::parse(text, "servers")?),
        Client::Codex => Box::new(toml::Document::parse(text, "mcp_servers")?),
    })
}
