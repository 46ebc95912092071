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

use crate::names;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, EndpointSettings,
    EventMessage, HostConfig, HostConfigLogConfig, Mount, MountType, Network,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, PortBinding, PortMap,
    RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, RenameContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures::StreamExt as _;
use nanofleet_contracts::ImageRef;

use super::{
    BoxFut, BoxStream, ContainerSpec, ContainerState, DATA_DIR, EventAction, LogOptions, Runtime,
    RuntimeError, RuntimeEvent,
};
use crate::labels;
use nanofleet_sdk::manifest::Filesystem;

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
const TMPFS_OPTIONS: &str = "rw,noexec,nosuid,size=64m";
/// Seconds the engine waits after SIGTERM before SIGKILL, by default.
const DEFAULT_STOP_TIMEOUT_SECS: i32 = 10;
/// Request timeout towards the engine (bollard's default), for `connect`.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// A log line longer than this is cut into pieces, so a plugin printing without newlines
/// cannot make the host buffer without bound.
const MAX_LOG_LINE_BYTES: usize = 64 * 1024;

/// The Docker backend. Cheap to share: hold it in an `Arc<dyn Runtime>`.
#[derive(Debug)]
pub struct DockerRuntime {
    docker: Docker,
    endpoint: String,
    stop_timeout_secs: i32,
}

