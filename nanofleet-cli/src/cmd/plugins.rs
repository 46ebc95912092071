//! Plugin lifecycle: `install`, `ls`, `rm`, `restart`, `upgrade`, `enable`, `disable`,
//! `reconcile`. Progress goes to stderr; data (`ls`, `--json`) to stdout. With `--server`
//! (all but `reconcile`) they go through the server's API, with the same output.

use std::time::Instant;

use nanofleet_host::{
    api::plugins::{InstallRequest, PluginInfo},
    host::{Action, UpgradePlan},
    manifest::Manifest,
    store::Status,
};
use serde::Serialize;
use serde_json::json;

use super::{network_summary, permissions_summary, tool_names, tools_summary};
use crate::{
    cli::{InstallArgs, JsonArg, LsArgs, NameArgs, RmArgs, UpgradeArgs},
    context::Context,
    error::CliError,
    fleet::Fleet,
    output::{self, clean, note, plural},
    progress::Step,
};

/// `install`.
pub async fn install(ctx: &Context, args: &InstallArgs) -> Result<u8, CliError> {
    let fleet = Fleet::new(ctx);
    let manifest = fleet.manifest_of(&args.source, false).await?;
    if let Some(manifest) = &manifest {
        // Before saying anything is being installed.
        match fleet.plugin(&manifest.name).await {
            Ok(_) => return Err(already_installed(&manifest.name, &args.source)),
            Err(failure) if failure.code() == Some("plugin_not_found") => {}
            Err(failure) => return Err(failure.into()),
        }
    }
    let plugin = manifest.as_ref().map_or("the plugin", |m| m.name.as_str());
    let request = InstallRequest {
        egress: args.egress,
        pull: args.pull,
        overrides: args.permissions.overrides(),
        allow_more: args.permissions.allow_more,
        config: super::config::values_of(plugin, &args.config).await?,
        replicas: args.replicas,
        ..InstallRequest::default()
    };
    let step = Step::start(match &manifest {
        Some(manifest) => format!(
            "installing {} {} from {}{}",
            manifest.name,
            clean(&manifest.version),
            clean(&manifest.image),
            on(&fleet)
        ),
        None => format!("installing from {}{}", clean(&args.source), on(&fleet)),
    });
    let started = Instant::now();
    let info = fleet
        .install(&args.source, manifest.clone(), request)
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
    note(format!(
        "ready in {:.1}s, {}",
        started.elapsed().as_secs_f64(),
        tools_summary(&info)
    ));
    note(format!("permissions: {}", permissions_summary(&info)));
    for widening in &info.allowed_more {
        note(format!("granted beyond the manifest: {}", clean(widening)));
    }
    finish(&info, args.json)
}

