//! The one operations layer under every command that reads or changes the fleet: the host
//! opened on this machine, or a `nanofleet serve` reached through its API (`--server`).
//!
//! Both answer in the API's own types (`nanofleet_host::api`: [`PluginInfo`], [`AgentInfo`],
//! [`ConfigList`], …), built locally by the same functions the API's handlers call, and fail
//! with the same error codes ([`Failure::code`]). A command formats one answer, so it cannot
//! behave differently in the two modes.
//!
//! What differs is only where the work happens: locally, a manifest is read and an image
//! pulled here, and the host's events (an agent's client file rewritten, a warning) are
//! printed as they happen; remotely the server does both.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::body::Bytes;
use futures::{StreamExt as _, stream::BoxStream};
use nanofleet_host::{
    Host, HostError,
    api::{
        agents::{AgentInfo, AgentList, AgentRequest},
        config::{ConfigList, ConfigPatch},
        keys::{KeyList, KeyValue},
        plugins::{InstallRequest, PluginInfo, PluginList},
        tokens::{AuditList, NewToken, TokenList, TokenRequest, new_token},
    },
    discovery::Source,
    host::config_entries,
    manifest::Manifest,
    policy::Policy,
    runtime::{LogOptions, Offline},
    store::{AuditEntry, StoreError, TokenRecord},
};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::{
    cmd::report_changes,
    context::Context,
    error::CliError,
    output::{clean, note},
    progress::Step,
    remote::{Failure, Server},
    source,
};

/// Where a command's operations go.
pub enum Fleet<'a> {
    /// The store and engine of this machine.
    Local(Local<'a>),
    /// A `nanofleet serve` through its API.
    Remote(&'a Server),
}

/// The host on this machine, opened on first use: for reading, the store (and the engine if
/// it answers); for changes, the host that owns the data directory (refused while a `serve`
/// runs on it, see [`crate::writer`]).
pub struct Local<'a> {
    ctx: &'a Context,
    reader: OnceCell<Host>,
    writer: OnceCell<Host>,
}

/// A page of a plugin's output: chunks of text, each ending with a newline.
pub type LogStream = BoxStream<'static, Result<Bytes, CliError>>;

impl<'a> Fleet<'a> {
    /// The fleet the global options name: `--server`, else this machine.
    pub fn new(ctx: &'a Context) -> Self {
        match ctx.server() {
            Some(server) => Self::Remote(server),
            None => Self::Local(Local {
                ctx,
                reader: OnceCell::new(),
                writer: OnceCell::new(),
            }),
        }
    }

    /// The server's URL in remote mode, for messages (`… on http://…`).
    pub fn server_url(&self) -> Option<&str> {
        match self {
            Self::Local(_) => None,
            Self::Remote(server) => Some(server.url()),
        }
    }

    // ---- plugins ----

    /// Every installed plugin, by name.
    pub async fn plugins(&self) -> Result<Vec<PluginInfo>, Failure> {
        match self {
            Self::Local(local) => Ok(PluginInfo::list(local.reader().await?).await?),
            Self::Remote(server) => {
                let list: PluginList = server.get(&["api", "plugins"]).await?;
                Ok(list.plugins)
            }
        }
    }

