//! `cargo xtask bench [--quick]`: how our `notes` plugin compares, measured in one run on one
//! machine and reported as medians and ratios (see `bench/README.md`):
//!
//! 1. **throughput and latency** of `tools/call` at concurrency 1 and 32 against the same
//!    plugin on the SDK's programmatic API (what the macros cost), on plain rmcp (what the SDK
//!    costs), on the official Python and TypeScript SDKs (the peers, when `../shared/peers`
//!    is there), and against a bare axum handler (the HTTP ceiling); contenders interleaved
//!    within each round, and each process contender's resident memory;
//!    The contenders are compared within the same work: notes in memory (ours, plain rmcp,
//!    the peers) or in SQLite (ours, the programmatic API, plain rmcp);
//! 2. **the store**: durable `add_note` against in-memory, and from 0 and from 100,000 notes;
//! 3. **image sizes** and **cold start** of each example image, container start → first
//!    `tools/list`;
//! 4. **host operations**: install → ready, linking to 1/100/1000 agents (time and files
//!    written), idle reconcile passes;
//! 5. **a soak** of a plugin and of the host's API: steady load and hundreds of slow clients
//!    at once, with `/healthz` probed and resident memory sampled throughout;
//! 6. **a callgrind profile** of the tool-call path (full runs, or `--only profile`).
//!
//! Writes `results.md`, `results.json`, `throughput.svg` and `profile.md` under `--out-dir`
//! (default `target/bench`). Targets are reported, never asserted: the exit code says whether
//! every section *ran*, not whether the figures were good.

mod coldstart;
mod contenders;
mod engine;
mod hostops;
mod images;
mod load;
mod memory;
mod profile;
mod report;
mod soak;
mod store;
mod svg;
mod throughput;

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, anyhow};
use clap::{Parser, ValueEnum};

use crate::{
    contenders::{PeerSources, Skipped},
    engine::Engine,
    report::{Machine, Report},
};

#[derive(Parser)]
#[command(about = "nanofleet-rs side-by-side benchmarks (run through `cargo xtask bench`)")]
struct Args {
    /// Short runs, for CI: 1 round × 1 s, 3 cold starts per image, no profile.
    #[arg(long)]
    quick: bool,
    /// Run only these sections (repeatable). Default: all (the profile only in full runs).
    #[arg(long, value_enum)]
    only: Vec<Section>,
    /// Directory holding the release binaries.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where results are written.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// The peers (Python and TypeScript `notes`), read-only; copied into `<out-dir>/peers`.
    #[arg(long, default_value = "../shared/peers")]
    peers: PathBuf,
    /// The Python interpreter of a venv with `mcp==2.3.0`.
    #[arg(long, default_value = "target/py-venv/bin/python")]
    python: PathBuf,
    /// Why there is no such venv (set by `cargo xtask bench` when it could not make one).
    #[arg(long)]
    python_unavailable: Option<String>,
}

