//! The container runtime: what the host needs from a container engine, and nothing more.
//!
//! The reconciler, the install flow and the HTTP API talk to a [`Runtime`] trait object
//! (`Arc<dyn Runtime>`), never to Docker: Docker ([`DockerRuntime`]) is the one-machine
//! backend, and a Kubernetes backend can implement the same trait later. What a plugin
//! container looks like is described once, backend-neutrally, by a [`ContainerSpec`]; what is
//! actually running is reported as a [`ContainerState`], found by the labels in
//! [`crate::labels`].
//!
//! Every operation is idempotent where the host needs it to be, because the reconciler
//! retries: stopping or removing a container that is already stopped or gone succeeds (unlike
//! NanoFleet, where a second stop throws), and creating one whose name is taken is a
//! [`RuntimeError::Conflict`] the caller decides about.

use crate::names;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use nanofleet_sdk::manifest::{Filesystem, rules};
use sha2::{Digest, Sha256};

pub mod docker;
pub mod offline;
pub mod seccomp;
pub mod swarm;

pub use docker::DockerRuntime;
pub use futures::stream::BoxStream;
pub use offline::Offline;
pub use swarm::SwarmRuntime;

/// Which engine runs the plugins, as `nanofleet --engine` and [`HostConfig`](crate::HostConfig)
/// name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// One Docker engine, on this machine or at `DOCKER_HOST` ([`DockerRuntime`]).
    #[default]
    Docker,
    /// A Docker Swarm, through one of its managers ([`SwarmRuntime`]).
    Swarm,
}

impl Engine {
    /// Every engine, in the order they are documented.
    pub const ALL: [Self; 2] = [Self::Docker, Self::Swarm];

    /// The engine's name: `docker` or `swarm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Swarm => "swarm",
        }
    }

    /// Connects to this engine at `DOCKER_HOST` (or the default socket). Nothing is sent yet;
    /// [`Runtime::ping`] checks that it answers.
    pub fn connect(self) -> Result<std::sync::Arc<dyn Runtime>, RuntimeError> {
        Ok(match self {
            Self::Docker => std::sync::Arc::new(DockerRuntime::connect()?),
            Self::Swarm => std::sync::Arc::new(SwarmRuntime::connect()?),
        })
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "`{}` is not an engine: use `docker` (one engine) or `swarm` (a swarm, \
                     through a manager)",
                    text.escape_debug()
                )
            })
    }
}

/// Which of a container's log lines to read, as `docker logs` selects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// At most this many of the last lines.
    pub tail: usize,
    /// Only lines written at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Each line starts with the engine's RFC 3339 timestamp of it and a space.
    pub timestamps: bool,
}

impl LogOptions {
    /// The last `tail` lines, without timestamps.
    pub fn tail(tail: usize) -> Self {
        Self {
            tail,
            since: None,
            timestamps: false,
        }
    }
}

/// A boxed, sendable future: what every [`Runtime`] method returns, so the trait stays
/// object-safe (`Arc<dyn Runtime>`) without an `async_trait` dependency.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The user plugins run as unless told otherwise: the conventional `nonroot` of distroless
/// images. Images `nanofleet build` makes own `/data` by this user.
pub use nanofleet_contracts::names::PLUGIN_USER as DEFAULT_USER;

/// Where the plugin's data volume is mounted.
pub use nanofleet_contracts::names::DATA_DIR;

/// Where a backend with secret objects puts a plugin's secrets, one file per variable.
pub use nanofleet_contracts::names::SECRETS_DIR;

/// Bumped whenever the runtime changes how it turns a [`ContainerSpec`] into a container
/// (hardening, mounts, networks). It is part of [`ContainerSpec::config_hash`], so containers
/// created by an older host are recreated with the new settings instead of lingering.
const RUNTIME_LAYOUT_VERSION: u32 = 2;

/// Resource limits of one plugin container: the manifest's resolved `resources`, one
/// definition for the manifest, the host's defaults and the engine (memory in bytes, CPU in
/// thousandths, processes). Default 256 MiB, one CPU, 256 processes.
pub use nanofleet_sdk::manifest::ResourceLimits as Limits;

