//! Install, uninstall, restart, upgrade, enable and disable: each under the plugin's lock,
//! each rolled back when a step fails.

use std::net::SocketAddr;

use nanofleet_sdk::{
    identity::{InternalToken, sign_agent},
    manifest::{Manifest, Overrides, Permissions, config::ConfigValues},
};
use rmcp::model::{CallToolResult, Tool};
use tracing::Instrument as _;

use super::{Host, HostError, HostEvent, InstallOptions, probe};
use crate::{
    faults::crash_point,
    linking::Credentials,
    policy::{self, Grant, GrantError, GrantRequest},
    runtime::{LogOptions, RuntimeError, Upgrade},
    store::{Desired, PluginRecord, Status},
};

/// How many log lines a readiness error carries.
const LOG_LINES_ON_FAILURE: usize = 20;

/// The span of one step of bringing a plugin up, at debug level: a subscriber that keeps
/// span timings (the benchmark's does) sees where an install's time goes. The steps:
/// `checks` (store, policy, image present), `record` (the store row), `network` (the plugin
/// network is there), `create_start` (the engine's create and start), `ready` (until the
/// plugin lists its tools) and `persist` (tools and status stored).
pub const INSTALL_STEP_SPAN: &str = "install_step";

fn step(name: &'static str) -> tracing::Span {
    tracing::debug_span!(INSTALL_STEP_SPAN, step = name)
}

impl Host {
    /// Installs a plugin: validate → refuse when API keys or required settings are missing →
    /// create → start → wait until it lists its tools → persist → link (when auto-linking).
    /// Any failure rolls back: no container, no store row, no link.
    pub async fn install(
        &self,
        manifest: Manifest,
        options: InstallOptions,
    ) -> Result<PluginRecord, HostError> {
        check_manifest(&manifest)?;
        let name = manifest.name.clone();
        let _guard = self.lock(&name).await;
        let store = self.store();
        let (grant, config) = async {
            if store.get_plugin(&name).await?.is_some() {
                return Err(HostError::AlreadyInstalled(name.clone()));
            }
            let grant = self
                .check_grant(&manifest, None, &options, &options.effective_overrides())
                .await?;
            self.check_replicas(
                options.replicas.unwrap_or(1),
                &manifest
                    .permissions
                    .with_overrides(&options.effective_overrides()),
            )?;
            let config = super::config::check_values(&manifest, &options.config)?;
            self.preflight(&manifest, options.pull).await?;
            Ok((grant, config))
        }
        .instrument(step("checks"))
        .await?;

        let token = InternalToken::generate();
        let mut record = PluginRecord::new(manifest);
        record.overrides = options.effective_overrides();
        record.replicas = options.replicas.unwrap_or(1);
        record.allowed_more = grant.allowed_more;
        record.require_signature = self.config().require_signatures;
        store
            .put_plugin_with_config(&record, &token, &config)
            .instrument(step("record"))
            .await?;
        crash_point("install:recorded");
        match self.bring_up(&record, &token, None, None).await {
            Ok(tools) => {
                crash_point("install:ready");
                let tools = tools_json(&tools);
                async {
                    store.set_tools(&name, tools).await?;
                    store.set_status(&name, Status::Running, None).await
                }
                .instrument(step("persist"))
                .await?;
                crash_point("install:running");
                self.emit(HostEvent::PluginStatus {
                    plugin: name.clone(),
                    status: Status::Running,
                });
            }
            Err(error) => {
                self.roll_back_install(&name).await;
                return Err(error);
            }
        }
        if self.config().auto_link_new_plugins {
            for agent in store.list_agents().await? {
                store.link(&agent.id, &name).await?;
                self.sync_agent(&agent.id, &[]).await?;
            }
        }
        store
            .get_plugin(&name)
            .await?
            .ok_or(HostError::NotInstalled(name))
    }

    /// Undoes what a failed install made, and only that. The container needs nothing here:
    /// [`bring_up`](Self::bring_up) removes one it created before it returns an error, and a
    /// container that was already there (the engine refusing the name) is not this install's
    /// to remove.
    async fn roll_back_install(&self, name: &str) {
        if let Err(e) = self.store().delete_plugin(name).await {
            tracing::error!(plugin = name, error = %e, "rollback: cannot delete the store row");
        }
    }

