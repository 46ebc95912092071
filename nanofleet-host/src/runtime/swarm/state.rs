//! Services and their tasks as [`ContainerState`]s, and the names services get.

use std::collections::BTreeMap;

use bollard::models::{Service, Task, TaskState};

use crate::labels;
use crate::runtime::{ContainerState, RuntimeError};

/// Swarm names a service like a DNS label: letters, digits, `-` and `_`, at most 63
/// characters. A container name of a non-default instance has a dot
/// (`nanofleet-plugin-notes.staging`); its service takes `_` there, which no plugin or
/// instance name contains, so the mapping goes both ways. The container name stays the
/// network alias, so agents' URLs do not change.
pub(super) fn service_name(container: &str) -> Result<String, RuntimeError> {
    let name = container.replace('.', "_");
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "`{}` cannot name a Swarm service: a service name has letters, digits, `-` and \
             `_`, at most 63 characters; use a shorter plugin or instance name",
            container.escape_debug()
        )))
    }
}

/// The container name a service stands for: the inverse of [`service_name`].
pub(super) fn container_name(service: &str) -> String {
    service.replace('_', ".")
}

/// The task that stands for the service now: the newest one meant to run that runs (with
/// several replicas, or during a start-first update, the service serves while any does),
/// else the newest one meant to run, else the newest.
pub(super) fn current_task<'a>(tasks: &[&'a Task]) -> Option<&'a Task> {
    // The store's version of a task grows with every change to it.
    let newest = |t: &&&Task| t.version.as_ref().and_then(|v| v.index).unwrap_or(0);
    let meant = || {
        tasks
            .iter()
            .filter(|t| t.desired_state == Some(TaskState::RUNNING))
    };
    meant()
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .max_by_key(newest)
        .or_else(|| meant().max_by_key(newest))
        .or_else(|| tasks.iter().max_by_key(newest))
        .copied()
}

/// The container vocabulary of [`ContainerState::status`] for a task state.
fn status_word(state: Option<TaskState>) -> &'static str {
    match state {
        Some(TaskState::RUNNING) => "running",
        Some(TaskState::COMPLETE | TaskState::SHUTDOWN) => "exited",
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED) => "dead",
        Some(TaskState::REMOVE) => "removing",
        _ => "created",
    }
}

/// The replicas a service asks for (1 when the mode says nothing).
pub(super) fn replicas(service: &Service) -> i64 {
    service
        .spec
        .as_ref()
        .and_then(|s| s.mode.as_ref())
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(1)
}

/// A service and its tasks, as the host sees a container.
pub(super) fn state_of(service: &Service, tasks: &[&Task]) -> ContainerState {
    let spec = service.spec.clone().unwrap_or_default();
    let mut labels = spec.labels.unwrap_or_default();
    let task = current_task(tasks);
    let state = task.and_then(|t| t.status.as_ref()).and_then(|s| s.state);
    let scaled_down = replicas(service) == 0;
    let running = !scaled_down && state == Some(TaskState::RUNNING);
    let status = if scaled_down && !running {
        "exited"
    } else {
        status_word(state)
    };
    let exit_code = if running {
        None
    } else {
        task.and_then(|t| t.status.as_ref())
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.exit_code)
    };
    ContainerState {
        plugin: labels.remove(labels::PLUGIN).unwrap_or_default(),
        id: service.id.clone().unwrap_or_default(),
        name: container_name(spec.name.as_deref().unwrap_or_default()),
        running,
        version: labels.remove(labels::VERSION),
        config_hash: labels.remove(labels::CONFIG_HASH),
        published: BTreeMap::new(),
        ip: None,
        status: status.to_owned(),
        exit_code,
        instance: labels.remove(labels::INSTANCE),
    }
}

/// Why the newest failed task failed, in the engine's words: "No such image: …".
pub(super) fn task_failure(tasks: &[&Task]) -> Option<String> {
    tasks
        .iter()
        .filter(|t| {
            matches!(
                t.status.as_ref().and_then(|s| s.state),
                Some(TaskState::FAILED | TaskState::REJECTED)
            )
        })
        .max_by_key(|t| t.version.as_ref().and_then(|v| v.index).unwrap_or(0))
        .and_then(|t| t.status.as_ref())
        .map(|s| {
            [s.err.as_deref(), s.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_map_both_ways_and_refuse_what_swarm_refuses() {
        for container in ["nanofleet-plugin-notes", "nanofleet-plugin-notes.staging"] {
            let service = service_name(container).expect("valid");
            assert!(!service.contains('.'), "{service}");
            assert_eq!(container_name(&service), container);
        }
        let long = format!("nanofleet-plugin-{}", "a".repeat(60));
        assert!(matches!(
            service_name(&long),
            Err(RuntimeError::InvalidSpec(m)) if m.contains("63")
        ));
        assert!(service_name("-x").is_err());
    }
}
