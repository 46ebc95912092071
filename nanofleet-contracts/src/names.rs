//! The names of what a host creates on the engine, and the URL an agent reaches a plugin at.
//!
//! These are NanoFleet's conventions: an agent's `.mcp.json` names the container, so a plugin
//! installed by any NanoFleet host is reachable at the same URL.

/// The Docker network plugins and agents share.
pub const NETWORK: &str = "nanofleet-net";

/// The prefix of every plugin container's name.
pub const CONTAINER_PREFIX: &str = "nanofleet-plugin-";

/// The container name of a plugin: also its DNS name on [`NETWORK`].
///
/// ```
/// assert_eq!(nanofleet_contracts::names::container_name("notes"), "nanofleet-plugin-notes");
/// ```
pub fn container_name(plugin: &str) -> String {
    format!("{CONTAINER_PREFIX}{plugin}")
}

/// The name a new version of a plugin starts under during an upgrade, before it takes over
/// [`container_name`]; one left behind by an interrupted upgrade serves nobody.
pub fn staging_container_name(plugin: &str) -> String {
    format!("{}-next", container_name(plugin))
}

/// The data volume of a plugin, mounted at [`DATA_DIR`].
pub fn volume_name(plugin: &str) -> String {
    format!("{}-data", container_name(plugin))
}

/// Where a plugin's data volume is mounted inside its container.
pub const DATA_DIR: &str = "/data";

/// The MCP endpoint path every plugin serves.
pub const MCP_PATH: &str = "/mcp";

/// The query parameter that names the calling agent.
pub const AGENT_ID_PARAM: &str = "agent_id";

/// The query parameter carrying the agent's signature, when the host signs identities.
pub const AGENT_SIG_PARAM: &str = "agent_sig";

/// The URL an agent uses to reach a plugin on [`NETWORK`], without the agent's query.
///
/// ```
/// assert_eq!(
///     nanofleet_contracts::names::plugin_base_url("notes", 8080),
///     "http://nanofleet-plugin-notes:8080/mcp"
/// );
/// ```
pub fn plugin_base_url(plugin: &str, mcp_port: u16) -> String {
    format!("http://{}:{mcp_port}{MCP_PATH}", container_name(plugin))
}
