//! The reconciler: makes the engine match the store, plugin by plugin, then every agent's
//! `.mcp.json` match the links. Each step looks before it acts, so a pass with nothing to do
//! changes nothing.

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;

use super::{Host, HostError, HostEvent};
use crate::{
    runtime::{ContainerState, EventAction},
    store::{Desired, PluginRecord, Status},
};

/// What a reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Every change made, in order.
    pub actions: Vec<Action>,
}

impl ReconcileReport {
    /// Whether the pass changed nothing.
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
    }
}

/// One change made by the reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A missing container was created.
    Created(String),
    /// A container whose configuration drifted was replaced.
    Recreated(String),
    /// A stopped container was started.
    Started(String),
    /// A container of a disabled plugin was stopped.
    Stopped(String),
    /// A managed container with no plugin behind it was removed.
    RemovedOrphan(String),
    /// A removal that had failed or been interrupted was finished.
    Removed(String),
    /// An install interrupted by a crash was rolled back.
    RolledBack(String),
    /// An agent's `.mcp.json` was rewritten.
    LinkedAgent(String),
    /// An agent's client config could not be brought in line with its links (an unreadable
    /// workspace, say); the other agents were.
    AgentFailed {
        /// The agent.
        agent: String,
        /// Why.
        error: String,
    },
    /// A plugin could not be converged; the others were.
    Failed {
        /// The plugin.
        plugin: String,
        /// Why.
        error: String,
    },
}

impl Host {
    /// One full pass: every plugin, every orphan, every agent. Failures of one plugin are
    /// reported in the result and do not stop the others.
    ///
    /// The engine is asked once, for every container it holds of this host; a plugin whose
    /// container is as its record wants (running with the wanted configuration, or stopped)
    /// costs no further engine call. Only the others go through
    /// [`reconcile_plugin`](Self::reconcile_plugin), which looks again under the plugin's
    /// lock before it acts. Agents' files are rewritten only where something changed (see
    /// `client_configs`).
    pub async fn reconcile(&self) -> Result<ReconcileReport, HostError> {
        let mut report = ReconcileReport::default();
        let plugins = self.store().list_plugins().await?;
        let instance = &self.config().instance;
        let observed: HashMap<String, ContainerState> = self
            .runtime()
            .list_managed()
            .await?
            .into_iter()
            // Containers from before instance labels belong to the default instance.
            .filter(|c| instance.owns(c.instance.as_deref()))
            .map(|c| (c.name.clone(), c))
            .collect();
        let removing = self.store().removals().await?;
        for plugin in &plugins {
            let container = observed.get(&instance.container_name(&plugin.name));
            if !removing.contains_key(&plugin.name) && self.converged(plugin, container).await {
                continue;
            }
            match self.reconcile_plugin(&plugin.name).await {
                Ok(actions) => report.actions.extend(actions),
                Err(e) => report.actions.push(Action::Failed {
                    plugin: plugin.name.clone(),
                    error: e.to_string(),
                }),
            }
        }
        for container in observed.values() {
            let known = plugins.iter().any(|p| p.name == container.plugin);
            // Leftovers: a plugin no longer installed, or a staging container of an upgrade
            // that was interrupted.
            if !known || container.name != instance.container_name(&container.plugin) {
                let _guard = self.lock(&container.plugin).await;
                match self.runtime().remove(&container.name).await {
                    Ok(()) => report
                        .actions
                        .push(Action::RemovedOrphan(container.name.clone())),
                    Err(e) => report.actions.push(Action::Failed {
                        plugin: container.plugin.clone(),
                        error: e.to_string(),
                    }),
                }
            }
        }
        self.sync_all_agents(&observed, &mut report.actions).await?;
        Ok(report)
    }