/// Serialises network creation and removal within this process, across every
/// `DockerRuntime`: API 1.41 lets two networks share a name, and a name that matches two
/// networks can no longer be used at all. Other processes are handled by
/// `heal_duplicate_networks`.
static NETWORK_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

    // -----------------------------------------------------------------------------------------
    // Networks
    // -----------------------------------------------------------------------------------------

    async fn ensure_networks(&self, egress: bool, publish: bool) -> Result<(), RuntimeError> {
        self.ensure_one_network(names::NETWORK, true, &[]).await?;
        if egress {
            self.ensure_one_network(EGRESS_NETWORK, false, &[]).await?;
        }
        if publish {
            // No NAT: a plugin without egress stays without a usable route out. No ICC:
            // plugins talk to each other on the internal network, not here.
            self.ensure_one_network(
                PUBLISH_NETWORK,
                false,
                &[
                    ("com.docker.network.bridge.enable_ip_masquerade", "false"),
                    ("com.docker.network.bridge.enable_icc", "false"),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// Networks with exactly this name, sorted by id so that every process picks the same one
    /// first. Docker's `name` filter matches substrings, and API 1.41 lets two networks share
    /// a name.
    async fn networks_named(&self, name: &str) -> Result<Vec<Network>, RuntimeError> {
        let filters = HashMap::from([("name", vec![name])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let mut found: Vec<Network> = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| self.fail(format!("list networks named {name}"), e))?
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name) && n.id.is_some())
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn ensure_one_network(
        &self,
        name: &str,
        internal: bool,
        options: &[(&str, &str)],
    ) -> Result<(), RuntimeError> {
        let _serialised = NETWORK_LOCK.lock().await;
        let mut found = self.networks_named(name).await?;
        if found.is_empty() {
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".into()),
                internal: Some(internal),
                options: Some(
                    options
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                labels: Some(managed_labels(None)),
                ..Default::default()
            };
            self.docker
                .create_network(request)
                .await
                .map_err(|e| self.fail(format!("create network {name}"), e))?;
            // Look again: another process may have created the same name meanwhile.
            found = self.networks_named(name).await?;
        }
        let survivor = if found.len() > 1 {
            self.heal_duplicate_networks(name, found).await?
        } else {
            found.into_iter().next()
        };
        let Some(network) = survivor else {
            return Err(RuntimeError::Engine {
                operation: format!("create network {name}"),
                message: "the engine created it but does not list it".into(),
            });
        };
        if network.internal.unwrap_or(false) != internal {
            let (is, so) = if internal {
                (
                    "not internal",
                    "plugins without egress could reach the outside",
                )
            } else {
                (
                    "internal",
                    "plugins granted egress could not reach the outside",
                )
            };
            return Err(RuntimeError::Conflict(format!(
                "network {name} exists but is {is}, so {so}: remove it (docker network rm \
                 {name}) and let nanofleet-rs create it"
            )));
        }
        Ok(())
    }

    /// Several networks share `name` (two host processes created it at once): keep one (the
    /// one with containers attached, else the lowest id, so racing processes agree) and
    /// remove the other ones that are ours and unused. Returns the one kept.
    async fn heal_duplicate_networks(
        &self,
        name: &str,
        found: Vec<Network>,
    ) -> Result<Option<Network>, RuntimeError> {
        let mut in_use = Vec::with_capacity(found.len());
        for network in &found {
            let id = network.id.as_deref().unwrap_or_default();
            let attached = match self.docker.inspect_network(id, None).await {
                Ok(inspected) => inspected.containers.is_some_and(|c| !c.is_empty()),
                Err(e) if status(&e) == Some(404) => false,
                Err(e) => return Err(self.fail(format!("inspect network {name}"), e)),
            };
            in_use.push(attached);
        }
        let keep = in_use.iter().position(|used| *used).unwrap_or(0);
        let mut kept = None;
        for (index, (network, used)) in found.into_iter().zip(in_use).enumerate() {
            if index == keep {
                kept = Some(network);
                continue;
            }
            let removable = !used && is_managed(network.labels.as_ref());
            match (removable, network.id.as_deref()) {
                (true, Some(id)) => match self.docker.remove_network(id).await {
                    Ok(()) => {}
                    Err(e) if matches!(status(&e), Some(403 | 404 | 409)) => {}
                    Err(e) => return Err(self.fail(format!("remove duplicate network {name}"), e)),
                },
                _ => tracing::warn!(
                    network = name,
                    id = network.id.as_deref().unwrap_or_default(),
                    "another network has this name and cannot be removed; remove it by id \
                     (docker network rm <id>) or the name stays ambiguous"
                ),
            }
        }
        Ok(kept)
    }

    async fn remove_networks_if_unused(&self) -> Result<(), RuntimeError> {
        let _serialised = NETWORK_LOCK.lock().await;
        for name in [PUBLISH_NETWORK, EGRESS_NETWORK, names::NETWORK] {
            for network in self.networks_named(name).await? {
                let (Some(id), true) = (network.id, is_managed(network.labels.as_ref())) else {
                    // Not ours (or unnamed): never removed.
                    continue;
                };
                let inspected = match self.docker.inspect_network(&id, None).await {
                    Ok(inspected) => inspected,
                    Err(e) if status(&e) == Some(404) => continue,
                    Err(e) => return Err(self.fail(format!("inspect network {name}"), e)),
                };
                if inspected.containers.is_some_and(|c| !c.is_empty()) {
                    continue;
                }
                match self.docker.remove_network(&id).await {
                    Ok(()) => {}
                    // Gone already, or something attached since we looked: both fine.
                    Err(e) if matches!(status(&e), Some(403 | 404 | 409)) => {}
                    Err(e) => return Err(self.fail(format!("remove network {name}"), e)),
                }
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Containers
    // -----------------------------------------------------------------------------------------

    async fn create_container(&self, spec: &ContainerSpec) -> Result<ContainerState, RuntimeError> {
        spec.validate()?;
        let name = spec.name();
        let publish_network = spec.publish_loopback && !spec.egress;
        self.ensure_networks(spec.egress, publish_network).await?;
        self.ensure_volume(&spec.instance, &spec.plugin).await?;

        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let mut attempt = 0;
        let created = loop {
            attempt += 1;
            match self
                .docker
                .create_container(Some(options.clone()), container_body(spec)?)
                .await
            {
                Ok(created) => break created,
                Err(e) if status(&e) == Some(409) => {
                    return Err(RuntimeError::Conflict(format!(
                        "a container named {name} already exists: remove it first, or give \
                         the new one another name"
                    )));
                }
                Err(e) if status(&e) == Some(404) && server_message(&e).contains("image") => {
                    return Err(RuntimeError::ImageMissing {
                        image: spec.image.clone(),
                        hint: "build it on this machine (e.g. `cargo xtask image <plugin>`) or \
                               pull it explicitly; the host never pulls on its own"
                            .into(),
                    });
                }
                // The network vanished between ensuring and creating (another host process
                // removing unused networks): ensure again, once.
                Err(e) if status(&e) == Some(404) && attempt == 1 => {
                    self.ensure_networks(spec.egress, publish_network).await?;
                }
                Err(e) => return Err(self.fail(format!("create container {name}"), e)),
            }
        };
        for warning in &created.warnings {
            tracing::warn!(container = %name, "{warning}");
        }

        // From here on, any failure removes the container again: no orphan (NanoFleet
        // defect 1, where every retry then failed on the taken name).
        match self
            .connect_and_start(&created.id, spec, publish_network)
            .await
        {
            Ok(state) => Ok(state),
            Err(err) => {
                let remove = RemoveContainerOptionsBuilder::new().force(true).build();
                if let Err(e) = self
                    .docker
                    .remove_container(&created.id, Some(remove))
                    .await
                    && status(&e) != Some(404)
                {
                    tracing::warn!(
                        container = %name,
                        error = %e,
                        "cannot remove the container after a failed start"
                    );
                }
                Err(err)
            }
        }
    }

    async fn connect_and_start(
        &self,
        id: &str,
        spec: &ContainerSpec,
        publish_network: bool,
    ) -> Result<ContainerState, RuntimeError> {
        let name = spec.name();
        let extra = [
            (spec.egress, EGRESS_NETWORK),
            (publish_network, PUBLISH_NETWORK),
        ];
        for network in extra.into_iter().filter_map(|(on, n)| on.then_some(n)) {
            let request = NetworkConnectRequest {
                container: id.to_owned(),
                endpoint_config: Some(EndpointSettings::default()),
            };
            self.docker
                .connect_network(network, request)
                .await
                .map_err(|e| self.fail(format!("connect {name} to network {network}"), e))?;
        }
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| self.fail(format!("start container {name}"), e))?;
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| self.fail(format!("inspect container {name}"), e))?;
        Ok(state_from_inspect(inspected))
    }

    async fn ensure_volume(
        &self,
        instance: &names::Instance,
        plugin: &str,
    ) -> Result<(), RuntimeError> {
        // Creating an existing volume returns it unchanged, so this is idempotent. An existing
        // volume without our labels (say, from NanoFleet itself) is used as it is: it holds
        // the plugin's data. Its name is the instance's own, so it is never another's.
        let name = instance.volume_name(plugin);
        let mut labels = managed_labels(Some(plugin));
        labels.insert(labels::INSTANCE.into(), instance.name().to_owned());
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(drop)
            .map_err(|e| self.fail(format!("create volume {name}"), e))
    }

    /// The container if it exists and is ours; a container the host did not create is a
    /// `Conflict`, so that no operation here ever touches it.
    async fn managed_container(
        &self,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        let inspected = match self.docker.inspect_container(name, None).await {
            Ok(inspected) => inspected,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(self.fail(format!("inspect container {name}"), e)),
        };
        let labels = inspected.config.as_ref().and_then(|c| c.labels.as_ref());
        if is_managed(labels) {
            Ok(Some(inspected))
        } else {
            Err(not_ours("container", name, &format!("docker rm -f {name}")))
        }
    }

    async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
        if self.managed_container(name).await?.is_none() {
            return Err(RuntimeError::NotFound(format!(
                "there is no container named {name}: install the plugin again"
            )));
        }
        // Already running answers 304, which bollard counts as success.
        self.docker
            .start_container(name, None)
            .await
            .map_err(|e| self.fail(format!("start container {name}"), e))
    }

    async fn stop_container(&self, name: &str) -> Result<(), RuntimeError> {
        if self.managed_container(name).await?.is_none() {
            return Ok(());
        }
        let options = StopContainerOptionsBuilder::new()
            .t(self.stop_timeout_secs)
            .build();
        // Already stopped answers 304 (success to bollard); gone meanwhile answers 404. Both
        // mean "stopped" (NanoFleet defect 2 was throwing here).
        match self.docker.stop_container(name, Some(options)).await {
            Err(e) if status(&e) != Some(404) => {
                Err(self.fail(format!("stop container {name}"), e))
            }
            _ => Ok(()),
        }
    }

    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        if self.managed_container(name).await?.is_none() {
            return Ok(());
        }
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            // "removal already in progress": someone else is doing our job.
            Err(e) if status(&e) == Some(409) && server_message(&e).contains("in progress") => {
                Ok(())
            }
            Err(e) => Err(self.fail(format!("remove container {name}"), e)),
        }
    }

    async fn rename_container(&self, from: &str, to: &str) -> Result<(), RuntimeError> {
        if let Err(why) = super::check_container_name(to) {
            return Err(RuntimeError::InvalidSpec(why));
        }
        if self.managed_container(from).await?.is_none() {
            return Err(RuntimeError::NotFound(format!(
                "there is no container named {from} to rename"
            )));
        }
        let options = RenameContainerOptionsBuilder::new().name(to).build();
        match self.docker.rename_container(from, options).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(409) => Err(RuntimeError::Conflict(format!(
                "cannot rename {from} to {to}: a container named {to} already exists; remove it \
                 first"
            ))),
            Err(e) => Err(self.fail(format!("rename container {from} to {to}"), e)),
        }
    }

    async fn list_containers(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let label = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.fail("list containers", e))?;
        let mut states: Vec<_> = containers.into_iter().map(state_from_summary).collect();
        states.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(states)
    }

    async fn inspect_one(&self, name: &str) -> Result<Option<ContainerState>, RuntimeError> {
        Ok(self.managed_container(name).await?.map(state_from_inspect))
    }

    /// The raw log stream of a managed container; a missing one is `NotFound`.
    async fn log_stream(
        &self,
        name: &str,
        options: LogOptions,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError> {
        if self.managed_container(name).await?.is_none() {
            return Err(RuntimeError::NotFound(format!(
                "there is no container named {name}, so it has no logs"
            )));
        }
        let mut builder = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .timestamps(options.timestamps)
            .tail(&options.tail.to_string());
        if let Some(since) = options.since {
            // The engine's API takes 32-bit seconds here: before 1970 means from the start,
            // past 2038 means nothing yet.
            builder = builder.since(i32::try_from(since.max(0)).unwrap_or(i32::MAX));
        }
        let options = builder.build();
        let chunks = self.docker.logs(name, Some(options)).boxed();
        let endpoint = self.endpoint.clone();
        let operation = format!("read the logs of {name}");
        Ok(lines(chunks, move |e| {
            map_error(&endpoint, operation.clone(), e)
        }))
    }

    async fn last_log_lines(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<Vec<String>, RuntimeError> {
        let tail = options.tail;
        let mut stream = self.log_stream(name, options, false).await?;
        let mut out = VecDeque::new();
        while let Some(line) = stream.next().await {
            out.push_back(line?);
            // The engine honours `tail`; this bounds memory even if it did not.
            if out.len() > tail {
                out.pop_front();
            }
        }
        Ok(out.into())
    }

    async fn delete_volume(
        &self,
        instance: &names::Instance,
        plugin: &str,
    ) -> Result<(), RuntimeError> {
        let name = instance.volume_name(plugin);
        let volume = match self.docker.inspect_volume(&name).await {
            Ok(volume) => volume,
            Err(e) if status(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(self.fail(format!("inspect volume {name}"), e)),
        };
        if !is_managed(Some(&volume.labels)) {
            return Err(not_ours(
                "volume",
                &name,
                &format!("docker volume rm {name}"),
            ));
        }
        let owner = volume.labels.get(labels::INSTANCE).map(String::as_str);
        if !instance.owns(owner) {
            return Err(RuntimeError::Conflict(format!(
                "volume {name} belongs to host instance `{}`, not `{instance}`: left as it is",
                owner.unwrap_or(labels::DEFAULT_INSTANCE)
            )));
        }
        let options = RemoveVolumeOptionsBuilder::new().force(false).build();
        match self.docker.remove_volume(&name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) if status(&e) == Some(409) => Err(RuntimeError::Conflict(format!(
                "volume {name} is still used by a container: remove the plugin's container first"
            ))),
            Err(e) => Err(self.fail(format!("remove volume {name}"), e)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Images and events
    // -----------------------------------------------------------------------------------------

    async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.fail(format!("inspect image {image}"), e)),
        }
    }

    async fn label_of_image(&self, image: &str, key: &str) -> Result<Option<String>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(inspected) => Ok(inspected
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(key))),
            Err(e) if status(&e) == Some(404) => Err(RuntimeError::ImageMissing {
                image: image.to_owned(),
                hint:
                    "build it on this machine (`nanofleet build` in the plugin's crate) or pull it"
                        .into(),
            }),
            Err(e) => Err(self.fail(format!("inspect image {image}"), e)),
        }
    }

    async fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<(), RuntimeError> {
        let reference = ImageRef::parse(image).map_err(|v| {
            RuntimeError::InvalidSpec(format!("cannot pull `{}`: {v}", image.escape_debug()))
        })?;
        // Without a tag the engine would pull *every* tag of the repository.
        let options = if reference.is_digest_pinned() {
            CreateImageOptionsBuilder::new().from_image(image).build()
        } else {
            CreateImageOptionsBuilder::new()
                .from_image(&reference.name())
                .tag(reference.tag_or_default())
                .build()
        };
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let failed = |message: String| RuntimeError::ImageMissing {
                image: image.to_owned(),
                hint: format!(
                    "the pull failed ({message}); check the registry and credentials, or build \
                     the image on this machine"
                ),
            };
            let info = match item {
                Ok(info) => info,
                Err(e) => {
                    return Err(match self.fail(format!("pull {image}"), e) {
                        RuntimeError::Engine { message, .. }
                        | RuntimeError::NotFound(message)
                        | RuntimeError::Conflict(message) => failed(message),
                        other => other,
                    });
                }
            };
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(failed(message));
            }
            let line = [info.id, info.status]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            if !line.is_empty() {
                progress(line);
            }
        }
        Ok(())
    }

    fn event_stream(&self) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>> {
        let label = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let filters = HashMap::from([
            ("type", vec!["container".to_owned()]),
            ("label", vec![label]),
        ]);
        let mut options = EventsOptionsBuilder::new().filters(&filters);
        // "From now on", in the engine's buffer: the subscription itself only happens when
        // the stream is first polled, and events in between must not be lost.
        if let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) {
            options = options.since(&format!("{}.{:09}", now.as_secs(), now.subsec_nanos()));
        }
        let endpoint = self.endpoint.clone();
        self.docker
            .events(Some(options.build()))
            .filter_map(move |item| {
                let mapped = match item {
                    Ok(message) => event_from_message(message).map(Ok),
                    Err(e) => Some(Err(map_error(
                        &endpoint,
                        "follow the engine's events".into(),
                        e,
                    ))),
                };
                futures::future::ready(mapped)
            })
            .boxed()
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

