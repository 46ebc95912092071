//! Tool-call throughput and latency, and the process contenders' resident memory.
//!
//! Every contender is started once and kept running. For each concurrency, each round runs
//! every contender once, in an order rotated by one each round, so no contender always runs
//! first (cold) or right after the heaviest one. A contender's figure is the median over
//! rounds: of its calls per second, and of each round's p50 and p99. Memory: `VmRSS` idle
//! (started, settled, before any call), its maximum sampled during the concurrency-32 runs, and
//! once more after all runs.

use std::{path::Path, time::Duration};

use anyhow::{Result, bail};

use crate::{
    contenders::{Contender, Server, Skipped, Work, log_tail},
    load::{self, Length},
    memory::{self, Sampler},
};

/// The concurrencies measured.
pub const CONCURRENCIES: [usize; 2] = [1, 32];

/// How long the runs are.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Settings {
    /// Rounds per concurrency.
    pub rounds: usize,
    /// Unmeasured calls before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub duration: Duration,
}

/// One contender at one concurrency.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// The contender's name.
    pub contender: String,
    /// Its key.
    pub key: String,
    /// Whether it is ours (the reference of its work).
    pub ours: bool,
    /// What it does with the notes; ratios are taken against ours of the same work (the
    /// ceiling's against ours in memory).
    pub work: Work,
    /// Concurrent keep-alive connections.
    pub concurrency: usize,
    /// Median over rounds of calls per second.
    pub calls_per_sec_median: f64,
    /// Each round's calls per second, in round order.
    pub calls_per_sec_runs: Vec<f64>,
    /// Median over rounds of each round's p50 latency, µs.
    pub p50_us: f64,
    /// Median over rounds of each round's p99 latency, µs.
    pub p99_us: f64,
    /// Each round's p50, µs.
    pub p50_us_runs: Vec<f64>,
    /// Each round's p99, µs.
    pub p99_us_runs: Vec<f64>,
    /// Ours ÷ this, calls per second (above 1: ours is faster).
    pub ours_over_this_calls: f64,
    /// This ÷ ours, p50 latency (above 1: ours answers sooner).
    pub this_over_ours_p50: f64,
    /// Median over rounds of the server's CPU time (user + system, all its threads) per call
    /// in the measured window, µs; `None` when it could not be read.
    pub cpu_us_per_call: Option<f64>,
    /// Each round's CPU time per call, µs.
    pub cpu_us_per_call_runs: Vec<f64>,
    /// This ÷ ours, CPU time per call (above 1: ours spends less).
    pub this_over_ours_cpu: Option<f64>,
}

/// One contender's resident memory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemoryRow {
    /// The contender's name.
    pub contender: String,
    /// Its key.
    pub key: String,
    /// `VmRSS` once started and settled, before any call, KiB.
    pub idle_kib: Option<u64>,
    /// The largest `VmRSS` sampled during its concurrency-32 runs, KiB.
    pub c32_max_kib: Option<u64>,
    /// `VmRSS` after all runs, KiB.
    pub after_kib: Option<u64>,
}

/// What this section produced.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    /// One row per contender and concurrency.
    pub rows: Vec<Row>,
    /// One row per contender that ran.
    pub memory: Vec<MemoryRow>,
    /// Contenders that could not start or failed during a run.
    pub failed: Vec<Skipped>,
}