/// Everything that defines a plugin container. Two specs with the same
/// [`config_hash`](Self::config_hash) yield the same container.
///
/// The hardening (non-root user, read-only root, tmpfs `/tmp`, no capabilities,
/// no-new-privileges, limits, restart policy) is not optional and so not in the spec.
///
/// `Debug` prints the names of the environment variables, never their values: they hold
/// tokens and API keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The plugin's name, as in its manifest.
    pub plugin: String,
    /// The container's name. `None` (the normal case) means
    /// [`names::container_name`]`(plugin)`. An upgrade can start the new version under
    /// another name next to the old one, then [`Runtime::rename`] it; the container is
    /// reachable as `nanofleet-plugin-<plugin>` on the network under either name.
    pub container_name: Option<String>,
    /// The image to run: a reference (`acme/notes:1.2.0`) or an image id (`sha256:…`).
    pub image: String,
    /// The plugin version, recorded in the [`labels::VERSION`](crate::labels::VERSION) label.
    pub version: String,
    /// Environment variables: `NANO_API_URL`, `NANO_INTERNAL_TOKEN`, `NANO_PLUGIN_ID`, API keys…
    pub env: BTreeMap<String, String>,
    /// Which of [`env`](Self::env)'s variables hold secrets (the internal token, API keys).
    /// A backend that has secret objects (Swarm) hands these over as files in
    /// [`SECRETS_DIR`] instead of putting them in the environment, where anyone allowed to
    /// read the service's definition would see them; the SDK reads a variable from there
    /// when the environment lacks it. Every name here must be a key of `env`.
    pub secrets: BTreeSet<String>,
    /// The port the plugin serves MCP on inside the container.
    pub mcp_port: u16,
    /// The port of the plugin's UI, if it has one.
    pub ui_port: Option<u16>,
    /// Whether the plugin may reach the outside world. Without egress it is only on the
    /// internal network, where it can answer agents but open no outside connection.
    pub egress: bool,
    /// How the data volume is mounted at [`DATA_DIR`]: read-write, read-only, or not at all.
    pub data: Filesystem,
    /// Whether the plugin may start child processes. Without it the container runs under a
    /// seccomp profile that refuses process creation (threads stay allowed); see
    /// [`seccomp`].
    pub spawn: bool,
    /// Development mode: publish the MCP (and UI) port on `127.0.0.1` at a random host port,
    /// reported in [`ContainerState::published`], so a host running outside Docker can reach
    /// the plugin.
    pub publish_loopback: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Numeric `uid:gid` (or `uid`) the plugin runs as; never root. Default [`DEFAULT_USER`].
    pub user: String,
    /// The host instance that owns the container: its name, its volume's name and its
    /// [`labels::INSTANCE`](crate::labels::INSTANCE) label. Default: the default instance.
    pub instance: names::Instance,
    /// How many copies of the plugin run behind its one name, 1 to [`MAX_REPLICAS`].
    /// More than one needs a plugin without a data volume (it keeps no local state) and an
    /// engine that runs services (Swarm); the single engine refuses it.
    pub replicas: u32,
}

/// The most replicas a plugin may run.
pub const MAX_REPLICAS: u32 = 32;

/// Whether a plugin whose data volume is mounted as `data` may run `replicas` copies: 1 to
/// [`MAX_REPLICAS`], and more than one only without a data volume (several copies would each
/// have data of their own).
pub fn check_replicas(replicas: u32, data: Filesystem) -> Result<(), String> {
    if !(1..=MAX_REPLICAS).contains(&replicas) {
        Err(format!(
            "replicas {replicas} is out of range: use 1 to {MAX_REPLICAS}"
        ))
    } else if replicas > 1 && data != Filesystem::None {
        Err(format!(
            "{replicas} replicas of a plugin with a data volume would each have data of their \
             own: only a plugin that keeps no local state (filesystem `none`) runs several"
        ))
    } else {
        Ok(())
    }
}