    /// The checks of [`policy::check_grant`] against this host's policy and default limits,
    /// for the overrides `given` by this request (on an upgrade, `options.overrides` also
    /// holds those kept from before). `--egress` ([`InstallOptions::egress`]) is the
    /// operator's explicit grant of network, so it widens without `allow_more`; the widening
    /// is recorded all the same.
    async fn check_grant(
        &self,
        manifest: &Manifest,
        previous: Option<&Permissions>,
        options: &InstallOptions,
        given: &Overrides,
    ) -> Result<Grant, HostError> {
        let policy = self.store().policy().await?;
        let overrides = options.effective_overrides();
        let defaults = self.config().limits;
        let request = GrantRequest {
            overrides: &overrides,
            given,
            allow_more: options.allow_more,
        };
        let grant = match policy::check_grant(manifest, previous, request, &policy, &defaults) {
            Err(GrantError::Widening { widenings, .. })
                if options.egress && widenings.iter().all(|w| w.starts_with("network")) =>
            {
                let request = GrantRequest {
                    allow_more: true,
                    ..request
                };
                policy::check_grant(manifest, previous, request, &policy, &defaults)?
            }
            other => other?,
        };
        Ok(grant)
    }

    /// Whether a plugin holding `permissions` may run `replicas` copies on this engine.
    fn check_replicas(&self, replicas: u32, permissions: &Permissions) -> Result<(), HostError> {
        crate::runtime::check_replicas(replicas, permissions.filesystem)
            .map_err(|why| HostError::Runtime(RuntimeError::InvalidSpec(why)))?;
        let most = self.runtime().max_replicas();
        if replicas > most {
            return Err(HostError::Runtime(RuntimeError::InvalidSpec(format!(
                "{replicas} replicas: this engine runs {most} per plugin; several replicas \
                 need an engine that runs services (`--engine swarm`)"
            ))));
        }
        Ok(())
    }

    /// What must hold before a container is created: every API key the plugin needs is set,
    /// and its image is here (pulled only when asked).
    async fn preflight(&self, manifest: &Manifest, pull: bool) -> Result<(), HostError> {
        let missing = self
            .store()
            .missing_api_keys(&manifest.required_env_vars)
            .await?;
        if !missing.is_empty() {
            return Err(HostError::MissingApiKeys {
                plugin: manifest.name.clone(),
                missing,
            });
        }
        self.ensure_image(&manifest.image, pull).await
    }

    async fn ensure_image(&self, image: &str, pull: bool) -> Result<(), HostError> {
        if self.runtime().image_exists(image).await? {
            return Ok(());
        }
        if !pull {
            return Err(RuntimeError::ImageMissing {
                image: image.to_owned(),
                hint: "build or load it first, or install with pull enabled".into(),
            }
            .into());
        }
        let progress = |line: String| tracing::info!(image, "{line}");
        self.runtime().pull(image, &progress).await?;
        Ok(())
    }

    /// Creates and starts the plugin's container (under `name` when given, else the canonical
    /// one) and waits until it lists its tools. On failure the container is removed.
    pub(super) async fn bring_up(
        &self,
        record: &PluginRecord,
        token: &InternalToken,
        name: Option<String>,
        config: Option<&nanofleet_sdk::manifest::config::ConfigValues>,
    ) -> Result<Vec<Tool>, HostError> {
        let mut spec = match config {
            Some(config) => self.spec_with_config(record, token, config).await?,
            None => self.spec_for(record, token).await?,
        };
        let name_is_canonical = name.is_none();
        spec.container_name = name;
        let container = spec.name();
        self.runtime()
            .ensure_network()
            .instrument(step("network"))
            .await?;
        self.runtime()
            .create_and_start(&spec)
            .instrument(step("create_start"))
            .await?;
        if name_is_canonical {
            crash_point("install:started");
        }
        let ready = self
            .wait_ready(&record.manifest, &container)
            .instrument(step("ready"))
            .await;
        match ready {
            Ok(tools) => Ok(tools),
            Err(error) => {
                // What this call created goes; should the engine refuse, the next reconcile
                // removes it as an orphan (no record names it).
                if let Err(e) = self.runtime().remove(&container).await {
                    tracing::warn!(%container, error = %e, "cannot remove a container that did not become ready");
                }
                Err(error)
            }
        }
    }

