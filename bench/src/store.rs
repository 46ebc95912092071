//! The durable store against its own size and against memory: `add_note` only, at
//! concurrency 32, all calls as one agent, on
//!
//! - our `notes` in memory (`notes-memory`), the agent starting with no notes;
//! - `examples/notes` (SQLite, durable), the agent starting with no notes;
//! - `examples/notes` with the agent already holding [`Settings::prefill`] notes, written
//!   into its data directory before it starts.
//!
//! Rounds interleave the three, rotated; each round uses a fresh agent on the first two, and
//! the filled one on the third (which only grows). Targets: durable at least half of memory,
//! and durable from 100,000 notes as fast as from none (within noise): what each call costs
//! must not follow what the agent has stored.

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};
use nanofleet_sdk::{AgentId, store::Store};

use crate::{
    contenders::{Contender, Server},
    load::{self, Length, Mix},
    throughput::median,
};

/// The concurrency of every run.
pub const CONCURRENCY: usize = 32;

/// The agent whose notes are prefilled.
const FILLED_AGENT: &str = "store-bench-filled";

/// How long the runs are, and how many notes the filled agent starts with.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Settings {
    /// Rounds.
    pub rounds: usize,
    /// Unmeasured calls before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub duration: Duration,
    /// Notes the filled agent holds before the first call.
    pub prefill: u64,
}

/// One server's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// What ran.
    pub contender: String,
    /// Its key: `memory`, `durable`, `durable-filled`.
    pub key: String,
    /// Notes the agent held when the first round started.
    pub notes_before: u64,
    /// Median over rounds of `add_note` calls per second.
    pub calls_per_sec_median: f64,
    /// Each round's calls per second.
    pub calls_per_sec_runs: Vec<f64>,
    /// Median over rounds of each round's p50 latency, µs.
    pub p50_us: f64,
    /// Median over rounds of each round's p99 latency, µs.
    pub p99_us: f64,
}

/// What this section produced.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    /// Memory, durable, durable from the filled agent.
    pub rows: Vec<Row>,
    /// How long writing the prefilled notes took, seconds (through the SDK's store, with
    /// group commit, 256 writers at once).
    pub prefill_secs: f64,
}

/// Runs the section.
pub async fn run(
    contenders: &[Contender],
    settings: Settings,
    bin_dir: &Path,
    out_dir: &Path,
) -> Result<Outcome> {
    let find = |key: &str| {
        contenders
            .iter()
            .find(|c| c.key == key)
            .with_context(|| format!("no contender {key}"))
    };
    let (memory, durable) = (find("nanofleet-memory")?, find("nanofleet-macros")?);
    let mut prefill_secs = 0.0;
    let servers: Vec<(String, &str, u64, Server)> = vec![
        (
            memory.name.into(),
            "memory",
            0,
            memory.start(bin_dir, out_dir)?,
        ),
        (
            durable.name.into(),
            "durable",
            0,
            durable.start(bin_dir, out_dir)?,
        ),
        (
            format!("{}, agent holding {} notes", durable.name, settings.prefill),
            "durable-filled",
            settings.prefill,
            durable.start_prefilled(bin_dir, out_dir, "filled", |data| {
                let started = std::time::Instant::now();
                prefill(data, settings.prefill)?;
                prefill_secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "  wrote {} notes for {FILLED_AGENT} in {prefill_secs:.1} s",
                    settings.prefill
                );
                Ok(())
            })?,
        ),
    ];
    let n = servers.len();
    let mut rates = vec![Vec::new(); n];
    let mut p50s = vec![Vec::new(); n];
    let mut p99s = vec![Vec::new(); n];
    for round in 0..settings.rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let (name, key, _, server) = &servers[i];
            let agent = if *key == "durable-filled" {
                FILLED_AGENT.to_owned()
            } else {
                format!("store-bench-{key}-{round}")
            };
            let mut stats = load::run_mix(
                server.addr,
                CONCURRENCY,
                Length::Timed {
                    warmup: settings.warmup,
                    duration: settings.duration,
                },
                Mix::AddsAs(agent),
            )
            .await
            .with_context(|| format!("{name}, round {round}"))?;
            let rate = stats.per_second();
            let p50 = load::quantile(&mut stats.latencies_us, 0.50);
            let p99 = load::quantile(&mut stats.latencies_us, 0.99);
            eprintln!(
                "  round {round} {name:<60} {rate:>9.0} add_note/s  p50 {p50:>7.0} µs  p99 {p99:>7.0} µs"
            );
            rates[i].push(rate);
            p50s[i].push(p50);
            p99s[i].push(p99);
        }
    }
    let rows = servers
        .iter()
        .enumerate()
        .map(|(i, (name, key, before, _))| Row {
            contender: name.clone(),
            key: (*key).to_owned(),
            notes_before: *before,
            calls_per_sec_median: median(&mut rates[i].clone()),
            calls_per_sec_runs: rates[i].clone(),
            p50_us: median(&mut p50s[i].clone()),
            p99_us: median(&mut p99s[i].clone()),
        })
        .collect();
    Ok(Outcome { rows, prefill_secs })
}

/// Writes `count` notes for [`FILLED_AGENT`] into the store in `data`, as `examples/notes`
/// stores them, before the plugin opens it.
fn prefill(data: &Path, count: u64) -> Result<()> {
    // On a runtime of its own: this runs inside a blocking section of the caller's.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let store = Store::open(data)?;
                    let notes = store
                        .for_agent(AgentId::new(FILLED_AGENT)?)
                        .collection::<String>("notes");
                    let writers: u64 = 256;
                    let mut tasks = tokio::task::JoinSet::new();
                    for w in 0..writers {
                        let notes = notes.clone();
                        let share = count / writers + u64::from(w < count % writers);
                        tasks.spawn(async move {
                            for _ in 0..share {
                                notes.insert(&"benchmark note".to_owned()).await?;
                            }
                            anyhow::Ok(())
                        });
                    }
                    while let Some(done) = tasks.join_next().await {
                        done??;
                    }
                    let held = notes.len().await?;
                    anyhow::ensure!(held == count, "{held} notes stored, not {count}");
                    Ok(())
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the prefill thread panicked"))?
    })
}