/// The median (upper median for an even count) of `v`, which it sorts.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Starts every contender, runs the interleaved rounds, and stops them all.
pub async fn run(
    contenders: &[Contender],
    settings: Settings,
    bin_dir: &Path,
    out_dir: &Path,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut servers: Vec<Option<Server>> = Vec::new();
    for c in contenders {
        let (c2, bin, out) = (c.clone(), bin_dir.to_owned(), out_dir.to_owned());
        let started = tokio::task::spawn_blocking(move || c2.start(&bin, &out)).await?;
        match started {
            Ok(server) => servers.push(Some(server)),
            Err(e) if c.peer => {
                eprintln!("  {}: cannot start, skipped: {e:#}", c.name);
                outcome.failed.push(Skipped {
                    name: c.name.into(),
                    reason: format!("did not start: {e:#}"),
                });
                servers.push(None);
            }
            Err(e) => return Err(e),
        }
    }
    // Let interpreters finish importing and allocators settle before the idle reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle: Vec<Option<u64>> = servers
        .iter()
        .map(|s| s.as_ref().and_then(|s| memory::rss_kib(s.pid).ok()))
        .collect();
    let mut c32_max: Vec<Option<u64>> = vec![None; contenders.len()];

    let n = contenders.len();
    for concurrency in CONCURRENCIES {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut p50s: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); n];
        for round in 0..settings.rounds {
            for k in 0..n {
                let i = (k + round) % n;
                let Some(server) = &servers[i] else { continue };
                let c = &contenders[i];
                let sampler = (concurrency == 32).then(|| Sampler::start(server.pid));
                // The server's CPU time over the measured window: read when the warm-up ends
                // and when the run returns. Unlike calls/s, it does not depend on how the load
                // generator, sharing the machine, is scheduled.
                let (pid, warmup) = (server.pid, settings.warmup);
                let cpu_at_start = tokio::spawn(async move {
                    tokio::time::sleep(warmup).await;
                    memory::cpu_time(pid).ok()
                });
                let result = load::run(
                    server.addr,
                    concurrency,
                    Length::Timed {
                        warmup: settings.warmup,
                        duration: settings.duration,
                    },
                )
                .await;
                if let Some(sampler) = sampler {
                    let max = sampler.finish();
                    if max > 0 {
                        c32_max[i] = Some(c32_max[i].unwrap_or(0).max(max));
                    }
                }
                let mut stats = match result {
                    Ok(stats) => stats,
                    Err(e) if !c.ours => {
                        let reason = format!(
                            "failed at concurrency {concurrency}, round {round}: {e:#}; its log:\n{}",
                            log_tail(&server.log)
                        );
                        eprintln!("  {}: {reason}", c.name);
                        outcome.failed.push(Skipped {
                            name: c.name.into(),
                            reason,
                        });
                        servers[i] = None;
                        continue;
                    }
                    Err(e) => bail!("{} at concurrency {concurrency}: {e:#}", c.name),
                };
                let cpu_at_end = memory::cpu_time(server.pid).ok();
                let cpu = match (cpu_at_start.await.ok().flatten(), cpu_at_end) {
                    (Some(a), Some(b)) if stats.calls > 0 => {
                        Some(b.saturating_sub(a).as_secs_f64() * 1e6 / stats.calls as f64)
                    }
                    _ => None,
                };
                let rate = stats.per_second();
                let p50 = load::quantile(&mut stats.latencies_us, 0.50);
                let p99 = load::quantile(&mut stats.latencies_us, 0.99);
                eprintln!(
                    "  c={concurrency:<3} round {round} {:<26} {rate:>9.0} calls/s  p50 {p50:>7.0} µs  p99 {p99:>7.0} µs  cpu {:>5.1} µs/call",
                    c.name,
                    cpu.unwrap_or(f64::NAN)
                );
                if let Some(cpu) = cpu {
                    cpus[i].push(cpu);
                }
                rates[i].push(rate);
                p50s[i].push(p50);
                p99s[i].push(p99);
            }
        }
        let mut rows: Vec<Row> = contenders
            .iter()
            .enumerate()
            .filter(|(i, _)| !rates[*i].is_empty())
            .map(|(i, c)| Row {
                contender: c.name.into(),
                key: c.key.into(),
                ours: c.ours,
                work: c.work,
                concurrency,
                calls_per_sec_median: median(&mut rates[i].clone()),
                calls_per_sec_runs: rates[i].clone(),
                p50_us: median(&mut p50s[i].clone()),
                p99_us: median(&mut p99s[i].clone()),
                p50_us_runs: p50s[i].clone(),
                p99_us_runs: p99s[i].clone(),
                ours_over_this_calls: f64::NAN,
                this_over_ours_p50: f64::NAN,
                cpu_us_per_call: (!cpus[i].is_empty()).then(|| median(&mut cpus[i].clone())),
                cpu_us_per_call_runs: cpus[i].clone(),
                this_over_ours_cpu: None,
            })
            .collect();
        let references: Vec<Row> = rows.iter().filter(|r| r.ours).cloned().collect();
        for row in &mut rows {
            let work = match row.work {
                Work::Ceiling => Work::InMemory,
                work => work,
            };
            if let Some(ours) = references.iter().find(|r| r.work == work) {
                row.ours_over_this_calls = ours.calls_per_sec_median / row.calls_per_sec_median;
                row.this_over_ours_p50 = row.p50_us / ours.p50_us;
                row.this_over_ours_cpu = row
                    .cpu_us_per_call
                    .zip(ours.cpu_us_per_call)
                    .map(|(this, ours)| this / ours);
            }
        }
        outcome.rows.extend(rows);
    }
    for (i, c) in contenders.iter().enumerate() {
        let Some(server) = &servers[i] else { continue };
        outcome.memory.push(MemoryRow {
            contender: c.name.into(),
            key: c.key.into(),
            idle_kib: idle[i],
            c32_max_kib: c32_max[i],
            after_kib: memory::rss_kib(server.pid).ok(),
        });
    }
    drop(servers);
    Ok(outcome)
}
