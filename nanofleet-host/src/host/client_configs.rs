//! Agents' client configs (`.mcp.json` and the like): what each should say, and the writing of
//! it.
//!
//! What an agent's file should hold is computed from a [`Targets`]: the plugins, their URLs,
//! tokens and removals, read once, whether for one agent (a link) or for all of them (a
//! reconcile pass). The host remembers, per agent, a fingerprint of what it last wrote and the
//! identity of the file it left behind; a pass rewrites only the agents whose fingerprint or
//! file changed since, so its cost follows what changed rather than the size of the fleet.
//! Reading the files again is the safety net against edits a file's identity cannot show (an
//! edit in place, of the same size, in the clock tick of the host's own write): each pass reads
//! one agent's file in [`FULL_CHECK_EVERY`], so every file is read within that many passes.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    hash::{Hash as _, Hasher as _},
    os::unix::fs::MetadataExt as _,
    path::Path,
    sync::atomic::Ordering,
};

use nanofleet_sdk::identity::{InternalToken, sign_agent};

use super::{Host, HostError, HostEvent, reconcile::Action};
use crate::{
    linking::{self, Client, Credentials, LinkTarget, SyncOutcome},
    runtime::ContainerState,
    store::{AgentRecord, ChangeMark, PluginRecord},
};

/// Within how many reconcile passes every agent's file is read again, whatever its
/// fingerprint says: each pass reads the files of one agent in this many (the first pass of a
/// host reads them all).
pub const FULL_CHECK_EVERY: u64 = 16;

/// What the host last wrote into an agent's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Synced {
    /// The fingerprint of everything the file's content was computed from.
    inputs: u64,
    /// The file as the write left it; `None` when there is no file.
    file: Option<FileId>,
}

