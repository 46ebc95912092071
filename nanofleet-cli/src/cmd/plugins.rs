//! Plugin lifecycle: `install`, `ls`, `rm`, `restart`, `upgrade`, `enable`, `disable`,
//! `reconcile`. Progress goes to stderr; data (`ls`, `--json`) to stdout. With `--server`
//! (all but `reconcile`) they go through the server's API, with the same output.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nanofleet_host::{
    Host, InstallOptions,
    discovery::Source,
    host::{Action, UpgradePlan},
    manifest::Manifest,
    runtime::{DockerRuntime, Offline, Runtime},
    store::{PluginRecord, Status},
};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{network_summary, permissions_summary, report_changes, tool_names, tools_summary};
use crate::{
    cli::{InstallArgs, JsonArg, LsArgs, NameArgs, RmArgs, UpgradeArgs},
    context::Context,
    error::CliError,
    output::{self, clean, note, plural},
    progress::Step,
    remote::Server,
    source,
};

/// `install`.
pub async fn install(ctx: &Context, args: &InstallArgs) -> Result<u8, CliError> {
    if let Some(server) = ctx.server() {
        return install_remote(server, args).await;
    }
    let host = ctx.host().await?;
    let manifest = source::load_manifest(&args.source, host.runtime().as_ref()).await?;
    if host.store().get_plugin(&manifest.name).await?.is_some() {
        return Err(already_installed(&manifest.name, &args.source));
    }
    let config = super::config::values_of(&manifest.name, &args.config).await?;
    pull_if_asked(&host, &manifest.image, args.pull).await?;
    let step = installing(&manifest, None);
    let mut events = host.subscribe();
    let started = Instant::now();
    let options = InstallOptions {
        egress: args.egress,
        pull: args.pull,
        overrides: args.permissions.overrides(),
        allow_more: args.permissions.allow_more,
        config,
    };
    let record = host.install(manifest, options).await?;
    drop(step);
    note_ready(&record, started);
    report_changes(&mut events);
    finish(&record, args.json)
}

/// `install` through the server's API.
async fn install_remote(server: &Server, args: &InstallArgs) -> Result<u8, CliError> {
    let (mut body, manifest) = request_body(&args.source, false).await?;
    body["egress"] = args.egress.into();
    body["pull"] = args.pull.into();
    body["overrides"] = serde_json::to_value(args.permissions.overrides()).unwrap_or_default();
    body["allowMore"] = args.permissions.allow_more.into();
    let plugin = manifest.as_ref().map_or("the plugin", |m| m.name.as_str());
    body["config"] = serde_json::to_value(super::config::values_of(plugin, &args.config).await?)
        .unwrap_or_default();
    if let Some(manifest) = &manifest {
        // As locally, before saying anything is being installed.
        match server
            .get::<serde_json::Value>(&["api", "plugins", &manifest.name])
            .await
        {
            Ok(_) => return Err(already_installed(&manifest.name, &args.source)),
            Err(failure) if failure.code() == Some("plugin_not_found") => {}
            Err(failure) => return Err(failure.into()),
        }
    }
    let step = match &manifest {
        Some(manifest) => installing(manifest, Some(server)),
        None => Step::start(format!(
            "installing from {} on {}",
            clean(&args.source),
            server.url()
        )),
    };
    let started = Instant::now();
    let record: PluginRecord = server
        .call(Method::POST, &["api", "plugins"], Some(&body))
        .await
        .map_err(|failure| {
            if failure.code() == Some("already_installed") {
                let name = manifest
                    .as_ref()
                    .map(|m| m.name.clone())
                    .or_else(|| failure.plugin())
                    .unwrap_or_else(|| "?".to_owned());
                already_installed(&name, &args.source)
            } else {
                failure.into()
            }
        })?;
    drop(step);
    note_ready(&record, started);
    finish(&record, args.json)
}

fn already_installed(name: &str, source: &str) -> CliError {
    CliError::new(format!(
        "plugin `{name}` is already installed: use `nanofleet upgrade {}` to change its version",
        clean(source)
    ))
}

fn not_installed(name: &str, source: &str) -> CliError {
    CliError::new(format!(
        "plugin `{name}` is not installed: use `nanofleet install {}` first",
        clean(source)
    ))
}