// ---------------------------------------------------------------------------------------------
// Spec → engine request
// ---------------------------------------------------------------------------------------------

/// The create request for a validated spec.
fn container_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, RuntimeError> {
    let as_i64 = |what: &str, value: u64| {
        i64::try_from(value).map_err(|_| RuntimeError::InvalidSpec(format!("{what} is too large")))
    };
    let memory = as_i64("the memory limit", spec.limits.memory_bytes)?;
    let name = spec.name();

    let mut exposed = Vec::new();
    let mut bindings = PortMap::new();
    for port in [Some(spec.mcp_port), spec.ui_port].into_iter().flatten() {
        let key = format!("{port}/tcp");
        if spec.publish_loopback {
            // An empty host port lets the engine pick a free one.
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some(String::new()),
            };
            bindings.insert(key.clone(), Some(vec![binding]));
        }
        exposed.push(key);
    }

    let mut labels = managed_labels(Some(&spec.plugin));
    labels.insert(labels::VERSION.into(), spec.version.clone());
    labels.insert(labels::CONFIG_HASH.into(), spec.config_hash());
    labels.insert(labels::INSTANCE.into(), spec.instance.name().to_owned());

    let host_config = HostConfig {
        memory: Some(memory),
        // Equal to `memory`: no swap on top of the limit.
        memory_swap: Some(memory),
        // The engine counts in billionths of a CPU.
        nano_cpus: Some(as_i64(
            "the CPU limit",
            u64::from(spec.limits.milli_cpus) * 1_000_000,
        )?),
        pids_limit: Some(as_i64("the pids limit", spec.limits.pids)?),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([("/tmp".into(), TMPFS_OPTIONS.into())])),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(security_options(spec)),
        privileged: Some(false),
        publish_all_ports: Some(false),
        init: Some(false),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        // A chatty plugin must not fill the host's disk.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".into(), "10m".into()),
                ("max-file".into(), "3".into()),
            ])),
        }),
        mounts: Some(data_mounts(spec)),
        network_mode: Some(names::NETWORK.into()),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        ..Default::default()
    };
    // The alias is the canonical name whatever the container is called, so agents keep
    // reaching `nanofleet-plugin-<name>` during an upgrade under a temporary name.
    let endpoint = EndpointSettings {
        aliases: Some(vec![spec.instance.container_name(&spec.plugin)]),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        user: Some(spec.user.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        hostname: Some(truncate_hostname(&name)),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(names::NETWORK.into(), endpoint)])),
        }),
        ..Default::default()
    })
}