    /// Waits until the container answers `tools/list`, within the configured timeout; the
    /// error carries its last log lines.
    pub(super) async fn wait_ready(
        &self,
        manifest: &Manifest,
        container: &str,
    ) -> Result<Vec<Tool>, HostError> {
        let timeout = self.config().ready_timeout;
        let (host, port, name) = (self.clone(), manifest.mcp_port, container.to_owned());
        let target = move || {
            let (host, name) = (host.clone(), name.clone());
            Box::pin(async move { host.target_of(&name, port).await })
                as futures::future::BoxFuture<'static, Result<(SocketAddr, String), String>>
        };
        match probe::wait_for_tools(target, timeout).await {
            Ok(tools) => Ok(tools),
            Err(last_error) => Err(HostError::NotReady {
                plugin: manifest.name.clone(),
                waited: timeout,
                last_error,
                logs: self
                    .runtime()
                    .logs(container, LogOptions::tail(LOG_LINES_ON_FAILURE))
                    .await
                    .unwrap_or_default(),
            }),
        }
    }

    async fn target_of(&self, container: &str, port: u16) -> Result<(SocketAddr, String), String> {
        let state = self
            .runtime()
            .inspect(container)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("container {container} is gone"))?;
        if !state.running {
            return Err(format!(
                "container {container} is not running ({})",
                state.status
            ));
        }
        self.probe_target(&state, port)
            .ok_or_else(|| format!("container {container} has no address yet"))
    }

    /// Removes a plugin: its container, its store row and its links (rewriting the linked
    /// agents' `.mcp.json`). The data volume is kept unless `remove_data`.
    pub async fn uninstall(&self, name: &str, remove_data: bool) -> Result<(), HostError> {
        let _guard = self.lock(name).await;
        let store = self.store();
        if store.get_plugin(name).await?.is_none() {
            return Err(HostError::NotInstalled(name.to_owned()));
        }
        // The desired state first: from here the plugin is wanted by nobody, and a removal
        // that fails or is interrupted below is finished by the next reconcile pass.
        store.mark_removal(name, remove_data).await?;
        crash_point("uninstall:marked");
        self.finish_removal(name).await
    }

    /// The cleanup of a removal, in an order that can stop anywhere and be resumed: the
    /// container; then each linked agent's entry, its link going only once the entry has (a
    /// workspace that no longer exists has nothing to clean); the data volume when purging;
    /// and last the plugin's record. Call with the plugin's lock held.
    pub(super) async fn finish_removal(&self, name: &str) -> Result<(), HostError> {
        let store = self.store();
        let Some(purge) = store.removal(name).await? else {
            return Ok(());
        };
        self.runtime()
            .remove(&self.config().instance.container_name(name))
            .await?;
        crash_point("uninstall:container-removed");
        for agent in store.agents_of_plugin(name).await? {
            match self.sync_agent(&agent, &[]).await {
                Ok(_) => {}
                Err(HostError::Link(crate::linking::LinkError::NoWorkspace { .. })) => {}
                Err(error) => return Err(error),
            }
            crash_point("uninstall:agent-rewritten");
            store.unlink(&agent, name).await?;
        }
        if purge {
            self.runtime()
                .remove_volume(&self.config().instance, name)
                .await?;
            crash_point("uninstall:volume-removed");
        }
        store.delete_plugin(name).await?;
        Ok(())
    }

    /// Restarts a plugin, whatever state its container is in (running, stopped, or deleted),
    /// and refreshes its tools. Links are left as they are.
    pub async fn restart(&self, name: &str) -> Result<PluginRecord, HostError> {
        let _guard = self.lock(name).await;
        let (record, token) = self.installed(name).await?;
        let container = self.config().instance.container_name(name);
        let state = self.runtime().inspect(&container).await?;
        let spec = self.spec_for(&record, &token).await?;
        let tools = match state {
            Some(s) if s.config_hash.as_deref() == Some(spec.config_hash().as_str()) => {
                self.runtime().stop(&container).await?;
                self.runtime().start(&container).await?;
                self.wait_ready(&record.manifest, &container).await?
            }
            Some(_) => {
                self.runtime().remove(&container).await?;
                self.bring_up(&record, &token, None, None).await?
            }
            None => self.bring_up(&record, &token, None, None).await?,
        };
        self.store().set_desired(name, Desired::Running).await?;
        self.mark_running(name, &tools).await?;
        self.sync_agents_of(name).await?;
        self.plugin(name).await
    }

    /// Upgrades a plugin to `manifest` (same name): the new version is started next to the
    /// old one and must list its tools before the old one is removed; if it does not, it is
    /// removed and the old one keeps serving, untouched. Token, links and data are kept.
    pub async fn upgrade(
        &self,
        manifest: Manifest,
        options: InstallOptions,
    ) -> Result<PluginRecord, HostError> {
        check_manifest(&manifest)?;
        let name = manifest.name.clone();
        let _guard = self.lock(&name).await;
        let (old, token) = self.installed(&name).await?;
        let given = options.effective_overrides();
        let mut options = options;
        options.overrides = merge_overrides(&old.overrides, &given);
        let grant = self
            .check_grant(&manifest, Some(&old.permissions()), &options, &given)
            .await?;
        self.check_replicas(
            options.replicas.unwrap_or(old.replicas),
            &manifest.permissions.with_overrides(&options.overrides),
        )?;
        let stored = self.store().plugin_config(&name).await?;
        let config = super::config::check_values(
            &manifest,
            &super::config::carry_over(&manifest, &stored, &options.config),
        )?;
        self.preflight(&manifest, options.pull).await?;
        // Said before anything starts, so the log shows what agents will gain or lose even
        // when the new version then fails to come up.
        match self.plan_upgrade(&manifest).await {
            Ok(plan) => match &plan.tools {
                Some(changes) => tracing::info!(
                    plugin = %name, from = %plan.from_version, to = %plan.to_version,
                    "upgrading: {changes}"
                ),
                None => tracing::info!(
                    plugin = %name, from = %plan.from_version, to = %plan.to_version,
                    "upgrading: the image lists no tools; they are known once it runs"
                ),
            },
            Err(e) => tracing::debug!(plugin = %name, "no upgrade plan: {e}"),
        }

        let mut next = old.clone();
        next.manifest = manifest;
        next.overrides = options.overrides;
        next.replicas = options.replicas.unwrap_or(old.replicas);
        // What was accepted before stays on record, with what this upgrade accepted.
        for widening in grant.allowed_more {
            if !next.allowed_more.contains(&widening) {
                next.allowed_more.push(widening);
            }
        }
        let tools = match self.runtime().upgrade_strategy() {
            Upgrade::SideBySide => self.upgrade_side_by_side(&next, &token, &config).await?,
            Upgrade::InPlace => self.upgrade_in_place(&next, &token, &config).await?,
        };
        next.tools = tools_json(&tools);
        next.status = Status::Running;
        next.status_message = None;
        self.store()
            .put_plugin_with_config(&next, &token, &config)
            .await?;
        crash_point("upgrade:recorded");
        self.emit(HostEvent::PluginStatus {
            plugin: name.clone(),
            status: Status::Running,
        });
        self.sync_agents_of(&name).await?;
        self.plugin(&name).await
    }

    /// The new version under the staging name next to the old one; once it lists its tools,
    /// the old one goes and the new one takes its name.
    async fn upgrade_side_by_side(
        &self,
        next: &PluginRecord,
        token: &InternalToken,
        config: &ConfigValues,
    ) -> Result<Vec<Tool>, HostError> {
        let name = &next.manifest.name;
        let canonical = self.config().instance.container_name(name);
        let staging = self.config().instance.staging_container_name(name);
        // A staging container left by an interrupted upgrade is not serving anyone.
        self.runtime().remove(&staging).await?;
        let tools = self
            .bring_up(next, token, Some(staging.clone()), Some(config))
            .await?;
        crash_point("upgrade:staged");
        // The new version is ready: from here on, it replaces the old one.
        self.runtime().remove(&canonical).await?;
        crash_point("upgrade:old-removed");
        self.runtime().rename(&staging, &canonical).await?;
        crash_point("upgrade:renamed");
        Ok(tools)
    }

    /// The plugin's definition replaced where it runs (the engine starts the new version
    /// before it stops the old one, and puts the old one back if the new one fails to run);
    /// if the new version then does not list its tools, the engine is asked to roll back.
    /// Interrupted before the record is written, the next reconcile finds the definition
    /// differing from the record and brings the recorded version back.
    async fn upgrade_in_place(
        &self,
        next: &PluginRecord,
        token: &InternalToken,
        config: &ConfigValues,
    ) -> Result<Vec<Tool>, HostError> {
        let canonical = self.config().instance.container_name(&next.manifest.name);
        let spec = self.spec_with_config(next, token, config).await?;
        self.runtime().ensure_network().await?;
        self.runtime().replace(&spec).await?;
        match self.wait_ready(&next.manifest, &canonical).await {
            Ok(tools) => Ok(tools),
            Err(error) => {
                if let Err(e) = self.runtime().roll_back(&canonical).await {
                    tracing::error!(
                        container = %canonical, error = %e,
                        "cannot roll back an upgrade that did not get ready; the next reconcile \
                         brings the recorded version back"
                    );
                }
                Err(error)
            }
        }
    }

    /// Enables (starts) or disables (stops) a plugin; the choice is kept across restarts of
    /// the host. Its links stay.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginRecord, HostError> {
        {
            let _guard = self.lock(name).await;
            self.installed(name).await?;
            let desired = if enabled {
                Desired::Running
            } else {
                Desired::Stopped
            };
            self.store().set_desired(name, desired).await?;
        }
        self.reconcile_plugin(name).await?;
        self.plugin(name).await
    }

    /// Calls `tool` on `plugin` as `agent` (signed when the plugin requires it), the way the
    /// agent itself would.
    pub async fn call(
        &self,
        plugin: &str,
        agent: &str,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Result<CallToolResult, HostError> {
        let (record, token) = self.installed(plugin).await?;
        let (addr, host) = self
            .target_of(
                &self.config().instance.container_name(plugin),
                record.manifest.mcp_port,
            )
            .await
            .map_err(|_| HostError::NotRunning(plugin.to_owned()))?;
        // Signed as the agent's own URL is, with its current link; the plugin refuses an
        // agent that is not linked to it, saying so.
        let signature = record
            .require_signature
            .then(|| sign_agent(&token, plugin, agent));
        let link = match signature {
            Some(_) => self.store().link_id(agent, plugin).await?,
            None => None,
        };
        let credentials = signature.as_deref().map(|signature| Credentials {
            signature,
            link: link.as_deref(),
        });
        let query = crate::linking::agent_url("", agent, credentials);
        let query = query.trim_start_matches('?');
        probe::call_tool(addr, &host, query, tool, arguments)
            .await
            .map_err(HostError::Call)
    }

    /// An installed plugin's record.
    pub async fn plugin(&self, name: &str) -> Result<PluginRecord, HostError> {
        self.store()
            .get_plugin(name)
            .await?
            .ok_or_else(|| HostError::NotInstalled(name.to_owned()))
    }

    pub(super) async fn installed(
        &self,
        name: &str,
    ) -> Result<(PluginRecord, InternalToken), HostError> {
        let record = self.plugin(name).await?;
        let token = self
            .store()
            .plugin_token(name)
            .await?
            .ok_or_else(|| HostError::NotInstalled(name.to_owned()))?;
        Ok((record, token))
    }

    pub(super) async fn mark_running(&self, name: &str, tools: &[Tool]) -> Result<(), HostError> {
        self.store().set_tools(name, tools_json(tools)).await?;
        self.store().set_status(name, Status::Running, None).await?;
        self.emit(HostEvent::PluginStatus {
            plugin: name.to_owned(),
            status: Status::Running,
        });
        Ok(())
    }
}

fn check_manifest(manifest: &Manifest) -> Result<(), HostError> {
    let diagnostics = manifest.validate();
    if diagnostics.has_errors() {
        return Err(HostError::InvalidManifest(diagnostics));
    }
    Ok(())
}

pub(super) fn tools_json(tools: &[Tool]) -> Vec<serde_json::Value> {
    tools
        .iter()
        .filter_map(|t| serde_json::to_value(t).ok())
        .collect()
}

/// `given` over `old`, field by field: an upgrade keeps the operator's earlier overrides
/// unless it names the field again.
fn merge_overrides(old: &Overrides, given: &Overrides) -> Overrides {
    Overrides {
        network: given.network.clone().or_else(|| old.network.clone()),
        filesystem: given.filesystem.or(old.filesystem),
        spawn: given.spawn.or(old.spawn),
        memory: given.memory.or(old.memory),
        cpus: given.cpus.or(old.cpus),
        pids: given.pids.or(old.pids),
    }
}