/// Says what is being installed, with a spinner at a terminal until the step is dropped.
fn installing(manifest: &Manifest, server: Option<&Server>) -> Step {
    Step::start(format!(
        "installing {} {} from {}{}",
        manifest.name,
        clean(&manifest.version),
        clean(&manifest.image),
        server
            .map(|s| format!(" on {}", s.url()))
            .unwrap_or_default()
    ))
}

fn note_ready(record: &PluginRecord, started: Instant) {
    note(format!(
        "ready in {:.1}s, {}",
        started.elapsed().as_secs_f64(),
        tools_summary(record)
    ));
    note(format!("permissions: {}", permissions_summary(record)));
    for widening in &record.allowed_more {
        note(format!("granted beyond the manifest: {}", clean(widening)));
    }
}

/// The body of an install or upgrade request for `source`, and its manifest when known
/// here: a local file is read (and checked) here and sent as is; a URL or an image is read
/// by the server, unless `need_manifest` (an upgrade must name the plugin), when it is read
/// here too (an image from this machine's engine).
async fn request_body(
    text: &str,
    need_manifest: bool,
) -> Result<(serde_json::Value, Option<Manifest>), CliError> {
    match Source::parse(text) {
        Source::Path(_) => {
            let manifest = source::load_manifest(text, &Offline::not_configured()).await?;
            Ok((json!({ "manifest": manifest }), Some(manifest)))
        }
        Source::Url(url) => {
            let manifest = if need_manifest {
                Some(source::load_manifest(text, &Offline::not_configured()).await?)
            } else {
                None
            };
            Ok((json!({ "url": url }), manifest))
        }
        Source::Image(image) => {
            let manifest = if need_manifest {
                let engine: Arc<dyn Runtime> = match DockerRuntime::connect() {
                    Ok(engine) => Arc::new(engine),
                    Err(err) => Arc::new(Offline::new(err)),
                };
                let manifest = source::load_manifest(text, engine.as_ref())
                    .await
                    .map_err(|e| {
                        let hint = "  (with --server, an upgrade reads the image's label on \
                                    this machine to learn the plugin's name; give the \
                                    manifest's path or URL instead)"
                            .to_owned();
                        e.with_details([hint])
                    })?;
                Some(manifest)
            } else {
                None
            };
            Ok((json!({ "image": image }), manifest))
        }
    }
}

/// `upgrade`.
pub async fn upgrade(ctx: &Context, args: &UpgradeArgs) -> Result<u8, CliError> {
    if let Some(server) = ctx.server() {
        return upgrade_remote(server, args).await;
    }
    let host = ctx.host().await?;
    let manifest = source::load_manifest(&args.source, host.runtime().as_ref()).await?;
    let Some(old) = host.store().get_plugin(&manifest.name).await? else {
        return Err(not_installed(&manifest.name, &args.source));
    };
    let config = super::config::values_of(&manifest.name, &args.config).await?;
    pull_if_asked(&host, &manifest.image, args.pull).await?;
    note_tool_plan(&host, &manifest).await;
    let step = upgrading(&old, &manifest, None);
    let mut events = host.subscribe();
    let started = Instant::now();
    let options = InstallOptions {
        egress: false,
        pull: args.pull,
        overrides: args.permissions.overrides(),
        allow_more: args.permissions.allow_more,
        config,
    };
    let record = host.upgrade(manifest, options).await?;
    drop(step);
    note_upgraded(&record, started);
    report_changes(&mut events);
    finish(&record, args.json)
}

/// `upgrade` through the server's API.
async fn upgrade_remote(server: &Server, args: &UpgradeArgs) -> Result<u8, CliError> {
    let (mut body, manifest) = request_body(&args.source, true).await?;
    let Some(manifest) = manifest else {
        return Err(CliError::new(format!(
            "cannot tell which plugin {} is for; give the manifest's path",
            clean(&args.source)
        )));
    };
    body["pull"] = args.pull.into();
    body["overrides"] = serde_json::to_value(args.permissions.overrides()).unwrap_or_default();
    body["allowMore"] = args.permissions.allow_more.into();
    body["config"] =
        serde_json::to_value(super::config::values_of(&manifest.name, &args.config).await?)
            .unwrap_or_default();
    let name = manifest.name.as_str();
    let old: PluginRecord = server
        .get(&["api", "plugins", name])
        .await
        .map_err(|failure| {
            if failure.code() == Some("plugin_not_found") {
                not_installed(name, &args.source)
            } else {
                failure.into()
            }
        })?;
    let step = upgrading(&old, &manifest, Some(server));
    let started = Instant::now();
    let record: PluginRecord = server
        .call(
            Method::POST,
            &["api", "plugins", name, "upgrade"],
            Some(&body),
        )
        .await?;
    drop(step);
    note_upgraded(&record, started);
    finish(&record, args.json)
}

