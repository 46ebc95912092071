//! Upgrades in place: a service's definition replaced with the new version's, rolled
//! start-first by the engine, which puts the previous definition back by itself when the new
//! task fails and on request when the host's own readiness check does.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bollard::models::{Service, ServiceSpec, ServiceUpdateStatusStateEnum as UpdateState};
use bollard::query_parameters::UpdateServiceOptions;
use nanofleet_sdk::manifest::Filesystem;

use crate::labels;
use crate::runtime::docker::errors::server_message;
use crate::runtime::{ContainerSpec, RuntimeError};

use super::SwarmRuntime;
use super::services::{
    START_TIMEOUT, STOP_GRACE, UPDATE_MONITOR, label, secret_names, service_spec,
};
use super::state::{service_name, state_of, task_failure};

/// What an update waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// The new definition runs, and outlived the monitor window.
    Updated,
    /// The previous definition runs again.
    RolledBack,
}

/// How long an update or a rollback may take in all: its task starting, the monitor window,
/// the old task stopping.
fn update_bound() -> Duration {
    START_TIMEOUT + UPDATE_MONITOR * 2 + STOP_GRACE
}

impl SwarmRuntime {
    /// Replaces the definition of the service of `spec.name()` with `spec`. Waits until the
    /// update completed; when the engine rolled it back (the new task failed), waits for the
    /// rollback to finish and fails with why. Secrets stay as long as a definition the engine
    /// can roll back to uses them.
    pub(super) async fn replace_service(&self, spec: &ContainerSpec) -> Result<(), RuntimeError> {
        self.check_spec(spec).await?;
        let name = spec.name();
        let service = service_name(&name)?;
        let Some(current) = self.managed_service(&name).await? else {
            return Err(RuntimeError::NotFound(format!(
                "there is no service named {service} to upgrade: install the plugin"
            )));
        };
        let hash = spec.config_hash();
        if label(&current, labels::CONFIG_HASH) == Some(hash.as_str())
            && self
                .inspect_service(&name)
                .await?
                .is_some_and(|s| s.running)
        {
            // Nothing differs: the engine would have no task to replace.
            return Ok(());
        }
        // What the definition before the current one used: the engine keeps one previous
        // definition only, so after this update nothing can roll back to those any more. The
        // current one's stay, for the rollback this update may need.
        self.forget_unused_secrets(&name).await;
        self.ensure_overlays(spec.egress).await?;
        if spec.data != Filesystem::None {
            self.pin_data(&spec.instance, &spec.plugin).await?;
        }
        let (secrets, created) = self.ensure_secrets(spec).await?;
        let result = async {
            let body = service_spec(spec, secrets, i64::from(spec.replicas))?;
            self.update_definition(&name, |_| Some(body.clone()), None)
                .await?;
            self.wait_update(&name, Goal::Updated).await
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                // The engine runs the previous definition again: what it alone used stays,
                // what this call made for the new one goes.
                if self.managed_service(&name).await.ok().flatten().is_some() {
                    self.forget_unused_secrets(&name).await;
                } else {
                    self.delete_secrets(&created).await;
                }
                Err(error)
            }
        }
    }

    /// Puts back the definition the service of `name` had before its last update, and waits
    /// until it runs again.
    pub(super) async fn roll_back_service(&self, name: &str) -> Result<(), RuntimeError> {
        let service = service_name(name)?;
        if self.managed_service(name).await?.is_none() {
            return Err(RuntimeError::NotFound(format!(
                "there is no service named {service} to roll back"
            )));
        }
        self.update_definition(name, |s| s.spec.clone(), Some("previous"))
            .await?;
        self.wait_update(name, Goal::RolledBack).await?;
        // The definition rolled back from is not one to go back to.
        self.forget_unused_secrets(name).await;
        Ok(())
    }

    /// Sends an update of the service's definition, the one `next` makes of the service as it
    /// is now; read again and retried when someone else updated it in between.
    async fn update_definition(
        &self,
        name: &str,
        next: impl Fn(&Service) -> Option<ServiceSpec>,
        rollback: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let service = service_name(name)?;
        let operation = if rollback.is_some() {
            format!("roll back service {service}")
        } else {
            format!("update service {service}")
        };
        for attempt in 0..3 {
            let Some(current) = self.managed_service(name).await? else {
                return Err(RuntimeError::NotFound(format!(
                    "service {service} was removed during the update"
                )));
            };
            let body = next(&current).unwrap_or_default();
            let version = current.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            let options = UpdateServiceOptions {
                version: i32::try_from(version).unwrap_or(i32::MAX),
                rollback: rollback.map(str::to_owned),
                ..Default::default()
            };
            match self
                .docker()
                .update_service(&service, body, options, None)
                .await
            {
                Ok(response) => {
                    for warning in response.warnings.unwrap_or_default() {
                        tracing::warn!(service = %service, "{warning}");
                    }
                    return Ok(());
                }
                Err(e) if attempt < 2 && server_message(&e).contains("out of sequence") => {}
                Err(e) => return Err(self.fail(operation, e)),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Waits until the service's update reached `goal`. An update the engine rolled back is
    /// an error once the rollback finished (the old version serves again), with the engine's
    /// words and the failed task's.
    async fn wait_update(&self, name: &str, goal: Goal) -> Result<(), RuntimeError> {
        let service = service_name(name)?;
        let operation = match goal {
            Goal::Updated => format!("update service {service}"),
            Goal::RolledBack => format!("roll back service {service}"),
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut rolled_back_by_engine = None;
        loop {
            let Some(current) = self.managed_service(name).await? else {
                return Err(RuntimeError::NotFound(format!(
                    "service {service} was removed during the update"
                )));
            };
            let status = current.update_status.as_ref();
            let state = status.and_then(|s| s.state);
            let message = status.and_then(|s| s.message.clone()).unwrap_or_default();
            match (goal, state) {
                (Goal::Updated, Some(UpdateState::COMPLETED)) => {
                    return self.wait_serving(name).await;
                }
                // Why the new task failed, read while it is still listed.
                (Goal::Updated, Some(UpdateState::ROLLBACK_STARTED))
                    if rolled_back_by_engine.is_none() =>
                {
                    let tasks = self.tasks_of(&service).await?;
                    let tasks: Vec<_> = tasks.iter().collect();
                    rolled_back_by_engine = Some(match task_failure(&tasks) {
                        Some(why) => format!("{message} ({why})"),
                        None => message.clone(),
                    });
                }
                (Goal::Updated, Some(UpdateState::ROLLBACK_COMPLETED)) => {
                    let why = rolled_back_by_engine.unwrap_or(message);
                    self.wait_serving(name).await?;
                    return Err(RuntimeError::Engine {
                        operation,
                        message: format!(
                            "the new version failed and the previous one runs again: {why}"
                        ),
                    });
                }
                (Goal::RolledBack, Some(UpdateState::ROLLBACK_COMPLETED)) => {
                    return self.wait_serving(name).await;
                }
                (_, Some(UpdateState::PAUSED | UpdateState::ROLLBACK_PAUSED)) => {
                    return Err(RuntimeError::Engine {
                        operation,
                        message: format!(
                            "the engine paused it: {message}; `docker service rollback \
                             {service}` or remove the plugin"
                        ),
                    });
                }
                _ => {}
            }
            if started.elapsed() > update_bound() {
                return Err(RuntimeError::Engine {
                    operation,
                    message: format!(
                        "not finished after {} s (state: {})",
                        update_bound().as_secs(),
                        state.map_or_else(|| "none".to_owned(), |s| s.to_string())
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Waits until a task of the service runs. The engine may say an update or a rollback
    /// completed while the task that now stands for the service is still starting (a new
    /// version that ran for a moment and then crashed had its predecessor stopped already),
    /// and the callers promise that a version serves when they return. Failed tasks of the
    /// version rolled back from are expected here and not counted.
    async fn wait_serving(&self, name: &str) -> Result<(), RuntimeError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let service = service_name(name)?;
            let Some(current) = self.managed_service(name).await? else {
                return Err(RuntimeError::NotFound(format!(
                    "service {service} was removed during the update"
                )));
            };
            let tasks = self.tasks_of(&service).await?;
            let tasks: Vec<_> = tasks.iter().collect();
            if state_of(&current, &tasks).running {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(RuntimeError::Engine {
                    operation: format!("update service {service}"),
                    message: format!(
                        "the update finished but no task runs after {} s",
                        START_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Removes the secrets of the service's plugin that its current definition does not use.
    /// Logged, not returned: the update itself succeeded or its error is being reported.
    async fn forget_unused_secrets(&self, name: &str) {
        let Ok(Some(current)) = self.managed_service(name).await else {
            return;
        };
        let instance = label(&current, labels::INSTANCE)
            .unwrap_or(labels::DEFAULT_INSTANCE)
            .to_owned();
        let Some(plugin) = label(&current, labels::PLUGIN).map(str::to_owned) else {
            return;
        };
        let in_use: HashSet<String> = secret_names(&current);
        if let Err(e) = self
            .remove_unused_secrets(&instance, &plugin, &in_use)
            .await
        {
            tracing::warn!(plugin = %plugin, error = %e, "cannot remove unused secrets");
        }
    }
}
