//! Serving a plugin over standard input and output, for one agent: the transport local MCP
//! clients start a server with (Claude Desktop, Codex, nanobot's `stdio` servers). Every plugin
//! binary is such a server too:
//!
//! ```json
//! {"mcpServers": {"notes": {"command": "notes", "args": ["stdio", "--agent", "me", "--data-dir", "/home/me/.notes"]}}}
//! ```
//!
//! The process serves exactly one agent, named on the command line (`--agent`): its store is
//! that agent's, in the directory the user names (`--data-dir`, or `NANOFLEET_DATA_DIR`). Log
//! lines go to standard error; standard output carries only MCP messages.

use rmcp::ServiceExt as _;

use crate::{AgentId, Error, Plugin, env::PluginEnv, plugin::McpHandler};

/// Serves `plugin` over stdin/stdout for `agent` until the client closes its end.
///
/// # Errors
///
/// When the plugin cannot start (its store, its environment), or the MCP handshake fails.
pub async fn serve_stdio(plugin: &Plugin, env: PluginEnv, agent: AgentId) -> Result<(), Error> {
    let running = plugin.start_as(env, agent)?;
    let service = McpHandler(running)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Error::Serve(std::io::Error::other(e.to_string())))?;
    service
        .waiting()
        .await
        .map_err(|e| Error::Serve(std::io::Error::other(e.to_string())))?;
    Ok(())
}