/// Says what is being upgraded, with a spinner at a terminal until the step is dropped.
fn upgrading(old: &PluginRecord, manifest: &Manifest, server: Option<&Server>) -> Step {
    Step::start(format!(
        "upgrading {} {} → {} from {}{}",
        old.name,
        clean(&old.manifest.version),
        clean(&manifest.version),
        clean(&manifest.image),
        server
            .map(|s| format!(" on {}", s.url()))
            .unwrap_or_default()
    ))
}

/// What the upgrade does to the tools, from the new image's tool label, before it starts.
async fn note_tool_plan(host: &Host, manifest: &Manifest) {
    match host.plan_upgrade(manifest).await {
        Ok(UpgradePlan {
            tools: Some(changes),
            ..
        }) if changes.removed.is_empty() => note(format!("  {changes}")),
        Ok(UpgradePlan {
            tools: Some(changes),
            ..
        }) => note(format!(
            "  {changes} (agents calling a removed tool will get an error)"
        )),
        Ok(UpgradePlan { tools: None, .. }) => note(
            "  the image lists no tools (not built by `nanofleet build`); they are known once it runs",
        ),
        // The upgrade itself reports what is wrong.
        Err(_) => {}
    }
}

fn note_upgraded(record: &PluginRecord, started: Instant) {
    note(format!(
        "{} {} ready in {:.1}s, {}",
        record.name,
        clean(&record.manifest.version),
        started.elapsed().as_secs_f64(),
        tools_summary(record)
    ));
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

/// A plugin as `ls --json` shows it: the stored record, the agents linked to it and its
/// container as the engine sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginRow {
    #[serde(flatten)]
    record: PluginRecord,
    /// What the plugin runs with: its manifest's permissions and the operator's overrides.
    permissions: nanofleet_host::manifest::Permissions,
    linked_agents: Vec<String>,
    /// `null` when the engine has no container for it; absent when the engine was not asked
    /// (with `--server`: the API does not report containers).
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Option<ContainerRow>>,
}

/// The engine's view of a plugin's container.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerRow {
    name: String,
    running: bool,
    state: String,
}

/// The installed plugins, as the server's API lists them.
pub async fn remote_plugins(server: &Server) -> Result<Vec<PluginRecord>, CliError> {
    #[derive(Deserialize)]
    struct PluginList {
        plugins: Vec<PluginRecord>,
    }
    let list: PluginList = server.get(&["api", "plugins"]).await?;
    Ok(list.plugins)
}

/// `ls`.
pub async fn ls(ctx: &Context, args: &LsArgs) -> Result<u8, CliError> {
    if args.quiet {
        // Names alone, for scripts (`for p in $(nanofleet ls -q)`): the store is enough.
        let plugins = match ctx.server() {
            Some(server) => remote_plugins(server).await?,
            None => ctx.store()?.list_plugins().await?,
        };
        for plugin in plugins {
            output::line(&plugin.name)?;
        }
        return Ok(0);
    }
    let rows = match ctx.server() {
        Some(server) => remote_rows(server).await?,
        None => local_rows(ctx).await?,
    };
    print_plugins(&rows, args.json)
}

