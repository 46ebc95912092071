//! Agents and links: the store says which agent is linked to which plugin; each agent's
//! `.mcp.json` is made to say exactly that, atomically, keeping entries the host does not own.

use std::collections::BTreeSet;

use nanofleet_sdk::identity::sign_agent;

use super::{Host, HostError, HostEvent};
use crate::{
    faults::crash_point,
    linking::{self, Credentials, LinkTarget, SyncOutcome},
    store::AgentRecord,
};

impl Host {
    /// Registers (or updates) an agent, and links it to every plugin when auto-linking new
    /// agents.
    ///
    /// All or nothing: when the agent's `.mcp.json` cannot be written (an unreadable file, a
    /// missing workspace), the error is returned and the store is as it was, the agent (or its
    /// previous record) and its links included.
    pub async fn register_agent(&self, agent: AgentRecord) -> Result<(), HostError> {
        let store = self.store();
        let previous = store.get_agent(&agent.id).await?;
        store.put_agent(&agent).await?;
        let mut added = Vec::new();
        let linked: Result<(), HostError> = async {
            if self.config().auto_link_new_agents {
                for plugin in store.list_plugins().await? {
                    if store.removal(&plugin.name).await?.is_some() {
                        continue;
                    }
                    if store.link(&agent.id, &plugin.name).await? {
                        added.push(plugin.name);
                    }
                }
            }
            self.sync_agent(&agent.id, &[]).await?;
            Ok(())
        }
        .await;
        if let Err(error) = linked {
            for plugin in &added {
                let _ = store.unlink(&agent.id, plugin).await;
            }
            match previous {
                Some(previous) => {
                    let moved_back =
                        store.put_agent(&previous).await.is_ok() && moved(&previous, &agent);
                    // Moving back drew new link ids: the old workspace gets URLs that work.
                    if moved_back && let Err(e) = self.sync_agent(&previous.id, &[]).await {
                        tracing::warn!(agent = %previous.id, error = %e, "could not rewrite the agent's .mcp.json; the next reconcile will");
                    }
                }
                None => {
                    let _ = store.delete_agent(&agent.id).await;
                }
            }
            return Err(error);
        }
        // The agent moved (to another workspace, or another client's file): its URLs in the
        // old file no longer work (new link ids), and the host's entries leave that file,
        // keeping the user's own.
        if let Some(previous) = previous.filter(|p| moved(p, &agent)) {
            self.clear_workspace(&previous).await;
        }
        Ok(())
    }

