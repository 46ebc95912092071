//! The overlay networks plugins and agents share across the swarm's nodes.

use crate::names;

use bollard::models::NetworkCreateRequest;

use crate::runtime::RuntimeError;
use crate::runtime::docker::NETWORK_LOCK;
use crate::runtime::docker::containers::{is_managed, managed_labels};
use crate::runtime::docker::errors::status;

use super::{EGRESS_NETWORK, SwarmRuntime};

impl SwarmRuntime {
    /// The internal overlay, and the egress one when `egress`.
    pub(super) async fn ensure_overlays(&self, egress: bool) -> Result<(), RuntimeError> {
        self.ensure_overlay(names::NETWORK, true).await?;
        if egress {
            self.ensure_overlay(EGRESS_NETWORK, false).await?;
        }
        Ok(())
    }

    async fn ensure_overlay(&self, name: &str, internal: bool) -> Result<(), RuntimeError> {
        let _serialised = NETWORK_LOCK.lock().await;
        let mut found = self.local.networks_named(name).await?;
        if found.is_empty() {
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("overlay".into()),
                internal: Some(internal),
                // Agents are standalone containers: they must be able to join.
                attachable: Some(true),
                scope: Some("swarm".into()),
                labels: Some(managed_labels(None)),
                ..Default::default()
            };
            match self.docker().create_network(request).await {
                Ok(_) => {}
                // Another manager created it meanwhile.
                Err(e) if status(&e) == Some(409) => {}
                Err(e) => return Err(self.fail(format!("create overlay network {name}"), e)),
            }
            found = self.local.networks_named(name).await?;
        }
        // A network being created (here or by another manager) is listed for a moment before
        // its driver is: look again rather than call it foreign.
        for _ in 0..20 {
            if found
                .iter()
                .all(|n| n.driver.as_deref().is_some_and(|d| !d.is_empty()))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            found = self.local.networks_named(name).await?;
        }
        let Some(network) = found.first() else {
            return Err(RuntimeError::Engine {
                operation: format!("create overlay network {name}"),
                message: "the engine created it but does not list it".into(),
            });
        };
        let fix = format!(
            "remove it (docker network rm {name}) and let nanofleet-rs create it, or use the \
             single-engine backend"
        );
        if found.len() > 1 || network.driver.as_deref() != Some("overlay") {
            return Err(RuntimeError::Conflict(format!(
                "network {name} exists on this engine but is not one swarm overlay (driver `{}`, \
                 {} network(s) of that name), so plugins on other nodes could not reach it: {fix}",
                network.driver.as_deref().unwrap_or("?"),
                found.len()
            )));
        }
        if network.internal.unwrap_or(false) != internal || network.attachable != Some(true) {
            return Err(RuntimeError::Conflict(format!(
                "overlay network {name} exists but is {}internal and {}attachable, which is not \
                 what plugins need: {fix}",
                if network.internal.unwrap_or(false) {
                    ""
                } else {
                    "not "
                },
                if network.attachable == Some(true) {
                    ""
                } else {
                    "not "
                },
            )));
        }
        Ok(())
    }

    /// Removes our overlays when no service of ours uses them any more.
    pub(super) async fn remove_overlays_if_unused(&self) -> Result<(), RuntimeError> {
        if !self.list_services().await?.is_empty() {
            return Ok(());
        }
        let _serialised = NETWORK_LOCK.lock().await;
        for name in [EGRESS_NETWORK, names::NETWORK] {
            for network in self.local.networks_named(name).await? {
                let ours = is_managed(network.labels.as_ref());
                let (Some(id), true, Some("overlay")) =
                    (network.id, ours, network.driver.as_deref())
                else {
                    continue;
                };
                match self.docker().remove_network(&id).await {
                    Ok(()) => {}
                    // Gone, or still in use by an attached agent or a task shutting down.
                    Err(e) if matches!(status(&e), Some(403 | 404 | 409)) => {}
                    Err(e) => return Err(self.fail(format!("remove overlay network {name}"), e)),
                }
            }
        }
        Ok(())
    }
}
