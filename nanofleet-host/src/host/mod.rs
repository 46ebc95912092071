//! The host: desired state in the [`Store`], actual state in the [`Runtime`], and operations
//! that converge one to the other.
//!
//! Every operation on a plugin takes that plugin's lock, so concurrent calls for one plugin
//! run one after the other, and every operation is written to leave nothing half-done: an
//! install that fails removes its container and its row, an upgrade that fails leaves the old
//! version serving, a link is written to `.mcp.json` atomically. [`Host::reconcile`] repairs
//! whatever drifted anyway (a container removed by hand, a daemon restart, an edited
//! `.mcp.json`), and running it twice in a row changes nothing the second time.

mod agents;
mod client_configs;
mod config;
mod error;
mod install;
mod probe;
mod reconcile;
mod upgrade_plan;

use crate::names;
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::Duration,
};

use nanofleet_contracts::env;
use nanofleet_sdk::{
    identity::InternalToken,
    manifest::{Manifest, Network, Overrides, ResourceLimits},
};
use tokio::sync::broadcast;

pub use client_configs::FULL_CHECK_EVERY as AGENT_FILES_FULL_CHECK_EVERY;
pub use config::{
    ConfigEntry, ConfigSource, coerce as coerce_config, display_value, entries as config_entries,
};
pub use error::HostError;
pub use install::INSTALL_STEP_SPAN;
pub use reconcile::{Action, ReconcileReport};
pub use upgrade_plan::{ToolChanges, UpgradePlan};

use crate::{
    runtime::{ContainerSpec, ContainerState, Runtime},
    store::{PluginRecord, Store},
};

/// How the host runs plugins.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the store (and its key file) live.
    pub data_dir: PathBuf,
    /// The `NANO_API_URL` given to plugins: the host's callback API as plugins reach it.
    pub api_url: String,
    /// Whether plugins refuse unsigned agent ids (`NANOFLEET_REQUIRE_AGENT_SIGNATURE`). Every
    /// URL the host writes is signed, so linked agents are unaffected. Default `true`.
    pub require_signatures: bool,
    /// Development mode: publish plugin ports on `127.0.0.1` and write loopback URLs into
    /// `.mcp.json`, so agents running outside Docker reach plugins. Default `false`.
    pub publish_loopback: bool,
    /// How long a started plugin may take to answer `tools/list`. Default 30 s.
    pub ready_timeout: Duration,
    /// The resources a plugin gets when its manifest asks for none: 256 MiB, one CPU, 256
    /// processes unless changed. The operator's maxima are the store's [`Policy`](crate::policy::Policy).
    pub limits: ResourceLimits,
    /// The egress proxy ([`crate::egress`]) plugins with an allow-list reach the network
    /// through, as `http://ADDR:PORT` on the internal network; `nanofleet serve` runs one on
    /// the gateway. `None` (the default): no proxy, so such plugins reach nothing outside.
    pub egress_proxy: Option<String>,
    /// Link every existing agent to a newly installed plugin. Default `false`.
    pub auto_link_new_plugins: bool,
    /// Link a newly registered agent to every installed plugin. Default `false`.
    pub auto_link_new_agents: bool,
    /// This host's name among hosts sharing one engine: it owns, and reconciles, only the
    /// containers and volumes named and labelled for it (see [`names::Instance`]). Default:
    /// the default instance, with NanoFleet's names.
    pub instance: names::Instance,
    /// Which engine runs the plugins: one Docker engine (the default) or a Docker Swarm.
    /// [`Engine::connect`](crate::runtime::Engine::connect) makes the runtime to open the
    /// host with.
    pub engine: crate::runtime::Engine,
}

impl HostConfig {
    /// The defaults, with the store in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            api_url: env::DEFAULT_API_URL.into(),
            require_signatures: true,
            publish_loopback: false,
            ready_timeout: Duration::from_secs(30),
            limits: ResourceLimits::default(),
            egress_proxy: None,
            auto_link_new_plugins: false,
            auto_link_new_agents: false,
            instance: names::Instance::default(),
            engine: crate::runtime::Engine::default(),
        }
    }
}

