//! Plugin services: made from a [`ContainerSpec`], scaled to start and stop, removed with
//! their secrets, listed and inspected with their tasks, and their logs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Limit, Mount, MountTmpfsOptions, MountType,
    MountVolumeOptions, NetworkAttachmentConfig, Service, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecRollbackConfig, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, Task, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecPrivileges, TaskSpecContainerSpecPrivilegesSeccomp,
    TaskSpecContainerSpecPrivilegesSeccompModeEnum, TaskSpecContainerSpecSecrets,
    TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    InspectServiceOptions, ListContainersOptionsBuilder, ListServicesOptions, ListTasksOptions,
    LogsOptions, UpdateServiceOptions,
};
use futures::StreamExt as _;
use nanofleet_sdk::manifest::Filesystem;

use crate::labels;
use crate::names;
use crate::runtime::docker::containers::{is_managed, managed_labels, not_ours, truncate_hostname};
use crate::runtime::docker::errors::{map_error, server_message, status};
use crate::runtime::docker::logs::{last_lines, lines};
use crate::runtime::{
    BoxStream, ContainerSpec, ContainerState, DATA_DIR, LogOptions, RuntimeError,
};

use super::placement::data_constraint;
use super::state::{container_name, replicas, service_name, state_of, task_failure};
use super::{EGRESS_NETWORK, SwarmRuntime};

const SECOND_NS: i64 = 1_000_000_000;
/// How long the engine waits after SIGTERM before SIGKILL when a task stops.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a task may take to reach `running` before the start counts as failed.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(60);
/// After this many failed tasks in a row, a start is given up: the plugin crashes on start.
const FAILED_TASKS_GIVEN_UP: usize = 3;
/// How long an update is watched for failure before it counts as done.
pub(super) const UPDATE_MONITOR: Duration = Duration::from_secs(5);
/// The size of the `/tmp` tmpfs, as the single-engine backend has it.
const TMPFS_BYTES: i64 = 64 * 1024 * 1024;
/// Set once the engine was found to drop a hardening setting, so that it is said once.
static SAID_WEAKER: AtomicBool = AtomicBool::new(false);

/// Which hardening settings the engine kept in a service's definition. A service is always
/// created with all of them; engines that predate these fields (Docker 20.10 does) drop
/// the first three without a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hardening {
    /// `no-new-privileges`: a setuid binary cannot gain privileges.
    pub no_new_privileges: bool,
    /// The seccomp profile refusing process creation, for a plugin without `spawn`; `true`
    /// when the plugin may spawn (the engine's default profile applies then).
    pub seccomp: bool,
    /// `noexec,nosuid` on `/tmp`.
    pub tmpfs_noexec: bool,
    /// Read-only root, non-root user, all capabilities dropped: kept by every engine.
    pub base: bool,
}

impl Hardening {
    /// What the engine kept of what `spec` asked for, read back from the service.
    pub(super) fn read_back(spec: &ContainerSpec, service: &Service) -> Self {
        let task = service
            .spec
            .as_ref()
            .and_then(|s| s.task_template.as_ref())
            .and_then(|t| t.container_spec.as_ref());
        let privileges = task.and_then(|c| c.privileges.as_ref());
        let tmp = task
            .and_then(|c| c.mounts.as_ref())
            .into_iter()
            .flatten()
            .find(|m| m.target.as_deref() == Some("/tmp"));
        Self {
            no_new_privileges: privileges.and_then(|p| p.no_new_privileges) == Some(true),
            seccomp: spec.spawn
                || privileges
                    .and_then(|p| p.seccomp.as_ref())
                    .is_some_and(|s| s.profile.is_some()),
            tmpfs_noexec: tmp
                .and_then(|m| m.tmpfs_options.as_ref())
                .and_then(|o| o.options.as_ref())
                .is_some_and(|o| {
                    o.iter()
                        .any(|pair| pair.first().is_some_and(|k| k == "noexec"))
                }),
            base: task.is_some_and(|c| {
                c.read_only == Some(true)
                    && c.capability_drop.as_deref() == Some(&["ALL".to_owned()][..])
                    && c.user.as_deref() == Some(spec.user.as_str())
            }),
        }
    }

