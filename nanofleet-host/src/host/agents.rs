//! Agents and links: the store says which agent is linked to which plugin; each agent's
//! `.mcp.json` is made to say exactly that, atomically, keeping entries the host does not own.

use super::{Host, HostError};
use crate::{faults::crash_point, store::AgentRecord};

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

    /// Removes the host's entries from the `.mcp.json` of a workspace the agent left. The
    /// URLs there are already dead (their link ids were replaced), so a failure is only
    /// reported.
    async fn clear_workspace(&self, left: &AgentRecord) {
        if !left.workspace_dir.exists() {
            return;
        }
        if let Err(e) = self.clear_file(left).await {
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
        if agent.workspace_dir.exists() {
            self.clear_file(&agent).await?;
        }
        store.delete_agent(id).await?;
        self.forget_synced(id);
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
}

/// Whether `now` names another file than `before`: another workspace (a trailing `/` is no
/// difference) or another client.
fn moved(before: &AgentRecord, now: &AgentRecord) -> bool {
    let trim = |p: &std::path::Path| p.to_string_lossy().trim_end_matches('/').to_owned();
    trim(&before.workspace_dir) != trim(&now.workspace_dir) || before.client != now.client
}
