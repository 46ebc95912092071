//! [`PluginContainer`]: a plugin image running as the host runs it, and its builder.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use nanofleet_contracts::{
    Manifest, env, image, labels,
    manifest::rules,
    names::{self, AGENT_ID_PARAM, AGENT_SIG_PARAM},
};
use nanofleet_sdk::identity::{InternalToken, sign_agent};
use testcontainers::{
    ContainerAsync, GenericImage, ImageExt,
    bollard::{
        Docker,
        models::{
            HostConfig, HostConfigLogConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
        },
    },
    core::{IntoContainerPort, Mount},
    runners::AsyncRunner,
};

use crate::{AgentClient, Error, client::DEFAULT_REQUEST_TIMEOUT, engine};

/// The value of the [`labels::MANAGED_BY`] label on every container, volume and network the
/// harness creates. CI finds leftovers with
/// `docker ps -a --filter label=com.nanofleet.managed-by=nanofleet-rs-tests` (and the same
/// filter on `docker volume ls` and `docker network ls`). A host ignores them: it manages only
/// objects labelled `nanofleet-rs`.
pub const MANAGED_BY_VALUE: &str = "nanofleet-rs-tests";

/// The user a plugin runs as, as the host runs it: the conventional `nonroot` of distroless
/// images, which also owns `/data` in images built by `nanofleet build`.
pub const PLUGIN_USER: &str = "65532:65532";

/// The mount options of the tmpfs at `/tmp`, as the host mounts it: writable, but nothing there
/// can be executed or gain privileges.
pub const TMPFS_OPTIONS: &str = "rw,noexec,nosuid,size=64m";

/// How long [`PluginBuilder::start`] waits for the plugin to answer `tools/list` unless told
/// otherwise.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How many of the container's last log lines a startup error quotes.
const LOG_TAIL_LINES: usize = 40;

/// The longest one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The longest hostname Docker accepts.
const MAX_HOSTNAME_LEN: usize = 63;

/// Resource limits of the plugin container. The defaults are the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Memory limit in bytes; no swap on top. Default 256 MiB.
    pub memory_bytes: u64,
    /// CPU limit in billionths of a CPU. Default 1 CPU (`1_000_000_000`).
    pub nano_cpus: u64,
    /// Maximum number of processes and threads. Default 256.
    pub pids: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 * 1024 * 1024,
            nano_cpus: 1_000_000_000,
            pids: 256,
        }
    }
}

impl Limits {
    /// Every limit that is out of the range the host accepts.
    fn problems(&self) -> Vec<String> {
        [
            ("memory limit", self.memory_bytes, 8 * 1024 * 1024),
            ("CPU limit (nano_cpus)", self.nano_cpus, 1_000_000),
            ("pids limit", self.pids, 8),
        ]
        .into_iter()
        .filter(|(_, value, min)| *value < *min || i64::try_from(*value).is_err())
        .map(|(what, value, min)| {
            format!("the {what} {value} is out of range: use at least {min} (and less than 2^63)")
        })
        .collect()
    }
}

/// How to start a plugin image: made by [`PluginContainer::builder`], consumed by
/// [`start`](Self::start).
#[derive(Clone)]
#[must_use]
pub struct PluginBuilder {
    image: String,
    env: BTreeMap<String, String>,
    api_url: String,
    signatures: bool,
    startup_timeout: Duration,
    limits: Limits,
    egress: bool,
}

impl fmt::Debug for PluginBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Env values are API keys: their names only.
        f.debug_struct("PluginBuilder")
            .field("image", &self.image)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("api_url", &self.api_url)
            .field("signatures", &self.signatures)
            .field("startup_timeout", &self.startup_timeout)
            .field("limits", &self.limits)
            .field("egress", &self.egress)
            .finish()
    }
}