    /// The settings missing, in words; empty when the engine kept them all.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            (self.no_new_privileges, "no-new-privileges"),
            (self.seccomp, "the seccomp profile refusing child processes"),
            (self.tmpfs_noexec, "noexec on /tmp"),
            (
                self.base,
                "read-only root, non-root user and dropped capabilities",
            ),
        ]
        .into_iter()
        .filter_map(|(kept, what)| (!kept).then_some(what))
        .collect()
    }
}

fn as_i64(what: &str, value: u64) -> Result<i64, RuntimeError> {
    i64::try_from(value).map_err(|_| RuntimeError::InvalidSpec(format!("{what} is too large")))
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The service definition for a validated spec, its secrets mounted as `secrets` say.
pub(super) fn service_spec(
    spec: &ContainerSpec,
    secrets: Vec<TaskSpecContainerSpecSecrets>,
    replicas: i64,
) -> Result<ServiceSpec, RuntimeError> {
    let canonical = spec.instance.container_name(&spec.plugin);
    let mut labels = managed_labels(Some(&spec.plugin));
    labels.insert(labels::VERSION.into(), spec.version.clone());
    labels.insert(labels::CONFIG_HASH.into(), spec.config_hash());
    labels.insert(labels::REPLICAS.into(), spec.replicas.to_string());
    labels.insert(labels::INSTANCE.into(), spec.instance.name().to_owned());

    let mut mounts = vec![Mount {
        target: Some("/tmp".into()),
        typ: Some(MountType::TMPFS),
        tmpfs_options: Some(MountTmpfsOptions {
            size_bytes: Some(TMPFS_BYTES),
            mode: Some(0o1777),
            options: Some(vec![vec!["noexec".into()], vec!["nosuid".into()]]),
        }),
        ..Default::default()
    }];
    let read_only = match spec.data {
        Filesystem::ReadWrite => Some(false),
        Filesystem::ReadOnly => Some(true),
        Filesystem::None => None,
    };
    if let Some(read_only) = read_only {
        let mut volume_labels = managed_labels(Some(&spec.plugin));
        volume_labels.insert(labels::INSTANCE.into(), spec.instance.name().to_owned());
        mounts.push(Mount {
            target: Some(DATA_DIR.into()),
            source: Some(spec.instance.volume_name(&spec.plugin)),
            typ: Some(MountType::VOLUME),
            read_only: Some(read_only),
            // The engine creates the volume on the node that runs the task, with our labels,
            // so that removing it later finds it ours.
            volume_options: Some(MountVolumeOptions {
                labels: Some(volume_labels),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let seccomp = (!spec.spawn).then(|| TaskSpecContainerSpecPrivilegesSeccomp {
        mode: Some(TaskSpecContainerSpecPrivilegesSeccompModeEnum::CUSTOM),
        profile: Some(crate::runtime::seccomp::no_spawn_profile().to_string()),
    });
    let env = spec
        .env
        .iter()
        .filter(|(name, _)| !spec.secrets.contains(*name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let container = TaskSpecContainerSpec {
        image: Some(spec.image.clone()),
        labels: Some(labels.clone()),
        hostname: Some(truncate_hostname(&canonical)),
        env: Some(env),
        user: Some(spec.user.clone()),
        read_only: Some(true),
        mounts: Some(mounts),
        secrets: Some(secrets),
        capability_drop: Some(vec!["ALL".into()]),
        privileges: Some(TaskSpecContainerSpecPrivileges {
            no_new_privileges: Some(true),
            seccomp,
            ..Default::default()
        }),
        stop_grace_period: Some(duration_ns(STOP_GRACE)),
        init: Some(false),
        ..Default::default()
    };
    let mut networks = vec![NetworkAttachmentConfig {
        target: Some(names::NETWORK.into()),
        aliases: Some(vec![canonical]),
        ..Default::default()
    }];
    if spec.egress {
        networks.push(NetworkAttachmentConfig {
            target: Some(EGRESS_NETWORK.into()),
            ..Default::default()
        });
    }
    let constraints = read_only
        .map(|_| vec![data_constraint(&spec.instance, &spec.plugin)])
        .unwrap_or_default();
    let task = TaskSpec {
        container_spec: Some(container),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: Some(as_i64(
                    "the CPU limit",
                    u64::from(spec.limits.milli_cpus) * 1_000_000,
                )?),
                memory_bytes: Some(as_i64("the memory limit", spec.limits.memory_bytes)?),
                pids: Some(as_i64("the pids limit", spec.limits.pids)?),
            }),
            ..Default::default()
        }),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
            delay: Some(SECOND_NS),
            ..Default::default()
        }),
        placement: Some(TaskSpecPlacement {
            constraints: Some(constraints),
            ..Default::default()
        }),
        networks: Some(networks),
        // A chatty plugin must not fill a node's disk.
        log_driver: Some(TaskSpecLogDriver {
            name: Some("json-file".into()),
            options: Some(HashMap::from([
                ("max-size".into(), "10m".into()),
                ("max-file".into(), "3".into()),
            ])),
        }),
        ..Default::default()
    };
    Ok(ServiceSpec {
        name: Some(service_name(&spec.name())?),
        labels: Some(labels),
        task_template: Some(task),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas),
            }),
            ..Default::default()
        }),
        // The new task starts before the old one stops, and a new task that fails within the
        // monitor window rolls the service back to the previous definition.
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            order: Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            monitor: Some(duration_ns(UPDATE_MONITOR)),
            max_failure_ratio: Some(0.0),
            ..Default::default()
        }),
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            order: Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST),
            monitor: Some(duration_ns(UPDATE_MONITOR)),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            // Names resolve to the tasks' own addresses. A virtual address is not routed to
            // from standalone containers on an internal overlay (the host, agents) on every
            // engine, and a plugin has one task to reach anyway.
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        ..Default::default()
    })
}

