//! The Docker backend of [`Runtime`], on bollard.
//!
//! A plugin container is created hardened, always: numeric non-root user, read-only root
//! filesystem with a small `noexec` tmpfs at `/tmp`, every capability dropped,
//! `no-new-privileges`, memory/CPU/pids limits, rotated logs, restart policy `unless-stopped`
//! (so a daemon restart brings plugins back), its data volume at `/data`, and no port
//! published on the host.
//!
//! Networks:
//! - [`names::NETWORK`] (`nanofleet-net`) is `internal`: plugins and agents reach each other
//!   there, and nothing on it reaches the outside. Every plugin joins it, with the alias
//!   `nanofleet-plugin-<name>`.
//! - [`EGRESS_NETWORK`] is an ordinary bridge; plugins granted egress join it too.
//! - [`PUBLISH_NETWORK`] exists for development only: Docker publishes no port of a container
//!   that is on internal networks only, so a loopback-published plugin without egress joins
//!   this bridge, created without IP masquerading (its traffic is not NATed to the outside)
//!   and without inter-container traffic.
//!
//! Engine API 1.41 (Docker 20.10) is enough: a container is created on one network and
//! connected to the others before it starts.

pub(in crate::runtime) mod containers;
pub(in crate::runtime) mod errors;
pub(in crate::runtime) mod events;
mod images;
pub(in crate::runtime) mod logs;
pub(in crate::runtime) mod networks;
mod state;
#[cfg(test)]
mod tests;

use crate::names;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;

use super::{
    BoxFut, BoxStream, ContainerSpec, ContainerState, LogOptions, Runtime, RuntimeError,
    RuntimeEvent,
};

use self::errors::*;

/// The bridge network plugins granted egress join, next to [`names::NETWORK`].
pub const EGRESS_NETWORK: &str = "nanofleet-egress";

/// The development-only network that lets Docker publish ports of plugins without egress.
pub const PUBLISH_NETWORK: &str = "nanofleet-publish";

/// The Docker endpoint used when `DOCKER_HOST` is not set.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

const ENGINE: &str = "the Docker engine";
const NOT_RUNNING_HINT: &str =
    "is dockerd running? Start it (e.g. systemctl start docker) or set DOCKER_HOST";
/// Mount options of `/tmp`: writable, but nothing there can be executed or gain privileges.
pub(in crate::runtime) const TMPFS_OPTIONS: &str = "rw,noexec,nosuid,size=64m";
/// Seconds the engine waits after SIGTERM before SIGKILL, by default.
pub(in crate::runtime) const DEFAULT_STOP_TIMEOUT_SECS: i32 = 10;
/// Request timeout towards the engine (bollard's default), for `connect`.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// A log line longer than this is cut into pieces, so a plugin printing without newlines
/// cannot make the host buffer without bound.
const MAX_LOG_LINE_BYTES: usize = 64 * 1024;

/// The Docker backend. Cheap to share: hold it in an `Arc<dyn Runtime>`.
#[derive(Debug)]
pub struct DockerRuntime {
    pub(in crate::runtime) docker: Docker,
    pub(in crate::runtime) endpoint: String,
    pub(in crate::runtime) stop_timeout_secs: i32,
}

/// Serialises network creation and removal within this process, across every
/// `DockerRuntime`: API 1.41 lets two networks share a name, and a name that matches two
/// networks can no longer be used at all. Other processes are handled by
/// `heal_duplicate_networks`.
pub(in crate::runtime) static NETWORK_LOCK: tokio::sync::Mutex<()> =
    tokio::sync::Mutex::const_new(());