impl PluginBuilder {
    /// A builder for `image` (a reference such as `acme/notes:0.1.0`, or an image id) with the
    /// host's defaults: signatures required, `NANO_API_URL` = the NanoFleet default (which
    /// resolves nowhere in a test), the host's limits, no egress, a 30 s startup timeout.
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            env: BTreeMap::new(),
            api_url: env::DEFAULT_API_URL.to_owned(),
            signatures: true,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            limits: Limits::default(),
            egress: false,
        }
    }

    /// Sets an environment variable of the plugin: one of the manifest's `requiredEnvVars`
    /// (an API key), or any other the plugin reads (`RUST_LOG`, `NANOFLEET_ALLOWED_HOSTS`…).
    /// The `NANO_*` variables and `NANOFLEET_REQUIRE_AGENT_SIGNATURE` belong to the harness:
    /// use [`api_url`](Self::api_url) and [`signatures`](Self::signatures).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// The `NANO_API_URL` the plugin gets, e.g. a fake NanoFleet API the test serves. It must
    /// follow the host's rule: `http://` or `https://`, a host, an optional port and path.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// Whether the plugin requires signed agent ids (`NANOFLEET_REQUIRE_AGENT_SIGNATURE`).
    /// Default `true`, as our host runs plugins; `false` is how NanoFleet's own host runs them.
    /// [`PluginContainer::client_as`] signs either way.
    pub fn signatures(mut self, required: bool) -> Self {
        self.signatures = required;
        self
    }

    /// How long to wait, after the container starts, for the plugin to answer `tools/list`.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The container's resource limits (default: the host's).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Whether the plugin may open connections to the outside world, as a host install with
    /// egress allows. Default `false`: the plugin's network has no route out.
    pub fn egress(mut self, allowed: bool) -> Self {
        self.egress = allowed;
        self
    }

    /// Everything wrong with the options, found without the engine.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !image::is_image_id(&self.image)
            && let Err(v) = image::check_image_ref(&self.image)
        {
            problems.push(format!("image `{}`: {v}", self.image.escape_debug()));
        }
        for (name, value) in &self.env {
            if name == env::NANOFLEET_REQUIRE_AGENT_SIGNATURE {
                problems.push(format!(
                    "env {name} is set by the harness: use .signatures(true|false)"
                ));
            } else if let Err(v) = rules::check_env_var_name(name) {
                problems.push(format!("env: {v}"));
            } else if let Err(v) = rules::check_env_var_not_reserved(name) {
                problems.push(format!(
                    "env: {v}; the harness sets {} itself (NANO_API_URL with .api_url())",
                    env::INJECTED.join(", ")
                ));
            }
            if value.contains('\0') {
                problems.push(format!("env: the value of {name} contains a NUL byte"));
            }
        }
        if let Err(e) = env::parse_api_url(&self.api_url) {
            problems.push(format!("api_url (NANO_API_URL) {e}"));
        }
        if self.startup_timeout.is_zero() {
            problems.push("the startup timeout is zero: give the plugin time to start".into());
        }
        problems.extend(self.limits.problems());
        problems
    }

    /// Starts the plugin, hardened as the host runs it, and waits until it answers
    /// `tools/list`.
    ///
    /// In order: the options are checked; the engine is pinged; the image is inspected (never
    /// pulled) and its manifest read from the [`labels::IMAGE_MANIFEST`] label; the manifest's
    /// `requiredEnvVars` are checked against [`env`](Self::env). Only then are a network, a
    /// fresh volume and the container created. If anything fails after that, all three are
    /// removed before the error is returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`], [`Error::DockerUnreachable`], [`Error::ImageMissing`],
    /// [`Error::NoManifest`], [`Error::InvalidManifest`], [`Error::MissingEnv`] before anything
    /// is created; [`Error::Docker`], [`Error::Exited`] or [`Error::NotReady`] (both with the
    /// container's last log lines) after.
    pub async fn start(self) -> Result<PluginContainer, Error> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidOption(problems.join("; ")));
        }
        let docker = engine::connect().await?;
        let (image_id, manifest) = read_image(&docker, &self.image).await?;
        let missing = missing_env(&manifest.required_env_vars, &self.env);
        if !missing.is_empty() {
            return Err(Error::MissingEnv {
                plugin: manifest.name,
                missing,
            });
        }
        let objects = engine::Objects::new(&manifest.name);
        // From here on, whatever exists is removed again if the start fails or is cancelled.
        let pending = engine::Pending::new(docker.clone(), objects.clone());
        let created = async {
            engine::create_network(&docker, &objects, self.egress).await?;
            engine::create_volume(&docker, &objects).await?;
            let token = InternalToken::generate();
            let request = self.request(&image_id, &manifest, &objects, &token);
            match request.start().await {
                Ok(container) => Ok((container, token)),
                Err(e) => Err(Error::docker(
                    format!("start container {}", objects.container),
                    &e,
                )),
            }
        };
        let (container, token) = match created.await {
            Ok(created) => created,
            Err(e) => {
                pending.remove().await;
                return Err(e);
            }
        };
        // The container handle takes over: `PluginContainer`'s drop removes it all.
        pending.disarm();
        let plugin = PluginContainer {
            container: Some(container),
            docker,
            manifest,
            image: self.image,
            image_id,
            token,
            objects,
            mcp_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ui_addr: None,
        };
        plugin.ready(self.startup_timeout).await
    }

    /// The container request: the host's hardening, through testcontainers' options where they
    /// exist and a host-config modifier for the rest.
    fn request(
        &self,
        image_id: &str,
        manifest: &Manifest,
        objects: &engine::Objects,
        token: &InternalToken,
    ) -> testcontainers::ContainerRequest<GenericImage> {
        // By id: the container runs exactly the image whose manifest was read.
        let (repository, id) = image_id.split_once(':').unwrap_or(("sha256", image_id));
        let ports: Vec<u16> = std::iter::once(manifest.mcp_port)
            .chain(manifest.ui_port)
            .collect();
        let mut image = GenericImage::new(repository, id);
        for port in &ports {
            image = image.with_exposed_port(port.tcp());
        }

        let mut env = self.env.clone();
        env.insert(env::NANO_API_URL.into(), self.api_url.trim().to_owned());
        env.insert(
            env::NANO_INTERNAL_TOKEN.into(),
            token.expose_secret().to_owned(),
        );
        env.insert(env::NANO_PLUGIN_ID.into(), manifest.name.clone());
        env.insert(
            env::NANOFLEET_REQUIRE_AGENT_SIGNATURE.into(),
            if self.signatures { "1" } else { "0" }.into(),
        );

        let limits = self.limits;
        let host_config = move |config: &mut HostConfig| {
            // Checked by `Limits::problems`: every value fits an i64.
            let memory = i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX);
            config.memory = Some(memory);
            // Equal to `memory`: no swap on top of the limit.
            config.memory_swap = Some(memory);
            config.nano_cpus = Some(i64::try_from(limits.nano_cpus).unwrap_or(i64::MAX));
            config.pids_limit = Some(i64::try_from(limits.pids).unwrap_or(i64::MAX));
            config.tmpfs = Some(HashMap::from([("/tmp".into(), TMPFS_OPTIONS.into())]));
            config.init = Some(false);
            // A crash must fail the test, not be papered over by a restart.
            config.restart_policy = Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            });
            config.log_config = Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".into(), "10m".into()),
                    ("max-file".into(), "3".into()),
                ])),
            });
            // Published on loopback only, at ports the engine picks; never on every interface.
            config.publish_all_ports = Some(false);
            config.port_bindings = Some(
                ports
                    .iter()
                    .map(|port| {
                        let binding = PortBinding {
                            host_ip: Some(Ipv4Addr::LOCALHOST.to_string()),
                            host_port: Some(String::new()),
                        };
                        (format!("{port}/tcp"), Some(vec![binding]))
                    })
                    .collect(),
            );
        };

        let hostname: String = objects.container.chars().take(MAX_HOSTNAME_LEN).collect();
        let request = image
            .with_container_name(&objects.container)
            .with_hostname(hostname)
            .with_labels(objects.labels(&manifest.version))
            .with_user(PLUGIN_USER)
            .with_readonly_rootfs(true)
            .with_cap_drop("ALL")
            .with_security_opt("no-new-privileges:true")
            .with_privileged(false)
            .with_network(&objects.network)
            .with_mount(Mount::volume_mount(&objects.volume, names::DATA_DIR))
            .with_startup_timeout(self.startup_timeout)
            .with_host_config_modifier(host_config);
        env.into_iter().fold(request, |request, (name, value)| {
            request.with_env_var(name, value)
        })
    }
}

