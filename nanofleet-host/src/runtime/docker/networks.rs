//! Networks: the plugin network and its companions, made once, healed when duplicated, and
//! removed when nothing uses them.

use crate::names;
use std::collections::HashMap;

use bollard::models::{Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use crate::runtime::RuntimeError;

use super::{DockerRuntime, EGRESS_NETWORK, NETWORK_LOCK, PUBLISH_NETWORK};
use super::{containers::*, errors::*};

impl DockerRuntime {
    pub(super) async fn ensure_networks(
        &self,
        egress: bool,
        publish: bool,
    ) -> Result<(), RuntimeError> {
        self.ensure_one_network(names::NETWORK, true, &[]).await?;
        if egress {
            self.ensure_one_network(EGRESS_NETWORK, false, &[]).await?;
        }
        if publish {
            // No NAT: a plugin without egress stays without a usable route out. No ICC:
            // plugins talk to each other on the internal network, not here.
            self.ensure_one_network(
                PUBLISH_NETWORK,
                false,
                &[
                    ("com.docker.network.bridge.enable_ip_masquerade", "false"),
                    ("com.docker.network.bridge.enable_icc", "false"),
                ],
            )
            .await?;
        }
        Ok(())
    }

    /// Networks with exactly this name, sorted by id so that every process picks the same one
    /// first. Docker's `name` filter matches substrings, and API 1.41 lets two networks share
    /// a name.
    pub(in crate::runtime) async fn networks_named(
        &self,
        name: &str,
    ) -> Result<Vec<Network>, RuntimeError> {
        let filters = HashMap::from([("name", vec![name])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let mut found: Vec<Network> = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| self.fail(format!("list networks named {name}"), e))?
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name) && n.id.is_some())
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    pub(super) async fn ensure_one_network(
        &self,
        name: &str,
        internal: bool,
        options: &[(&str, &str)],
    ) -> Result<(), RuntimeError> {
        let _serialised = NETWORK_LOCK.lock().await;
        let mut found = self.networks_named(name).await?;
        if found.is_empty() {
            let request = NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".into()),
                internal: Some(internal),
                options: Some(
                    options
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                ),
                labels: Some(managed_labels(None)),
                ..Default::default()
            };
            self.docker
                .create_network(request)
                .await
                .map_err(|e| self.fail(format!("create network {name}"), e))?;
            // Look again: another process may have created the same name meanwhile.
            found = self.networks_named(name).await?;
        }
        let survivor = if found.len() > 1 {
            self.heal_duplicate_networks(name, found).await?
        } else {
            found.into_iter().next()
        };
        let Some(network) = survivor else {
            return Err(RuntimeError::Engine {
                operation: format!("create network {name}"),
                message: "the engine created it but does not list it".into(),
            });
        };
        if network.internal.unwrap_or(false) != internal {
            let (is, so) = if internal {
                (
                    "not internal",
                    "plugins without egress could reach the outside",
                )
            } else {
                (
                    "internal",
                    "plugins granted egress could not reach the outside",
                )
            };
            return Err(RuntimeError::Conflict(format!(
                "network {name} exists but is {is}, so {so}: remove it (docker network rm \
                 {name}) and let nanofleet-rs create it"
            )));
        }
        Ok(())
    }

    /// Several networks share `name` (two host processes created it at once): keep one (the
    /// one with containers attached, else the lowest id, so racing processes agree) and
    /// remove the other ones that are ours and unused. Returns the one kept.
    pub(super) async fn heal_duplicate_networks(
        &self,
        name: &str,
        found: Vec<Network>,
    ) -> Result<Option<Network>, RuntimeError> {
        let mut in_use = Vec::with_capacity(found.len());
        for network in &found {
            let id = network.id.as_deref().unwrap_or_default();
            let attached = match self.docker.inspect_network(id, None).await {
                Ok(inspected) => inspected.containers.is_some_and(|c| !c.is_empty()),
                Err(e) if status(&e) == Some(404) => false,
                Err(e) => return Err(self.fail(format!("inspect network {name}"), e)),
            };
            in_use.push(attached);
        }
        let keep = in_use.iter().position(|used| *used).unwrap_or(0);
        let mut kept = None;
        for (index, (network, used)) in found.into_iter().zip(in_use).enumerate() {
            if index == keep {
                kept = Some(network);
                continue;
            }
            let removable = !used && is_managed(network.labels.as_ref());
            match (removable, network.id.as_deref()) {
                (true, Some(id)) => match self.docker.remove_network(id).await {
                    Ok(()) => {}
                    Err(e) if matches!(status(&e), Some(403 | 404 | 409)) => {}
                    Err(e) => return Err(self.fail(format!("remove duplicate network {name}"), e)),
                },
                _ => tracing::warn!(
                    network = name,
                    id = network.id.as_deref().unwrap_or_default(),
                    "another network has this name and cannot be removed; remove it by id \
                     (docker network rm <id>) or the name stays ambiguous"
                ),
            }
        }
        Ok(kept)
    }

    pub(super) async fn remove_networks_if_unused(&self) -> Result<(), RuntimeError> {
        let _serialised = NETWORK_LOCK.lock().await;
        for name in [PUBLISH_NETWORK, EGRESS_NETWORK, names::NETWORK] {
            for network in self.networks_named(name).await? {
                let (Some(id), true) = (network.id, is_managed(network.labels.as_ref())) else {
                    // Not ours (or unnamed): never removed.
                    continue;
                };
                let inspected = match self.docker.inspect_network(&id, None).await {
                    Ok(inspected) => inspected,
                    Err(e) if status(&e) == Some(404) => continue,
                    Err(e) => return Err(self.fail(format!("inspect network {name}"), e)),
                };
                if inspected.containers.is_some_and(|c| !c.is_empty()) {
                    continue;
                }
                match self.docker.remove_network(&id).await {
                    Ok(()) => {}
                    // Gone already, or something attached since we looked: both fine.
                    Err(e) if matches!(status(&e), Some(403 | 404 | 409)) => {}
                    Err(e) => return Err(self.fail(format!("remove network {name}"), e)),
                }
            }
        }
        Ok(())
    }
}