    /// One installed plugin; `plugin_not_found` when there is none.
    pub async fn plugin(&self, name: &str) -> Result<PluginInfo, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.reader().await?;
                let record = host.plugin(name).await?;
                Ok(PluginInfo::of(host, record).await?)
            }
            Self::Remote(server) => Ok(server.get(&["api", "plugins", name]).await?),
        }
    }

    /// The manifest at `source` when it can be known here before installing: always
    /// locally (read through this machine's engine for an image); remotely a file, or with
    /// `need` a URL or an image of this machine, which the server would otherwise read.
    pub async fn manifest_of(
        &self,
        source: &str,
        need: bool,
    ) -> Result<Option<Manifest>, CliError> {
        match (self, Source::parse(source)) {
            (Self::Local(local), _) => {
                let host = local.writer().await?;
                Ok(Some(
                    source::load_manifest(source, host.runtime().as_ref()).await?,
                ))
            }
            (Self::Remote(_), Source::Path(_)) => Ok(Some(
                source::load_manifest(source, &Offline::not_configured()).await?,
            )),
            (Self::Remote(_), Source::Url(_)) if need => Ok(Some(
                source::load_manifest(source, &Offline::not_configured()).await?,
            )),
            (Self::Remote(_), Source::Image(_)) if need => {
                // The image's label is read on this machine's engine, whatever runs plugins.
                let engine =
                    crate::context::engine_or_offline(nanofleet_host::runtime::Engine::Docker);
                let manifest = source::load_manifest(source, engine.as_ref())
                    .await
                    .map_err(|e| {
                        e.with_details(["  (with --server, an upgrade reads the image's label \
                                         on this machine to learn the plugin's name; give the \
                                         manifest's path or URL instead)"
                            .to_owned()])
                    })?;
                Ok(Some(manifest))
            }
            (Self::Remote(_), _) => Ok(None),
        }
    }

    /// Installs from `source` (its manifest, when [`manifest_of`](Self::manifest_of) read
    /// it) with the options of `request`, and waits until the plugin lists its tools.
    pub async fn install(
        &self,
        source: &str,
        manifest: Option<Manifest>,
        mut request: InstallRequest,
    ) -> Result<PluginInfo, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                let manifest = match manifest {
                    Some(manifest) => manifest,
                    None => source::load_manifest(source, host.runtime().as_ref()).await?,
                };
                pull_if_asked(host, &manifest.image, request.pull).await?;
                let mut events = host.subscribe();
                let record = host.install(manifest, request.options()).await?;
                report_changes(&mut events);
                Ok(PluginInfo::of(host, record).await?)
            }
            Self::Remote(server) => {
                set_source(&mut request, source, manifest.as_ref())?;
                let body = to_body(&request)?;
                Ok(server
                    .call(Method::POST, &["api", "plugins"], Some(&body))
                    .await?)
            }
        }
    }

    /// Upgrades the installed plugin `manifest` names to it (read from `source`), with the
    /// options of `request`; the old version serves until the new one is ready.
    pub async fn upgrade(
        &self,
        source: &str,
        manifest: Manifest,
        mut request: InstallRequest,
    ) -> Result<PluginInfo, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                pull_if_asked(host, &manifest.image, request.pull).await?;
                let mut events = host.subscribe();
                let record = host.upgrade(manifest, request.options()).await?;
                report_changes(&mut events);
                Ok(PluginInfo::of(host, record).await?)
            }
            Self::Remote(server) => {
                let name = manifest.name.clone();
                set_source(&mut request, source, Some(&manifest))?;
                let body = to_body(&request)?;
                Ok(server
                    .call(
                        Method::POST,
                        &["api", "plugins", &name, "upgrade"],
                        Some(&body),
                    )
                    .await?)
            }
        }
    }

    /// Uninstalls a plugin; with `purge`, its data volume too.
    pub async fn uninstall(&self, name: &str, purge: bool) -> Result<(), Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                let mut events = host.subscribe();
                host.uninstall(name, purge).await?;
                report_changes(&mut events);
                Ok(())
            }
            Self::Remote(server) => Ok(server
                .call_empty(
                    Method::DELETE,
                    &["api", "plugins", name],
                    &[("purge", purge.to_string())],
                    None,
                )
                .await?),
        }
    }

    /// Restarts a plugin, whatever state its container is in.
    pub async fn restart(&self, name: &str) -> Result<PluginInfo, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                let mut events = host.subscribe();
                let record = host.restart(name).await?;
                report_changes(&mut events);
                Ok(PluginInfo::of(host, record).await?)
            }
            Self::Remote(server) => Ok(server
                .call(Method::POST, &["api", "plugins", name, "restart"], None)
                .await?),
        }
    }

    /// Enables (starts, and keeps running) or disables (stops, and keeps stopped) a plugin.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginInfo, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                let mut events = host.subscribe();
                let record = host.set_enabled(name, enabled).await?;
                report_changes(&mut events);
                Ok(PluginInfo::of(host, record).await?)
            }
            Self::Remote(server) => {
                let verb = if enabled { "enable" } else { "disable" };
                Ok(server
                    .call(Method::POST, &["api", "plugins", name, verb], None)
                    .await?)
            }
        }
    }

    /// A plugin's container output as `options` select it; with `follow`, the stream goes
    /// on until the container stops.
    pub async fn logs(
        &self,
        name: &str,
        options: LogOptions,
        follow: bool,
    ) -> Result<LogStream, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                // "not installed" rather than the engine's "no such container".
                host.plugin(name).await?;
                let container = host.config().instance.container_name(name);
                let with_newline = |mut line: String| {
                    if !line.ends_with('\n') {
                        line.push('\n');
                    }
                    Bytes::from(line)
                };
                if follow {
                    let lines = host.runtime().follow_logs(&container, options).await?;
                    Ok(lines
                        .map(move |line| line.map(with_newline).map_err(CliError::from))
                        .boxed())
                } else {
                    let lines = host.runtime().logs(&container, options).await?;
                    Ok(futures::stream::iter(lines.into_iter().map(with_newline).map(Ok)).boxed())
                }
            }
            Self::Remote(server) => {
                let mut query = vec![
                    ("tail", options.tail.to_string()),
                    ("follow", follow.to_string()),
                    ("timestamps", options.timestamps.to_string()),
                ];
                if let Some(since) = options.since {
                    query.push(("since", since.to_string()));
                }
                let response = server
                    .stream(&["api", "plugins", name, "logs"], &query)
                    .await?;
                let server_url = server.url().to_owned();
                Ok(response
                    .bytes_stream()
                    .map(move |chunk| {
                        chunk.map_err(|e| {
                            CliError::new(format!(
                                "the log stream from {server_url} broke off: {e}"
                            ))
                        })
                    })
                    .boxed())
            }
        }
    }

    // ---- settings ----

    /// A plugin's settings, with the values it runs with (sensitive ones never shown).
    pub async fn settings(&self, plugin: &str) -> Result<ConfigList, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.reader().await?;
                let record = host.plugin(plugin).await?;
                let values = host.store().plugin_config(plugin).await?;
                Ok(ConfigList {
                    plugin: plugin.to_owned(),
                    settings: config_entries(&record.manifest.config, &values),
                })
            }
            Self::Remote(server) => Ok(server.get(&["api", "plugins", plugin, "config"]).await?),
        }
    }

    /// Sets (`Some`) or removes (`None`) settings of a plugin, which then runs with them.
    pub async fn configure(
        &self,
        plugin: &str,
        values: BTreeMap<String, Option<Value>>,
    ) -> Result<ConfigList, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.writer().await?;
                let settings = host.configure(plugin, values).await?;
                Ok(ConfigList {
                    plugin: plugin.to_owned(),
                    settings,
                })
            }
            Self::Remote(server) => {
                let body = to_body(&ConfigPatch { values })?;
                Ok(server
                    .call(
                        Method::PATCH,
                        &["api", "plugins", plugin, "config"],
                        Some(&body),
                    )
                    .await?)
            }
        }
    }

    // ---- agents ----

    /// Every registered agent with its links.
    pub async fn agents(&self) -> Result<Vec<AgentInfo>, Failure> {
        match self {
            Self::Local(local) => Ok(AgentInfo::list(local.reader().await?).await?),
            Self::Remote(server) => {
                let list: AgentList = server.get(&["api", "agents"]).await?;
                Ok(list.agents)
            }
        }
    }

    /// The agent `id`; `None` when it is not registered.
    pub async fn agent(&self, id: &str) -> Result<Option<AgentInfo>, Failure> {
        match self {
            Self::Local(local) => Ok(AgentInfo::get(local.reader().await?, id).await?),
            Self::Remote(server) => match server.get(&["api", "agents", id]).await {
                Ok(agent) => Ok(Some(agent)),
                Err(failure) if failure.code() == Some("agent_not_found") => Ok(None),
                Err(failure) => Err(failure),
            },
        }
    }

    /// Registers an agent (or updates the one with that id) and writes its client file.
    pub async fn register_agent(&self, request: AgentRequest) -> Result<AgentInfo, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.agent_writer().await?;
                let record = nanofleet_host::store::AgentRecord::new(
                    &request.id,
                    request.name,
                    &request.workspace_dir,
                )
                .with_client(request.client);
                let mut events = host.subscribe();
                host.register_agent(record).await?;
                report_changes(&mut events);
                AgentInfo::get(host, &request.id)
                    .await?
                    .ok_or_else(|| vanished(&request.id))
            }
            Self::Remote(server) => {
                let body = to_body(&request)?;
                Ok(server
                    .call(Method::POST, &["api", "agents"], Some(&body))
                    .await?)
            }
        }
    }

    /// Removes an agent; the host's entries leave its client file.
    pub async fn remove_agent(&self, id: &str) -> Result<(), Failure> {
        match self {
            Self::Local(local) => {
                let host = local.agent_writer().await?;
                let mut events = host.subscribe();
                host.remove_agent(id).await?;
                report_changes(&mut events);
                Ok(())
            }
            Self::Remote(server) => Ok(server
                .call_empty(Method::DELETE, &["api", "agents", id], &[], None)
                .await?),
        }
    }

    /// Links an agent to a plugin (idempotent); returns how many client files changed, as
    /// far as this side sees (the server's own changes are not reported back).
    pub async fn link(&self, agent: &str, plugin: &str) -> Result<usize, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.agent_writer().await?;
                let mut events = host.subscribe();
                host.link(agent, plugin).await?;
                Ok(report_changes(&mut events))
            }
            Self::Remote(server) => {
                server
                    .call_empty(
                        Method::PUT,
                        &["api", "agents", agent, "links", plugin],
                        &[],
                        None,
                    )
                    .await?;
                Ok(0)
            }
        }
    }

    /// Unlinks an agent from a plugin; `link_not_found` when they were not linked.
    pub async fn unlink(&self, agent: &str, plugin: &str) -> Result<usize, Failure> {
        match self {
            Self::Local(local) => {
                let host = local.agent_writer().await?;
                if host.store().get_agent(agent).await?.is_none() {
                    return Err(HostError::UnknownAgent(agent.to_owned()).into());
                }
                let mut events = host.subscribe();
                let existed = host.unlink(agent, plugin).await?;
                let changed = report_changes(&mut events);
                if !existed {
                    return Err(Failure::local(
                        "link_not_found",
                        CliError::new(format!(
                            "agent `{agent}` is not linked to plugin `{plugin}`"
                        )),
                    ));
                }
                Ok(changed)
            }
            Self::Remote(server) => {
                server
                    .call_empty(
                        Method::DELETE,
                        &["api", "agents", agent, "links", plugin],
                        &[],
                        None,
                    )
                    .await?;
                Ok(0)
            }
        }
    }

    // ---- API keys ----

    /// The names of the API keys that are set.
    pub async fn key_names(&self) -> Result<Vec<String>, Failure> {
        match self {
            Self::Local(local) => Ok(local.reader().await?.store().api_key_names().await?),
            Self::Remote(server) => {
                let list: KeyList = server.get(&["api", "keys"]).await?;
                Ok(list.keys)
            }
        }
    }

    /// Sets (or replaces) an API key.
    pub async fn set_key(&self, name: &str, value: KeyValue) -> Result<(), Failure> {
        match self {
            Self::Local(local) => {
                let store = local.reader().await?.store();
                Ok(store.set_api_key(name, &value.value).await?)
            }
            Self::Remote(server) => {
                let body = to_body(&value)?;
                drop(value);
                Ok(server
                    .call_empty(Method::PUT, &["api", "keys", name], &[], Some(&body))
                    .await?)
            }
        }
    }

    /// Removes an API key; `key_not_found` when none of that name is set.
    pub async fn remove_key(&self, name: &str) -> Result<(), Failure> {
        match self {
            Self::Local(local) => {
                if local.reader().await?.store().delete_api_key(name).await? {
                    Ok(())
                } else {
                    Err(Failure::local(
                        "key_not_found",
                        CliError::new(format!("no API key named `{name}` is set")),
                    ))
                }
            }
            Self::Remote(server) => Ok(server
                .call_empty(Method::DELETE, &["api", "keys", name], &[], None)
                .await?),
        }
    }

    // ---- tokens, audit, policy ----

    /// Creates a scoped token; the answer holds its value, shown this once.
    pub async fn create_token(&self, request: TokenRequest) -> Result<NewToken, Failure> {
        match self {
            Self::Local(local) => {
                let token = new_token();
                let store = local.reader().await?.store();
                let record = store
                    .create_token(&request.name, request.scope, &token)
                    .await?;
                Ok(NewToken { record, token })
            }
            Self::Remote(server) => {
                let body = to_body(&request)?;
                Ok(server
                    .call(Method::POST, &["api", "tokens"], Some(&body))
                    .await?)
            }
        }
    }

    /// The scoped tokens (never their values).
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, Failure> {
        match self {
            Self::Local(local) => Ok(local.reader().await?.store().list_tokens().await?),
            Self::Remote(server) => {
                let list: TokenList = server.get(&["api", "tokens"]).await?;
                Ok(list.tokens)
            }
        }
    }

    /// Revokes a token; `token_not_found` when none has that name.
    pub async fn revoke_token(&self, name: &str) -> Result<(), Failure> {
        match self {
            Self::Local(local) => {
                if local.reader().await?.store().revoke_token(name).await? {
                    Ok(())
                } else {
                    Err(Failure::local(
                        "token_not_found",
                        CliError::new(format!("no token named `{name}`")),
                    ))
                }
            }
            Self::Remote(server) => Ok(server
                .call_empty(Method::DELETE, &["api", "tokens", name], &[], None)
                .await?),
        }
    }

    /// The newest `limit` entries of the audit log, newest first.
    pub async fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, Failure> {
        match self {
            Self::Local(local) => Ok(local.reader().await?.store().audit_log(limit).await?),
            Self::Remote(server) => {
                let list: AuditList = server
                    .get_query(&["api", "audit"], &[("limit", limit.to_string())])
                    .await?;
                Ok(list.entries)
            }
        }
    }

    /// The operator's policy.
    pub async fn policy(&self) -> Result<Policy, Failure> {
        match self {
            Self::Local(local) => Ok(local.reader().await?.store().policy().await?),
            Self::Remote(server) => Ok(server.get(&["api", "policy"]).await?),
        }
    }

    /// Replaces the operator's policy, which applies to the next install or upgrade.
    pub async fn set_policy(&self, policy: &Policy) -> Result<Policy, Failure> {
        match self {
            Self::Local(local) => {
                policy.validate().map_err(|why| {
                    Failure::local(
                        "invalid_policy",
                        CliError::usage(format!("the policy is not valid: {why}")),
                    )
                })?;
                let store = local.reader().await?.store();
                store.set_policy(policy).await?;
                Ok(store.policy().await?)
            }
            Self::Remote(server) => {
                let body = to_body(policy)?;
                Ok(server
                    .call(Method::PUT, &["api", "policy"], Some(&body))
                    .await?)
            }
        }
    }
}