/// A part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// Tool-call throughput, latency and resident memory.
    Throughput,
    /// Image sizes and cold starts.
    Coldstart,
    /// Host operations.
    Hostops,
    /// The durable store against memory and against its own size.
    Store,
    /// The soak: load and slow clients at once.
    Soak,
    /// The callgrind profile.
    Profile,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    // Contenders run in their own directories: every path must be absolute. (Not canonical:
    // the venv's `python` is a symlink that must stay one for the venv to apply.)
    for path in [
        &mut args.bin_dir,
        &mut args.out_dir,
        &mut args.peers,
        &mut args.python,
    ] {
        if let Ok(absolute) = std::path::absolute(&*path) {
            *path = absolute;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nanofleet-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("nanofleet-bench: some sections failed (see the report)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("nanofleet-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() -> &'static str {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted (Ctrl-C)",
        () = term => "terminated (SIGTERM)",
    }
}

/// Runs the selected sections; `Ok(false)` when one failed (the report says which).
async fn run(args: &Args) -> Result<bool> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let wants = |s: Section| {
        if args.only.is_empty() {
            s != Section::Profile || !args.quick
        } else {
            args.only.contains(&s)
        }
    };
    let nonce = format!(
        "{:08x}",
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ std::process::id().rotate_left(16))
    );
    let mut report = Report {
        mode: if args.quick { "quick" } else { "full" }.into(),
        machine: Some(Machine::detect()),
        ..Report::default()
    };
    if !wants(Section::Profile) && args.only.is_empty() {
        report.skipped_sections.push(Skipped {
            name: "profile".into(),
            reason: "full runs only (`cargo xtask bench`, or `nanofleet-bench --only profile`)"
                .into(),
        });
    }

    // The engine, when a section needs it: connected before anything runs, so that whatever
    // happens next (failure, Ctrl-C) its cleanup runs.
    let engine = if wants(Section::Coldstart) || wants(Section::Hostops) {
        match Engine::connect(&nonce).await {
            Ok(engine) => {
                eprintln!("container engine: ok (instance label {})", engine.instance);
                Some(engine)
            }
            Err(e) => {
                let reason = format!("no container engine: {e:#}");
                eprintln!("cold start, image sizes and host operations skipped: {reason}");
                for name in ["cold start and image sizes", "host operations"] {
                    report.skipped_sections.push(Skipped {
                        name: name.into(),
                        reason: reason.clone(),
                    });
                }
                None
            }
        }
    } else {
        None
    };

    let outcome = tokio::select! {
        r = sections(args, &wants, engine.as_ref(), &mut report) => r,
        why = interrupted() => Err(anyhow!("{why}")),
    };
    if let Some(engine) = &engine {
        let problems = engine.cleanup().await;
        for p in &problems {
            eprintln!("cleanup: {p}");
        }
        if problems.is_empty() {
            eprintln!(
                "cleanup: every container and volume of {} removed",
                engine.instance
            );
        }
    }
    let all_ran = outcome?;

    report.evaluate();
    let markdown = report.markdown();
    println!("{markdown}");
    std::fs::write(args.out_dir.join("results.md"), &markdown)?;
    std::fs::write(
        args.out_dir.join("results.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!(
        "wrote {}/results.md, results.json{}{}",
        args.out_dir.display(),
        if report.throughput.is_some() {
            ", throughput.svg"
        } else {
            ""
        },
        if report.profile.is_empty() {
            ""
        } else {
            ", profile.md"
        }
    );
    Ok(all_ran)
}

