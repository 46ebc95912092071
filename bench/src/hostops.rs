//! Host operations, through [`nanofleet_host::Host`] on the real engine:
//!
//! - **install → ready**: `Host::install` of the `notes` image (create, start, wait for
//!   `tools/list`, persist), median over a few installs under fresh names; each is uninstalled
//!   (timed too) before the next;
//! - **linking** one plugin to 1, then 100, then 1000 further agents (`Host::link` per
//!   agent): the time, and how many `.mcp.json` files were written, counted twice,
//!   independently: the `AgentConfigChanged` events the host emitted, and the files whose
//!   inode or mtime changed among *all* the agents' workspaces (the host writes atomically, so
//!   each write is a new inode). Linking one agent must write one file, not every agent's;
//! - **reconcile** with nothing to do and 3 plugins installed (`hello`, `notes`, `kanban`):
//!   before any agent exists, and again with the 1101 linked agents (whose `.mcp.json` the
//!   pass also checks).
//!
//! The host runs with this run's own instance label and data directory; everything it made is
//! uninstalled, then [`crate::engine::Engine::cleanup`] removes whatever is left.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use nanofleet_build::PluginImage;
use nanofleet_host::{Host, HostConfig, HostEvent, InstallOptions, store::AgentRecord};
use tokio::sync::broadcast::{Receiver, error::TryRecvError};

use crate::{engine::Engine, throughput::median};

/// How many of each operation to time.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Settings {
    /// Installs (each followed by an uninstall).
    pub installs: usize,
    /// Reconcile passes per measurement.
    pub reconciles: usize,
}

/// The agent counts linked, in order (each a fresh set of agents).
pub const LINK_BATCHES: [usize; 3] = [1, 100, 1000];

/// One batch of links.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkRow {
    /// Agents linked in this batch (each once).
    pub agents: usize,
    /// Time for the whole batch, ms.
    pub total_ms: f64,
    /// Per link, ms.
    pub per_link_ms: f64,
    /// `AgentConfigChanged` events emitted during the batch.
    pub events: usize,
    /// `.mcp.json` files (among every agent's) written during the batch.
    pub files_written: usize,
    /// Agents registered at the time (all with a workspace).
    pub agents_registered: usize,
}

/// Idle reconcile passes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReconcileRow {
    /// What was installed and registered.
    pub setting: String,
    /// Each pass, ms.
    pub passes_ms: Vec<f64>,
    /// Median pass, ms.
    pub median_ms: f64,
    /// Whether every pass changed nothing, as it should.
    pub all_noop: bool,
    /// What a pass did anyway, if anything.
    pub actions: Vec<String>,
}

/// Everything this section measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The plugin installed.
    pub install_image: String,
    /// Each install → ready, ms.
    pub install_ms: Vec<f64>,
    /// Median install → ready, ms.
    pub install_ms_median: f64,
    /// Each uninstall, ms.
    pub uninstall_ms: Vec<f64>,
    /// Median uninstall, ms.
    pub uninstall_ms_median: f64,
    /// Registering all the agents (no links yet), ms.
    pub register_ms: f64,
    /// Agents registered.
    pub registered: usize,
    /// `.mcp.json` files written while registering (none: no agent has a link yet).
    pub register_files_written: usize,
    /// The link batches.
    pub links: Vec<LinkRow>,
    /// The idle reconcile passes.
    pub reconcile: Vec<ReconcileRow>,
}

/// Runs the section. `images` are the example images by package.
pub async fn run(
    engine: &Engine,
    images: &[(String, PluginImage)],
    settings: Settings,
    out_dir: &Path,
) -> Result<Outcome> {
    let dir = out_dir.join(format!("hostops-{}", engine.instance));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = measure(engine, images, settings, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn image<'a>(images: &'a [(String, PluginImage)], package: &str) -> Result<&'a PluginImage> {
    images
        .iter()
        .find(|(p, _)| p == package)
        .map(|(_, i)| i)
        .with_context(|| format!("no {package} image"))
}

async fn install(host: &Host, image: &PluginImage, name: &str) -> Result<()> {
    let mut manifest = image.manifest.clone();
    manifest.name = name.to_owned();
    host.install(manifest, InstallOptions::default())
        .await
        .map_err(|e| anyhow!("install {name}: {e}"))?;
    Ok(())
}

