//! Host operations, through [`nanofleet_host::Host`] on the real engine:
//!
//! - **install → ready**, step by step, beside **the engine's own create + start** of the
//!   same container: `Host::install` of the `notes` image under fresh names, its steps timed
//!   through the host's [`INSTALL_STEP_SPAN`] spans, alternating with a plain
//!   `Runtime::create_and_start` of the spec the host made for it (under another fresh name)
//!   so both see the same engine;
//! - **a fleet**: `plugins` plugins (the `hello` image) and `agents` agents, each agent linked
//!   to one plugin. The first 1 + 100 + 1000 agents are linked to one plugin in batches, and
//!   for each batch the bench counts how many `.mcp.json` files were written, twice,
//!   independently: the `AgentConfigChanged` events the host emitted, and the files whose
//!   inode or mtime changed among *all* the agents' workspaces (the host writes atomically,
//!   so each write is a new inode). Linking one agent must write one file, not every agent's;
//! - **reconcile**: passes with nothing to do, before any agent exists and with the whole
//!   fleet linked; then passes with one thing changed (an agent's file edited by hand, a
//!   plugin's container removed by hand), which must do that one thing and only that.
//!
//! The host runs with this run's own instance label and data directory; everything it made is
//! uninstalled, then [`crate::engine::Engine::cleanup`] removes whatever is left.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use nanofleet_build::PluginImage;
use nanofleet_host::{
    Host, HostConfig, HostEvent, INSTALL_STEP_SPAN, InstallOptions, host::Action,
    store::AgentRecord,
};
use tokio::sync::broadcast::{Receiver, error::TryRecvError};
use tracing_subscriber::{
    Layer, filter::filter_fn, layer::SubscriberExt as _, registry::LookupSpan,
};

use crate::{engine::Engine, throughput::median};

/// How much to do.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Settings {
    /// Installs (each followed by an uninstall), and as many plain create + starts.
    pub installs: usize,
    /// Reconcile passes per no-op measurement.
    pub reconciles: usize,
    /// Plugins in the fleet.
    pub plugins: usize,
    /// Agents in the fleet, each linked to one plugin.
    pub agents: usize,
}

/// The agent counts linked to the first plugin, in order (each a fresh set of agents).
pub const LINK_BATCHES: [usize; 3] = [1, 100, 1000];

/// The target for install → ready above the engine's own create + start, ms.
pub const INSTALL_OVERHEAD_TARGET_MS: f64 = 30.0;

/// The target for a reconcile pass with nothing to do, ms.
pub const NOOP_RECONCILE_TARGET_MS: f64 = 200.0;

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

/// Reconcile passes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReconcileRow {
    /// What was installed and registered, and what was changed before the pass.
    pub setting: String,
    /// Each pass, ms.
    pub passes_ms: Vec<f64>,
    /// Median pass, ms.
    pub median_ms: f64,
    /// Slowest pass, ms.
    pub max_ms: f64,
    /// What the passes were expected to do: nothing, or one named action.
    pub expected: String,
    /// Whether they did exactly that.
    pub as_expected: bool,
    /// What the passes did.
    pub actions: Vec<String>,
}

/// One step of an install, over every install.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRow {
    /// The step (the span's `step` field).
    pub step: String,
    /// Median over the installs, ms.
    pub median_ms: f64,
}

/// Everything this section measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// What was done.
    pub settings: Settings,
    /// The plugin installed.
    pub install_image: String,
    /// Each install → ready, ms.
    pub install_ms: Vec<f64>,
    /// Median install → ready, ms.
    pub install_ms_median: f64,
    /// The steps of an install, in order, medians.
    pub install_steps: Vec<StepRow>,
    /// Each plain create + start of the same container by the engine, ms.
    pub engine_ms: Vec<f64>,
    /// Median plain create + start, ms.
    pub engine_ms_median: f64,
    /// Each install → ready less its own engine step (`create_start`), ms: the host's part.
    pub host_ms: Vec<f64>,
    /// Median of those, ms.
    pub host_ms_median: f64,
    /// Each uninstall, ms.
    pub uninstall_ms: Vec<f64>,
    /// Median uninstall, ms.
    pub uninstall_ms_median: f64,
    /// Installing the fleet's plugins, ms in all.
    pub fleet_install_ms: f64,
    /// Registering all the agents (no links yet), ms.
    pub register_ms: f64,
    /// Agents registered.
    pub registered: usize,
    /// `.mcp.json` files written while registering (none: no agent has a link yet).
    pub register_files_written: usize,
    /// The link batches.
    pub links: Vec<LinkRow>,
    /// Linking the rest of the agents, ms in all.
    pub bulk_link_ms: f64,
    /// The reconcile passes.
    pub reconcile: Vec<ReconcileRow>,
}