/// Inspects `image` (never pulling it) and reads its manifest label: the image's id and the
/// manifest.
async fn read_image(docker: &Docker, image: &str) -> Result<(String, Manifest), Error> {
    let inspected = match docker.inspect_image(image).await {
        Ok(inspected) => inspected,
        Err(e) if engine::status(&e) == Some(404) => {
            return Err(Error::ImageMissing {
                image: image.to_owned(),
            });
        }
        Err(e) => return Err(Error::docker(format!("inspect image {image}"), &e)),
    };
    let Some(id) = inspected.id else {
        return Err(Error::docker_says(
            format!("inspect image {image}"),
            "the engine reported no image id",
        ));
    };
    let Some(label) = inspected
        .config
        .and_then(|c| c.labels)
        .and_then(|mut l| l.remove(labels::IMAGE_MANIFEST))
    else {
        return Err(Error::NoManifest {
            image: image.to_owned(),
        });
    };
    match Manifest::parse_json(&label).into_result() {
        Ok((manifest, _warnings)) => Ok((id, manifest)),
        Err(diagnostics) => Err(Error::InvalidManifest {
            image: image.to_owned(),
            problems: diagnostics
                .errors()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        }),
    }
}

/// The `required` variables not in `given`, in order, once each.
fn missing_env(required: &[String], given: &BTreeMap<String, String>) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    for name in required {
        if !given.contains_key(name) && !missing.contains(name) {
            missing.push(name.clone());
        }
    }
    missing
}