    /// The address range plugin URLs resolve into, for clients that must be told to allow
    /// it: loopback in development mode, else the plugin network's.
    async fn reach(&self, client: linking::Client) -> Option<String> {
        if client != linking::Client::Nanobot {
            return None;
        }
        if self.config().publish_loopback {
            return Some("127.0.0.0/8".to_owned());
        }
        match self.runtime().network_subnet().await {
            Ok(subnet) => subnet,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the plugin network's address range");
                None
            }
        }
    }

    /// Syncs the file of `agent`'s client, off the async workers.
    async fn sync_file(
        &self,
        agent: &AgentRecord,
        managed: BTreeSet<String>,
        wanted: Vec<LinkTarget>,
    ) -> Result<SyncOutcome, HostError> {
        let reach = self.reach(agent.client).await;
        let (client, path) = (agent.client, agent.workspace_dir.clone());
        tokio::task::spawn_blocking(move || {
            linking::sync_client_config(client, &path, &managed, &wanted, reach.as_deref())
        })
        .await
        .map_err(|e| HostError::Call(e.to_string()))?
        .map_err(HostError::from)
    }

    /// Removes the host's entries from the `.mcp.json` of a workspace the agent left. The
    /// URLs there are already dead (their link ids were replaced), so a failure is only
    /// reported.
    async fn clear_workspace(&self, left: &AgentRecord) {
        if !left.workspace_dir.exists() {
            return;
        }
        let cleared = match self.managed_names(&[]).await {
            Ok(managed) => self.sync_file(left, managed, Vec::new()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = cleared {
            tracing::warn!(
                agent = %left.id,
                workspace = %left.workspace_dir.display(),
                error = %e,
                "the agent moved to another workspace or client; its old file keeps entries \
                 whose URLs no longer work"
            );
        }
    }

    /// Removes an agent: its links go, and the host's entries leave its `.mcp.json`. An agent
    /// whose workspace is gone has no file to clean: it is removed all the same.
    pub async fn remove_agent(&self, id: &str) -> Result<(), HostError> {
        let store = self.store();
        let agent = store
            .get_agent(id)
            .await?
            .ok_or_else(|| HostError::UnknownAgent(id.to_owned()))?;
        let managed = self.managed_names(&[]).await?;
        if agent.workspace_dir.exists() {
            self.sync_file(&agent, managed, Vec::new()).await?;
        }
        store.delete_agent(id).await?;
        Ok(())
    }

    /// Links `agent` to `plugin` and writes the agent's `.mcp.json`. All or nothing: when the
    /// file cannot be written, the link is not kept.
    pub async fn link(&self, agent: &str, plugin: &str) -> Result<(), HostError> {
        if self.store().removal(plugin).await?.is_some() {
            return Err(HostError::NotInstalled(plugin.to_owned()));
        }
        let created = self.store().link(agent, plugin).await?;
        crash_point("link:stored");
        if let Err(error) = self.sync_agent(agent, &[]).await {
            if created {
                let _ = self.store().unlink(agent, plugin).await;
            }
            return Err(error);
        }
        Ok(())
    }

    /// Unlinks `agent` from `plugin`: the entry really leaves the agent's `.mcp.json`, and no
    /// later restart or reconcile brings it back.
    pub async fn unlink(&self, agent: &str, plugin: &str) -> Result<bool, HostError> {
        let existed = self.store().unlink(agent, plugin).await?;
        crash_point("unlink:stored");
        self.sync_agent(agent, &[]).await?;
        Ok(existed)
    }

    /// Every plugin name the host owns, plus `extra` (a plugin being removed).
    async fn managed_names(&self, extra: &[String]) -> Result<BTreeSet<String>, HostError> {
        let mut names: BTreeSet<String> = self
            .store()
            .list_plugins()
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        names.extend(extra.iter().cloned());
        Ok(names)
    }

    /// Makes `agent`'s `.mcp.json` list exactly its linked plugins; `extra` names plugins the
    /// host owned until now (being uninstalled) whose entries must go.
    pub(crate) async fn sync_agent(
        &self,
        agent: &str,
        extra: &[String],
    ) -> Result<SyncOutcome, HostError> {
        let store = self.store();
        let record = store
            .get_agent(agent)
            .await?
            .ok_or_else(|| HostError::UnknownAgent(agent.to_owned()))?;
        let managed = self.managed_names(extra).await?;
        let mut wanted = Vec::new();
        let mut warnings = Vec::new();
        for plugin in store.links_of_agent(agent).await? {
            let Some(p) = store.get_plugin(&plugin).await? else {
                continue;
            };
            // A plugin being removed is wanted by nobody: its entry goes.
            if store.removal(&plugin).await?.is_some() {
                continue;
            }
            let base = match self.agent_base_url(&p.manifest).await {
                Ok(base) => base,
                // Development mode knows a URL only while the plugin runs.
                Err(HostError::NotRunning(_)) => continue,
                Err(e) => return Err(e),
            };
            let signed = match (p.require_signature, store.plugin_token(&plugin).await?) {
                (true, Some(token)) => Some((
                    sign_agent(&token, &plugin, agent),
                    store.link_id(agent, &plugin).await?,
                )),
                _ => None,
            };
            let credentials = signed.as_ref().map(|(signature, link)| Credentials {
                signature,
                link: link.as_deref(),
            });
            let url = linking::agent_url(&base, agent, credentials);
            let tools = p
                .tools
                .iter()
                .filter_map(|t| t.get("name").and_then(serde_json::Value::as_str));
            warnings.extend(record.client.tool_name_warnings(&plugin, tools));
            wanted.push(LinkTarget::new(plugin, url));
        }
        let outcome = self.sync_file(&record, managed, wanted).await?;
        if outcome.changed {
            // Said when the file changes (a link, a new version), not on every reconcile.
            for warning in &warnings {
                tracing::warn!(agent, "{warning}");
            }
            self.emit(HostEvent::AgentConfigChanged {
                agent_id: agent.to_owned(),
                path: record.config_path(),
                added: outcome.added.clone(),
                removed: outcome.removed.clone(),
                updated: outcome.updated.clone(),
                warnings,
            });
        }
        Ok(outcome)
    }

    /// Rewrites `.mcp.json` of every agent linked to `plugin`.
    pub(super) async fn sync_agents_of(&self, plugin: &str) -> Result<(), HostError> {
        for agent in self.store().agents_of_plugin(plugin).await? {
            self.sync_agent(&agent, &[]).await?;
        }
        Ok(())
    }
}

/// Whether `now` names another file than `before`: another workspace (a trailing `/` is no
/// difference) or another client.
fn moved(before: &AgentRecord, now: &AgentRecord) -> bool {
    let trim = |p: &std::path::Path| p.to_string_lossy().trim_end_matches('/').to_owned();
    trim(&before.workspace_dir) != trim(&now.workspace_dir) || before.client != now.client
}