/// Runs each wanted section in turn, recording each failure in the report and going on.
async fn sections(
    args: &Args,
    wants: &dyn Fn(Section) -> bool,
    engine: Option<&Engine>,
    report: &mut Report,
) -> Result<bool> {
    let mut all_ran = true;
    let peers = PeerSources {
        shared: args.peers.clone(),
        python: args.python.clone(),
        python_unavailable: args.python_unavailable.clone(),
    };
    let (contenders, skipped) = contenders::all(&peers, &args.out_dir);
    for s in &skipped {
        eprintln!("skipped {}: {}", s.name, s.reason);
    }

    if wants(Section::Throughput) {
        report.skipped_contenders = skipped;
        let settings = if args.quick {
            throughput::Settings {
                rounds: 1,
                warmup: Duration::from_millis(300),
                duration: Duration::from_secs(1),
            }
        } else {
            throughput::Settings {
                rounds: 3,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(4),
            }
        };
        eprintln!(
            "\n== throughput: {} contenders, {} round(s) × {:?}",
            contenders.len(),
            settings.rounds,
            settings.duration
        );
        report.throughput_settings = Some(settings);
        let outcome = throughput::run(&contenders, settings, &args.bin_dir, &args.out_dir)
            .await
            .context("throughput")?;
        std::fs::write(
            args.out_dir.join("throughput.svg"),
            svg::chart(&outcome.rows, &settings, args.quick),
        )?;
        report.throughput = Some(outcome);
    }

    if wants(Section::Store) {
        let settings = store::Settings {
            rounds: if args.quick { 1 } else { 3 },
            warmup: Duration::from_millis(if args.quick { 300 } else { 1000 }),
            duration: Duration::from_secs(if args.quick { 1 } else { 4 }),
            prefill: 100_000,
        };
        eprintln!(
            "\n== store: add_note at c={}, memory and SQLite, from 0 and from {} notes",
            store::CONCURRENCY,
            settings.prefill
        );
        report.store_settings = Some(settings);
        match store::run(&contenders, settings, &args.bin_dir, &args.out_dir).await {
            Ok(outcome) => report.store = Some(outcome),
            Err(e) => {
                all_ran = false;
                eprintln!("store failed: {e:#}");
                report.skipped_sections.push(Skipped {
                    name: "store".into(),
                    reason: format!("failed: {e:#}"),
                });
            }
        }
    }

    if let Some(engine) = engine {
        eprintln!("\n== images");
        match images::build_all(engine).await {
            Ok(built) => {
                report.images = images::rows(&built);
                if wants(Section::Coldstart) {
                    let reps = if args.quick { 3 } else { 10 };
                    eprintln!("\n== cold start: {reps} per image");
                    match coldstart::run(engine, &built, reps).await {
                        Ok(rows) => report.cold_start = rows,
                        Err(e) => {
                            all_ran = false;
                            eprintln!("cold start failed: {e:#}");
                            report.skipped_sections.push(Skipped {
                                name: "cold start".into(),
                                reason: format!("failed: {e:#}"),
                            });
                        }
                    }
                }
                if wants(Section::Hostops) {
                    let settings = if args.quick {
                        hostops::Settings {
                            installs: 3,
                            reconciles: 17,
                            plugins: 20,
                            agents: 2_000,
                        }
                    } else {
                        hostops::Settings {
                            installs: 7,
                            reconciles: 33,
                            plugins: 100,
                            agents: 10_000,
                        }
                    };
                    eprintln!("\n== host operations");
                    match hostops::run(engine, &built, settings, &args.out_dir).await {
                        Ok(outcome) => report.host_ops = Some(outcome),
                        Err(e) => {
                            all_ran = false;
                            eprintln!("host operations failed: {e:#}");
                            report.skipped_sections.push(Skipped {
                                name: "host operations".into(),
                                reason: format!("failed: {e:#}"),
                            });
                        }
                    }
                }
            }
            Err(e) => {
                all_ran = false;
                eprintln!("image build failed: {e:#}");
                report.skipped_sections.push(Skipped {
                    name: "images, cold start and host operations".into(),
                    reason: format!("the images could not be built: {e:#}"),
                });
            }
        }
    }

    if wants(Section::Soak) {
        eprintln!("\n== soak");
        let settings = soak::Settings {
            duration: Duration::from_secs(if args.quick { 10 } else { 60 }),
            concurrency: 32,
            // Under the servers' cap of 512 connections, with the load and the probes.
            slow_clients: if args.quick { 300 } else { 450 },
        };
        report.soak_settings = Some(settings);
        let soaked = match soak_all(args, &contenders, settings).await {
            Ok(mut rows) => soak_api(args, settings).await.map(|api| {
                rows.extend(api);
                rows
            }),
            Err(e) => Err(e),
        };
        match soaked {
            Ok(rows) => report.soak = rows,
            Err(e) => {
                all_ran = false;
                eprintln!("soak failed: {e:#}");
                report.skipped_sections.push(Skipped {
                    name: "soak".into(),
                    reason: format!("failed: {e:#}"),
                });
            }
        }
        eprintln!("\n== marathon: tool calls until memory shows whether it settles");
        match marathon(args, &contenders).await {
            Ok(row) => {
                eprintln!(
                    "  {} calls, RSS warm {} KiB, peak {} KiB, end {} KiB",
                    row.calls, row.rss_warm_kib, row.rss_peak_kib, row.rss_end_kib
                );
                report.marathon = Some(row);
            }
            Err(e) => {
                all_ran = false;
                eprintln!("marathon failed: {e:#}");
                report.skipped_sections.push(Skipped {
                    name: "marathon".into(),
                    reason: format!("failed: {e:#}"),
                });
            }
        }
    }

    if wants(Section::Profile) {
        eprintln!("\n== profile (callgrind)");
        let settings = profile::Settings {
            calls: if args.quick { 500 } else { 2000 },
        };
        match profile::run(
            &contenders,
            &[
                "nanofleet-memory",
                "plain-rmcp-memory",
                "nanofleet-macros",
                "nanofleet-programmatic",
                "plain-rmcp",
            ],
            settings,
            &args.bin_dir,
            &args.out_dir,
        )
        .await
        {
            Ok(targets) => {
                std::fs::write(args.out_dir.join("profile.md"), profile::render(&targets))?;
                report.profile = targets;
            }
            Err(e) => {
                all_ran = false;
                eprintln!("profile failed: {e:#}");
                report.skipped_sections.push(Skipped {
                    name: "profile".into(),
                    reason: format!("failed: {e:#}"),
                });
            }
        }
    }
    Ok(all_ran)
}