/// Something that changed, for the embedding application: an agent whose `.mcp.json` changed
/// must reload its MCP configuration (NanoFleet agents read it once, at start).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostEvent {
    /// An agent's `.mcp.json` was rewritten.
    AgentConfigChanged {
        /// The agent.
        agent_id: String,
        /// The file.
        path: PathBuf,
        /// Plugins added to it.
        added: Vec<String>,
        /// Plugins removed from it.
        removed: Vec<String>,
        /// Plugins whose URL changed.
        updated: Vec<String>,
        /// What the agent's client will make of the linked plugins that the operator should
        /// know, e.g. a tool whose name the client's prefix pushes past 64 characters.
        warnings: Vec<String>,
    },
    /// A plugin's status changed.
    PluginStatus {
        /// The plugin.
        plugin: String,
        /// Its new status.
        status: crate::store::Status,
    },
}

/// Options of [`Host::install`] and [`Host::upgrade`].
#[derive(Clone, Default)]
pub struct InstallOptions {
    /// Grant unrestricted network whatever the manifest declares: the operator's explicit
    /// word, so it needs no [`allow_more`](Self::allow_more); the widening is recorded.
    /// Shorthand for an override of `network` to `true`.
    pub egress: bool,
    /// Pull the image when it is not on this machine (never done unless asked).
    pub pull: bool,
    /// The operator's changes to the manifest's permissions for this install. On an upgrade,
    /// each field given replaces the earlier override; the others are kept.
    pub overrides: Overrides,
    /// Allow the overrides, or a new version's manifest, to grant more than the manifest
    /// declares (or than the plugin held before an upgrade). Recorded with the plugin.
    pub allow_more: bool,
    /// Values for the plugin's settings (its manifest's `config`), by key. A string is read
    /// as the setting's text form when the setting is not a string (`"42"` for an integer).
    /// On an upgrade, values set before are kept unless given here.
    pub config: nanofleet_sdk::manifest::config::ConfigValues,
    /// How many copies of the plugin run behind its name (default 1; on an upgrade, as
    /// before). More than one needs a plugin without a data volume and an engine that runs
    /// services (Swarm).
    pub replicas: Option<u32>,
}

// By hand: configuration values may be secrets, so only their keys are shown.
impl std::fmt::Debug for InstallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallOptions")
            .field("egress", &self.egress)
            .field("pull", &self.pull)
            .field("overrides", &self.overrides)
            .field("allow_more", &self.allow_more)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl InstallOptions {
    /// The overrides with [`egress`](Self::egress) applied.
    pub fn effective_overrides(&self) -> Overrides {
        let mut overrides = self.overrides.clone();
        if self.egress {
            overrides.network = Some(Network::Unrestricted);
        }
        overrides
    }
}