impl ContainerSpec {
    /// A spec with the defaults: canonical name, no extra env, no UI, no egress, the data
    /// volume read-write, no child processes, nothing published, default limits, user
    /// [`DEFAULT_USER`].
    pub fn new(
        plugin: impl Into<String>,
        image: impl Into<String>,
        version: impl Into<String>,
        mcp_port: u16,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            container_name: None,
            image: image.into(),
            version: version.into(),
            env: BTreeMap::new(),
            secrets: BTreeSet::new(),
            mcp_port,
            ui_port: None,
            egress: false,
            data: Filesystem::ReadWrite,
            spawn: false,
            publish_loopback: false,
            limits: Limits::default(),
            user: DEFAULT_USER.to_owned(),
            instance: names::Instance::default(),
            replicas: 1,
        }
    }

    /// The name the container gets: [`container_name`](Self::container_name) or
    /// `nanofleet-plugin-<plugin>`.
    pub fn name(&self) -> String {
        self.container_name
            .clone()
            .unwrap_or_else(|| self.instance.container_name(&self.plugin))
    }

    /// A SHA-256 (64 hex digits) over a canonical encoding of everything that shapes the
    /// container: plugin, image, version, env names *and values* (a rotated key must recreate
    /// the container), ports, egress, data mount, spawning, publishing, limits, user, and the
    /// runtime's own layout
    /// version. The container name is left out on purpose, so renaming a container after an
    /// upgrade does not make it look changed.
    ///
    /// Each field is written as a tag, a length and the bytes, so no two different specs
    /// encode alike. The hash reveals no value that could not be guessed anyway; the secrets
    /// it covers are high-entropy tokens and keys.
    pub fn config_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut put = |tag: &str, bytes: &[u8]| {
            for part in [tag.as_bytes(), bytes] {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
        };
        put("layout", &RUNTIME_LAYOUT_VERSION.to_le_bytes());
        put("plugin", self.plugin.as_bytes());
        put("image", self.image.as_bytes());
        put("version", self.version.as_bytes());
        put("env.count", &(self.env.len() as u64).to_le_bytes());
        for (name, value) in &self.env {
            put("env.name", name.as_bytes());
            put("env.value", value.as_bytes());
        }
        put("mcp_port", &self.mcp_port.to_le_bytes());
        match self.ui_port {
            Some(port) => put("ui_port", &port.to_le_bytes()),
            None => put("ui_port.none", &[]),
        }
        put("egress", &[u8::from(self.egress)]);
        put("data", self.data.as_str().as_bytes());
        put("spawn", &[u8::from(self.spawn)]);
        put("publish_loopback", &[u8::from(self.publish_loopback)]);
        put("memory", &self.limits.memory_bytes.to_le_bytes());
        put("milli_cpus", &self.limits.milli_cpus.to_le_bytes());
        put("pids", &self.limits.pids.to_le_bytes());
        put("user", self.user.as_bytes());
        put("instance", self.instance.name().as_bytes());
        // Only when not the default, so that the hash of every one-copy plugin stays what it
        // was before replicas existed, and no container is recreated for that.
        if self.replicas != 1 {
            put("replicas", &self.replicas.to_le_bytes());
        }
        to_hex(&hasher.finalize())
    }

    /// Checks the spec before anything is sent to the engine, reporting every problem at once.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let mut problems = Vec::new();
        if let Err(v) = rules::check_plugin_name(&self.plugin) {
            problems.push(format!("plugin name: {v}"));
        }
        if let Some(name) = &self.container_name
            && let Err(why) = check_container_name(name)
        {
            problems.push(why);
        }
        if !self.image.starts_with("sha256:")
            && let Err(v) = rules::check_image_ref(&self.image)
        {
            problems.push(format!("image: {v}"));
        }
        if self.version.is_empty() || self.version.chars().any(char::is_control) {
            problems.push(format!(
                "version `{}` is empty or has control characters",
                self.version.escape_debug()
            ));
        }
        for (name, value) in &self.env {
            if let Err(v) = rules::check_env_var_name(name) {
                problems.push(format!("env: {v}"));
            }
            // A NUL cannot cross the exec boundary: the engine would fail late and obscurely.
            if value.contains('\0') {
                problems.push(format!("env: the value of `{name}` contains a NUL byte"));
            }
        }
        for name in &self.secrets {
            if !self.env.contains_key(name) {
                problems.push(format!(
                    "secrets: `{name}` is named a secret but has no value in env"
                ));
            }
        }
        for (what, port) in [("mcp_port", Some(self.mcp_port)), ("ui_port", self.ui_port)] {
            if port == Some(0) {
                problems.push(format!("{what} is 0: give the port the plugin listens on"));
            }
        }
        if self.ui_port.is_some() && self.ui_port == Some(self.mcp_port) {
            problems.push("ui_port equals mcp_port: a plugin serves them on two ports".into());
        }
        if let Err(why) = parse_non_root_user(&self.user) {
            problems.push(why);
        }
        if let Err(why) = check_replicas(self.replicas, self.data) {
            problems.push(why);
        }
        let limits = &self.limits;
        for (what, value, min) in [
            ("memory limit", limits.memory_bytes, 8 * 1024 * 1024),
            ("CPU limit (milli_cpus)", u64::from(limits.milli_cpus), 1),
            ("pids limit", limits.pids, 8),
        ] {
            if value < min || i64::try_from(value).is_err() {
                problems.push(format!(
                    "{what} {value} is out of range: use at least {min} (and less than 2^63)"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RuntimeError::InvalidSpec(problems.join("; ")))
        }
    }
}

