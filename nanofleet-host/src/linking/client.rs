//! The MCP clients agents run, and the file each reads its servers from.
//!
//! | client | file in the agent's workspace | where the servers are | a host entry |
//! |---|---|---|---|
//! | `claude-code` | `.mcp.json` | `mcpServers` | `{"type": "http", "url": …}` |
//! | `nanobot` | `config.json` (nanobot's home, `~/.nanobot`) | `tools.mcpServers` | `{"type": "streamableHttp", "url": …, "toolTimeout": 60}` |
//! | `codex` | `.codex/config.toml` (a project's, or `CODEX_HOME`'s `config.toml`) | `[mcp_servers.<name>]` | `url = …` |
//! | `vscode` | `.vscode/mcp.json` (JSON with comments) | `servers` | `{"type": "http", "url": …}` |
//!
//! nanobot (PyPI `nanobot-ai`, checked against 0.3.5) refuses every MCP URL that resolves to
//! a private or loopback address unless `tools.ssrfWhitelist` lists its range: plugin URLs
//! on a Docker network are private, so the host also keeps the plugin network's range there
//! (the loopback range in development mode), and nothing wider.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The most characters of a tool name that clients built on the Anthropic or OpenAI APIs
/// accept.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// The `toolTimeout` written into a nanobot entry, in seconds (nanobot's own default is 30).
pub const NANOBOT_TOOL_TIMEOUT_SECS: u64 = 60;

/// The MCP client an agent runs: which file in its workspace lists its servers, and in what
/// shape.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// Claude Code, and every client reading `.mcp.json` (`mcpServers`, `type: "http"`).
    #[default]
    ClaudeCode,
    /// nanobot (PyPI `nanobot-ai`): `config.json` in its home directory
    /// (`tools.mcpServers`, `type: "streamableHttp"`, `toolTimeout`, `tools.ssrfWhitelist`).
    Nanobot,
    /// OpenAI's codex: `.codex/config.toml`, one `[mcp_servers.<name>]` table per server
    /// with its `url` (codex reads a project's file in a trusted project; the same file is
    /// codex's home configuration when `CODEX_HOME` points at the workspace).
    Codex,
    /// VS Code: `.vscode/mcp.json`, JSON with comments, servers under `servers`.
    #[serde(rename = "vscode")]
    VsCode,
}

impl Client {
    /// Every client, in the order listings show them.
    pub const ALL: [Self; 4] = [Self::ClaudeCode, Self::Nanobot, Self::Codex, Self::VsCode];