/// Refuses a spec whose plain variables carry a secret's value (the egress proxy's URL holds
/// the internal token as its password): on Swarm it would sit in the service's definition,
/// readable by whoever may inspect services.
pub(super) fn check_no_secret_in_env(spec: &ContainerSpec) -> Result<(), RuntimeError> {
    let leaking: Vec<&str> = spec
        .env
        .iter()
        .filter(|(name, _)| !spec.secrets.contains(*name))
        .filter(|(_, value)| {
            spec.secrets
                .iter()
                .filter_map(|secret| spec.env.get(secret))
                .any(|secret| !secret.is_empty() && value.contains(secret.as_str()))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if leaking.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "{} would carry a secret in the service's definition: on Swarm, plugins with a \
             network allow-list (whose proxy credentials are the internal token) are not \
             supported yet; grant unrestricted network or none",
            leaking.join(", ")
        )))
    }
}

pub(super) fn secret_names(service: &Service) -> HashSet<String> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|s| s.secret_name.clone())
        .collect()
}

/// How many replicas the service runs when started: its [`labels::REPLICAS`], else 1.
fn replicas_when_started(service: &Service) -> i64 {
    label(service, labels::REPLICAS)
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=crate::runtime::MAX_REPLICAS).contains(n))
        .map_or(1, i64::from)
}

pub(super) fn label<'a>(service: &'a Service, key: &str) -> Option<&'a str> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.labels.as_ref())
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

impl SwarmRuntime {
    /// The service standing for container `name`, if it exists and is ours; one the host did
    /// not create is a `Conflict`.
    pub(super) async fn managed_service(
        &self,
        name: &str,
    ) -> Result<Option<Service>, RuntimeError> {
        let service = service_name(name)?;
        let options = InspectServiceOptions {
            insert_defaults: false,
        };
        let inspected = match self.docker().inspect_service(&service, Some(options)).await {
            Ok(inspected) => inspected,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(self.fail(format!("inspect service {service}"), e)),
        };
        let labels = inspected.spec.as_ref().and_then(|s| s.labels.as_ref());
        if is_managed(labels) {
            Ok(Some(inspected))
        } else {
            Err(not_ours(
                "service",
                &service,
                &format!("docker service rm {service}"),
            ))
        }
    }

