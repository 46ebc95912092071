//! The Docker Swarm backend of [`Runtime`], on bollard: each plugin a replicated service, so
//! that plugins and agents can run on several machines and still reach each other by the same
//! names.
//!
//! What a plugin becomes on Swarm:
//! - a **service** named like the container would be (`nanofleet-plugin-<name>`), one replica
//!   by default, carrying the same labels (managed-by, plugin, version, config hash,
//!   instance) on the service and on its tasks' containers;
//! - attached to an **overlay** [`names::NETWORK`], internal and attachable, with the alias
//!   `nanofleet-plugin-<name>`: agents on any node attach to it and the `.mcp.json` URLs stay
//!   those of the one-engine backend. Plugins granted egress join the attachable overlay
//!   [`EGRESS_NETWORK`] too;
//! - its **secrets** ([`ContainerSpec::secrets`]: the internal token, API keys, sensitive
//!   settings) as Swarm secrets, mounted as files in [`SECRETS_DIR`](super::SECRETS_DIR) and
//!   readable only by the plugin's user; they never appear in the service's environment.
//!   A secret's name is derived from its value, so a rotated value is a new secret;
//! - its **data volume** on one node: the service is constrained to the node that carries the
//!   node label [`data_label`]`(instance, plugin)`, set on the node chosen at first start (or
//!   beforehand by an operator, to choose). A plugin without a data volume is not pinned;
//! - **updates** roll start-first, one task at a time, and roll back when the new task fails
//!   within the monitor window.
//!
//! What Swarm allows less of than a container, and what is done about it: see [`Hardening`].
//! A service's tasks keep the read-only root, the non-root user, the dropped capabilities and
//! the limits. `no-new-privileges`, the seccomp profile that refuses process creation and the
//! `noexec` option of `/tmp` are sent, but older engines (Docker 20.10 among them) drop them from
//! service specs; the backend reads back what the engine kept and says which are missing
//! ([`SwarmRuntime::hardening`]) rather than pretending.
//!
//! The backend talks to one manager. Images must be on every node that may run a plugin (no
//! registry is assumed); volumes are node-local, which is why stateful plugins are pinned.

mod events;
mod networks;
mod placement;
mod secrets;
mod services;
mod state;
mod updates;

use crate::names;

use bollard::Docker;
use bollard::models::LocalNodeState;

use super::docker::errors::map_error;
use super::{
    BoxFut, BoxStream, ContainerSpec, ContainerState, DockerRuntime, LogOptions, Runtime,
    RuntimeError, RuntimeEvent, Upgrade,
};

pub use placement::data_label;
pub use services::Hardening;

/// The attachable overlay network plugins granted egress join, next to [`names::NETWORK`].
pub const EGRESS_NETWORK: &str = super::docker::EGRESS_NETWORK;

const ENGINE: &str = "the Docker Swarm manager";

/// The Swarm backend. Cheap to share: hold it in an `Arc<dyn Runtime>`.
#[derive(Debug)]
pub struct SwarmRuntime {
    /// The same engine as a single engine: images and volumes of the manager's own node.
    local: DockerRuntime,
}

impl SwarmRuntime {
    /// Connects to the manager named by `DOCKER_HOST`, or the default socket. Nothing is sent
    /// yet; [`Runtime::ping`] checks that the engine answers and manages a swarm.
    pub fn connect() -> Result<Self, RuntimeError> {
        Ok(Self::on(DockerRuntime::connect()?))
    }

    /// Connects to an explicit endpoint, as [`DockerRuntime::connect_to`] reads it.
    pub fn connect_to(host: &str) -> Result<Self, RuntimeError> {
        Ok(Self::on(DockerRuntime::connect_to(host)?))
    }

    /// The Swarm backend on the engine `local` talks to.
    pub fn on(local: DockerRuntime) -> Self {
        Self { local }
    }

    /// The endpoint this runtime talks to, as named in errors.
    pub fn endpoint(&self) -> &str {
        self.local.endpoint()
    }

    fn docker(&self) -> &Docker {
        &self.local.docker
    }