/// `no-new-privileges`, and unless the plugin may spawn, the profile refusing process creation.
fn security_options(spec: &ContainerSpec) -> Vec<String> {
    let mut options = vec!["no-new-privileges:true".to_owned()];
    if !spec.spawn {
        // The API takes the profile's JSON inline (the CLI's `seccomp=<file>` reads the file).
        options.push(format!("seccomp={}", super::seccomp::no_spawn_profile()));
    }
    options
}

/// The data volume at `/data` as the plugin's `filesystem` permission says: read-write,
/// read-only, or absent (then `/data` does not exist in the read-only root).
fn data_mounts(spec: &ContainerSpec) -> Vec<Mount> {
    let read_only = match spec.data {
        Filesystem::ReadWrite => false,
        Filesystem::ReadOnly => true,
        Filesystem::None => return Vec::new(),
    };
    vec![Mount {
        target: Some(DATA_DIR.into()),
        source: Some(spec.instance.volume_name(&spec.plugin)),
        typ: Some(MountType::VOLUME),
        read_only: Some(read_only),
        ..Default::default()
    }]
}

/// A hostname is at most 63 characters; Docker would refuse a longer one.
fn truncate_hostname(name: &str) -> String {
    name.chars().take(63).collect()
}

fn managed_labels(plugin: Option<&str>) -> HashMap<String, String> {
    let mut labels = HashMap::from([(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    )]);
    if let Some(plugin) = plugin {
        labels.insert(labels::PLUGIN.to_owned(), plugin.to_owned());
    }
    labels
}