    pub(super) async fn tasks_of(&self, service: &str) -> Result<Vec<Task>, RuntimeError> {
        let filters = HashMap::from([("service".to_owned(), vec![service.to_owned()])]);
        self.docker()
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| self.fail(format!("list the tasks of {service}"), e))
    }

    /// The service's address as the host reaches it: its name on the overlay, resolved by
    /// the engine's DNS where the host runs attached to the overlay (as it does on a swarm).
    /// `None` elsewhere, or before the name resolves.
    async fn with_address(mut state: ContainerState) -> ContainerState {
        let canonical = state.name.clone();
        let lookup = tokio::net::lookup_host((canonical.as_str(), 0));
        state.ip = match tokio::time::timeout(Duration::from_secs(2), lookup).await {
            Ok(Ok(mut addrs)) => addrs.find(|a| a.is_ipv4()).map(|a| a.ip()),
            _ => None,
        };
        state
    }

    /// What a spec must satisfy before anything is made from it: valid, no secret in plain
    /// variables, no loopback publishing, its image here.
    pub(super) async fn check_spec(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        spec.validate()?;
        check_no_secret_in_env(spec)?;
        if spec.publish_loopback {
            return Err(RuntimeError::InvalidSpec(
                "publishing on loopback is for a host on the same machine as its one engine; \
                 on Swarm the host reaches plugins on the overlay network"
                    .into(),
            ));
        }
        if !crate::runtime::Runtime::image_exists(&self.local, &spec.image).await? {
            return Err(RuntimeError::ImageMissing {
                image: spec.image.clone(),
                hint: "build it, then load it on every node that may run the plugin (`docker \
                       save` | `docker load`); the host never pulls on its own"
                    .into(),
            });
        }
        Ok(())
    }

    pub(super) async fn create_service(
        &self,
        spec: &ContainerSpec,
    ) -> Result<ContainerState, RuntimeError> {
        self.check_spec(spec).await?;
        let name = spec.name();
        let service = service_name(&name)?;
        if self.managed_service(&name).await?.is_some() {
            return Err(RuntimeError::Conflict(format!(
                "a service named {service} already exists: remove it first"
            )));
        }
        self.ensure_overlays(spec.egress).await?;
        if spec.data != Filesystem::None {
            self.pin_data(&spec.instance, &spec.plugin).await?;
        }
        let (secrets, created) = self.ensure_secrets(spec).await?;
        let body = match service_spec(spec, secrets, i64::from(spec.replicas)) {
            Ok(body) => body,
            Err(e) => {
                self.delete_secrets(&created).await;
                return Err(e);
            }
        };
        match self.docker().create_service(body, None).await {
            Ok(response) => {
                for warning in response.warnings.unwrap_or_default() {
                    tracing::warn!(service = %service, "{warning}");
                }
            }
            Err(e) => {
                self.delete_secrets(&created).await;
                return Err(if status(&e) == Some(409) {
                    RuntimeError::Conflict(format!(
                        "a service named {service} already exists: remove it first"
                    ))
                } else {
                    self.fail(format!("create service {service}"), e)
                });
            }
        }
        // From here on, a failure removes the service again: no orphan.
        match self.wait_running(&name).await {
            Ok(state) => {
                if let Some(created) = self.managed_service(&name).await? {
                    let kept = Hardening::read_back(spec, &created);
                    let missing = kept.missing();
                    if !missing.is_empty() && !SAID_WEAKER.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "this engine drops from service definitions: {}; plugins on it run \
                             without them; a newer engine may keep them",
                            missing.join(", ")
                        );
                    }
                }
                Ok(state)
            }
            Err(err) => {
                if let Err(e) = self.remove_service(&name).await {
                    tracing::warn!(service = %service, error = %e, "cannot remove the service after a failed start");
                }
                Err(err)
            }
        }
    }

    /// Waits until the service's task runs; fails with the engine's reason when tasks keep
    /// failing (a crash on start, an image missing on the node) or nothing runs in time.
    async fn wait_running(&self, name: &str) -> Result<ContainerState, RuntimeError> {
        let service = service_name(name)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let Some(inspected) = self.managed_service(name).await? else {
                return Err(RuntimeError::NotFound(format!(
                    "service {service} was removed while starting"
                )));
            };
            let tasks = self.tasks_of(&service).await?;
            let tasks: Vec<&Task> = tasks.iter().collect();
            let state = state_of(&inspected, &tasks);
            if state.running {
                return Ok(Self::with_address(state).await);
            }
            let failed = tasks
                .iter()
                .filter(|t| {
                    matches!(
                        t.status.as_ref().and_then(|s| s.state),
                        Some(TaskState::FAILED | TaskState::REJECTED)
                    )
                })
                .count();
            let why = task_failure(&tasks);
            if failed >= FAILED_TASKS_GIVEN_UP || started.elapsed() > START_TIMEOUT {
                let message = why
                    .unwrap_or_else(|| format!("no task ran within {} s", START_TIMEOUT.as_secs()));
                if message.contains("No such image") {
                    return Err(RuntimeError::ImageMissing {
                        image: inspected
                            .spec
                            .and_then(|s| s.task_template)
                            .and_then(|t| t.container_spec)
                            .and_then(|c| c.image)
                            .unwrap_or_default(),
                        hint: format!(
                            "the node chosen for it does not have it ({message}); load it there \
                             (`docker save` | `docker load`)"
                        ),
                    });
                }
                return Err(RuntimeError::Engine {
                    operation: format!("start service {service}"),
                    message,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Sets the service's replicas to those it runs when started (`up`) or to 0, and waits
    /// until a task runs or none does.
    pub(super) async fn scale(&self, name: &str, up: bool) -> Result<(), RuntimeError> {
        let service = service_name(name)?;
        for attempt in 0..3 {
            let Some(inspected) = self.managed_service(name).await? else {
                return if up {
                    Err(RuntimeError::NotFound(format!(
                        "there is no service named {service}: install the plugin again"
                    )))
                } else {
                    Ok(())
                };
            };
            let wanted = if up {
                replicas_when_started(&inspected)
            } else {
                0
            };
            if replicas(&inspected) == wanted {
                break;
            }
            let mut spec = inspected.spec.clone().unwrap_or_default();
            spec.mode = Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(wanted),
                }),
                ..Default::default()
            });
            let version = inspected
                .version
                .as_ref()
                .and_then(|v| v.index)
                .unwrap_or(0);
            let options = UpdateServiceOptions {
                version: i32::try_from(version).unwrap_or(i32::MAX),
                ..Default::default()
            };
            match self
                .docker()
                .update_service(&service, spec, options, None)
                .await
            {
                Ok(_) => break,
                // Updated by someone else since we read it: read again.
                Err(e) if attempt < 2 && server_message(&e).contains("out of sequence") => {}
                Err(e) => {
                    return Err(self.fail(
                        format!("{} service {service}", if up { "start" } else { "stop" }),
                        e,
                    ));
                }
            }
        }
        if up {
            self.wait_running(name).await.map(drop)
        } else {
            self.wait_stopped(&service, false, STOP_GRACE + Duration::from_secs(15))
                .await
        }
    }

    /// Waits until no task of `service` runs and no container of it runs on this node; with
    /// `gone`, until its containers here are removed too (a volume stays in use until then:
    /// the engine removes a deleted service's containers shortly after its tasks stop).
    async fn wait_stopped(
        &self,
        service: &str,
        gone: bool,
        bound: Duration,
    ) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let running = self.tasks_of(service).await.map_or(0, |tasks| {
                tasks
                    .iter()
                    .filter(|t| {
                        matches!(
                            t.status.as_ref().and_then(|s| s.state),
                            Some(TaskState::RUNNING | TaskState::STARTING | TaskState::PREPARING)
                        )
                    })
                    .count()
            });
            let filters = HashMap::from([(
                "label",
                vec![format!("com.docker.swarm.service.name={service}")],
            )]);
            let containers = self
                .docker()
                .list_containers(Some(
                    ListContainersOptionsBuilder::new()
                        .all(gone)
                        .filters(&filters)
                        .build(),
                ))
                .await
                .map_err(|e| self.fail(format!("list the containers of {service}"), e))?;
            if running == 0 && containers.is_empty() {
                return Ok(());
            }
            if started.elapsed() > bound {
                return Err(RuntimeError::Engine {
                    operation: format!("stop service {service}"),
                    message: format!("a task still runs after {} s", bound.as_secs()),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Removes the service, waits for its tasks to stop, then removes its secrets.
    pub(super) async fn remove_service(&self, name: &str) -> Result<(), RuntimeError> {
        let service = service_name(name)?;
        let Some(inspected) = self.managed_service(name).await? else {
            return Ok(());
        };
        match self.docker().delete_service(&service).await {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(self.fail(format!("remove service {service}"), e)),
        }
        self.wait_stopped(&service, true, STOP_GRACE + Duration::from_secs(30))
            .await?;
        let instance = label(&inspected, labels::INSTANCE).unwrap_or(labels::DEFAULT_INSTANCE);
        let plugin = label(&inspected, labels::PLUGIN).unwrap_or_default();
        // Secrets still used by another service of the plugin (none, normally) are kept.
        let mut in_use = HashSet::new();
        for other in self.services().await? {
            if other.id != inspected.id && label(&other, labels::PLUGIN) == Some(plugin) {
                in_use.extend(secret_names(&other));
            }
        }
        self.remove_unused_secrets(instance, plugin, &in_use).await
    }

    pub(super) async fn services(&self) -> Result<Vec<Service>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![format!(
                "{}={}",
                labels::MANAGED_BY,
                labels::MANAGED_BY_VALUE
            )],
        )]);
        self.docker()
            .list_services(Some(ListServicesOptions {
                filters: Some(filters),
                status: None,
            }))
            .await
            .map_err(|e| self.fail("list services", e))
    }

    pub(super) async fn list_services(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let mut attempt = 0;
        let (services, all_tasks) = loop {
            attempt += 1;
            let services = self.services().await?;
            if services.is_empty() {
                return Ok(Vec::new());
            }
            // One call for the tasks of our services only, not every task of the swarm.
            let ids: Vec<String> = services.iter().filter_map(|s| s.id.clone()).collect();
            match self
                .docker()
                .list_tasks(Some(ListTasksOptions {
                    filters: Some(HashMap::from([("service".to_owned(), ids)])),
                }))
                .await
            {
                Ok(tasks) => break (services, tasks),
                // A service removed between the two calls makes the engine refuse the
                // filter naming it: list the services again.
                Err(e) if attempt < 3 => {
                    tracing::debug!(error = %e, "the services changed while listing; again");
                }
                Err(e) => return Err(self.fail("list tasks", e)),
            }
        };
        // Without addresses: a listing is for comparing with the desired state, and resolving
        // every name would cost a lookup per plugin.
        let mut states: Vec<ContainerState> = services
            .iter()
            .map(|service| {
                let tasks: Vec<&Task> = all_tasks
                    .iter()
                    .filter(|t| t.service_id.is_some() && t.service_id == service.id)
                    .collect();
                state_of(service, &tasks)
            })
            .collect();
        states.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(states)
    }

    pub(super) async fn inspect_service(
        &self,
        name: &str,
    ) -> Result<Option<ContainerState>, RuntimeError> {
        let Some(service) = self.managed_service(name).await? else {
            return Ok(None);
        };
        let tasks = self.tasks_of(&service_name(name)?).await?;
        let tasks: Vec<&Task> = tasks.iter().collect();
        Ok(Some(Self::with_address(state_of(&service, &tasks)).await))
    }

    /// Removes the data volume of `plugin`, which is on the node its data label names. Only
    /// the manager's own node can be reached here; a volume on another node is left with a
    /// message saying where it is.
    pub(super) async fn remove_data(
        &self,
        instance: &names::Instance,
        plugin: &str,
    ) -> Result<(), RuntimeError> {
        let own = self.own_node_id().await?;
        match self.data_node(instance, plugin).await? {
            Some((node, host)) if node != own => {
                let volume = instance.volume_name(plugin);
                return Err(RuntimeError::Conflict(format!(
                    "the data of {plugin} is on node {host}, which this host cannot reach: remove \
                     it there (`docker volume rm {volume}`), then uninstall again"
                )));
            }
            _ => {}
        }
        crate::runtime::Runtime::remove_volume(&self.local, instance, plugin).await?;
        self.unpin_data(instance, plugin).await
    }

    pub(super) async fn log_stream(
        &self,
        name: &str,
        options: LogOptions,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<String, RuntimeError>>, RuntimeError> {
        let service = service_name(name)?;
        if self.managed_service(name).await?.is_none() {
            return Err(RuntimeError::NotFound(format!(
                "there is no service named {service}, so it has no logs"
            )));
        }
        let query = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            // The engine's API takes 32-bit seconds: before 1970 means from the start.
            since: options
                .since
                .map_or(0, |s| i32::try_from(s.max(0)).unwrap_or(i32::MAX)),
            until: 0,
            timestamps: options.timestamps,
            tail: options.tail.to_string(),
        };
        let chunks = self.docker().service_logs(&service, Some(query)).boxed();
        let endpoint = self.endpoint().to_owned();
        let operation = format!("read the logs of {service}");
        Ok(lines(chunks, move |e| {
            map_error(&endpoint, operation.clone(), e)
        }))
    }

    pub(super) async fn last_log_lines(
        &self,
        name: &str,
        options: LogOptions,
    ) -> Result<Vec<String>, RuntimeError> {
        let tail = options.tail;
        last_lines(self.log_stream(name, options, false).await?, tail).await
    }
}

