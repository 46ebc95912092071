//! `cargo xtask`: the project's build and test automation, in Rust so it runs wherever cargo
//! does.
//!
//! - `cargo xtask ci`: everything CI checks, in order, failing on the first failure.
//! - `cargo xtask interop`: the official Python MCP SDK against the `notes` example.
//! - `cargo xtask conformance`: the official MCP conformance suite's core server scenarios
//!   against every example plugin.
//! - `cargo xtask bench [--quick] [--only <section>]`: tool-call throughput and latency side by
//!   side with plain rmcp, the Python and TypeScript SDKs and bare axum; memory, image sizes,
//!   cold start, host operations, and a callgrind profile (see `bench/README.md`).
//! - `cargo xtask demo [--once]`: build the example images, run a host, install the plugins,
//!   link two agents, call tools as each, and serve the API until Ctrl-C (`--once`: exit).
//! - `cargo xtask image <package>... | --all`: plugin images `FROM scratch`, no registry.
//! - `cargo xtask e2e`: images, host and agents in containers on the engine.
//! - `cargo xtask author`: a plugin author's whole path outside this repository, against the
//!   packaged crates (`nanofleet new`, tests, `build`, `inspect`, `install`, `dev`).

mod author;
mod conformance;
mod demo;
mod image;
mod interop;
mod process;

use std::{path::PathBuf, process::ExitCode, time::Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::process::{cargo, run};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "nanofleet-rs build and test automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// fmt check, clippy -D warnings, workspace tests, rustdoc, Python interop, the MCP
    /// conformance suite, e2e, the author path, demo --once, quick bench.
    Ci,
    /// The official Python MCP SDK client against the `notes` example plugin.
    Interop,
    /// The official MCP conformance suite (from `../shared/tools`, on Node 20): the core server
    /// scenarios against every example plugin.
    Conformance,
    /// Build plugin images FROM scratch from static binaries (no registry).
    Image {
        /// Plugin packages to build (each a binary of the same name).
        packages: Vec<String>,
        /// Build every example plugin.
        #[arg(long)]
        all: bool,
    },
    /// End-to-end tests: example images, the host, and agents in containers on the engine.
    E2e,
    /// Benchmarks: tool-call throughput and latency side by side (plain rmcp, the Python and
    /// TypeScript SDKs, bare axum), memory, image sizes, cold start, host operations, profile.
    Bench {
        /// A short run (under ~3 minutes), as CI runs it so the bench never rots.
        #[arg(long)]
        quick: bool,
        /// Run only these sections: throughput, coldstart, hostops, profile (repeatable).
        #[arg(long)]
        only: Vec<String>,
    },
    /// The main job: build the example images, run a host, install the plugins, link two
    /// agents, call tools as each, and serve the API until Ctrl-C.
    Demo {
        /// Run the script and exit instead of serving.
        #[arg(long)]
        once: bool,
    },
    /// Fuzz every parser of outside input for `--seconds` per target (the corpus in
    /// `fuzz/corpus`, then mutations), printing the inputs each target ran. CI runs a short
    /// bounded pass as part of the workspace tests.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// A plugin author's whole path outside this repository, against the packaged crates:
    /// `nanofleet new`, its tests, `build`, `inspect`, `install`, a linked agent's call, the
    /// generated end-to-end test and `nanofleet dev`.
    Author,
}

/// `cargo xtask fuzz`: the fuzz targets in release mode, one at a time, for `seconds` each.
fn fuzz(seconds: u64) -> Result<()> {
    run(std::process::Command::new(env!("CARGO"))
        .args([
            "test",
            "--release",
            "-p",
            "nanofleet-fuzz",
            "--test",
            "fuzz",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NANOFLEET_FUZZ_MS", (seconds * 1000).to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ci => ci(),
        Command::Interop => interop::run(),
        Command::Conformance => conformance::run(),
        Command::Image { packages, all } => image::run(&packages, all).map(|_| ()),
        Command::E2e => e2e(),
        Command::Bench { quick, only } => bench(quick, &only),
        Command::Demo { once } => demo(once),
        Command::Author => author::run(),
        Command::Fuzz { seconds } => fuzz(seconds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Where cargo puts build output: `CARGO_TARGET_DIR` when set, else `<workspace>/target`.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        _ => root().join("target"),
    }
}

fn ci() -> Result<()> {
    let started = Instant::now();
    let mut timings = Vec::new();
    let mut step = |name: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        eprintln!("\n==> {name}");
        let t = Instant::now();
        f().with_context(|| format!("step `{name}` failed"))?;
        timings.push((name.to_owned(), t.elapsed()));
        Ok(())
    };
    step("cargo fmt --check", &mut || {
        cargo(&["fmt", "--all", "--", "--check"])
    })?;
    step("cargo clippy -D warnings", &mut || {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    // The end-to-end suite runs on its own below, after the images it needs are built.
    step("cargo test --workspace", &mut || {
        cargo(&["test", "--workspace", "--exclude", "nanofleet-e2e"])
    })?;
    step("cargo doc (warnings are errors)", &mut || {
        run(std::process::Command::new("cargo")
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"))
    })?;
    step("python interop (official MCP SDK)", &mut interop::run)?;
    step(
        "MCP conformance suite (core scenarios, every example)",
        &mut conformance::run,
    )?;
    step("e2e (images, host, agents in containers)", &mut e2e)?;
    step(
        "author path (packaged crates, outside the workspace)",
        &mut author::run,
    )?;
    step("demo --once", &mut || demo(true))?;
    step("bench --quick", &mut || bench(true, &[]))?;
    eprintln!("\n==> ci passed in {:.0?}", started.elapsed());
    for (name, t) in &timings {
        eprintln!("    {t:>10.1?}  {name}");
    }
    Ok(())
}

fn e2e() -> Result<()> {
    image::run(&[], true)?;
    cargo(&[
        "test",
        "-p",
        "nanofleet-e2e",
        "--",
        "--nocapture",
        "--test-threads=1",
    ])
}

/// Where the benchmark peers live: `shared/` beside the clone (read-only; the bench copies
/// what it runs into `target/bench/peers`).
const PEERS: &str = "../shared/peers";

fn bench(quick: bool, only: &[String]) -> Result<()> {
    cargo(&[
        "build",
        "--release",
        "--quiet",
        "-p",
        "notes",
        "-p",
        "nanofleet-bench",
    ])?;
    let mut cmd = std::process::Command::new(root().join("target/release/nanofleet-bench"));
    if quick {
        cmd.arg("--quick");
    }
    for section in only {
        cmd.args(["--only", section]);
    }
    let peers = root().join(PEERS);
    cmd.arg("--peers").arg(&peers);
    // The Python peer runs in the interop suite's venv (the same pinned `mcp`); without the
    // peers there is nothing to make it for, and the bench says why they were skipped.
    if peers.is_dir() {
        match interop::ensure_venv() {
            Ok(python) => {
                cmd.arg("--python").arg(python);
            }
            Err(e) => {
                eprintln!("xtask: no Python venv for the Python peer: {e:#}");
                cmd.arg("--python-unavailable").arg(format!("{e:#}"));
            }
        }
    }
    run(&mut cmd)
}

fn demo(once: bool) -> Result<()> {
    demo::run(once)
}