impl DockerRuntime {
    /// Connects to the engine named by `DOCKER_HOST` (`unix://…` or `tcp://…`), or to
    /// [`DEFAULT_DOCKER_HOST`]. Nothing is sent yet; [`Runtime::ping`] checks the engine
    /// answers. A unix socket that does not exist is [`RuntimeError::Unreachable`] already.
    pub fn connect() -> Result<Self, RuntimeError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned());
        Self::connect_to(&host)
    }

    /// Connects to an explicit endpoint: `unix:///path/to/docker.sock` (a bare absolute path
    /// is read as one), `tcp://host:port` or `http://host:port`.
    pub fn connect_to(host: &str) -> Result<Self, RuntimeError> {
        let host = host.trim();
        let endpoint = if host.starts_with('/') {
            format!("unix://{host}")
        } else {
            host.to_owned()
        };
        let unreachable = |hint: &str| RuntimeError::Unreachable {
            engine: ENGINE,
            endpoint: endpoint.clone(),
            hint: hint.to_owned(),
        };
        let version = bollard::API_DEFAULT_VERSION;
        let docker = if endpoint.starts_with("unix://") {
            Docker::connect_with_unix(&endpoint, REQUEST_TIMEOUT_SECS, version)
        } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
            Docker::connect_with_http(&endpoint, REQUEST_TIMEOUT_SECS, version)
        } else {
            return Err(unreachable(
                "that address is not supported: use unix:///path/to/docker.sock or tcp://host:port",
            ));
        };
        match docker {
            Ok(docker) => Ok(Self::from_bollard(docker).with_endpoint(endpoint)),
            Err(BollardError::SocketNotFoundError(_)) => Err(unreachable(NOT_RUNNING_HINT)),
            Err(e) => Err(unreachable(&format!("{e}; check DOCKER_HOST"))),
        }
    }

    /// Wraps a bollard client configured elsewhere. Errors name the endpoint as `DOCKER_HOST`
    /// or the default socket; say otherwise with [`with_endpoint`](Self::with_endpoint).
    pub fn from_bollard(docker: Docker) -> Self {
        let endpoint = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned());
        Self {
            docker,
            endpoint,
            stop_timeout_secs: DEFAULT_STOP_TIMEOUT_SECS,
        }
    }

    /// Sets the endpoint named in [`RuntimeError::Unreachable`].
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// How long a stop waits for the plugin to exit after SIGTERM before killing it (default
    /// 10 s; whole seconds, at least 1).
    #[must_use]
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        let secs = timeout.as_secs().clamp(1, i32::MAX as u64);
        self.stop_timeout_secs = i32::try_from(secs).unwrap_or(i32::MAX);
        self
    }

    /// The bollard client, for Docker-specific work such as building images (the
    /// `nanofleet-build` crate does that through it).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The endpoint this runtime talks to, as named in errors.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The host's address on the internal network [`names::NETWORK`] (its gateway), created
    /// if missing. Plugins reach the host's callback API there: bind the API to it and give
    /// plugins `NANO_API_URL=http://<this>:<port>`.
    pub async fn internal_gateway(&self) -> Result<std::net::IpAddr, RuntimeError> {
        self.ensure_network().await?;
        let network = self
            .docker
            .inspect_network(
                names::NETWORK,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .map_err(|e| self.fail(format!("inspect network {}", names::NETWORK), e))?;
        network
            .ipam
            .and_then(|ipam| ipam.config)
            .into_iter()
            .flatten()
            .find_map(|c| c.gateway.and_then(|g| g.parse().ok()))
            .ok_or_else(|| RuntimeError::Engine {
                operation: format!("find the gateway of {}", names::NETWORK),
                message: "the network has no IPv4 gateway".into(),
            })
    }

    /// Maps a bollard error to a [`RuntimeError`]: connection failures to `Unreachable`,
    /// 404 to `NotFound`, 409 to `Conflict`, anything else to `Engine`.
    /// An engine error as a [`RuntimeError`], with what was being done: for code that uses
    /// [`docker`](Self::docker) directly (image builds) and wants the runtime's diagnosis of
    /// an unreachable engine.
    pub fn fail(&self, operation: impl Into<String>, err: BollardError) -> RuntimeError {
        map_error(&self.endpoint, operation.into(), err)
    }

    async fn ping_engine(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| self.fail("ping the Docker engine", e))
    }
}

impl Runtime for DockerRuntime {
    fn ping(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(self.ping_engine())
    }

    fn ensure_network(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(self.ensure_networks(true, false))
    }

    fn create_and_start<'a>(
        &'a self,
        spec: &'a ContainerSpec,
    ) -> BoxFut<'a, Result<ContainerState, RuntimeError>> {
        Box::pin(self.create_container(spec))
    }

    fn start<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.start_container(name))
    }

    fn stop<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.stop_container(name))
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.remove_container(name))
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.rename_container(from, to))
    }

    fn list_managed(&self) -> BoxFut<'_, Result<Vec<ContainerState>, RuntimeError>> {
        Box::pin(self.list_containers())
    }

    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFut<'a, Result<Option<ContainerState>, RuntimeError>> {
        Box::pin(self.inspect_one(name))
    }

    fn logs<'a>(
        &'a self,
        name: &'a str,
        options: LogOptions,
    ) -> BoxFut<'a, Result<Vec<String>, RuntimeError>> {
        Box::pin(self.last_log_lines(name, options))
    }

    fn follow_logs<'a>(
        &'a self,
        name: &'a str,
        options: LogOptions,
    ) -> BoxFut<'a, Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError>> {
        Box::pin(self.log_stream(name, options, true))
    }

    fn remove_volume<'a>(
        &'a self,
        instance: &'a names::Instance,
        plugin: &'a str,
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.delete_volume(instance, plugin))
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFut<'a, Result<bool, RuntimeError>> {
        Box::pin(self.has_image(image))
    }

    fn network_subnet(&self) -> BoxFut<'_, Result<Option<String>, RuntimeError>> {
        Box::pin(async move {
            let network = match self
                .docker
                .inspect_network(
                    names::NETWORK,
                    None::<bollard::query_parameters::InspectNetworkOptions>,
                )
                .await
            {
                Ok(network) => network,
                Err(e) => match self.fail(format!("inspect network {}", names::NETWORK), e) {
                    RuntimeError::NotFound(_) => return Ok(None),
                    other => return Err(other),
                },
            };
            Ok(network
                .ipam
                .and_then(|ipam| ipam.config)
                .into_iter()
                .flatten()
                .find_map(|c| c.subnet.filter(|s| s.contains('.'))))
        })
    }

    fn host_gateway(&self) -> BoxFut<'_, Result<Option<std::net::IpAddr>, RuntimeError>> {
        Box::pin(async move { self.internal_gateway().await.map(Some) })
    }

    fn image_label<'a>(
        &'a self,
        image: &'a str,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<String>, RuntimeError>> {
        Box::pin(self.label_of_image(image, key))
    }

    fn pull<'a>(
        &'a self,
        image: &'a str,
        progress: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.pull_image(image, progress))
    }

    fn events(
        &self,
    ) -> BoxFut<'_, Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>>
    {
        let stream = self.event_stream();
        Box::pin(async move { Ok(stream) })
    }

    fn remove_network_if_unused(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(self.remove_networks_if_unused())
    }
}