fn is_managed(labels: Option<&HashMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGED_BY_VALUE)
}

fn not_ours(kind: &str, name: &str, command: &str) -> RuntimeError {
    RuntimeError::Conflict(format!(
        "{kind} {name} was not created by nanofleet-rs (it lacks the label {}={}), so it is left \
         alone: rename it, or remove it yourself (`{command}`)",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ))
}

// ---------------------------------------------------------------------------------------------
// Engine responses → states and events
// ---------------------------------------------------------------------------------------------

fn state_from_inspect(inspected: ContainerInspectResponse) -> ContainerState {
    let mut labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
    let state = inspected.state.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let network = inspected.network_settings.unwrap_or_default();
    let published = network
        .ports
        .map(|ports| published_from_port_map(&ports))
        .unwrap_or_default();
    let ip = network.networks.as_ref().and_then(plugin_network_ip);
    ContainerState {
        plugin: labels.remove(labels::PLUGIN).unwrap_or_default(),
        id: inspected.id.unwrap_or_default(),
        name: inspected
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        running,
        version: labels.remove(labels::VERSION),
        config_hash: labels.remove(labels::CONFIG_HASH),
        instance: labels.remove(labels::INSTANCE),
        published,
        ip,
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        exit_code: if running { None } else { state.exit_code },
    }
}