/// What tells one version of a file from another without reading it: the host replaces files
/// (a new inode every write), and an edit in place changes the size or the modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileId {
    fn of(path: &Path) -> Option<Self> {
        let m = std::fs::symlink_metadata(path).ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

/// What agents' files are computed from, read once from the store (and, in development mode,
/// the engine).
pub(super) struct Targets {
    /// The installed plugins, by name.
    plugins: HashMap<String, PluginRecord>,
    /// Plugins being removed: linked by nobody any more.
    removing: HashSet<String>,
    /// Every name whose entry the host owns: the installed plugins and any being uninstalled.
    managed: BTreeSet<String>,
    /// Each plugin's URL base for agents; `None` while a development-mode plugin is not
    /// running (it has no published port).
    bases: HashMap<String, Option<String>>,
    /// Internal tokens of the plugins requiring signed agent ids.
    tokens: HashMap<String, InternalToken>,
    /// The address range plugin URLs resolve into, for clients that must allow it.
    reach: tokio::sync::OnceCell<Option<String>>,
}

impl Targets {
    /// Reads what the files of agents linked to `plugins` (every plugin when `None`) are made
    /// from. `extra` names plugins the host owned until now (being uninstalled) whose entries
    /// must go. `observed`, the engine's containers by name, spares an engine call per plugin
    /// in development mode.
    pub(super) async fn load(
        host: &Host,
        plugins: Option<&[String]>,
        extra: &[String],
        observed: Option<&HashMap<String, ContainerState>>,
    ) -> Result<Self, HostError> {
        let store = host.store();
        // One agent's sync reads the records of its own plugins only: its cost does not
        // grow with the number installed.
        let (mut managed, records) = match plugins {
            None => {
                let all = store.list_plugins().await?;
                let names: BTreeSet<String> = all.iter().map(|p| p.name.clone()).collect();
                (names, all)
            }
            Some(names) => {
                let mut records = Vec::with_capacity(names.len());
                for name in names {
                    records.extend(store.get_plugin(name).await?);
                }
                (store.plugin_names().await?.into_iter().collect(), records)
            }
        };
        managed.extend(extra.iter().cloned());
        let removing: HashSet<String> = store.removals().await?.into_keys().collect();
        let mut targets = Self {
            plugins: HashMap::new(),
            removing,
            managed,
            bases: HashMap::new(),
            tokens: HashMap::new(),
            reach: tokio::sync::OnceCell::new(),
        };
        for plugin in records {
            if targets.removing.contains(&plugin.name) {
                continue;
            }
            let base = match observed {
                Some(observed) => host.agent_base_url_observed(&plugin.manifest, observed),
                None => host.agent_base_url(&plugin.manifest).await,
            };
            let base = match base {
                Ok(base) => Some(base),
                // Development mode knows a URL only while the plugin runs.
                Err(HostError::NotRunning(_)) => None,
                Err(e) => return Err(e),
            };
            if plugin.require_signature
                && let Some(token) = store.plugin_token(&plugin.name).await?
            {
                targets.tokens.insert(plugin.name.clone(), token);
            }
            targets.bases.insert(plugin.name.clone(), base);
            targets.plugins.insert(plugin.name.clone(), plugin);
        }
        Ok(targets)
    }

    /// The entries `agent`'s file should hold, given its links (plugin, link id), and what
    /// its client will make of them that the operator should know.
    fn wanted(
        &self,
        agent: &AgentRecord,
        links: &[(String, String)],
    ) -> (Vec<LinkTarget>, Vec<String>) {
        let mut wanted = Vec::new();
        let mut warnings = Vec::new();
        for (plugin, link_id) in links {
            // A plugin being removed (absent here) is wanted by nobody: its entry goes.
            let (Some(p), Some(Some(base))) = (self.plugins.get(plugin), self.bases.get(plugin))
            else {
                continue;
            };
            let signature = self
                .tokens
                .get(plugin)
                .map(|token| sign_agent(token, plugin, &agent.id));
            let credentials = signature.as_ref().map(|signature| Credentials {
                signature,
                link: Some(link_id.as_str()),
            });
            let url = linking::agent_url(base, &agent.id, credentials);
            let tools = p
                .tools
                .iter()
                .filter_map(|t| t.get("name").and_then(serde_json::Value::as_str));
            warnings.extend(agent.client.tool_name_warnings(plugin, tools));
            wanted.push(LinkTarget::new(plugin.clone(), url));
        }
        (wanted, warnings)
    }

    /// The address range to allow in `client`'s file, read from the engine at most once.
    async fn reach(&self, host: &Host, client: Client) -> Option<String> {
        if client != Client::Nanobot {
            return None;
        }
        self.reach.get_or_init(|| host.reach()).await.clone()
    }
}

/// Every agent, its links and the [`Targets`], read at one [`ChangeMark`] of the store.
struct FleetView {
    mark: ChangeMark,
    agents: Vec<AgentRecord>,
    links: HashMap<String, Vec<(String, String)>>,
    targets: Targets,
}

impl FleetView {
    async fn load(
        host: &Host,
        observed: &HashMap<String, ContainerState>,
    ) -> Result<Self, HostError> {
        // Taken first: a change made while reading moves the mark past this one.
        let mark = host.store().change_mark().await?;
        let targets = Targets::load(host, None, &[], Some(observed)).await?;
        let mut links: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (agent, plugin, id) in host.store().links_with_ids().await? {
            links.entry(agent).or_default().push((plugin, id));
        }
        let agents = host.store().list_agents().await?;
        Ok(Self {
            mark,
            agents,
            links,
            targets,
        })
    }
}

/// An agent whose file a pass looks at rather than writes.
struct Look {
    index: usize,
    client: Client,
    workspace: std::path::PathBuf,
    path: std::path::PathBuf,
    /// The file as the host's last write left it.
    file: Option<FileId>,
    /// For an agent due for a read: what its file should hold (the entries and the range to
    /// allow).
    read: Option<(Vec<LinkTarget>, Option<String>)>,
}

impl Look {
    /// Whether the file is no longer as the host left it (or, read, is not what it should
    /// be). Blocks on file I/O.
    fn changed(&self, managed: &BTreeSet<String>) -> bool {
        if FileId::of(&self.path) != self.file {
            return true;
        }
        let Some((wanted, reach)) = &self.read else {
            return false;
        };
        linking::check_client_config(
            self.client,
            &self.workspace,
            managed,
            wanted,
            reach.as_deref(),
        )
        .map_or(true, |outcome| outcome.changed)
    }
}

/// The pass (modulo [`FULL_CHECK_EVERY`]) that reads `agent`'s file whatever its fingerprint:
/// a function of the id alone, so the agents spread evenly over the passes and stay put.
fn due_in(agent: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    agent.hash(&mut h);
    h.finish() % FULL_CHECK_EVERY
}

/// The fingerprint of what an agent's file is computed from.
fn fingerprint(
    agent: &AgentRecord,
    managed: &BTreeSet<String>,
    wanted: &[LinkTarget],
    reach: Option<&str>,
) -> u64 {
    // SipHash with fixed keys: stable within the process, which is as long as fingerprints
    // are kept.
    let mut h = std::hash::DefaultHasher::new();
    agent.client.hash(&mut h);
    agent.workspace_dir.hash(&mut h);
    managed.hash(&mut h);
    for target in wanted {
        target.plugin.hash(&mut h);
        target.url.hash(&mut h);
    }
    reach.hash(&mut h);
    h.finish()
}

impl Host {
    /// The address range plugin URLs resolve into, for clients that must be told to allow
    /// it: loopback in development mode, else the plugin network's.
    async fn reach(&self) -> Option<String> {
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

    /// Syncs the file of `agent`'s client, off the async workers; returns the outcome and
    /// the file as the sync left it.
    async fn write_file(
        &self,
        agent: &AgentRecord,
        managed: BTreeSet<String>,
        wanted: Vec<LinkTarget>,
        reach: Option<String>,
    ) -> Result<(SyncOutcome, Option<FileId>), HostError> {
        let (client, dir, path) = (
            agent.client,
            agent.workspace_dir.clone(),
            agent.config_path(),
        );
        tokio::task::spawn_blocking(move || {
            let outcome =
                linking::sync_client_config(client, &dir, &managed, &wanted, reach.as_deref())?;
            Ok((outcome, FileId::of(&path)))
        })
        .await
        .map_err(|e| HostError::Call(e.to_string()))?
    }

    /// The host's entries for a file that should hold none of them (an agent removed, or
    /// moved away): every plugin the host owns.
    pub(super) async fn clear_file(&self, agent: &AgentRecord) -> Result<SyncOutcome, HostError> {
        let targets = Targets::load(self, Some(&[][..]), &[], None).await?;
        let reach = targets.reach(self, agent.client).await;
        self.write_file(agent, targets.managed, Vec::new(), reach)
            .await
            .map(|(outcome, _)| outcome)
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
        let mut links = Vec::new();
        for plugin in store.links_of_agent(agent).await? {
            let id = store.link_id(agent, &plugin).await?.unwrap_or_default();
            links.push((plugin, id));
        }
        let plugins: Vec<String> = links.iter().map(|(p, _)| p.clone()).collect();
        let targets = Targets::load(self, Some(&plugins), extra, None).await?;
        self.sync_from(&record, &links, &targets).await
    }

    /// Syncs `agent`'s file from `targets` and its `links` (plugin, link id), and remembers
    /// what was written.
    async fn sync_from(
        &self,
        agent: &AgentRecord,
        links: &[(String, String)],
        targets: &Targets,
    ) -> Result<SyncOutcome, HostError> {
        let (wanted, warnings) = targets.wanted(agent, links);
        let reach = targets.reach(self, agent.client).await;
        let inputs = fingerprint(agent, &targets.managed, &wanted, reach.as_deref());
        let written = self
            .write_file(agent, targets.managed.clone(), wanted, reach)
            .await;
        let (outcome, file) = match written {
            Ok(written) => written,
            Err(e) => {
                self.forget_synced(&agent.id);
                return Err(e);
            }
        };
        self.remember_synced(&agent.id, Synced { inputs, file });
        if outcome.changed {
            // Said when the file changes (a link, a new version), not on every reconcile.
            for warning in &warnings {
                tracing::warn!(agent = %agent.id, "{warning}");
            }
            self.emit(HostEvent::AgentConfigChanged {
                agent_id: agent.id.clone(),
                path: agent.config_path(),
                added: outcome.added.clone(),
                removed: outcome.removed.clone(),
                updated: outcome.updated.clone(),
                warnings,
            });
        }
        Ok(outcome)
    }

    /// Brings every agent's file in line with its links: the agents part of a reconcile pass.
    ///
    /// Everything the files are made from is read once. An agent whose inputs and file are
    /// as the host last left them is skipped without reading the file, unless it is due: each
    /// pass reads the files of one agent in [`FULL_CHECK_EVERY`] (by id), so every file is
    /// read within that many passes and no pass reads them all. The others are synced from
    /// that one read, each after a check that the store has not changed since; when it has
    /// (a link made while the pass runs, say), the pass reads again before it writes, so it
    /// never undoes a newer change with an older view. One agent's broken workspace does not
    /// keep the agents after it unsynced.
    pub(super) async fn sync_all_agents(
        &self,
        observed: &HashMap<String, ContainerState>,
        actions: &mut Vec<Action>,
    ) -> Result<(), HostError> {
        let pass = self.inner.passes.fetch_add(1, Ordering::Relaxed);
        let mut view = FleetView::load(self, observed).await?;
        let last = self.synced_snapshot();
        // Agents whose inputs are as last written, with their files as the host left them;
        // those due for a read carry what their file should hold.
        let mut look: Vec<Look> = Vec::new();
        let mut stale = Vec::new();
        for (i, agent) in view.agents.iter().enumerate() {
            let links = view.links.get(&agent.id).map_or(&[][..], Vec::as_slice);
            let (wanted, _) = view.targets.wanted(agent, links);
            let reach = view.targets.reach(self, agent.client).await;
            let inputs = fingerprint(agent, &view.targets.managed, &wanted, reach.as_deref());
            match last.get(&agent.id) {
                Some(synced) if pass != 0 && synced.inputs == inputs => {
                    let due = due_in(&agent.id) == pass % FULL_CHECK_EVERY;
                    look.push(Look {
                        index: i,
                        client: agent.client,
                        workspace: agent.workspace_dir.clone(),
                        path: agent.config_path(),
                        file: synced.file,
                        read: due.then_some((wanted, reach)),
                    });
                }
                _ => stale.push(i),
            }
        }
        // One blocking task for every file looked at, not one per agent: its identity, and
        // for the agents due, its content.
        let managed = view.targets.managed.clone();
        let changed = tokio::task::spawn_blocking(move || {
            look.into_iter()
                .filter(|l| l.changed(&managed))
                .map(|l| l.index)
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| HostError::Call(e.to_string()))?;
        stale.extend(changed);
        stale.sort_unstable();

        let ids: Vec<String> = stale.iter().map(|&i| view.agents[i].id.clone()).collect();
        for id in ids {
            if self.store().change_mark().await? != view.mark {
                view = FleetView::load(self, observed).await?;
            }
            // Gone since the pass began: nothing to write.
            let Some(agent) = view.agents.iter().find(|a| a.id == id).cloned() else {
                continue;
            };
            let links = view.links.get(&agent.id).map_or(&[][..], Vec::as_slice);
            match self.sync_from(&agent, links, &view.targets).await {
                Ok(sync) if sync.changed => actions.push(Action::LinkedAgent(agent.id)),
                Ok(_) => {}
                Err(e) => actions.push(Action::AgentFailed {
                    agent: agent.id,
                    error: e.to_string(),
                }),
            }
        }
        Ok(())
    }

    /// Rewrites `.mcp.json` of every agent linked to `plugin`.
    pub(super) async fn sync_agents_of(&self, plugin: &str) -> Result<(), HostError> {
        for agent in self.store().agents_of_plugin(plugin).await? {
            self.sync_agent(&agent, &[]).await?;
        }
        Ok(())
    }

    fn synced(&self) -> std::sync::MutexGuard<'_, HashMap<String, Synced>> {
        // A panic while holding this map cannot leave it inconsistent: entries are replaced
        // whole.
        self.inner
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn synced_snapshot(&self) -> HashMap<String, Synced> {
        self.synced().clone()
    }

    fn remember_synced(&self, agent: &str, synced: Synced) {
        self.synced().insert(agent.to_owned(), synced);
    }

    pub(super) fn forget_synced(&self, agent: &str) {
        self.synced().remove(agent);
    }
}
