//! Containers and their data volumes: create (hardened, from a spec), start, stop, remove,
//! rename, list and inspect, touching only what carries our labels.

use crate::names;
use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, HostConfig,
    HostConfigLogConfig, Mount, MountType, NetworkConnectRequest, NetworkingConfig, PortBinding,
    PortMap, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use crate::labels;
use crate::runtime::{ContainerSpec, ContainerState, DATA_DIR, RuntimeError};
use nanofleet_sdk::manifest::Filesystem;

use super::{DockerRuntime, EGRESS_NETWORK, PUBLISH_NETWORK, TMPFS_OPTIONS};
use super::{errors::*, state::*};

impl DockerRuntime {
    pub(super) async fn create_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<ContainerState, RuntimeError> {
        spec.validate()?;
        if spec.replicas != 1 {
            return Err(RuntimeError::InvalidSpec(format!(
                "{} replicas: one engine runs one container per plugin; several replicas need \
                 an engine that runs services (`--engine swarm`)",
                spec.replicas
            )));
        }
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

    pub(super) async fn connect_and_start(
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

    pub(super) async fn ensure_volume(
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
    pub(super) async fn managed_container(
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

    pub(super) async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
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

    pub(super) async fn stop_container(&self, name: &str) -> Result<(), RuntimeError> {
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

    pub(super) async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
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

    pub(super) async fn rename_container(&self, from: &str, to: &str) -> Result<(), RuntimeError> {
        if let Err(why) = crate::runtime::check_container_name(to) {
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

    pub(super) async fn list_containers(&self) -> Result<Vec<ContainerState>, RuntimeError> {
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
        // A Swarm task's container carries our labels too; it belongs to its service.
        let mut states: Vec<_> = containers
            .into_iter()
            .filter(|c| !is_swarm_task(c.labels.as_ref()))
            .map(state_from_summary)
            .collect();
        states.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(states)
    }

    pub(super) async fn inspect_one(
        &self,
        name: &str,
    ) -> Result<Option<ContainerState>, RuntimeError> {
        Ok(self.managed_container(name).await?.map(state_from_inspect))
    }

    pub(super) async fn delete_volume(
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
}

/// The create request for a validated spec.
pub(super) fn container_body(spec: &ContainerSpec) -> Result<ContainerCreateBody, RuntimeError> {
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
pub(super) fn security_options(spec: &ContainerSpec) -> Vec<String> {
    let mut options = vec!["no-new-privileges:true".to_owned()];
    if !spec.spawn {
        // The API takes the profile's JSON inline (the CLI's `seccomp=<file>` reads the file).
        options.push(format!(
            "seccomp={}",
            crate::runtime::seccomp::no_spawn_profile()
        ));
    }
    options
}

/// The data volume at `/data` as the plugin's `filesystem` permission says: read-write,
/// read-only, or absent (then `/data` does not exist in the read-only root).
pub(super) fn data_mounts(spec: &ContainerSpec) -> Vec<Mount> {
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
pub(in crate::runtime) fn truncate_hostname(name: &str) -> String {
    name.chars().take(63).collect()
}

pub(in crate::runtime) fn managed_labels(plugin: Option<&str>) -> HashMap<String, String> {
    let mut labels = HashMap::from([(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    )]);
    if let Some(plugin) = plugin {
        labels.insert(labels::PLUGIN.to_owned(), plugin.to_owned());
    }
    labels
}

pub(in crate::runtime) fn is_managed(labels: Option<&HashMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(labels::MANAGED_BY))
        .is_some_and(|v| v == labels::MANAGED_BY_VALUE)
}

/// The label the engine puts on the containers of Swarm tasks.
pub(in crate::runtime) const SWARM_SERVICE_LABEL: &str = "com.docker.swarm.service.id";

/// Whether a container is a Swarm task's, which the Swarm backend manages through its service.
pub(in crate::runtime) fn is_swarm_task(labels: Option<&HashMap<String, String>>) -> bool {
    labels.is_some_and(|l| l.contains_key(SWARM_SERVICE_LABEL))
}

pub(in crate::runtime) fn not_ours(kind: &str, name: &str, command: &str) -> RuntimeError {
    RuntimeError::Conflict(format!(
        "{kind} {name} was not created by nanofleet-rs (it lacks the label {}={}), so it is left \
         alone: rename it, or remove it yourself (`{command}`)",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ))
}
