//! Engine events about our services (from the manager) and our tasks' containers (on the
//! manager's own node), as [`RuntimeEvent`]s.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt as _;

use crate::labels;
use crate::runtime::docker::errors::map_error;
use crate::runtime::docker::events::container_event;
use crate::runtime::{BoxStream, EventAction, RuntimeError, RuntimeEvent};

use super::SwarmRuntime;
use super::services::plugin_of_service;

/// A service event as a [`RuntimeEvent`]: `remove` is the service's `Destroy`.
fn service_event(message: EventMessage) -> Option<RuntimeEvent> {
    let attributes = message.actor?.attributes.unwrap_or_default();
    let (container, plugin) = plugin_of_service(attributes.get("name")?)?;
    let action = match message.action.as_deref()? {
        "create" => EventAction::Create,
        "remove" => EventAction::Destroy,
        other => EventAction::Other(other.to_owned()),
    };
    Some(RuntimeEvent {
        plugin,
        container,
        action,
    })
}

impl SwarmRuntime {
    pub(super) fn event_stream(&self) -> BoxStream<'static, Result<RuntimeEvent, RuntimeError>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|now| format!("{}.{:09}", now.as_secs(), now.subsec_nanos()))
            .ok();
        let subscribe = |filters: HashMap<&str, Vec<String>>| {
            let mut options = EventsOptionsBuilder::new().filters(&filters);
            // "From now on", in the engine's buffer: the subscription only happens when the
            // stream is first polled, and events in between must not be lost.
            if let Some(now) = &now {
                options = options.since(now);
            }
            self.docker().events(Some(options.build()))
        };
        // Service events carry no labels: services are told apart by name.
        let services = subscribe(HashMap::from([("type", vec!["service".to_owned()])]))
            .map(|item| item.map(service_event));
        let label = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
        let containers = subscribe(HashMap::from([
            ("type", vec!["container".to_owned()]),
            ("label", vec![label]),
        ]))
        .map(|item| item.map(container_event));
        let endpoint = self.endpoint().to_owned();
        futures::stream::select(services, containers)
            .filter_map(move |item| {
                let mapped = match item {
                    Ok(event) => event.map(Ok),
                    Err(e) => Some(Err(map_error(
                        &endpoint,
                        "follow the swarm's events".into(),
                        e,
                    ))),
                };
                futures::future::ready(mapped)
            })
            .boxed()
    }
}