impl Outcome {
    /// Install → ready above a separate create + start of the same container by the engine,
    /// ms (medians; both carry the engine's own variation).
    pub fn install_overhead_ms(&self) -> f64 {
        self.install_ms_median - self.engine_ms_median
    }

    /// The no-op pass over the whole fleet, if it ran.
    pub fn fleet_noop(&self) -> Option<&ReconcileRow> {
        self.reconcile
            .iter()
            .find(|r| r.expected == "nothing" && r.setting.contains("agents linked"))
    }
}

/// Install steps' timings, from the host's spans.
#[derive(Clone, Default)]
struct StepTimes(Arc<Mutex<Vec<(String, Duration)>>>);

struct Started {
    step: String,
    at: Instant,
}

struct StepField(Option<String>);

impl tracing::field::Visit for StepField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "step" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "step" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

impl<S> Layer<S> for StepTimes
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut field = StepField(None);
        attrs.record(&mut field);
        if let (Some(step), Some(span)) = (field.0, ctx.span(id)) {
            span.extensions_mut().insert(Started {
                step,
                at: Instant::now(),
            });
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(started) = span.extensions().get::<Started>()
        {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((started.step.clone(), started.at.elapsed()));
        }
    }
}

impl StepTimes {
    /// Installs the collector for the host's install-step spans (and nothing else) as the
    /// process's subscriber; `None` when another subscriber is already installed.
    fn install() -> Option<Self> {
        let times = Self::default();
        let layer = times
            .clone()
            .with_filter(filter_fn(|m| m.name() == INSTALL_STEP_SPAN));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .ok()
            .map(|()| times)
    }

    fn take(&self) -> Vec<(String, Duration)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
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
    let steps = StepTimes::install()
        .context("a tracing subscriber is already installed; the install steps cannot be timed")?;
    let mut config = HostConfig::new(dir.join("host"));
    config.api_url = "http://127.0.0.1:9".into();
    config.instance = engine.instance.clone();
    let host = Host::open(config, engine.runtime())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let notes = image(images, "notes")?;
    let hello = image(images, "hello")?;

    // Install → ready, then uninstall, alternating with the engine's own create + start of
    // the same container under a fresh name.
    let (mut install_ms, mut uninstall_ms, mut engine_ms) = (Vec::new(), Vec::new(), Vec::new());
    // Each install less its own engine step: the host's part, free of the engine's noise.
    let mut host_ms = Vec::new();
    let mut by_step: Vec<(String, Vec<f64>)> = Vec::new();
    for i in 0..settings.installs {
        let name = engine.plugin_name(&format!("install-{i}"));
        steps.take();
        let t = Instant::now();
        install(&host, notes, &name).await?;
        install_ms.push(ms(t.elapsed()));
        let taken = steps.take();
        let engine_step = taken
            .iter()
            .find(|(step, _)| step == "create_start")
            .map(|(_, took)| ms(*took))
            .context("the install reported no create_start step")?;
        host_ms.push(install_ms[i] - engine_step);
        for (step, took) in taken {
            match by_step.iter_mut().find(|(s, _)| *s == step) {
                Some((_, v)) => v.push(ms(took)),
                None => by_step.push((step, vec![ms(took)])),
            }
        }
        let mut spec = host
            .container_spec(&name)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        spec.plugin = engine.plugin_name(&format!("engine-{i}"));
        let rt = engine.runtime();
        let t = Instant::now();
        rt.create_and_start(&spec)
            .await
            .map_err(|e| anyhow!("create and start {}: {e}", spec.name()))?;
        engine_ms.push(ms(t.elapsed()));
        rt.remove(&spec.name()).await.map_err(|e| anyhow!("{e}"))?;

        let t = Instant::now();
        host.uninstall(&name, true)
            .await
            .map_err(|e| anyhow!("uninstall {name}: {e}"))?;
        uninstall_ms.push(ms(t.elapsed()));
        eprintln!(
            "  install → ready {:>7.1} ms (its engine step {:>6.1} ms; engine create + start alone {:>6.1} ms), uninstall {:>7.1} ms",
            install_ms[i],
            install_ms[i] - host_ms[i],
            engine_ms[i],
            uninstall_ms[i]
        );
    }
    let install_steps = by_step
        .into_iter()
        .map(|(step, mut v)| StepRow {
            step,
            median_ms: median(&mut v),
        })
        .collect();

    // The fleet's plugins, then idle reconcile passes before any agent exists.
    let t = Instant::now();
    let mut fleet = Vec::new();
    for i in 0..settings.plugins {
        let name = engine.plugin_name(&format!("fleet-{i}"));
        install(&host, hello, &name).await?;
        fleet.push(name);
    }
    let fleet_install_ms = ms(t.elapsed());
    eprintln!(
        "  installed {} plugins in {:.1} s",
        fleet.len(),
        fleet_install_ms / 1000.0
    );
    let mut reconcile = vec![
        passes(
            &host,
            settings.reconciles,
            format!("{} plugins, no agents", fleet.len()),
            None,
        )
        .await?,
    ];