/// A plugin image running in a container hardened as the NanoFleet host runs it, reachable
/// from the test on a loopback port.
///
/// What the container gets, as from the host: user [`PLUGIN_USER`], a read-only root
/// filesystem with a tmpfs at `/tmp` ([`TMPFS_OPTIONS`]), every capability dropped,
/// `no-new-privileges`, memory/CPU/pids [`Limits`], a fresh named volume at `/data` (Docker
/// copies the image's `/data`, owned by the plugin user, into it), `NANO_API_URL`,
/// `NANO_INTERNAL_TOKEN` (fresh, 256 random bits), `NANO_PLUGIN_ID` and
/// `NANOFLEET_REQUIRE_AGENT_SIGNATURE`. Its network is a bridge of its own without a route out
/// (unless [`PluginBuilder::egress`]) and without traffic between containers, like the
/// host's development network; the MCP (and UI) port is published on `127.0.0.1` at a port the
/// engine picks. No helper image is involved and nothing is pulled.
///
/// [`stop`](Self::stop) removes the container, its volume and its network; dropping the value
/// does the same, blocking the dropping thread until it is done.
pub struct PluginContainer {
    /// `None` once stopped.
    container: Option<ContainerAsync<GenericImage>>,
    docker: Docker,
    manifest: Manifest,
    image: String,
    image_id: String,
    token: InternalToken,
    objects: engine::Objects,
    mcp_addr: SocketAddr,
    ui_addr: Option<SocketAddr>,
}

impl fmt::Debug for PluginContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginContainer")
            .field("plugin", &self.manifest.name)
            .field("image", &self.image)
            .field("container", &self.objects.container)
            .field("volume", &self.objects.volume)
            .field("network", &self.objects.network)
            .field("mcp_addr", &self.mcp_addr)
            .field("ui_addr", &self.ui_addr)
            .finish_non_exhaustive()
    }
}

impl PluginContainer {
    /// Starts `image` with the defaults of [`PluginBuilder::new`]; see [`PluginBuilder::start`].
    pub async fn start(image: impl Into<String>) -> Result<Self, Error> {
        PluginBuilder::new(image).start().await
    }

    /// A builder for `image`, for env vars, the API URL, signatures, timeouts and limits.
    pub fn builder(image: impl Into<String>) -> PluginBuilder {
        PluginBuilder::new(image)
    }