/// The host. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Arc<dyn Runtime>,
    config: HostConfig,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    events: broadcast::Sender<HostEvent>,
    /// What the host last wrote into each agent's client config.
    synced: Mutex<HashMap<String, client_configs::Synced>>,
    /// Reconcile passes over the agents so far.
    passes: AtomicU64,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("data_dir", &self.inner.config.data_dir)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Opens the store in `config.data_dir` and checks that the engine answers.
    pub async fn open(config: HostConfig, runtime: Arc<dyn Runtime>) -> Result<Self, HostError> {
        env::parse_api_url(&config.api_url)
            .map_err(|e| HostError::InvalidConfig(format!("api_url (NANO_API_URL) {e}")))?;
        if config.publish_loopback && config.engine == crate::runtime::Engine::Swarm {
            return Err(HostError::InvalidConfig(
                "development mode (publishing plugins on loopback) needs one engine on this \
                 machine; on a swarm, agents reach plugins on the overlay network"
                    .into(),
            ));
        }
        let store = Store::open(&config.data_dir)?;
        runtime.ping().await?;
        Ok(Self::with_store(config, runtime, store))
    }

    /// A host over an already opened store.
    pub fn with_store(config: HostConfig, runtime: Arc<dyn Runtime>, store: Store) -> Self {
        let (events, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                config,
                locks: Mutex::new(HashMap::new()),
                events,
                synced: Mutex::new(HashMap::new()),
                passes: AtomicU64::new(0),
            }),
        }
    }

    /// The store (desired state).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The runtime (actual state).
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Changes, as they happen. Slow receivers miss events (and are told so by the channel).
    pub fn subscribe(&self) -> broadcast::Receiver<HostEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: HostEvent) {
        // No receiver is fine: nobody asked.
        let _ = self.inner.events.send(event);
    }

    /// The lock serialising operations on `plugin`.
    async fn lock(&self, plugin: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = match self.inner.locks.lock() {
                Ok(l) => l,
                // A panic while holding this map's lock cannot leave it inconsistent.
                Err(poisoned) => poisoned.into_inner(),
            };
            Arc::clone(locks.entry(plugin.to_owned()).or_default())
        };
        lock.lock_owned().await
    }

    /// What the container of the installed plugin `name` must look like: the spec a
    /// reconcile pass compares the engine's container with (secrets included, in `env`).
    pub async fn container_spec(&self, name: &str) -> Result<ContainerSpec, HostError> {
        let record = self
            .store()
            .get_plugin(name)
            .await?
            .ok_or_else(|| HostError::NotInstalled(name.to_owned()))?;
        let token = self
            .store()
            .plugin_token(name)
            .await?
            .ok_or_else(|| HostError::NotInstalled(name.to_owned()))?;
        self.spec_for(&record, &token).await
    }

    /// The container spec of an installed plugin: what its container must look like.
    async fn spec_for(
        &self,
        record: &PluginRecord,
        token: &InternalToken,
    ) -> Result<ContainerSpec, HostError> {
        let config = self.store().plugin_config(&record.name).await?;
        self.spec_with_config(record, token, &config).await
    }

    /// [`spec_for`](Self::spec_for) with the configuration values `config` rather than the
    /// stored ones (an upgrade starts the new version before it stores its values).
    async fn spec_with_config(
        &self,
        record: &PluginRecord,
        token: &InternalToken,
        config: &nanofleet_sdk::manifest::config::ConfigValues,
    ) -> Result<ContainerSpec, HostError> {
        let m = &record.manifest;
        let mut spec = ContainerSpec::new(&m.name, &m.image, &m.version, m.mcp_port);
        spec.ui_port = m.ui_port;
        let permissions = record.permissions();
        // An allow-list gets no route out: its way out is the egress proxy, when one runs.
        spec.egress = permissions.network == Network::Unrestricted;
        spec.data = permissions.filesystem;
        spec.spawn = permissions.process.spawn;
        spec.publish_loopback = self.inner.config.publish_loopback;
        spec.limits = permissions.resources.resolve(&self.inner.config.limits);
        spec.replicas = record.replicas;
        spec.instance = self.inner.config.instance.clone();
        spec.env = self.plugin_env(m, token, record.require_signature).await?;
        // The settings' values, defaults filled in; a required one without a value stops the
        // plugin here, naming every such setting. The config hash covers them, so a changed
        // value recreates the container.
        let values = m
            .config
            .resolve(config)
            .map_err(|problems| HostError::Config {
                plugin: m.name.clone(),
                problems,
            })?;
        spec.env.extend(m.config.env(&values));
        // What a backend with secret objects keeps out of the environment: the token, the API
        // keys and the sensitive settings that have a value.
        let sensitive = m
            .config
            .iter()
            .filter(|(_, setting)| setting.sensitive)
            .map(|(key, _)| nanofleet_sdk::config::env_var(key));
        spec.secrets = std::iter::once(env::NANO_INTERNAL_TOKEN.to_owned())
            .chain(m.required_env_vars.iter().cloned())
            .chain(sensitive)
            .filter(|name| spec.env.contains_key(name))
            .collect();
        if matches!(permissions.network, Network::Allow(_))
            && let Some(proxy) = &self.inner.config.egress_proxy
        {
            let api_host = http::Uri::try_from(self.inner.config.api_url.as_str())
                .ok()
                .and_then(|uri| uri.host().map(str::to_owned))
                .unwrap_or_default();
            let proxy_env =
                crate::egress::proxy_env(proxy, &m.name, token.expose_secret(), &api_host);
            spec.env.extend(proxy_env);
        }
        Ok(spec)
    }

    async fn plugin_env(
        &self,
        m: &Manifest,
        token: &InternalToken,
        require_signature: bool,
    ) -> Result<BTreeMap<String, String>, HostError> {
        let missing = self
            .inner
            .store
            .missing_api_keys(&m.required_env_vars)
            .await?;
        if !missing.is_empty() {
            return Err(HostError::MissingApiKeys {
                plugin: m.name.clone(),
                missing,
            });
        }
        let mut env = self
            .inner
            .store
            .api_key_values(&m.required_env_vars)
            .await?;
        // The same rule the plugin applies when it reads the variable: a value it would refuse
        // is refused here, before anything starts.
        let api_url = env::parse_api_url(&self.inner.config.api_url)
            .map_err(|e| HostError::InvalidConfig(format!("api_url (NANO_API_URL) {e}")))?;
        env.insert(env::NANO_API_URL.into(), api_url);
        env.insert(
            env::NANO_INTERNAL_TOKEN.into(),
            token.expose_secret().to_owned(),
        );
        env.insert(env::NANO_PLUGIN_ID.into(), m.name.clone());
        env.insert(
            env::NANOFLEET_REQUIRE_AGENT_SIGNATURE.into(),
            if require_signature { "1" } else { "0" }.into(),
        );
        // A plugin accepts its NanoFleet name as `Host`; another instance's container is
        // called something else, which it must accept too.
        let instance = &self.inner.config.instance;
        if !instance.is_default() {
            env.insert(
                env::NANOFLEET_ALLOWED_HOSTS.into(),
                instance.container_name(&m.name),
            );
        }
        Ok(env)
    }

    /// Where the host itself reaches a plugin's MCP endpoint, and the `Host` header to send
    /// (the plugin accepts its container name, not an IP).
    fn probe_target(&self, state: &ContainerState, mcp_port: u16) -> Option<(SocketAddr, String)> {
        let addr = state.host_address(mcp_port)?;
        Some((
            addr,
            format!(
                "{}:{mcp_port}",
                self.inner.config.instance.container_name(&state.plugin)
            ),
        ))
    }

    /// The URL an agent uses for `plugin` (before `?agent_id=`): the container name on the
    /// network, or the published loopback port in development mode.
    async fn agent_base_url(&self, m: &Manifest) -> Result<String, HostError> {
        if !self.inner.config.publish_loopback {
            return Ok(self
                .inner
                .config
                .instance
                .plugin_base_url(&m.name, m.mcp_port));
        }
        let state = self
            .inner
            .runtime
            .inspect(&self.inner.config.instance.container_name(&m.name))
            .await?;
        Self::published_url(m, state.as_ref())
    }

    /// [`agent_base_url`](Self::agent_base_url) from the engine's containers as listed
    /// (`observed`, by name) rather than asked for one by one.
    fn agent_base_url_observed(
        &self,
        m: &Manifest,
        observed: &HashMap<String, ContainerState>,
    ) -> Result<String, HostError> {
        let instance = &self.inner.config.instance;
        if !self.inner.config.publish_loopback {
            return Ok(instance.plugin_base_url(&m.name, m.mcp_port));
        }
        Self::published_url(m, observed.get(&instance.container_name(&m.name)))
    }

    /// The loopback URL of a development-mode plugin's published MCP port.
    fn published_url(m: &Manifest, state: Option<&ContainerState>) -> Result<String, HostError> {
        match state.and_then(|s| s.published.get(&m.mcp_port).copied()) {
            Some(addr) => Ok(format!("http://{addr}/mcp")),
            None => Err(HostError::NotRunning(m.name.clone())),
        }
    }
}