/// The container name a service event is about, and its plugin, for services that look like
/// ours (service events carry no labels).
pub(super) fn plugin_of_service(service: &str) -> Option<(String, String)> {
    let container = container_name(service);
    let rest = container.strip_prefix(names::CONTAINER_PREFIX)?;
    let plugin = rest.split('.').next().unwrap_or(rest).to_owned();
    Some((container, plugin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_in_a_plain_variable_is_refused() {
        let mut spec = ContainerSpec::new("notes", "nanofleet/notes:0.1.0", "0.1.0", 8080);
        spec.env
            .insert("NANO_INTERNAL_TOKEN".into(), "tok-123".into());
        spec.env.insert("NANO_PLUGIN_ID".into(), "notes".into());
        spec.secrets.insert("NANO_INTERNAL_TOKEN".into());
        assert!(check_no_secret_in_env(&spec).is_ok());
        spec.env.insert(
            "HTTP_PROXY".into(),
            "http://notes:tok-123@proxy:3001".into(),
        );
        let Err(RuntimeError::InvalidSpec(message)) = check_no_secret_in_env(&spec) else {
            panic!("accepted");
        };
        assert!(message.contains("HTTP_PROXY"), "{message}");
        assert!(!message.contains("tok-123"), "{message}");
    }

    #[test]
    fn the_service_definition_keeps_secrets_out_of_env() {
        let mut spec = ContainerSpec::new("notes", "nanofleet/notes:0.1.0", "0.1.0", 8080);
        spec.env
            .insert("NANO_INTERNAL_TOKEN".into(), "tok-123".into());
        spec.env.insert("NANO_PLUGIN_ID".into(), "notes".into());
        spec.secrets.insert("NANO_INTERNAL_TOKEN".into());
        let body = service_spec(&spec, Vec::new(), 1).expect("a spec");
        let json = serde_json::to_string(&body).expect("json");
        assert!(!json.contains("tok-123"), "{json}");
        assert!(json.contains("NANO_PLUGIN_ID=notes"), "{json}");
    }
}