async fn measure(
    engine: &Engine,
    images: &[(String, PluginImage)],
    settings: Settings,
    dir: &Path,
) -> Result<Outcome> {
    let mut config = HostConfig::new(dir.join("host"));
    config.api_url = "http://127.0.0.1:9".into();
    config.instance = engine.instance.clone();
    let host = Host::open(config, engine.runtime())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let notes = image(images, "notes")?;

    // Install → ready, then uninstall, a few times under fresh names.
    let (mut install_ms, mut uninstall_ms) = (Vec::new(), Vec::new());
    for i in 0..settings.installs {
        let name = engine.plugin_name(&format!("install-{i}"));
        let t = Instant::now();
        install(&host, notes, &name).await?;
        install_ms.push(ms(t.elapsed()));
        let t = Instant::now();
        host.uninstall(&name, true)
            .await
            .map_err(|e| anyhow!("uninstall {name}: {e}"))?;
        uninstall_ms.push(ms(t.elapsed()));
        eprintln!(
            "  install → ready {:>7.1} ms, uninstall {:>7.1} ms",
            install_ms[i], uninstall_ms[i]
        );
    }

    // Three plugins, then idle reconcile passes before any agent exists.
    let mut installed = Vec::new();
    for package in ["hello", "notes", "kanban"] {
        let name = engine.plugin_name(&format!("ho-{package}"));
        install(&host, image(images, package)?, &name).await?;
        installed.push(name);
    }
    let mut reconcile =
        vec![reconcile_passes(&host, settings.reconciles, "3 plugins, no agents".into()).await?];

    // Agents: 1 + 100 + 1000, each with its own workspace.
    let total: usize = LINK_BATCHES.iter().sum();
    let workspaces: Vec<(String, PathBuf)> = (0..total)
        .map(|i| {
            (
                format!("agent-{i}"),
                dir.join("agents").join(format!("agent-{i}")),
            )
        })
        .collect();
    for (_, ws) in &workspaces {
        std::fs::create_dir_all(ws)?;
    }
    let mut events = host.subscribe();
    let before = snapshot(&workspaces);
    let t = Instant::now();
    for (id, ws) in &workspaces {
        host.register_agent(AgentRecord::new(id, id, ws))
            .await
            .map_err(|e| anyhow!("register {id}: {e}"))?;
    }
    let register_ms = ms(t.elapsed());
    let register_files_written = changed(&before, &snapshot(&workspaces));
    drain(&mut events);

    let plugin = &installed[1];
    let mut links = Vec::new();
    let mut next = 0;
    for batch in LINK_BATCHES {
        let agents = &workspaces[next..next + batch];
        next += batch;
        let before = snapshot(&workspaces);
        let mut emitted = 0;
        let t = Instant::now();
        for (id, _) in agents {
            host.link(id, plugin)
                .await
                .map_err(|e| anyhow!("link {id} to {plugin}: {e}"))?;
            emitted += drain(&mut events);
        }
        let elapsed = t.elapsed();
        let files_written = changed(&before, &snapshot(&workspaces));
        let row = LinkRow {
            agents: batch,
            total_ms: ms(elapsed),
            per_link_ms: ms(elapsed) / batch as f64,
            events: emitted,
            files_written,
            agents_registered: total,
        };
        eprintln!(
            "  link {} agent(s): {:.1} ms ({:.2} ms each), {} event(s), {} .mcp.json written",
            row.agents, row.total_ms, row.per_link_ms, row.events, row.files_written
        );
        links.push(row);
    }
    reconcile.push(
        reconcile_passes(
            &host,
            settings.reconciles,
            format!("3 plugins, {total} agents ({total} linked)"),
        )
        .await?,
    );

    for name in &installed {
        host.uninstall(name, true)
            .await
            .map_err(|e| anyhow!("uninstall {name}: {e}"))?;
    }
    Ok(Outcome {
        install_image: notes.tag.clone(),
        install_ms_median: median(&mut install_ms.clone()),
        install_ms,
        uninstall_ms_median: median(&mut uninstall_ms.clone()),
        uninstall_ms,
        register_ms,
        registered: total,
        register_files_written,
        links,
        reconcile,
    })
}

async fn reconcile_passes(host: &Host, passes: usize, setting: String) -> Result<ReconcileRow> {
    let mut times = Vec::with_capacity(passes);
    let mut actions = Vec::new();
    for _ in 0..passes {
        let t = Instant::now();
        let report = host
            .reconcile()
            .await
            .map_err(|e| anyhow!("reconcile: {e}"))?;
        times.push(ms(t.elapsed()));
        actions.extend(report.actions.iter().map(|a| format!("{a:?}")));
    }
    if times.is_empty() {
        bail!("no reconcile pass was run");
    }
    let row = ReconcileRow {
        setting,
        median_ms: median(&mut times.clone()),
        passes_ms: times,
        all_noop: actions.is_empty(),
        actions,
    };
    eprintln!(
        "  reconcile, {}: median {:.2} ms over {} passes{}",
        row.setting,
        row.median_ms,
        row.passes_ms.len(),
        if row.all_noop { "" } else { " (NOT a no-op!)" }
    );
    Ok(row)
}

/// Counts (and discards) the `AgentConfigChanged` events received so far.
fn drain(events: &mut Receiver<HostEvent>) -> usize {
    let mut n = 0;
    loop {
        match events.try_recv() {
            Ok(HostEvent::AgentConfigChanged { .. }) => n += 1,
            Ok(_) => {}
            Err(TryRecvError::Lagged(missed)) => {
                n += usize::try_from(missed).unwrap_or(usize::MAX);
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => return n,
        }
    }
}

/// `.mcp.json` identity (inode, mtime) of each workspace, where the file exists.
fn snapshot(workspaces: &[(String, PathBuf)]) -> HashMap<PathBuf, (u64, i64, i64)> {
    workspaces
        .iter()
        .filter_map(|(_, ws)| {
            let path = ws.join(".mcp.json");
            let m = std::fs::metadata(&path).ok()?;
            Some((path, (m.ino(), m.mtime(), m.mtime_nsec())))
        })
        .collect()
}

/// Files created or replaced between two snapshots.
fn changed(
    before: &HashMap<PathBuf, (u64, i64, i64)>,
    after: &HashMap<PathBuf, (u64, i64, i64)>,
) -> usize {
    after
        .iter()
        .filter(|(path, id)| before.get(*path) != Some(*id))
        .count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