/// Soaks our `notes` plugin.
async fn soak_all(
    args: &Args,
    contenders: &[contenders::Contender],
    settings: soak::Settings,
) -> Result<Vec<soak::Row>> {
    let mut rows = Vec::new();
    let notes = contenders
        .iter()
        .find(|c| c.key == "nanofleet-macros")
        .context("no contender nanofleet-macros")?;
    let mut server = notes.start(&args.bin_dir, &args.out_dir)?;
    let addr = server.addr;
    let row = soak::run(
        "notes plugin (`tools/call`)",
        server.pid,
        addr,
        settings,
        || soak::notes_load(addr, settings),
    )
    .await;
    let _ = server.terminate(Duration::from_secs(5));
    rows.push(row?);
    eprintln!("soak: notes plugin done");
    Ok(rows)
}

/// A million tool calls (300,000 in quick runs) against a fresh `examples/notes`: its
/// memory once warm, and after.
async fn marathon(args: &Args, contenders: &[contenders::Contender]) -> Result<soak::Marathon> {
    let notes = contenders
        .iter()
        .find(|c| c.key == "nanofleet-macros")
        .context("no contender nanofleet-macros")?;
    // The warm-up is long enough for SQLite's page cache (2 MiB by default) to fill: the
    // notes written by then take more than that.
    let (warmup, total): (u64, u64) = if args.quick {
        (100_000, 300_000)
    } else {
        (200_000, 1_000_000)
    };
    let mut server = notes.start(&args.bin_dir, &args.out_dir)?;
    let outcome = soak::marathon(
        "notes plugin (`tools/call`)",
        server.pid,
        server.addr,
        32,
        warmup,
        total,
    )
    .await;
    let _ = server.terminate(Duration::from_secs(5));
    outcome
}

/// The host's API under the soak.
async fn soak_api(args: &Args, settings: soak::Settings) -> Result<Vec<soak::Row>> {
    let mut rows = Vec::new();

    let api = contenders::host_api();
    let mut server = api.start(&args.bin_dir, &args.out_dir)?;
    let token_file = args
        .out_dir
        .join("data")
        .join(api.key)
        .join(nanofleet_host::api::auth::API_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("cannot read {}", token_file.display()))?;
    let addr = server.addr;
    let row = soak::run(
        "host API (`GET /api/agents`)",
        server.pid,
        addr,
        settings,
        || {
            soak::get_load(
                addr,
                "/api/agents",
                token.trim(),
                "agent-99",
                settings.concurrency,
                settings.duration,
            )
        },
    )
    .await;
    let _ = server.terminate(Duration::from_secs(5));
    rows.push(row?);
    eprintln!("soak: host API done");
    Ok(rows)
}
