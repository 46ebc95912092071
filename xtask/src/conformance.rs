//! `cargo xtask conformance`: the official MCP conformance suite (npm
//! `@modelcontextprotocol/conformance`, packed with its `node_modules` in `../shared/tools`
//! because no npm registry is reachable) against the example plugins, each run as a process on
//! a free loopback port, as an MCP client would find it.
//!
//! Every example must pass the core scenarios; [`CORE`] says which and why. `everything`, the
//! fixture plugin with the names the suite calls, runs every server scenario (`--suite all`):
//! those it does not pass yet are listed, each with the reason, in [`EXPECTED_FAILURES`], and the
//! suite itself fails the step when a listed one starts passing, so the list cannot go stale.
//! The suite runs on Node 20; without it (or without the packed suite) the step fails and says
//! what to install: it is never skipped.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use nanofleet_sdk::contracts::env;

use crate::process::{Guard, cargo, free_port, wait_healthy};

/// The packed suite, beside the clone.
const SUITE: &str = "../shared/tools/mcp-conformance-0.1.13.tgz";

/// Where it is unpacked (once per target dir).
const UNPACKED: &str = "target/conformance";

/// The scenarios every plugin must pass: the handshake, `ping`, `tools/list`, the Host/Origin
/// policy against DNS rebinding, and `logging/setLevel` (every plugin advertises logging).
pub(crate) const CORE: &[&str] = &[
    "server-initialize",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "logging-set-level",
];

/// The examples run against [`CORE`].
const EXAMPLES: &[&str] = &["hello", "notes", "kanban", "everything"];

/// The fixture plugin every server scenario runs against.
const FIXTURE: &str = "everything";

/// The scenarios [`FIXTURE`] does not pass yet, with why (the suite's own YAML format).
const EXPECTED_FAILURES: &str = "xtask/conformance-expected-failures.yaml";

/// The oldest Node.js the suite runs on.
const NODE_MAJOR: u32 = 20;

/// `cargo xtask conformance`.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let suite = unpack()?;
    let mut args = vec!["build", "--quiet"];
    for example in EXAMPLES {
        args.extend(["-p", example]);
    }
    cargo(&args)?;

    let mut failed = Vec::new();
    let mut passed = 0;
    for example in EXAMPLES {
        let plugin = start(example)?;
        // The suite's DNS-rebinding scenario needs a loopback *name* in the URL.
        let url = format!(
            "http://localhost:{}/mcp?agent_id=conformance",
            plugin.addr.port()
        );
        for scenario in CORE {
            match scenario_run(&suite, &url, &["--scenario", scenario])? {
                None => passed += 1,
                Some(output) => {
                    eprintln!("--- {example} / {scenario} failed:\n{output}");
                    failed.push(format!("{example}/{scenario}"));
                }
            }
        }
        if *example == FIXTURE {
            let expected = crate::root().join(EXPECTED_FAILURES);
            let expected = expected.to_string_lossy();
            let args = ["--suite", "all", "--expected-failures", expected.as_ref()];
            match scenario_run(&suite, &url, &args)? {
                None => passed += 1,
                Some(output) => {
                    eprintln!("--- {example} / every server scenario:\n{output}");
                    failed.push(format!("{example}/all (see {EXPECTED_FAILURES})"));
                }
            }
        }
    }
    eprintln!(
        "conformance: {passed} of {} scenario runs passed in {:.0?}",
        passed + failed.len(),
        started.elapsed()
    );
    ensure!(failed.is_empty(), "failed: {}", failed.join(", "));
    Ok(())
}

/// The suite's command, unpacked from [`SUITE`] on first use; checks Node first.
fn unpack() -> Result<PathBuf> {
    check_node()?;
    let root = crate::root();
    let bin = root.join(UNPACKED).join("node_modules/.bin/conformance");
    if bin.exists() {
        return Ok(bin);
    }
    let packed = root.join(SUITE);
    ensure!(
        packed.is_file(),
        "the MCP conformance suite is not at {}: it is the npm package \
         @modelcontextprotocol/conformance 0.1.13 packed with its node_modules \
         (tar czf of a directory holding node_modules/); put it there",
        packed.display()
    );
    std::fs::create_dir_all(root.join(UNPACKED))?;
    crate::process::run(
        Command::new("tar")
            .arg("xzf")
            .arg(&packed)
            .arg("-C")
            .arg(UNPACKED),
    )?;
    ensure!(
        bin.exists(),
        "{} holds no node_modules/.bin/conformance",
        packed.display()
    );
    Ok(bin)
}

fn check_node() -> Result<()> {
    let out = Command::new("node").arg("--version").output().with_context(|| {
        format!("the MCP conformance suite needs Node.js {NODE_MAJOR} or newer: install it (Debian: apt-get install nodejs)")
    })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("`node --version` said {version:?}"))?;
    ensure!(
        major >= NODE_MAJOR,
        "the MCP conformance suite needs Node.js {NODE_MAJOR} or newer; this is {version}"
    );
    Ok(())
}

/// Runs the suite with `selection` (`--scenario NAME`, or a whole suite); `None` when it
/// passed, else what it printed.
fn scenario_run(suite: &Path, url: &str, selection: &[&str]) -> Result<Option<String>> {
    let scenario = selection.join(" ");
    let out = Command::new(suite)
        .args(["server", "--url", url])
        .args(selection)
        .current_dir(crate::root())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", suite.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        eprintln!("  ok  {scenario}");
        Ok(None)
    } else {
        eprintln!("  FAIL {scenario}");
        Ok(Some(text))
    }
}

/// An example plugin running as a process, with a data directory of its own.
struct Running {
    _child: Guard,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

fn start(example: &str) -> Result<Running> {
    let binary = crate::target_dir().join("debug").join(example);
    let data = tempfile::Builder::new()
        .prefix("nanofleet-conformance-")
        .tempdir()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let ui = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let child = Command::new(&binary)
        .env(env::NANOFLEET_MCP_ADDR, addr.to_string())
        .env(env::NANOFLEET_UI_ADDR, ui.to_string())
        .env(env::NANOFLEET_DATA_DIR, data.path())
        // What the host injects (kanban's UI refuses to start without the token).
        .env(env::NANO_PLUGIN_ID, example)
        .env(env::NANO_INTERNAL_TOKEN, "conformance-token-".repeat(3))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut guard = Guard(child);
    if let Err(e) = wait_healthy(addr, &mut guard.0, Duration::from_secs(20)) {
        bail!("{example}: {e}");
    }
    eprintln!("{example} on {addr}:");
    Ok(Running {
        _child: guard,
        addr,
        _data: data,
    })
}