impl fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("plugin", &self.plugin)
            .field("container_name", &self.container_name)
            .field("image", &self.image)
            .field("version", &self.version)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets)
            .field("mcp_port", &self.mcp_port)
            .field("ui_port", &self.ui_port)
            .field("egress", &self.egress)
            .field("data", &self.data)
            .field("spawn", &self.spawn)
            .field("publish_loopback", &self.publish_loopback)
            .field("limits", &self.limits)
            .field("user", &self.user)
            .field("instance", &self.instance)
            .field("replicas", &self.replicas)
            .finish()
    }
}

/// Checks a container name the way Docker does (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), with a bound.
fn check_container_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "container name `{}` is invalid: use letters, digits, `_`, `.` and `-`, starting \
             with a letter or digit, at most 128 characters",
            name.escape_debug()
        ))
    }
}

pub(crate) use nanofleet_contracts::names::parse_non_root_user;

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A plugin container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The plugin, from the [`labels::PLUGIN`](crate::labels::PLUGIN) label.
    pub plugin: String,
    /// The engine's id of the container.
    pub id: String,
    /// The container's name.
    pub name: String,
    /// Whether it is running now.
    pub running: bool,
    /// The [`labels::VERSION`](crate::labels::VERSION) label.
    pub version: Option<String>,
    /// The [`labels::CONFIG_HASH`](crate::labels::CONFIG_HASH) label: compare with [`ContainerSpec::config_hash`].
    pub config_hash: Option<String>,
    /// Container port → host address, for ports published in loopback mode.
    pub published: BTreeMap<u16, SocketAddr>,
    /// The container's address on the plugin network ([`names::NETWORK`]), while it has
    /// one: what a host attached to that network can probe.
    pub ip: Option<IpAddr>,
    /// The engine's state word: `created`, `running`, `restarting`, `exited`, `paused`,
    /// `removing` or `dead`.
    pub status: String,
    /// The exit code of the last run, when the container is not running.
    pub exit_code: Option<i64>,
    /// The [`labels::INSTANCE`](crate::labels::INSTANCE) label: which host owns the container.
    pub instance: Option<String>,
}

impl ContainerState {
    /// Where the host itself reaches the container's `port`: the published loopback address
    /// in development mode, else the container's address on the plugin network. The one
    /// answer to that question, for the readiness probe, host-made tool calls and the UI
    /// proxy alike; `None` while the container has neither.
    pub fn host_address(&self, port: u16) -> Option<SocketAddr> {
        match self.published.get(&port) {
            Some(addr) => Some(*addr),
            None => self.ip.map(|ip| SocketAddr::new(ip, port)),
        }
    }
}

/// What happened to a managed container, from [`Runtime::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// The plugin the container belongs to.
    pub plugin: String,
    /// The container's name.
    pub container: String,
    /// What happened.
    pub action: EventAction,
}

/// The kind of a [`RuntimeEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventAction {
    /// The container was created.
    Create,
    /// It started.
    Start,
    /// Its process exited (crashed, was killed, or stopped), with the exit code when known.
    Die {
        /// The process's exit code.
        exit_code: Option<i64>,
    },
    /// It was stopped on request.
    Stop,
    /// It was sent a signal.
    Kill,
    /// It ran out of memory.
    Oom,
    /// It was restarted on request.
    Restart,
    /// It was removed.
    Destroy,
    /// Anything else the engine reports, by its name.
    Other(String),
}

