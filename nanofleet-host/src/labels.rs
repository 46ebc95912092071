//! The names the host gives to what it creates, and the labels it finds them by: one definition,
//! used by the runtime, the reconciler and the tests.

/// Label on every container, volume and network the host creates.
pub const MANAGED_BY: &str = "com.nanofleet.managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "nanofleet-rs";
/// The plugin a container or volume belongs to.
pub const PLUGIN: &str = "com.nanofleet.plugin";
/// The plugin version a container runs.
pub const VERSION: &str = "com.nanofleet.version";
/// Which host instance owns a container: several hosts may share one engine (a development
/// host beside a test run), and each reconciles only its own.
pub const INSTANCE: &str = "com.nanofleet.instance";
/// The instance of a host that was given none.
pub const DEFAULT_INSTANCE: &str = "default";
/// A hash of the container's effective configuration; a change means "recreate".
pub const CONFIG_HASH: &str = "com.nanofleet.config-hash";
/// Image label holding the plugin's `manifest.json`.
pub const IMAGE_MANIFEST: &str = "com.nanofleet.manifest";

/// The Docker network plugins and agents share.
pub const NETWORK: &str = "nanofleet-net";

/// The container name of a plugin: also its DNS name on [`NETWORK`].
pub fn container_name(plugin: &str) -> String {
    format!("nanofleet-plugin-{plugin}")
}

/// The data volume of a plugin, mounted at `/data`.
pub fn volume_name(plugin: &str) -> String {
    format!("nanofleet-plugin-{plugin}-data")
}

/// The URL an agent uses to reach a plugin on [`NETWORK`].
pub fn plugin_base_url(plugin: &str, mcp_port: u16) -> String {
    format!("http://{}:{mcp_port}/mcp", container_name(plugin))
}