    /// Finds the published ports, then probes `tools/list` until it answers. On failure the
    /// container and its objects are removed and the error quotes the container's logs.
    async fn ready(mut self, timeout: Duration) -> Result<Self, Error> {
        let started = Instant::now();
        let result = self.wait_until_ready(started, timeout).await;
        match result {
            Ok(()) => Ok(self),
            Err(Readiness::Failed(e)) => {
                self.remove_now().await;
                Err(e)
            }
            Err(Readiness::Exited(exit_code)) => {
                let logs = self.last_logs().await;
                self.remove_now().await;
                Err(Error::Exited {
                    plugin: self.manifest.name.clone(),
                    exit_code,
                    logs,
                })
            }
            Err(Readiness::TimedOut(last_error)) => {
                let logs = self.last_logs().await;
                self.remove_now().await;
                Err(Error::NotReady {
                    plugin: self.manifest.name.clone(),
                    timeout,
                    last_error,
                    logs,
                })
            }
        }
    }

    async fn wait_until_ready(
        &mut self,
        started: Instant,
        timeout: Duration,
    ) -> Result<(), Readiness> {
        // A process that has already ended has no published ports: report it as ended.
        let ports = engine::published_ports(&self.docker, &self.objects.container)
            .await
            .map_err(Readiness::Failed)?;
        let wanted = std::iter::once(self.manifest.mcp_port).chain(self.manifest.ui_port);
        if let Some(port) = wanted.into_iter().find(|p| !ports.contains_key(p)) {
            if let Some(exit_code) = engine::exited(&self.docker, &self.objects.container)
                .await
                .map_err(Readiness::Failed)?
            {
                return Err(Readiness::Exited(exit_code));
            }
            return Err(Readiness::Failed(Error::docker_says(
                format!("publish port {port} of {}", self.objects.container),
                "the engine reports no loopback binding for it",
            )));
        }
        let published = |port: u16| ports.get(&port).copied();
        self.mcp_addr = published(self.manifest.mcp_port).unwrap_or(self.mcp_addr);
        self.ui_addr = self.manifest.ui_port.and_then(published);

        let mut last_error = String::from("no probe finished yet");
        loop {
            if let Some(exit_code) = engine::exited(&self.docker, &self.objects.container)
                .await
                .map_err(Readiness::Failed)?
            {
                return Err(Readiness::Exited(exit_code));
            }
            let remaining = timeout.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(Readiness::TimedOut(last_error));
            }
            let attempt = remaining.min(PROBE_TIMEOUT);
            match self
                .connect(
                    self.mcp_base_url(),
                    "the readiness probe (no agent)".into(),
                    attempt,
                )
                .await
            {
                Ok(client) => {
                    let client = client.with_timeout(attempt);
                    let listed = client.list_tools().await;
                    drop(client.close().await);
                    match listed {
                        Ok(_) => return Ok(()),
                        Err(e) => last_error = e.to_string(),
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(PROBE_INTERVAL.min(timeout.saturating_sub(started.elapsed()))).await;
        }
    }

    /// The plugin's manifest, read from the image's [`labels::IMAGE_MANIFEST`] label.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin id the container runs under (`NANO_PLUGIN_ID`): the manifest's `name`.
    pub fn plugin_id(&self) -> &str {
        &self.manifest.name
    }

    /// The image as the test named it.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The id of the image the container runs (`sha256:…`).
    pub fn image_id(&self) -> &str {
        &self.image_id
    }

    /// The container's name: `nanofleet-test-<plugin>-<random>`.
    pub fn container_name(&self) -> &str {
        &self.objects.container
    }

    /// The name of the container's data volume, mounted at `/data`.
    pub fn volume_name(&self) -> &str {
        &self.objects.volume
    }

    /// The name of the container's network.
    pub fn network_name(&self) -> &str {
        &self.objects.network
    }

    /// The value of the [`labels::INSTANCE`] label on this container, its volume and its
    /// network (`testkit-<random>`): filter on it to find exactly this plugin's objects.
    pub fn instance(&self) -> &str {
        &self.objects.instance
    }

    /// The engine's id of the container, while it exists.
    pub fn container_id(&self) -> Option<&str> {
        self.container.as_ref().map(|c| c.id())
    }

    /// The testcontainers handle, while the container exists.
    pub fn container(&self) -> Option<&ContainerAsync<GenericImage>> {
        self.container.as_ref()
    }

    /// The engine client the harness uses, e.g. to inspect the container.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The plugin's internal token (`NANO_INTERNAL_TOKEN`), e.g. to sign as the host or to act
    /// as the host's callback API in a fake.
    pub fn internal_token(&self) -> &InternalToken {
        &self.token
    }

    /// The signature of `agent` for this plugin (`agent_sig`), as the host makes it.
    pub fn sign(&self, agent: &str) -> String {
        sign_agent(&self.token, &self.manifest.name, agent)
    }

    /// Where the MCP port is published: `127.0.0.1:<port>`.
    pub fn mcp_addr(&self) -> SocketAddr {
        self.mcp_addr
    }

    /// Where the UI port is published, for a plugin with a `uiPort`.
    pub fn ui_addr(&self) -> Option<SocketAddr> {
        self.ui_addr
    }

    /// `http://127.0.0.1:<port>/mcp`, without an agent.
    pub fn mcp_base_url(&self) -> String {
        format!("http://{}{}", self.mcp_addr, names::MCP_PATH)
    }

    /// The URL the host would give `agent`, signed:
    /// `http://127.0.0.1:<port>/mcp?agent_id=<agent>&agent_sig=<signature>`, for other MCP
    /// clients.
    pub fn mcp_url(&self, agent: &str) -> String {
        self.url_with(&[
            (AGENT_ID_PARAM, agent),
            (AGENT_SIG_PARAM, &self.sign(agent)),
        ])
    }

    fn url_with(&self, query: &[(&str, &str)]) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        format!("{}?{query}", self.mcp_base_url())
    }

    async fn connect(
        &self,
        url: String,
        who: String,
        timeout: Duration,
    ) -> Result<AgentClient, Error> {
        AgentClient::connect(url, &self.manifest.name, who, timeout).await
    }

    /// An MCP client for `agent`, with the signature the host would add.
    pub async fn client_as(&self, agent: &str) -> Result<AgentClient, Error> {
        self.connect(
            self.mcp_url(agent),
            format!("agent {agent} (signed)"),
            DEFAULT_REQUEST_TIMEOUT,
        )
        .await
    }

    /// An MCP client for `agent` without a signature. A plugin that requires signatures
    /// refuses it: the error [`is_refused`](Error::is_refused).
    pub async fn client_unsigned(&self, agent: &str) -> Result<AgentClient, Error> {
        self.connect(
            self.url_with(&[(AGENT_ID_PARAM, agent)]),
            format!("agent {agent} (unsigned)"),
            DEFAULT_REQUEST_TIMEOUT,
        )
        .await
    }

    /// An MCP client for `agent` with a well-formed signature made with another token: a
    /// plugin that knows its token refuses it, signatures required or not.
    pub async fn client_forged(&self, agent: &str) -> Result<AgentClient, Error> {
        let forged = sign_agent(&InternalToken::generate(), &self.manifest.name, agent);
        self.connect(
            self.url_with(&[(AGENT_ID_PARAM, agent), (AGENT_SIG_PARAM, &forged)]),
            format!("agent {agent} (forged signature)"),
            DEFAULT_REQUEST_TIMEOUT,
        )
        .await
    }

    /// An MCP client that names no agent, as the host's install probe: tools that need an
    /// agent fail, the others work.
    pub async fn client_anonymous(&self) -> Result<AgentClient, Error> {
        self.connect(
            self.mcp_base_url(),
            "no agent".into(),
            DEFAULT_REQUEST_TIMEOUT,
        )
        .await
    }

    /// The container's output so far, stdout and stderr interleaved as written.
    pub async fn logs(&self) -> Result<String, Error> {
        engine::logs(&self.docker, &self.objects.container, None).await
    }

    /// The last lines of the output, for an error message; never fails.
    async fn last_logs(&self) -> String {
        match engine::logs(&self.docker, &self.objects.container, Some(LOG_TAIL_LINES)).await {
            Ok(logs) if logs.trim().is_empty() => "(no output)".to_owned(),
            Ok(logs) => logs,
            Err(e) => format!("(the logs could not be read: {e})"),
        }
    }

    /// Removes the container, its volume and its network.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`] naming what could not be removed; the rest is removed anyway.
    pub async fn stop(mut self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if let Some(container) = self.container.take()
            && let Err(e) = container.rm().await
        {
            problems.push(format!(
                "container {}: {}",
                self.objects.container,
                crate::error::describe(&e)
            ));
        }
        problems.extend(engine::remove_volume_and_network(&self.docker, &self.objects).await);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::docker_says(
                format!("remove what was created for {}", self.manifest.name),
                problems.join("; "),
            ))
        }
    }

    /// Removes everything now, reporting nothing: the caller already has an error to return.
    async fn remove_now(&mut self) {
        if let Some(container) = self.container.take() {
            drop(container.rm().await);
        }
        engine::remove(&self.docker, &self.objects).await;
    }
}