impl Local<'_> {
    /// The store, with the engine when it answers: enough for every listing.
    async fn reader(&self) -> Result<&Host, CliError> {
        self.reader
            .get_or_try_init(|| async { self.ctx.host_for_reading() })
            .await
    }

    /// The host with its engine checked, owning the data directory.
    async fn writer(&self) -> Result<&Host, CliError> {
        self.writer.get_or_try_init(|| self.ctx.host()).await
    }

    /// The host owning the data directory, for agents and links, which need the engine only
    /// in development mode.
    async fn agent_writer(&self) -> Result<&Host, CliError> {
        self.writer
            .get_or_try_init(|| async { self.ctx.host_without_engine() })
            .await
    }
}

/// Pulls `image` with progress on stderr when `pull` and it is not on this machine; the
/// host never pulls unless asked.
async fn pull_if_asked(host: &Host, image: &str, pull: bool) -> Result<(), CliError> {
    if !pull || host.runtime().image_exists(image).await? {
        return Ok(());
    }
    let step = Step::start(format!("pulling {}", clean(image)));
    // The engine repeats a status for every chunk; show each change once.
    let last = Mutex::new(String::new());
    let shown = clean(image);
    let progress = |line: String| {
        if let Ok(mut last) = last.lock()
            && *last != line
        {
            if step.animated() {
                step.set(format!("pulling {shown}: {}", clean(&line)));
            } else {
                note(format!("  {}", clean(&line)));
            }
            *last = line;
        }
    };
    host.runtime().pull(image, &progress).await?;
    Ok(())
}