    /// The name used in the store, the API and on the command line, e.g. `nanobot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::Nanobot => "nanobot",
            Self::Codex => "codex",
            Self::VsCode => "vscode",
        }
    }

    /// The client named `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// The file the client reads, relative to the agent's workspace: a name, or a
    /// directory of the workspace and a name (`.vscode/mcp.json`).
    pub fn file_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => super::MCP_JSON,
            Self::Nanobot => "config.json",
            Self::Codex => ".codex/config.toml",
            Self::VsCode => ".vscode/mcp.json",
        }
    }

    /// The lock file serialising the host's writers of [`file_name`](Self::file_name), in
    /// the workspace itself: a client's directory is made only when there is something to
    /// write into it.
    pub(super) fn lock_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => super::MCP_JSON_LOCK,
            Self::Nanobot => "config.json.lock",
            Self::Codex => ".codex-config.toml.lock",
            Self::VsCode => ".vscode-mcp.json.lock",
        }
    }

    /// The entry the host writes for a plugin at `url`.
    pub(super) fn entry(self, url: &str) -> Value {
        match self {
            Self::ClaudeCode | Self::VsCode => json!({"type": "http", "url": url}),
            Self::Codex => json!({"url": url}),
            Self::Nanobot => json!({
                "type": "streamableHttp",
                "url": url,
                "toolTimeout": NANOBOT_TOOL_TIMEOUT_SECS,
            }),
        }
    }

    /// Whether `entry` is one the host wrote: only the keys it writes, its `type`, and the
    /// agent in the URL's query (`agent_id=`). A user's own entry under a plugin's name (a
    /// stdio server, another URL, extra settings) is not the host's and is never removed.
    pub(super) fn is_host_entry(self, entry: &Value) -> bool {
        let Some(object) = entry.as_object() else {
            return false;
        };
        let (keys, kind): (&[&str], &str) = match self {
            Self::ClaudeCode | Self::VsCode => (&["type", "url"], "http"),
            Self::Nanobot => (&["type", "url", "toolTimeout"], "streamableHttp"),
            // codex tells transports apart by their keys (`url` or `command`), not a type.
            Self::Codex => (&["url"], ""),
        };
        let only_ours = object.keys().all(|key| keys.contains(&key.as_str()));
        let typed = object.get("type").is_none_or(|t| t == kind);
        let url = object
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let query = url.split_once('?').map_or("", |(_, query)| query);
        let names_agent = query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(key, _)| key == "agent_id")
        });
        only_ours && typed && names_agent
    }

    /// The name the client gives `tool` of the server `server`: Claude Code's and codex's
    /// `mcp__<server>__<tool>`; nanobot's `mcp_<server>_<tool>` (characters other than
    /// letters, digits, `_` and `-` made `_`, runs of `_` made one), which is also the
    /// longest name VS Code gives (it may shorten the server's part itself, so for VS Code
    /// the check errs on the side of a warning).
    pub fn tool_name(self, server: &str, tool: &str) -> String {
        match self {
            Self::ClaudeCode | Self::Codex => format!("mcp__{server}__{tool}"),
            Self::Nanobot | Self::VsCode => {
                let raw = format!("mcp_{server}_{tool}");
                let mut name = String::with_capacity(raw.len());
                for c in raw.chars() {
                    let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    };
                    if !(c == '_' && name.ends_with('_')) {
                        name.push(c);
                    }
                }
                name
            }
        }
    }

    /// A warning for each tool whose name, as this client sees it, is longer than
    /// [`MAX_TOOL_NAME_LEN`]: clients shorten or refuse such names, and the model then sees
    /// another name than the plugin's.
    pub fn tool_name_warnings<'a>(
        self,
        server: &str,
        tools: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        tools
            .into_iter()
            .filter_map(|tool| {
                let name = self.tool_name(server, tool);
                (name.chars().count() > MAX_TOOL_NAME_LEN).then(|| {
                    format!(
                        "{} sees tool `{tool}` of `{server}` as `{name}`, {} characters, over \
                         the {MAX_TOOL_NAME_LEN} its models accept: shorten the tool or the \
                         plugin name",
                        self.as_str(),
                        name.chars().count()
                    )
                })
            })
            .collect()
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for client in Client::ALL {
            assert_eq!(Client::parse(client.as_str()), Some(client));
            let json = serde_json::to_value(client).unwrap_or_default();
            assert_eq!(json, client.as_str());
        }
        assert_eq!(Client::parse("cursor"), None);
        assert_eq!(Client::default(), Client::ClaudeCode);
    }

    #[test]
    fn tool_names_as_each_client_sees_them() {
        assert_eq!(
            Client::ClaudeCode.tool_name("notes", "add_note"),
            "mcp__notes__add_note"
        );
        assert_eq!(
            Client::Nanobot.tool_name("my-notes", "add.note__x"),
            "mcp_my-notes_add_note_x"
        );
        let long_tool = "t".repeat(60);
        let warnings = Client::Nanobot.tool_name_warnings("kanban", [long_tool.as_str(), "ok"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("71 characters"), "{warnings:?}");
        assert!(warnings[0].contains(&long_tool));
    }

    #[test]
    fn host_entries_are_recognised_per_client() {
        let url = "http://nanofleet-plugin-notes:8080/mcp?agent_id=ada";
        assert!(Client::ClaudeCode.is_host_entry(&Client::ClaudeCode.entry(url)));
        assert!(Client::Nanobot.is_host_entry(&Client::Nanobot.entry(url)));
        assert!(!Client::Nanobot.is_host_entry(&Client::ClaudeCode.entry(url)));
        let users = json!({"type": "streamableHttp", "url": url, "headers": {"x": "y"}});
        assert!(!Client::Nanobot.is_host_entry(&users));
        let no_agent = json!({"type": "streamableHttp", "url": "http://example.com/mcp"});
        assert!(!Client::Nanobot.is_host_entry(&no_agent));
        assert!(Client::Codex.is_host_entry(&Client::Codex.entry(url)));
        assert!(Client::VsCode.is_host_entry(&Client::VsCode.entry(url)));
        let codex_users = json!({"url": url, "bearer_token_env_var": "TOKEN"});
        assert!(!Client::Codex.is_host_entry(&codex_users));
        let stdio = json!({"command": "notes", "args": ["--agent_id=ada"]});
        assert!(!Client::Codex.is_host_entry(&stdio));
    }
}