/// Why the readiness wait ended without the plugin ready.
enum Readiness {
    /// The engine failed.
    Failed(Error),
    /// The container's process ended, with this exit code.
    Exited(Option<i64>),
    /// The timeout ran out; the last probe's error.
    TimedOut(String),
}

impl Drop for PluginContainer {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        engine::remove_on_drop(container, self.docker.clone(), self.objects.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_env_is_listed_in_manifest_order_once() {
        let required = ["B_KEY", "A_KEY", "B_KEY", "C_KEY"].map(String::from);
        let given = BTreeMap::from([("A_KEY".to_owned(), "x".to_owned())]);
        assert_eq!(missing_env(&required, &given), ["B_KEY", "C_KEY"]);
        let all = BTreeMap::from([
            ("A_KEY".to_owned(), "x".to_owned()),
            ("B_KEY".to_owned(), String::new()),
            ("C_KEY".to_owned(), "z".to_owned()),
        ]);
        assert!(missing_env(&required, &all).is_empty());
        assert!(missing_env(&[], &BTreeMap::new()).is_empty());
    }

    #[test]
    fn every_bad_option_is_reported_at_once() {
        let builder = PluginBuilder::new("Not A Ref")
            .env("NANO_API_URL", "http://x")
            .env(env::NANOFLEET_REQUIRE_AGENT_SIGNATURE, "0")
            .env("lower-case", "x")
            .env("OK_KEY", "a\0b")
            .api_url("ftp://nope")
            .startup_timeout(Duration::ZERO)
            .limits(Limits {
                memory_bytes: 1,
                nano_cpus: 1_000_000_000,
                pids: u64::MAX,
            });
        let problems = builder.problems();
        let text = problems.join("\n");
        for expected in [
            "image `Not A Ref`",
            "NANO_API_URL",
            ".signatures(true|false)",
            "lower-case",
            "value of OK_KEY contains a NUL byte",
            "api_url (NANO_API_URL)",
            "startup timeout is zero",
            "memory limit 1",
            "pids limit",
        ] {
            assert!(text.contains(expected), "{expected:?} not in:\n{text}");
        }
        assert_eq!(problems.len(), 9, "{text}");
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(PluginBuilder::new("acme/notes:0.1.0").problems().is_empty());
        let id = format!("sha256:{}", "ab".repeat(32));
        assert!(PluginBuilder::new(id).problems().is_empty());
        let builder = PluginBuilder::new("acme/notes:0.1.0")
            .env("WEATHER_API_KEY", "secret-value")
            .env("NANOFLEET_ALLOWED_HOSTS", "*")
            .api_url("http://172.17.0.1:8787/");
        assert!(builder.problems().is_empty(), "{:?}", builder.problems());
        assert!(!format!("{builder:?}").contains("secret-value"));
    }
}