/// ` on <server>` in remote mode, for progress lines.
fn on(fleet: &Fleet<'_>) -> String {
    fleet
        .server_url()
        .map(|url| format!(" on {url}"))
        .unwrap_or_default()
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

/// `upgrade`.
pub async fn upgrade(ctx: &Context, args: &UpgradeArgs) -> Result<u8, CliError> {
    let fleet = Fleet::new(ctx);
    let Some(manifest) = fleet.manifest_of(&args.source, true).await? else {
        return Err(CliError::new(format!(
            "cannot tell which plugin {} is for; give the manifest's path",
            clean(&args.source)
        )));
    };
    let name = manifest.name.clone();
    let old = fleet.plugin(&name).await.map_err(|failure| {
        if failure.code() == Some("plugin_not_found") {
            not_installed(&name, &args.source)
        } else {
            failure.into()
        }
    })?;
    let request = InstallRequest {
        pull: args.pull,
        overrides: args.permissions.overrides(),
        allow_more: args.permissions.allow_more,
        config: super::config::values_of(&name, &args.config).await?,
        replicas: args.replicas,
        ..InstallRequest::default()
    };
    if let Fleet::Local(_) = &fleet {
        note_tool_plan(ctx, &manifest).await;
    }
    let step = Step::start(format!(
        "upgrading {} {} → {} from {}{}",
        old.name,
        clean(&old.manifest.version),
        clean(&manifest.version),
        clean(&manifest.image),
        on(&fleet)
    ));
    let started = Instant::now();
    let info = fleet.upgrade(&args.source, manifest, request).await?;
    drop(step);
    note(format!(
        "{} {} ready in {:.1}s, {}",
        info.name,
        clean(&info.manifest.version),
        started.elapsed().as_secs_f64(),
        tools_summary(&info)
    ));
    finish(&info, args.json)
}

/// What the upgrade does to the tools, from the new image's tool label, before it starts.
/// Locally only: the image is on this machine's engine.
async fn note_tool_plan(ctx: &Context, manifest: &Manifest) {
    let Ok(host) = ctx.host_for_reading() else {
        return;
    };
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

/// `ls`.
pub async fn ls(ctx: &Context, args: &LsArgs) -> Result<u8, CliError> {
    let plugins = Fleet::new(ctx).plugins().await?;
    if args.quiet {
        // Names alone, for scripts (`for p in $(nanofleet ls -q)`).
        for plugin in plugins {
            output::line(&plugin.name)?;
        }
        return Ok(0);
    }
    print_plugins(&plugins, args.json)
}

fn print_plugins(plugins: &[PluginInfo], json: bool) -> Result<u8, CliError> {
    if json {
        output::json(&plugins)?;
        return Ok(0);
    }
    if plugins.is_empty() {
        output::line("no plugins installed; install one with `nanofleet install <manifest>`")?;
        return Ok(0);
    }
    let mut footnotes = Vec::new();
    let mut engine_unknown = false;
    let table: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            let mut status = p.status.to_string();
            match &p.container {
                Some(container) if p.status == Status::Running && !container.running => {
                    status.push('*');
                    footnotes.push(format!(
                        "* {}: its container is {}; run `nanofleet reconcile` or `nanofleet \
                         restart {}`",
                        p.name,
                        clean(&container.state),
                        p.name
                    ));
                }
                Some(_) => {}
                None => engine_unknown = true,
            }
            if let Some(message) = &p.status_message {
                footnotes.push(format!("{}: {}", p.name, clean(message)));
            }
            vec![
                p.name.clone(),
                clean(&p.manifest.version),
                status,
                p.desired.to_string(),
                tool_names(p).len().to_string(),
                p.linked_agents.len().to_string(),
                network_summary(&p.permissions.network),
            ]
        })
        .collect();
    let mut text = output::table(
        &[
            "NAME", "VERSION", "STATUS", "DESIRED", "TOOLS", "AGENTS", "NETWORK",
        ],
        &table,
    );
    if engine_unknown {
        footnotes.push(
            "the container engine did not answer: STATUS is what the host last observed".to_owned(),
        );
    }
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
    Fleet::new(ctx).uninstall(&args.name, args.purge).await?;
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
    let info = Fleet::new(ctx).restart(&args.name).await?;
    drop(step);
    note(format!(
        "{} is running again after {:.1}s, {}",
        info.name,
        started.elapsed().as_secs_f64(),
        tools_summary(&info)
    ));
    finish(&info, args.json)
}

/// `enable` (`enabled`) or `disable`.
pub async fn set_enabled(ctx: &Context, args: &NameArgs, enabled: bool) -> Result<u8, CliError> {
    let info = Fleet::new(ctx).set_enabled(&args.name, enabled).await?;
    if enabled {
        note(format!(
            "{} is enabled and {}, {}",
            info.name,
            info.status,
            tools_summary(&info)
        ));
    } else {
        note(format!(
            "{} is disabled: stopped, and kept stopped until `nanofleet enable {}`; its links \
             stay",
            info.name, info.name
        ));
    }
    finish(&info, args.json)
}

fn finish(info: &PluginInfo, json: bool) -> Result<u8, CliError> {
    if json {
        output::json(info)?;
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
