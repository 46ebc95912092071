//! The Python interop suite: the official MCP Python SDK against the `notes` and `everything`
//! examples, each run as a real process on a free loopback port.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result};

use crate::process::{self, Guard, cargo, free_port, wait_healthy};

const VENV: &str = "target/py-venv";
const REQUIREMENTS: &str = "interop/python/requirements.txt";

/// Creates (or reuses) the venv with the pinned official MCP SDK (also the bench's Python peer).
pub(crate) fn ensure_venv() -> Result<PathBuf> {
    let root = crate::root();
    let venv = root.join(VENV);
    let python = venv.join("bin/python");
    let requirements = std::fs::read_to_string(root.join(REQUIREMENTS))
        .with_context(|| format!("cannot read {REQUIREMENTS}"))?;
    let stamp = venv.join(".requirements");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&requirements) {
        return Ok(python);
    }
    eprintln!(
        "creating {VENV} with {}",
        requirements
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ")
    );
    process::run(Command::new("python3").args(["-m", "venv", VENV]))
        .context("python3 -m venv failed: install python3 and python3-venv")?;
    process::run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        REQUIREMENTS,
    ]))?;
    std::fs::write(&stamp, requirements)?;
    Ok(python)
}

/// An example plugin running as a child process on a free loopback port.
struct ExampleProcess {
    _child: Guard,
    addr: SocketAddr,
    data_dir: PathBuf,
    remove_data: bool,
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        if self.remove_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

fn start_example(
    package: &str,
    data_dir: &Path,
    port: u16,
    remove_data: bool,
) -> Result<ExampleProcess> {
    start_example_with(package, data_dir, port, remove_data, &[])
}

fn start_example_with(
    package: &str,
    data_dir: &Path,
    port: u16,
    remove_data: bool,
    env: &[(&str, String)],
) -> Result<ExampleProcess> {
    cargo(&["build", "--quiet", "-p", package])?;
    let binary = crate::target_dir().join("debug").join(package);
    std::fs::create_dir_all(data_dir)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let child = Command::new(&binary)
        .env(
            nanofleet_sdk::contracts::env::NANOFLEET_MCP_ADDR,
            addr.to_string(),
        )
        .env(nanofleet_sdk::contracts::env::NANOFLEET_DATA_DIR, data_dir)
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut guard = Guard(child);
    wait_healthy(addr, &mut guard.0, Duration::from_secs(20))?;
    Ok(ExampleProcess {
        _child: guard,
        addr,
        data_dir: data_dir.to_owned(),
        remove_data,
    })
}

/// `cargo xtask interop`: pytest with the official Python client against `notes`,
/// `everything` and `kanban` (whose board also runs in Chromium).
pub(crate) fn run() -> Result<()> {
    let python = ensure_venv()?;
    let data = crate::root().join(format!("target/interop-data-{}", std::process::id()));
    let notes = start_example("notes", &data, free_port()?, true)?;
    let everything_data = crate::root().join(format!(
        "target/interop-data-everything-{}",
        std::process::id()
    ));
    let everything = start_example("everything", &everything_data, free_port()?, true)?;
    let (chromium, chromedriver) = browser()?;
    let kanban_data =
        crate::root().join(format!("target/interop-data-kanban-{}", std::process::id()));
    let kanban_ui = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let kanban = start_example_with(
        "kanban",
        &kanban_data,
        free_port()?,
        true,
        &[
            (
                nanofleet_sdk::contracts::env::NANOFLEET_UI_ADDR,
                kanban_ui.to_string(),
            ),
            (
                nanofleet_sdk::contracts::env::NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN,
                "1".to_owned(),
            ),
        ],
    )?;
    wait_listening(kanban_ui, Duration::from_secs(20))?;
    process::run(
        Command::new(&python)
            .args([
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "interop/python",
            ])
            .env("NANOFLEET_NOTES_URL", format!("http://{}/mcp", notes.addr))
            .env(
                "NANOFLEET_NOTES_BINARY",
                crate::target_dir().join("debug").join("notes"),
            )
            .env(
                "NANOFLEET_EVERYTHING_URL",
                format!("http://{}/mcp", everything.addr),
            )
            .env(
                "NANOFLEET_KANBAN_URL",
                format!("http://{}/mcp", kanban.addr),
            )
            .env("NANOFLEET_KANBAN_UI_URL", format!("http://{kanban_ui}"))
            .env("NANOFLEET_CHROMIUM", chromium)
            .env("NANOFLEET_CHROMEDRIVER", chromedriver),
    )
}

/// Chromium and its WebDriver, for the tests that run pages in a real browser; missing, the
/// suite fails saying what to install (it is not skipped).
fn browser() -> Result<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find(&["chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Ok((chromium, driver)),
        _ => anyhow::bail!(
            "the browser tests need Chromium and its WebDriver on PATH: install them \
             (Debian: apt-get install chromium chromium-driver)"
        ),
    }
}

/// Waits until something accepts connections at `addr`.
fn wait_listening(addr: SocketAddr, timeout: Duration) -> Result<()> {
    let deadline = std::time::Instant::now() + timeout;
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("nothing listens at {addr} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
