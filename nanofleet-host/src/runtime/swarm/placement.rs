//! Where a stateful plugin runs: on the node that holds its data volume, named by a node label.
//!
//! A volume is local to the node it was created on. A replicated service may be scheduled
//! anywhere, so a plugin with data is constrained to the node that carries its data label;
//! the label is set on the node of the first start and stays in the swarm's state, so a
//! service removed by hand and created again comes back to its data. An operator chooses the
//! node beforehand by setting the label there (`docker node update --label-add <label>=true`).

use crate::names;

use bollard::models::{Node, NodeSpecAvailabilityEnum, NodeState};
use bollard::query_parameters::UpdateNodeOptions;

use crate::runtime::RuntimeError;
use crate::runtime::docker::errors::server_message;

use super::SwarmRuntime;

/// The node label that pins the data of `plugin` in `instance` to a node:
/// `com.nanofleet.data.<instance>.<plugin>`, set to `true`.
pub fn data_label(instance: &names::Instance, plugin: &str) -> String {
    format!("com.nanofleet.data.{}.{plugin}", instance.name())
}

/// The placement constraint for [`data_label`].
pub(super) fn data_constraint(instance: &names::Instance, plugin: &str) -> String {
    format!("node.labels.{}==true", data_label(instance, plugin))
}

fn has_label(node: &Node, label: &str) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.labels.as_ref())
        .and_then(|l| l.get(label))
        .is_some_and(|v| v == "true")
}

fn node_id(node: &Node) -> &str {
    node.id.as_deref().unwrap_or_default()
}

fn hostname(node: &Node) -> &str {
    node.description
        .as_ref()
        .and_then(|d| d.hostname.as_deref())
        .unwrap_or("?")
}

/// Ready, and accepting tasks.
fn schedulable(node: &Node) -> bool {
    let ready = node.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY);
    let active =
        node.spec.as_ref().and_then(|s| s.availability) == Some(NodeSpecAvailabilityEnum::ACTIVE);
    ready && active
}

impl SwarmRuntime {
    async fn nodes(&self) -> Result<Vec<Node>, RuntimeError> {
        let mut nodes = self
            .docker()
            .list_nodes(None)
            .await
            .map_err(|e| self.fail("list the swarm's nodes", e))?;
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// The id of the node this manager runs on.
    pub(super) async fn own_node_id(&self) -> Result<String, RuntimeError> {
        Ok(self
            .docker()
            .info()
            .await
            .map_err(|e| self.fail("read the engine's swarm state", e))?
            .swarm
            .and_then(|s| s.node_id)
            .unwrap_or_default())
    }

    /// The node holding the data of `plugin`, labelling one first if none is: the schedulable
    /// node holding the fewest plugins' data (this manager's own node on a tie), so that data
    /// spreads over the swarm.
    pub(super) async fn pin_data(
        &self,
        instance: &names::Instance,
        plugin: &str,
    ) -> Result<String, RuntimeError> {
        let label = data_label(instance, plugin);
        let nodes = self.nodes().await?;
        if let Some(node) = nodes.iter().find(|n| has_label(n, &label)) {
            return Ok(node_id(node).to_owned());
        }
        let own = self.own_node_id().await?;
        let holding = |node: &Node| {
            node.spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .map_or(0, |l| {
                    l.keys()
                        .filter(|k| k.starts_with("com.nanofleet.data."))
                        .count()
                })
        };
        let chosen = nodes
            .iter()
            .filter(|n| schedulable(n))
            .min_by_key(|n| (holding(n), node_id(n) != own))
            .ok_or_else(|| RuntimeError::Engine {
                operation: format!("choose a node for the data of {plugin}"),
                message: "no node of the swarm is ready and active".into(),
            })?;
        self.set_label(chosen, &label, true).await?;
        tracing::info!(
            plugin,
            node = hostname(chosen),
            "the plugin's data is placed on this node; it runs there from now on"
        );
        Ok(node_id(chosen).to_owned())
    }

    /// The node labelled for the data of `plugin`, if any: `(id, hostname)`.
    pub(super) async fn data_node(
        &self,
        instance: &names::Instance,
        plugin: &str,
    ) -> Result<Option<(String, String)>, RuntimeError> {
        let label = data_label(instance, plugin);
        Ok(self
            .nodes()
            .await?
            .iter()
            .find(|n| has_label(n, &label))
            .map(|n| (node_id(n).to_owned(), hostname(n).to_owned())))
    }

    /// Removes the data label of `plugin` from whichever node carries it.
    pub(super) async fn unpin_data(
        &self,
        instance: &names::Instance,
        plugin: &str,
    ) -> Result<(), RuntimeError> {
        let label = data_label(instance, plugin);
        for node in self.nodes().await? {
            if has_label(&node, &label) {
                self.set_label(&node, &label, false).await?;
            }
        }
        Ok(())
    }

    /// Sets or removes `label` on `node`, reading the node again when another change to it
    /// came first (the engine refuses an update "out of sequence").
    async fn set_label(&self, node: &Node, label: &str, on: bool) -> Result<(), RuntimeError> {
        let mut node = node.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut spec = node.spec.clone().unwrap_or_default();
            let labels = spec.labels.get_or_insert_default();
            if on {
                labels.insert(label.to_owned(), "true".into());
            } else {
                labels.remove(label);
            }
            let version = node.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            let options = UpdateNodeOptions {
                version: i64::try_from(version).unwrap_or(i64::MAX),
            };
            match self
                .docker()
                .update_node(node_id(&node), spec, options)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 10 && server_message(&e).contains("out of sequence") => {
                    node = self
                        .docker()
                        .inspect_node(node_id(&node))
                        .await
                        .map_err(|e| self.fail(format!("inspect node {}", hostname(&node)), e))?;
                }
                Err(e) => {
                    return Err(
                        self.fail(format!("label node {} with {label}", hostname(&node)), e)
                    );
                }
            }
        }
    }
}