async fn local_rows(ctx: &Context) -> Result<Vec<PluginRow>, CliError> {
    let host = ctx.host().await?;
    let plugins = host.store().list_plugins().await?;
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for link in host.store().list_links().await? {
        links.entry(link.plugin).or_default().push(link.agent_id);
    }
    let instance = &ctx.config().instance;
    let mut containers: BTreeMap<String, ContainerRow> = host
        .runtime()
        .list_managed()
        .await?
        .into_iter()
        .filter(|c| {
            instance.owns(c.instance.as_deref()) && c.name == instance.container_name(&c.plugin)
        })
        .map(|c| {
            let row = ContainerRow {
                name: c.name,
                running: c.running,
                state: c.status,
            };
            (c.plugin, row)
        })
        .collect();
    Ok(plugins
        .into_iter()
        .map(|record| PluginRow {
            permissions: record.permissions(),
            linked_agents: links.remove(&record.name).unwrap_or_default(),
            container: Some(containers.remove(&record.name)),
            record,
        })
        .collect())
}

async fn remote_rows(server: &Server) -> Result<Vec<PluginRow>, CliError> {
    let plugins = remote_plugins(server).await?;
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for agent in super::agents::remote_agents(server).await? {
        for plugin in agent.plugins {
            links
                .entry(plugin)
                .or_default()
                .push(agent.agent.id.clone());
        }
    }
    Ok(plugins
        .into_iter()
        .map(|record| PluginRow {
            permissions: record.permissions(),
            linked_agents: links.remove(&record.name).unwrap_or_default(),
            container: None,
            record,
        })
        .collect())
}

fn print_plugins(rows: &[PluginRow], json: bool) -> Result<u8, CliError> {
    if json {
        output::json(&rows)?;
        return Ok(0);
    }
    if rows.is_empty() {
        output::line("no plugins installed; install one with `nanofleet install <manifest>`")?;
        return Ok(0);
    }
    let mut footnotes = Vec::new();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let r = &row.record;
            let mut status = r.status.to_string();
            // Only when the engine was asked: remotely, the server's reconciler sees to it.
            if let Some(container) = &row.container
                && r.status == Status::Running
                && !container.as_ref().is_some_and(|c| c.running)
            {
                status.push('*');
                let state = container.as_ref().map_or("missing", |c| c.state.as_str());
                footnotes.push(format!(
                    "* {}: its container is {}; run `nanofleet reconcile` or `nanofleet restart {}`",
                    r.name,
                    clean(state),
                    r.name
                ));
            }
            if let Some(message) = &r.status_message {
                footnotes.push(format!("{}: {}", r.name, clean(message)));
            }
            vec![
                r.name.clone(),
                clean(&r.manifest.version),
                status,
                r.desired.to_string(),
                tool_names(r).len().to_string(),
                row.linked_agents.len().to_string(),
                network_summary(&r.permissions().network),
            ]
        })
        .collect();
    let mut text = output::table(
        &[
            "NAME", "VERSION", "STATUS", "DESIRED", "TOOLS", "AGENTS", "NETWORK",
        ],
        &table,
    );
    if !footnotes.is_empty() {
        text.push('\n');
        for footnote in footnotes {
            text.push_str(&footnote);
            text.push('\n');
        }
    }
    output::raw(&text)?;
    Ok(0)
}

/// `rm`.
pub async fn rm(ctx: &Context, args: &RmArgs) -> Result<u8, CliError> {
    if let Some(server) = ctx.server() {
        server
            .call_empty(
                Method::DELETE,
                &["api", "plugins", &args.name],
                &[("purge", args.purge.to_string())],
                None,
            )
            .await?;
    } else {
        let host = ctx.host().await?;
        let mut events = host.subscribe();
        host.uninstall(&args.name, args.purge).await?;
        report_changes(&mut events);
    }
    let volume = ctx.config().instance.volume_name(&args.name);
    if args.json {
        output::json(&json!({
            "removed": args.name,
            "volume": volume,
            "volumeRemoved": args.purge,
        }))?;
    }
    if args.purge {
        note(format!(
            "removed {} and its data volume {volume}: its data is gone",
            args.name
        ));
    } else {
        note(format!(
            "removed {}; its data volume {volume} is kept for a reinstall (delete it with \
             `docker volume rm {volume}`, or pass --purge next time)",
            args.name
        ));
    }
    Ok(0)
}