impl fmt::Display for EventAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create => f.write_str("create"),
            Self::Start => f.write_str("start"),
            Self::Die {
                exit_code: Some(code),
            } => write!(f, "die (exit code {code})"),
            Self::Die { exit_code: None } => f.write_str("die"),
            Self::Stop => f.write_str("stop"),
            Self::Kill => f.write_str("kill"),
            Self::Oom => f.write_str("oom"),
            Self::Restart => f.write_str("restart"),
            Self::Destroy => f.write_str("destroy"),
            Self::Other(other) => f.write_str(other),
        }
    }
}

/// Why a runtime operation failed. Each message is one sentence saying what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The engine cannot be reached at all.
    #[error("cannot reach {engine} at {endpoint}: {hint}")]
    Unreachable {
        /// Which engine, e.g. `the Docker engine`.
        engine: &'static str,
        /// Where it was looked for, e.g. `unix:///var/run/docker.sock`.
        endpoint: String,
        /// What to check.
        hint: String,
    },
    /// The container (or other object) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken, or the object is not the host's to touch.
    #[error("{0}")]
    Conflict(String),
    /// The image is not on this machine (and pulling, when asked, failed).
    #[error("image {image} is not available: {hint}")]
    ImageMissing {
        /// The image reference.
        image: String,
        /// How to get it.
        hint: String,
    },
    /// The [`ContainerSpec`] cannot be turned into a container.
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    /// The engine refused or failed an operation for another reason.
    #[error("cannot {operation}: {message}")]
    Engine {
        /// What was attempted, e.g. `create container nanofleet-plugin-notes`.
        operation: String,
        /// What the engine said.
        message: String,
    },
}

impl RuntimeError {
    /// The stable, snake_case identifier of the error, as the API answers it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "engine_unavailable",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::ImageMissing { .. } => "image_missing",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::Engine { .. } => "engine_error",
        }
    }
}

/// How an engine upgrades a plugin: see [`Runtime::upgrade_strategy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// The new version runs under another name next to the old one, then takes its name.
    SideBySide,
    /// The plugin's definition is replaced where it is, and the engine keeps the previous
    /// one to roll back to (a Swarm service).
    InPlace,
}

fn side_by_side_only(operation: &str, name: &str) -> RuntimeError {
    RuntimeError::Engine {
        operation: format!("{operation} {name}"),
        message: "this engine upgrades side by side: start the new version under another \
                  name, then rename it"
            .into(),
    }
}

/// A container engine, as the host uses it. Object-safe: hold it as `Arc<dyn Runtime>`.
///
/// Names are container names ([`ContainerState::name`]). Operations on a container refuse
/// (with [`RuntimeError::Conflict`]) to touch one that the host did not create, i.e. one
/// without the [`labels::MANAGED_BY`](crate::labels::MANAGED_BY) label.
pub trait Runtime: Send + Sync {
    /// Checks that the engine answers.
    fn ping(&self) -> BoxFut<'_, Result<(), RuntimeError>>;

    /// Creates the networks plugins use, if missing: the internal [`names::NETWORK`] and one
    /// with outside access for plugins granted egress. Idempotent.
    fn ensure_network(&self) -> BoxFut<'_, Result<(), RuntimeError>>;