/// Puts the source in the request the way the API takes it: a file's manifest inline (the
/// server cannot read this machine's files), a URL or an image reference as such.
fn set_source(
    request: &mut InstallRequest,
    source: &str,
    manifest: Option<&Manifest>,
) -> Result<(), CliError> {
    match Source::parse(source) {
        Source::Path(_) => {
            let manifest = manifest.ok_or_else(|| {
                CliError::new(format!("cannot read the manifest at {}", clean(source)))
            })?;
            request.manifest = Some(
                serde_json::to_value(manifest)
                    .map_err(|e| CliError::new(format!("cannot encode the manifest: {e}")))?,
            );
        }
        Source::Url(url) => request.url = Some(url),
        Source::Image(image) => request.image = Some(image),
    }
    Ok(())
}

fn to_body(value: &impl serde::Serialize) -> Result<Value, CliError> {
    serde_json::to_value(value)
        .map_err(|e| CliError::new(format!("cannot encode the request as JSON: {e}")))
}

fn vanished(id: &str) -> Failure {
    CliError::new(format!("agent `{}` vanished meanwhile", clean(id))).into()
}

impl From<HostError> for Failure {
    fn from(error: HostError) -> Self {
        Self::local(error.code(), error.into())
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::local(error.code(), error.into())
    }
}

impl From<nanofleet_host::runtime::RuntimeError> for Failure {
    fn from(error: nanofleet_host::runtime::RuntimeError) -> Self {
        Self::local(error.code(), error.into())
    }
}