fn state_from_summary(summary: ContainerSummary) -> ContainerState {
    let mut labels = summary.labels.unwrap_or_default();
    let status = summary.state.map(|s| s.to_string()).unwrap_or_default();
    let running = status == "running";
    let mut published = BTreeMap::new();
    for port in summary.ports.unwrap_or_default() {
        let is_tcp = port.typ.is_none_or(|t| t.to_string() == "tcp");
        let ip = port.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok());
        if let (true, Some(ip), Some(public)) = (is_tcp, ip, port.public_port) {
            published
                .entry(port.private_port)
                .or_insert(SocketAddr::new(ip, public));
        }
    }
    let ip = summary
        .network_settings
        .and_then(|n| n.networks)
        .as_ref()
        .and_then(plugin_network_ip);
    ContainerState {
        plugin: labels.remove(labels::PLUGIN).unwrap_or_default(),
        id: summary.id.unwrap_or_default(),
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        running,
        version: labels.remove(labels::VERSION),
        config_hash: labels.remove(labels::CONFIG_HASH),
        instance: labels.remove(labels::INSTANCE),
        published,
        ip,
        exit_code: if running {
            None
        } else {
            summary.status.as_deref().and_then(exit_code_from_status)
        },
        status,
    }
}

/// The address on [`names::NETWORK`]; the engine reports `""` for a stopped container.
fn plugin_network_ip(networks: &HashMap<String, EndpointSettings>) -> Option<IpAddr> {
    networks
        .get(names::NETWORK)?
        .ip_address
        .as_deref()?
        .parse()
        .ok()
}

/// `Exited (137) 5 seconds ago` → 137.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.parse().ok()
}

fn published_from_port_map(ports: &PortMap) -> BTreeMap<u16, SocketAddr> {
    let mut published = BTreeMap::new();
    for (key, bindings) in ports {
        let Some(port) = key.strip_suffix("/tcp").and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        for binding in bindings.iter().flatten() {
            let ip = binding.host_ip.as_deref().and_then(|ip| ip.parse().ok());
            let host_port = binding.host_port.as_deref().and_then(|p| p.parse().ok());
            if let (Some(ip), Some(host_port)) = (ip, host_port) {
                published
                    .entry(port)
                    .or_insert(SocketAddr::new(ip, host_port));
            }
        }
    }
    published
}

fn event_from_message(message: EventMessage) -> Option<RuntimeEvent> {
    let mut attributes = message.actor?.attributes.unwrap_or_default();
    let plugin = attributes.remove(labels::PLUGIN)?;
    let action = match message.action.as_deref()? {
        "create" => EventAction::Create,
        "start" => EventAction::Start,
        "die" => EventAction::Die {
            exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
        },
        "stop" => EventAction::Stop,
        "kill" => EventAction::Kill,
        "oom" => EventAction::Oom,
        "restart" => EventAction::Restart,
        "destroy" => EventAction::Destroy,
        other => EventAction::Other(other.to_owned()),
    };
    Some(RuntimeEvent {
        plugin,
        container: attributes.remove("name").unwrap_or_default(),
        action,
    })
}

// ---------------------------------------------------------------------------------------------
// Logs: chunks → lines
// ---------------------------------------------------------------------------------------------

