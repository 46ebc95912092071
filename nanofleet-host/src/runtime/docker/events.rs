//! Engine events about our containers, as [`RuntimeEvent`]s.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt as _;

use crate::labels;
use crate::runtime::{BoxStream, EventAction, RuntimeError, RuntimeEvent};

use super::DockerRuntime;
use super::errors::*;

impl DockerRuntime {
    pub(super) fn event_stream(&self) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>> {
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

/// A container event of this backend's: not one of a Swarm task (see
/// [`is_swarm_task`](super::containers::is_swarm_task)).
pub(super) fn event_from_message(message: EventMessage) -> Option<RuntimeEvent> {
    let attributes = message.actor.as_ref()?.attributes.as_ref();
    if super::containers::is_swarm_task(attributes) {
        return None;
    }
    container_event(message)
}

/// A managed container's event, whoever runs the container.
pub(in crate::runtime) fn container_event(message: EventMessage) -> Option<RuntimeEvent> {
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
