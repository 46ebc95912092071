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

/// The numeric `uid:gid` a plugin runs as: the user of the images `nanofleet build` makes
/// (who owns their `/data`, and so a fresh data volume) and of the containers the host starts.
pub const PLUGIN_USER: &str = "65532:65532";

/// Parses `uid` or `uid:gid`, numeric, neither of them 0. Names are refused: a scratch image
/// has no user database to resolve them against, and a numeric id cannot silently mean root.
///
/// ```
/// use nanofleet_contracts::names::parse_non_root_user;
///
/// assert_eq!(parse_non_root_user("65532:65532"), Ok((65532, 65532)));
/// assert_eq!(parse_non_root_user("1000"), Ok((1000, 1000)));
/// assert!(parse_non_root_user("0:0").is_err() && parse_non_root_user("nobody").is_err());
/// ```
///
/// # Errors
///
/// A sentence naming the value and the expected form.
pub fn parse_non_root_user(user: &str) -> Result<(u32, u32), String> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    let parse = |s: &str| s.parse::<u32>().ok().filter(|id| *id != 0);
    match (parse(uid), parse(gid)) {
        (Some(uid), Some(gid)) => Ok((uid, gid)),
        _ => Err(format!(
            "user `{}` is not a numeric non-root `uid:gid`: use e.g. `{PLUGIN_USER}`",
            user.escape_debug()
        )),
    }
}

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