    /// Creates the container described by `spec` (and its data volume, if missing), starts
    /// it, and reports it. A container with that name already existing is a
    /// [`RuntimeError::Conflict`]. If any step after creation fails, the container is removed
    /// again: a failed call leaves no orphan behind.
    fn create_and_start<'a>(
        &'a self,
        spec: &'a ContainerSpec,
    ) -> BoxFut<'a, Result<ContainerState, RuntimeError>>;

    /// Starts a stopped container; one already running is fine. A missing one is
    /// [`RuntimeError::NotFound`].
    fn start<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>>;

    /// Stops a container. Already stopped, or missing: `Ok`.
    fn stop<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>>;

    /// Removes a container, running or not. Missing: `Ok`. The data volume stays.
    fn remove<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>>;

    /// Renames a container (the last step of an upgrade that started the new version under a
    /// temporary name).
    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFut<'a, Result<(), RuntimeError>>;

    /// How this engine upgrades a plugin. [`Upgrade::SideBySide`] (the default): the host
    /// starts the new version under another name next to the old one, checks it, removes the
    /// old one and [`rename`](Self::rename)s the new one. [`Upgrade::InPlace`]: the host
    /// [`replace`](Self::replace)s the definition, checks the new version, and
    /// [`roll_back`](Self::roll_back)s when it is not ready.
    fn upgrade_strategy(&self) -> Upgrade {
        Upgrade::SideBySide
    }

    /// Replaces the definition of the running plugin `spec.name()` with `spec`, the new
    /// version started before the old one stops. Returns once only the new version runs. If
    /// the new version fails to run, the engine puts the old one back before this returns
    /// the error. A missing plugin is [`RuntimeError::NotFound`]. Only for engines whose
    /// [`upgrade_strategy`](Self::upgrade_strategy) is [`Upgrade::InPlace`].
    fn replace<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Err(side_by_side_only("replace", &spec.name())) })
    }

    /// Puts back the definition `name` had before the last [`replace`](Self::replace) (the
    /// new version ran but did not get ready), old version started before the new one stops.
    /// Returns once only the old version runs. Only for engines whose
    /// [`upgrade_strategy`](Self::upgrade_strategy) is [`Upgrade::InPlace`].
    fn roll_back<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async move { Err(side_by_side_only("roll back", name)) })
    }

    /// The most copies of one plugin this engine runs behind its name: 1 for an engine of
    /// containers, more for one of services.
    fn max_replicas(&self) -> u32 {
        1
    }

    /// Every container the host created, in any state.
    fn list_managed(&self) -> BoxFut<'_, Result<Vec<ContainerState>, RuntimeError>>;

    /// One container by name; `None` when there is none.
    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFut<'a, Result<Option<ContainerState>, RuntimeError>>;

    /// The last lines of a container's output (stdout and stderr, interleaved), as
    /// `options` select them.
    fn logs<'a>(
        &'a self,
        name: &'a str,
        options: LogOptions,
    ) -> BoxFut<'a, Result<Vec<String>, RuntimeError>>;

    /// The last lines of a container's output, as `options` select them, then each new line
    /// as it comes. The stream ends when the container stops.
    fn follow_logs<'a>(
        &'a self,
        name: &'a str,
        options: LogOptions,
    ) -> BoxFut<'a, Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError>>;

    /// Removes the data volume of `plugin` in `instance`: its data is gone. Missing: `Ok`.
    /// Still in use by a container: [`RuntimeError::Conflict`]. A volume of that name that
    /// another instance (or nobody we know) owns is never touched: [`RuntimeError::Conflict`].
    fn remove_volume<'a>(
        &'a self,
        instance: &'a names::Instance,
        plugin: &'a str,
    ) -> BoxFut<'a, Result<(), RuntimeError>>;

    /// Whether the image is on this machine.
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFut<'a, Result<bool, RuntimeError>>;

    /// The address range (CIDR) plugins' addresses on the internal network come from, which
    /// clients refusing private addresses must be told to allow (nanobot's
    /// `tools.ssrfWhitelist`). `None` when the engine has no such network yet or the runtime
    /// has no addresses to give.
    fn network_subnet(&self) -> BoxFut<'_, Result<Option<String>, RuntimeError>> {
        Box::pin(async { Ok(None) })
    }

    /// The address where plugins reach the host on their network, when the host runs on the
    /// engine's own machine: the one-engine backend answers the internal network's gateway
    /// (created if missing), which the host listens on for plugins' calls. `None` when
    /// plugins reach the host by name instead (on a swarm the host runs attached to the
    /// overlay network, and `NANO_API_URL` names it).
    fn host_gateway(&self) -> BoxFut<'_, Result<Option<IpAddr>, RuntimeError>> {
        Box::pin(async { Ok(None) })
    }

    /// The image's label `key` (e.g. [`labels::IMAGE_MANIFEST`](crate::labels::IMAGE_MANIFEST), its `manifest.json`), if it
    /// has one. A missing image is [`RuntimeError::ImageMissing`].
    fn image_label<'a>(
        &'a self,
        image: &'a str,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<String>, RuntimeError>>;

    /// Pulls an image from its registry, reporting progress lines. Only ever called when
    /// asked: the host never pulls on its own.
    fn pull<'a>(
        &'a self,
        image: &'a str,
        progress: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFut<'a, Result<(), RuntimeError>>;

    /// Lifecycle events of managed containers from now on. The stream ends with an error if
    /// the engine goes away; subscribe again.
    fn events(
        &self,
    ) -> BoxFut<'_, Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>>;

    /// Removes the networks [`ensure_network`](Self::ensure_network) created, unless
    /// something is still attached to them.
    fn remove_network_if_unused(&self) -> BoxFut<'_, Result<(), RuntimeError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        let mut spec = ContainerSpec::new("notes", "nanofleet/notes:0.1.0", "0.1.0", 8080);
        spec.env
            .insert("NANO_INTERNAL_TOKEN".into(), "secret-1".into());
        spec
    }

    #[test]
    fn config_hash_covers_env_values_and_settings_but_not_the_name() {
        let base = spec();
        let hash = base.config_hash();
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, spec().config_hash(), "deterministic");

        let mut rotated = spec();
        rotated
            .env
            .insert("NANO_INTERNAL_TOKEN".into(), "secret-2".into());
        let mut egress = spec();
        egress.egress = true;
        let mut limits = spec();
        limits.limits.pids += 1;
        let mut read_only = spec();
        read_only.data = Filesystem::ReadOnly;
        let mut spawn = spec();
        spawn.spawn = true;
        let mut ui = spec();
        ui.ui_port = Some(8081);
        for changed in [rotated, egress, limits, ui, read_only, spawn] {
            assert_ne!(changed.config_hash(), hash, "{changed:?}");
        }

        let mut renamed = spec();
        renamed.container_name = Some("nanofleet-plugin-notes-next".into());
        assert_eq!(renamed.config_hash(), hash);
        assert!(!hash.contains("secret"));
    }

    #[test]
    fn config_hash_encoding_is_unambiguous() {
        let mut a = spec();
        a.env = BTreeMap::from([("A".into(), "BC".into())]);
        let mut b = spec();
        b.env = BTreeMap::from([("AB".into(), "C".into())]);
        assert_ne!(a.config_hash(), b.config_hash());
    }

    #[test]
    fn debug_hides_env_values() {
        let shown = format!("{:?}", spec());
        assert!(shown.contains("NANO_INTERNAL_TOKEN"), "{shown}");
        assert!(!shown.contains("secret-1"), "{shown}");
    }

    #[test]
    fn validation_reports_every_problem() {
        assert!(spec().validate().is_ok());
        let mut bad = spec();
        bad.plugin = "Bad Name".into();
        bad.user = "0:0".into();
        bad.mcp_port = 0;
        bad.limits.memory_bytes = u64::MAX;
        bad.env.insert("1X".into(), "a\0b".into());
        let Err(RuntimeError::InvalidSpec(message)) = bad.validate() else {
            panic!("invalid spec accepted");
        };
        for part in [
            "plugin name",
            "user `0:0`",
            "mcp_port",
            "memory limit",
            "`1X`",
            "NUL",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }

    #[test]
    fn several_replicas_need_a_plugin_without_data() {
        let mut copies = spec();
        copies.replicas = 3;
        let Err(RuntimeError::InvalidSpec(message)) = copies.validate() else {
            panic!("replicas of a plugin with data accepted");
        };
        assert!(message.contains("no local state"), "{message}");
        copies.data = Filesystem::None;
        assert!(copies.validate().is_ok());
        copies.replicas = 0;
        assert!(copies.validate().is_err());
        copies.replicas = MAX_REPLICAS + 1;
        assert!(copies.validate().is_err());
        // One copy keeps the hash it had before replicas existed; more changes it.
        let one = spec();
        let mut three = spec();
        three.data = Filesystem::None;
        let mut stateless_one = three.clone();
        stateless_one.replicas = 1;
        three.replicas = 3;
        assert_ne!(three.config_hash(), stateless_one.config_hash());
        assert_eq!(one.replicas, 1);
    }

    #[test]
    fn users_must_be_numeric_and_not_root() {
        assert_eq!(parse_non_root_user("65532:65532"), Ok((65532, 65532)));
        assert_eq!(parse_non_root_user("1000"), Ok((1000, 1000)));
        for bad in [
            "",
            "0",
            "root",
            "1000:0",
            "0:1000",
            "nobody:nogroup",
            "1:2:3",
            "-1",
        ] {
            assert!(parse_non_root_user(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unreachable_is_one_sentence() {
        let err = RuntimeError::Unreachable {
            engine: "the Docker engine",
            endpoint: "unix:///var/run/docker.sock".into(),
            hint: "is dockerd running?".into(),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach the Docker engine at unix:///var/run/docker.sock: is dockerd running?"
        );
    }
}
