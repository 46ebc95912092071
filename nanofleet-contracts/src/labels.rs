//! The labels on what the host creates and on the images `nanofleet build` makes: how the host
//! finds its own objects after a restart, and how `nanofleet inspect` reads an image without
//! running it.

/// Label on every container, volume and network the host creates.
pub const MANAGED_BY: &str = "com.nanofleet.managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "nanofleet-rs";
/// The plugin a container or volume belongs to.
pub const PLUGIN: &str = "com.nanofleet.plugin";
/// The plugin version a container runs; also on images (NanoFleet's host reads the version
/// from this image label).
pub const VERSION: &str = "com.nanofleet.version";
/// Which host instance owns a container: several hosts may share one engine (a development
/// host beside a test run), and each reconciles only its own.
pub const INSTANCE: &str = "com.nanofleet.instance";
/// The instance of a host that was given none.
pub const DEFAULT_INSTANCE: &str = "default";
/// A hash of the container's effective configuration; a change means "recreate".
pub const CONFIG_HASH: &str = "com.nanofleet.config-hash";
/// On a Swarm service: how many replicas it runs when started (a stopped service is scaled to
/// none, and this says how many to start again).
pub const REPLICAS: &str = "com.nanofleet.replicas";
/// Image label holding the plugin's `manifest.json`.
pub const IMAGE_MANIFEST: &str = "com.nanofleet.manifest";
/// Image label holding the plugin's tools as `tools/list` returns them (a JSON array), taken
/// from the binary at build time: what an image offers is known before anything runs.
pub const IMAGE_TOOLS: &str = "com.nanofleet.tools";
/// Image label recording the SHA-256 of the binary an image holds, so an unchanged binary is
/// not built into a new image.
pub const IMAGE_BINARY_DIGEST: &str = "com.nanofleet.binary-sha256";