    /// Whether `record`'s container, as listed, is what the record wants, with the record's
    /// status saying so: then [`reconcile_plugin`](Self::reconcile_plugin) would do nothing.
    /// Any doubt (a store error, a missing token) says no, and the full step decides.
    async fn converged(&self, record: &PluginRecord, container: Option<&ContainerState>) -> bool {
        match record.desired {
            Desired::Stopped => {
                record.status == Status::Stopped && container.is_none_or(|c| !c.running)
            }
            Desired::Running => {
                let Some(container) = container.filter(|c| c.running) else {
                    return false;
                };
                if record.status != Status::Running {
                    return false;
                }
                let Ok(Some(token)) = self.store().plugin_token(&record.name).await else {
                    return false;
                };
                match self.spec_for(record, &token).await {
                    Ok(spec) => {
                        container.config_hash.as_deref() == Some(spec.config_hash().as_str())
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// Converges one plugin's container to its desired state.
    pub async fn reconcile_plugin(&self, name: &str) -> Result<Vec<super::Action>, HostError> {
        let _guard = self.lock(name).await;
        let mut actions = Vec::new();
        let container = self.config().instance.container_name(name);
        let Some(record) = self.store().get_plugin(name).await? else {
            return Ok(actions);
        };
        // Desired: gone. A removal that failed or was interrupted is finished here.
        if self.store().removal(name).await?.is_some() {
            self.finish_removal(name).await?;
            actions.push(Action::Removed(name.to_owned()));
            return Ok(actions);
        }
        // Under the lock, an `installing` row is one whose install died with its process.
        if record.status == Status::Installing {
            self.runtime().remove(&container).await?;
            self.store().delete_plugin(name).await?;
            actions.push(Action::RolledBack(name.to_owned()));
            return Ok(actions);
        }
        let Some(token) = self.store().plugin_token(name).await? else {
            return Err(HostError::NotInstalled(name.to_owned()));
        };
        let state = self.runtime().inspect(&container).await?;
        match record.desired {
            Desired::Stopped => {
                if state.as_ref().is_some_and(|s| s.running) {
                    self.runtime().stop(&container).await?;
                    actions.push(Action::Stopped(name.to_owned()));
                }
                if record.status != Status::Stopped {
                    self.store().set_status(name, Status::Stopped, None).await?;
                    self.emit(HostEvent::PluginStatus {
                        plugin: name.to_owned(),
                        status: Status::Stopped,
                    });
                }
            }
            Desired::Running => {
                let spec = self.spec_for(&record, &token).await?;
                let result = match state {
                    None => {
                        actions.push(Action::Created(name.to_owned()));
                        self.bring_up(&record, &token, None, None).await.map(Some)
                    }
                    Some(s) if s.config_hash.as_deref() != Some(spec.config_hash().as_str()) => {
                        self.runtime().remove(&container).await?;
                        actions.push(Action::Recreated(name.to_owned()));
                        self.bring_up(&record, &token, None, None).await.map(Some)
                    }
                    Some(s) if !s.running => {
                        self.runtime().start(&container).await?;
                        actions.push(Action::Started(name.to_owned()));
                        self.wait_ready(&record.manifest, &container)
                            .await
                            .map(Some)
                    }
                    Some(_) if record.status != Status::Running => self
                        .wait_ready(&record.manifest, &container)
                        .await
                        .map(Some),
                    Some(_) => Ok(None),
                };
                match result {
                    Ok(Some(tools)) => self.mark_running(name, &tools).await?,
                    Ok(None) => {}
                    Err(e) => {
                        self.store()
                            .set_status(name, Status::Error, Some(&e.to_string()))
                            .await?;
                        self.emit(HostEvent::PluginStatus {
                            plugin: name.to_owned(),
                            status: Status::Error,
                        });
                        return Err(e);
                    }
                }
            }
        }
        Ok(actions)
    }

    /// Runs until `shutdown`: a full pass now, a plugin's pass whenever the engine reports its
    /// container died, stopped or vanished, and a full pass every `interval` as a safety net
    /// (and after the engine's event stream breaks).
    pub async fn run_reconciler(
        &self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.reconcile().await {
                tracing::warn!(error = %e, "reconcile pass failed");
            }
            let mut events = match self.runtime().events().await {
                Ok(events) => Some(events),
                Err(e) => {
                    tracing::warn!(error = %e, "no engine events; reconciling on a timer only");
                    None
                }
            };
            let tick = tokio::time::sleep(interval);
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = &mut tick => break,
                    event = async {
                        match events.as_mut() {
                            Some(s) => s.next().await,
                            None => std::future::pending().await,
                        }
                    } => match event {
                        Some(Ok(event)) if matches!(
                            event.action,
                            EventAction::Die { .. } | EventAction::Stop | EventAction::Destroy | EventAction::Oom
                        ) => {
                            if let Err(e) = self.reconcile_plugin(&event.plugin).await {
                                tracing::warn!(plugin = %event.plugin, error = %e, "reconcile failed");
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "engine event stream failed");
                            break;
                        }
                        None => break,
                    },
                }
            }
        }
    }
}