    // Agents, each with its own workspace.
    let total = settings.agents.max(LINK_BATCHES.iter().sum());
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

    let first = fleet.first().context("the fleet has no plugin")?;
    let mut links = Vec::new();
    let mut next = 0;
    for batch in LINK_BATCHES {
        let agents = &workspaces[next..next + batch];
        next += batch;
        let before = snapshot(&workspaces);
        let mut emitted = 0;
        let t = Instant::now();
        for (id, _) in agents {
            host.link(id, first)
                .await
                .map_err(|e| anyhow!("link {id} to {first}: {e}"))?;
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
    // The rest, spread over the other plugins.
    let t = Instant::now();
    for (i, (id, _)) in workspaces[next..].iter().enumerate() {
        let plugin = &fleet[i % fleet.len()];
        host.link(id, plugin)
            .await
            .map_err(|e| anyhow!("link {id} to {plugin}: {e}"))?;
        if i % 512 == 0 {
            drain(&mut events);
        }
    }
    let bulk_link_ms = ms(t.elapsed());
    drain(&mut events);
    eprintln!(
        "  linked the other {} agents in {:.1} s",
        total - next,
        bulk_link_ms / 1000.0
    );

    let setting = format!("{} plugins, {total} agents linked", fleet.len());
    reconcile.push(passes(&host, settings.reconciles, setting.clone(), None).await?);
    // One agent's file edited by hand: the entry the host wrote is gone.
    let (edited, ws) = &workspaces[total / 2];
    let path = ws.join(".mcp.json");
    std::fs::write(&path, "{\n  \"mcpServers\": {}\n}\n")?;
    reconcile.push(
        passes(
            &host,
            1,
            format!("{setting}; one agent's .mcp.json emptied by hand"),
            Some(Action::LinkedAgent(edited.clone())),
        )
        .await?,
    );
    // One plugin's container removed by hand.
    let victim = &fleet[fleet.len() / 2];
    engine
        .runtime()
        .remove(&engine.instance.container_name(victim))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    reconcile.push(
        passes(
            &host,
            1,
            format!("{setting}; one plugin's container removed by hand"),
            Some(Action::Created(victim.clone())),
        )
        .await?,
    );

    for name in &fleet {
        host.uninstall(name, true)
            .await
            .map_err(|e| anyhow!("uninstall {name}: {e}"))?;
    }
    Ok(Outcome {
        settings,
        install_image: notes.tag.clone(),
        install_ms_median: median(&mut install_ms.clone()),
        install_ms,
        install_steps,
        engine_ms_median: median(&mut engine_ms.clone()),
        engine_ms,
        host_ms_median: median(&mut host_ms.clone()),
        host_ms,
        uninstall_ms_median: median(&mut uninstall_ms.clone()),
        uninstall_ms,
        fleet_install_ms,
        register_ms,
        registered: total,
        register_files_written,
        links,
        bulk_link_ms,
        reconcile,
    })
}

/// Runs `count` reconcile passes, which must do `expected` (one action over all of them) or,
/// when `None`, nothing.
async fn passes(
    host: &Host,
    count: usize,
    setting: String,
    expected: Option<Action>,
) -> Result<ReconcileRow> {
    let mut times = Vec::with_capacity(count);
    let mut actions = Vec::new();
    for _ in 0..count {
        let t = Instant::now();
        let report = host
            .reconcile()
            .await
            .map_err(|e| anyhow!("reconcile: {e}"))?;
        times.push(ms(t.elapsed()));
        actions.extend(report.actions);
    }
    if times.is_empty() {
        bail!("no reconcile pass was run");
    }
    let as_expected = match &expected {
        None => actions.is_empty(),
        Some(action) => actions.len() == 1 && actions[0] == *action,
    };
    let row = ReconcileRow {
        setting,
        median_ms: median(&mut times.clone()),
        max_ms: times.iter().copied().fold(0.0, f64::max),
        passes_ms: times,
        expected: expected.map_or_else(|| "nothing".to_owned(), |a| format!("{a:?}")),
        as_expected,
        actions: actions.iter().map(|a| format!("{a:?}")).collect(),
    };
    eprintln!(
        "  reconcile, {}: median {:.2} ms, max {:.2} ms over {} pass(es){}",
        row.setting,
        row.median_ms,
        row.max_ms,
        row.passes_ms.len(),
        if row.as_expected {
            String::new()
        } else {
            format!(" (expected {}, did {:?})", row.expected, row.actions)
        }
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