/// Cuts a byte stream into lines: `\n`-terminated, `\r` dropped, invalid UTF-8 replaced, and
/// at most [`MAX_LOG_LINE_BYTES`] each.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, mut chunk: &[u8], out: &mut VecDeque<String>) {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = chunk.split_at(end);
            self.partial.extend_from_slice(line);
            out.push_back(self.take());
            chunk = rest.get(1..).unwrap_or_default();
        }
        self.partial.extend_from_slice(chunk);
        while self.partial.len() >= MAX_LOG_LINE_BYTES {
            let rest = self.partial.split_off(MAX_LOG_LINE_BYTES);
            out.push_back(self.take());
            self.partial = rest;
        }
    }

    fn finish(&mut self, out: &mut VecDeque<String>) {
        if !self.partial.is_empty() {
            out.push_back(self.take());
        }
    }

    fn take(&mut self) -> String {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        line
    }
}

fn lines<C, E>(
    chunks: BoxStream<'static, Result<C, E>>,
    map_err: impl Fn(E) -> RuntimeError + Send + 'static,
) -> BoxStream<'static, Result<String, RuntimeError>>
where
    C: AsRef<[u8]> + Send + 'static,
    E: Send + 'static,
{
    struct State<C, E, F> {
        chunks: BoxStream<'static, Result<C, E>>,
        splitter: LineSplitter,
        ready: VecDeque<String>,
        done: bool,
        map_err: F,
    }
    let state = State {
        chunks,
        splitter: LineSplitter::default(),
        ready: VecDeque::new(),
        done: false,
        map_err,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.ready.pop_front() {
                return Some((Ok(line), st));
            }
            if st.done {
                return None;
            }
            match st.chunks.next().await {
                Some(Ok(chunk)) => st.splitter.push(chunk.as_ref(), &mut st.ready),
                Some(Err(e)) => {
                    st.done = true;
                    let err = (st.map_err)(e);
                    return Some((Err(err), st));
                }
                None => {
                    st.done = true;
                    st.splitter.finish(&mut st.ready);
                }
            }
        }
    })
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn status(err: &BollardError) -> Option<u16> {
    match err {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn server_message(err: &BollardError) -> &str {
    match err {
        BollardError::DockerResponseServerError { message, .. } => message,
        _ => "",
    }
}

fn map_error(endpoint: &str, operation: String, err: BollardError) -> RuntimeError {
    if let Some(hint) = connection_failure(&err) {
        return RuntimeError::Unreachable {
            engine: ENGINE,
            endpoint: endpoint.to_owned(),
            hint,
        };
    }
    match err {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound(message),
        BollardError::DockerResponseServerError {
            status_code: 409,
            message,
        } => RuntimeError::Conflict(message),
        BollardError::DockerResponseServerError { message, .. }
        | BollardError::DockerStreamError { error: message } => {
            RuntimeError::Engine { operation, message }
        }
        BollardError::RequestTimeoutError => RuntimeError::Engine {
            operation,
            message: format!(
                "{ENGINE} at {endpoint} did not answer within {REQUEST_TIMEOUT_SECS} s"
            ),
        },
        other => RuntimeError::Engine {
            operation,
            message: other.to_string(),
        },
    }
}

/// When `err` means the engine could not be reached at all, what to check.
fn connection_failure(err: &BollardError) -> Option<String> {
    if let BollardError::SocketNotFoundError(_) = err {
        return Some(NOT_RUNNING_HINT.to_owned());
    }
    let is_connect = matches!(err, BollardError::HyperLegacyError { err } if err.is_connect());
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                    Some(NOT_RUNNING_HINT.to_owned())
                }
                io::ErrorKind::PermissionDenied => Some(
                    "permission denied: run as root or as a member of the docker group, or set \
                     DOCKER_HOST"
                        .to_owned(),
                ),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::TimedOut
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::AddrNotAvailable => Some(format!(
                    "the connection failed ({kind}): {NOT_RUNNING_HINT}",
                    kind = io.kind()
                )),
                _ if is_connect => Some(format!("{io}: {NOT_RUNNING_HINT}")),
                _ => None,
            };
        }
        source = current.source();
    }
    is_connect.then(|| NOT_RUNNING_HINT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_bounded() {
        let mut splitter = LineSplitter::default();
        let mut out = VecDeque::new();
        splitter.push(b"one\r\ntw", &mut out);
        splitter.push(b"o\n\nthree", &mut out);
        splitter.finish(&mut out);
        assert_eq!(out, ["one", "two", "", "three"]);

        out.clear();
        let long = vec![b'x'; MAX_LOG_LINE_BYTES * 2 + 5];
        splitter.push(&long, &mut out);
        splitter.push(b"\xff\n", &mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|l| l.len() <= MAX_LOG_LINE_BYTES + 3));
        assert!(out[2].ends_with('\u{fffd}'));
    }

    #[test]
    fn exit_codes_are_read_from_the_status_text() {
        assert_eq!(
            exit_code_from_status("Exited (137) 5 seconds ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 3 minutes"), None);
        assert_eq!(exit_code_from_status("Exited (x"), None);
    }

    #[test]
    fn published_ports_are_parsed_leniently() {
        let ports = PortMap::from([
            (
                "8080/tcp".to_owned(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some("32768".into()),
                }]),
            ),
            ("9090/tcp".to_owned(), None),
            ("53/udp".to_owned(), Some(vec![PortBinding::default()])),
            (
                "bogus".to_owned(),
                Some(vec![PortBinding {
                    host_ip: Some("nonsense".into()),
                    host_port: Some("99999".into()),
                }]),
            ),
        ]);
        let published = published_from_port_map(&ports);
        assert_eq!(
            published,
            BTreeMap::from([(8080, SocketAddr::from(([127, 0, 0, 1], 32768)))])
        );
    }

    #[test]
    fn the_create_request_is_hardened() {
        let mut spec = ContainerSpec::new("notes", "nanofleet/notes:0.1.0", "0.1.0", 8080);
        spec.ui_port = Some(8081);
        let body = container_body(&spec).expect("valid");
        let host = body.host_config.expect("host config");
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert!(host.port_bindings.is_none());
        let security = host.security_opt.unwrap_or_default();
        assert_eq!(security[0], "no-new-privileges:true");
        assert!(
            security.iter().any(|o| o.starts_with("seccomp={")),
            "no spawning by default: {security:?}"
        );
        let mounts = host.mounts.unwrap_or_default();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].read_only, Some(false));
        assert_eq!(body.user.as_deref(), Some(super::super::DEFAULT_USER));
        assert_eq!(
            body.exposed_ports,
            Some(vec!["8080/tcp".to_owned(), "8081/tcp".to_owned()])
        );

        let mut allowed = spec.clone();
        allowed.spawn = true;
        allowed.data = Filesystem::ReadOnly;
        let host = container_body(&allowed)
            .expect("valid")
            .host_config
            .expect("host config");
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges:true".to_owned()])
        );
        assert_eq!(host.mounts.unwrap_or_default()[0].read_only, Some(true));
        allowed.data = Filesystem::None;
        let host = container_body(&allowed).expect("valid").host_config;
        assert_eq!(host.and_then(|h| h.mounts), Some(vec![]));

        spec.publish_loopback = true;
        let host = container_body(&spec)
            .expect("valid")
            .host_config
            .expect("host config");
        let bindings = host.port_bindings.expect("published");
        assert_eq!(bindings.len(), 2);
        for binding in bindings.values().flatten().flatten() {
            assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        }
    }

    #[test]
    fn missing_sockets_are_unreachable_in_one_sentence() {
        let err = DockerRuntime::connect_to("unix:///nonexistent/docker.sock")
            .expect_err("no socket there");
        let text = err.to_string();
        assert!(matches!(err, RuntimeError::Unreachable { .. }), "{err:?}");
        assert!(text.contains("unix:///nonexistent/docker.sock"), "{text}");
        assert!(!text.contains('\n'), "{text}");

        let err = DockerRuntime::connect_to("ssh://somewhere").expect_err("unsupported");
        assert!(err.to_string().contains("tcp://host:port"), "{err}");
    }

    #[test]
    fn events_of_other_containers_are_ignored() {
        let event = |attributes: &[(&str, &str)], action: &str| EventMessage {
            action: Some(action.into()),
            actor: Some(bollard::models::EventActor {
                id: Some("abc".into()),
                attributes: Some(
                    attributes
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
            }),
            ..Default::default()
        };
        let die = event(
            &[
                (labels::PLUGIN, "notes"),
                ("name", "nanofleet-plugin-notes"),
                ("exitCode", "137"),
            ],
            "die",
        );
        assert_eq!(
            event_from_message(die),
            Some(RuntimeEvent {
                plugin: "notes".into(),
                container: "nanofleet-plugin-notes".into(),
                action: EventAction::Die {
                    exit_code: Some(137)
                },
            })
        );
        assert_eq!(event_from_message(event(&[("name", "x")], "die")), None);
        let health = event(&[(labels::PLUGIN, "notes")], "health_status: healthy");
        assert!(matches!(
            event_from_message(health).map(|e| e.action),
            Some(EventAction::Other(_))
        ));
    }
}