    fn fail(&self, operation: impl Into<String>, err: bollard::errors::Error) -> RuntimeError {
        map_error(self.endpoint(), operation.into(), err)
    }

    /// Which of the hardening settings the engine kept in the definition of the service
    /// made from `spec` (the others it dropped without a word, as Docker 20.10 does); `None`
    /// when there is no such service.
    pub async fn hardening(&self, spec: &ContainerSpec) -> Result<Option<Hardening>, RuntimeError> {
        Ok(self
            .managed_service(&spec.name())
            .await?
            .map(|service| Hardening::read_back(spec, &service)))
    }

    /// Checks that the engine answers and is a manager of an active swarm.
    async fn ping_manager(&self) -> Result<(), RuntimeError> {
        self.local.ping().await?;
        let info = self
            .docker()
            .info()
            .await
            .map_err(|e| self.fail("read the engine's swarm state", e))?;
        let swarm = info.swarm.unwrap_or_default();
        let state = swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY);
        let unusable = |hint: String| RuntimeError::Unreachable {
            engine: ENGINE,
            endpoint: self.endpoint().to_owned(),
            hint,
        };
        if state != LocalNodeState::ACTIVE {
            return Err(unusable(format!(
                "this engine is not part of an active swarm (its swarm state is `{state}`): \
                 run `docker swarm init` on it, or point DOCKER_HOST at a swarm manager"
            )));
        }
        if swarm.control_available != Some(true) {
            return Err(unusable(
                "this engine is a swarm worker, not a manager: point DOCKER_HOST at a manager \
                 (`docker node ls` there lists them)"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl Runtime for SwarmRuntime {
    fn ping(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(self.ping_manager())
    }

    fn ensure_network(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(self.ensure_overlays(false))
    }

    fn create_and_start<'a>(
        &'a self,
        spec: &'a ContainerSpec,
    ) -> BoxFut<'a, Result<ContainerState, RuntimeError>> {
        Box::pin(self.create_service(spec))
    }

    fn start<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.scale(name, true))
    }

    fn stop<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.scale(name, false))
    }

    fn remove<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.remove_service(name))
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            Err(RuntimeError::Engine {
                operation: format!("rename {from} to {to}"),
                message: "Swarm cannot rename a service; on Swarm a plugin is upgraded by \
                          updating its service in place"
                    .into(),
            })
        })
    }

    fn upgrade_strategy(&self) -> Upgrade {
        Upgrade::InPlace
    }

    fn max_replicas(&self) -> u32 {
        super::MAX_REPLICAS
    }

    fn replace<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.replace_service(spec))
    }

    fn roll_back<'a>(&'a self, name: &'a str) -> BoxFut<'a, Result<(), RuntimeError>> {
        Box::pin(self.roll_back_service(name))
    }

    fn list_managed(&self) -> BoxFut<'_, Result<Vec<ContainerState>, RuntimeError>> {
        Box::pin(self.list_services())
    }

    fn inspect<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFut<'a, Result<Option<ContainerState>, RuntimeError>> {
        Box::pin(self.inspect_service(name))
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
        Box::pin(self.remove_data(instance, plugin))
    }

    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFut<'a, Result<bool, RuntimeError>> {
        self.local.image_exists(image)
    }

    fn network_subnet(&self) -> BoxFut<'_, Result<Option<String>, RuntimeError>> {
        self.local.network_subnet()
    }

    fn image_label<'a>(
        &'a self,
        image: &'a str,
        key: &'a str,
    ) -> BoxFut<'a, Result<Option<String>, RuntimeError>> {
        self.local.image_label(image, key)
    }

    fn pull<'a>(
        &'a self,
        image: &'a str,
        progress: &'a (dyn Fn(String) + Send + Sync),
    ) -> BoxFut<'a, Result<(), RuntimeError>> {
        self.local.pull(image, progress)
    }

    fn events(
        &self,
    ) -> BoxFut<'_, Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>>
    {
        let stream = self.event_stream();
        Box::pin(async move { Ok(stream) })
    }

    fn remove_network_if_unused(&self) -> BoxFut<'_, Result<(), RuntimeError>> {
        Box::pin(self.remove_overlays_if_unused())
    }
}