/// `restart`.
pub async fn restart(ctx: &Context, args: &NameArgs) -> Result<u8, CliError> {
    let step = Step::start(format!("restarting {}", clean(&args.name)));
    let started = Instant::now();
    let record = match ctx.server() {
        Some(server) => {
            server
                .call(
                    Method::POST,
                    &["api", "plugins", &args.name, "restart"],
                    None,
                )
                .await?
        }
        None => {
            let host = ctx.host().await?;
            let mut events = host.subscribe();
            let record = host.restart(&args.name).await?;
            report_changes(&mut events);
            record
        }
    };
    drop(step);
    note(format!(
        "{} is running again after {:.1}s, {}",
        record.name,
        started.elapsed().as_secs_f64(),
        tools_summary(&record)
    ));
    finish(&record, args.json)
}

/// `enable` (`enabled`) or `disable`.
pub async fn set_enabled(ctx: &Context, args: &NameArgs, enabled: bool) -> Result<u8, CliError> {
    let record = match ctx.server() {
        Some(server) => {
            let verb = if enabled { "enable" } else { "disable" };
            server
                .call(Method::POST, &["api", "plugins", &args.name, verb], None)
                .await?
        }
        None => {
            let host = ctx.host().await?;
            let mut events = host.subscribe();
            let record = host.set_enabled(&args.name, enabled).await?;
            report_changes(&mut events);
            record
        }
    };
    if enabled {
        note(format!(
            "{} is enabled and {}, {}",
            record.name,
            record.status,
            tools_summary(&record)
        ));
    } else {
        note(format!(
            "{} is disabled: stopped, and kept stopped until `nanofleet enable {}`; its links \
             stay",
            record.name, record.name
        ));
    }
    finish(&record, args.json)
}

fn finish(record: &PluginRecord, json: bool) -> Result<u8, CliError> {
    if json {
        output::json(record)?;
    }
    Ok(0)
}

/// One reconcile action, as `reconcile --json` shows it.
#[derive(Debug, Serialize)]
struct ActionRow {
    action: &'static str,
    target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl ActionRow {
    fn new(action: &Action) -> Self {
        let (name, target, error) = match action {
            Action::Created(p) => ("created", p, None),
            Action::Recreated(p) => ("recreated", p, None),
            Action::Started(p) => ("started", p, None),
            Action::Stopped(p) => ("stopped", p, None),
            Action::RemovedOrphan(c) => ("removed-orphan", c, None),
            Action::RolledBack(p) => ("rolled-back", p, None),
            Action::Removed(p) => ("finished-removal", p, None),
            Action::LinkedAgent(a) => ("rewrote-mcp-json", a, None),
            Action::Failed { plugin, error } => ("failed", plugin, Some(error.clone())),
            Action::AgentFailed { agent, error } => ("agent-failed", agent, Some(error.clone())),
            other => {
                return Self {
                    action: "other",
                    target: format!("{other:?}"),
                    error: None,
                };
            }
        };
        Self {
            action: name,
            target: target.clone(),
            error,
        }
    }

    fn text(&self) -> String {
        let target = clean(&self.target);
        match (self.action, &self.error) {
            ("created", _) => format!("created the missing container of {target}"),
            ("recreated", _) => {
                format!("recreated the container of {target} (its configuration drifted)")
            }
            ("started", _) => format!("started {target}"),
            ("stopped", _) => format!("stopped {target} (disabled)"),
            ("removed-orphan", _) => format!("removed orphan container {target}"),
            ("rolled-back", _) => format!("rolled back the interrupted install of {target}"),
            ("rewrote-mcp-json", _) => format!("rewrote the .mcp.json of agent {target}"),
            ("failed", Some(error)) => format!("failed {target}: {}", clean(error)),
            _ => target,
        }
    }
}

/// `reconcile`.
pub async fn reconcile(ctx: &Context, args: &JsonArg) -> Result<u8, CliError> {
    let host = ctx.host().await?;
    let report = host.reconcile().await?;
    let rows: Vec<ActionRow> = report.actions.iter().map(ActionRow::new).collect();
    let failed = rows.iter().filter(|r| r.action == "failed").count();
    if args.json {
        output::json(&serde_json::json!({ "actions": rows, "failed": failed }))?;
    } else if rows.is_empty() {
        output::line("nothing to do")?;
    } else {
        for row in &rows {
            output::line(row.text())?;
        }
    }
    if failed > 0 {
        return Err(CliError::new(format!(
            "{} could not be converged; the others were",
            plural(failed, "plugin", "plugins")
        )));
    }
    Ok(0)
}
