//! The servers under test, each started as a child process on a free loopback port and killed
//! when its [`Server`] is dropped (also when the bench fails half-way).
//!
//! The Rust contenders are this workspace's release binaries. The peers (the same `notes`
//! plugin on the official Python and TypeScript SDKs) are copied at run time from
//! `../shared/peers` next to the repository into `target/bench/peers/` (the Node one with its
//! `node_modules.tgz` unpacked there); nothing of them is committed. A peer that cannot run is
//! skipped with the reason, never silently.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use std::os::unix::fs::PermissionsExt as _;

use anyhow::{Context, Result, bail};

/// How a contender is launched.
#[derive(Debug, Clone)]
enum Launch {
    /// A plugin binary on our SDK: address and data directory from the environment.
    Sdk(&'static str),
    /// A binary taking `<addr> <data-dir>`.
    AddrAndData(&'static str),
    /// A binary taking `<addr>`.
    Addr(&'static str),
    /// A binary taking `<addr> :memory:` (its notes in memory, no data directory).
    AddrInMemory(&'static str),
    /// The Python peer: `<python> notes_python.py --port <port>`.
    Python { python: PathBuf, script: PathBuf },
    /// The TypeScript peer: `node server.mjs --port <port>` in its directory.
    Node { dir: PathBuf },
}

/// What a contender does with the notes: contenders are compared with those doing the same
/// work, so that a ratio measures frameworks, not storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Work {
    /// Notes kept in memory (a map), as the Python and TypeScript peers keep them.
    InMemory,
    /// Notes kept in SQLite, durable (WAL), as `examples/notes` keeps them.
    Durable,
    /// No MCP, no notes: a fixed reply, the HTTP ceiling of the machine.
    Ceiling,
}

impl Work {
    /// As the tables head it.
    pub fn title(self) -> &'static str {
        match self {
            Self::InMemory => "same work, notes in memory",
            Self::Durable => "same work, notes in SQLite (durable)",
            Self::Ceiling => "the machine's HTTP ceiling",
        }
    }
}

/// A server under test.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Its name in the tables and the chart.
    pub name: &'static str,
    /// A short identifier (file names, JSON).
    pub key: &'static str,
    /// Whether it is the reference the ratios of its [`Work`] are taken against.
    pub ours: bool,
    /// What it does with the notes.
    pub work: Work,
    /// Whether it is another SDK run by another language runtime (slow; see `--quick`).
    pub peer: bool,
    launch: Launch,
}

/// A contender that will not run, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// The contender.
    pub name: String,
    /// Why, in one sentence.
    pub reason: String,
}

/// Where the peers come from and what runs them.
#[derive(Debug, Clone)]
pub struct PeerSources {
    /// `../shared/peers`, read-only.
    pub shared: PathBuf,
    /// The Python interpreter of the venv holding `mcp==2.3.0`.
    pub python: PathBuf,
    /// Why that venv could not be made, when `cargo xtask` says so.
    pub python_unavailable: Option<String>,
}

/// Every contender that can run here, in table order, and the ones that cannot.
pub fn all(peers: &PeerSources, out_dir: &Path) -> (Vec<Contender>, Vec<Skipped>) {
    let mut list = vec![
        Contender {
            name: "nanofleet macros, in memory",
            key: "nanofleet-memory",
            ours: true,
            work: Work::InMemory,
            peer: false,
            launch: Launch::Sdk("notes-memory"),
        },
        Contender {
            name: "plain rmcp, in memory",
            key: "plain-rmcp-memory",
            ours: false,
            work: Work::InMemory,
            peer: false,
            launch: Launch::AddrInMemory("plain-rmcp-notes"),
        },
        Contender {
            name: "nanofleet macros (examples/notes)",
            key: "nanofleet-macros",
            ours: true,
            work: Work::Durable,
            peer: false,
            launch: Launch::Sdk("notes"),
        },
        Contender {
            name: "nanofleet programmatic",
            key: "nanofleet-programmatic",
            ours: false,
            work: Work::Durable,
            peer: false,
            launch: Launch::Sdk("notes-programmatic"),
        },
        Contender {
            name: "plain rmcp",
            key: "plain-rmcp",
            ours: false,
            work: Work::Durable,
            peer: false,
            launch: Launch::AddrAndData("plain-rmcp-notes"),
        },
    ];
    let mut skipped = Vec::new();
    const PYTHON: &str = "Python SDK (mcp 2.3.0)";
    const NODE: &str = "TypeScript SDK 1.27.1";
    let dir = out_dir.join("peers");
    if !peers.shared.is_dir() {
        let reason = format!(
            "{} not found (the peers are copied from ../shared/peers beside the repository)",
            peers.shared.display()
        );
        for name in [PYTHON, NODE] {
            skipped.push(Skipped {
                name: name.into(),
                reason: reason.clone(),
            });
        }
    } else {
        match prepare_python(peers, &dir) {
            Ok((python, script)) => list.push(Contender {
                name: PYTHON,
                key: "python-sdk",
                ours: false,
                work: Work::InMemory,
                peer: true,
                launch: Launch::Python { python, script },
            }),
            Err(e) => skipped.push(Skipped {
                name: PYTHON.into(),
                reason: format!("{e:#}"),
            }),
        }
        match prepare_node(&peers.shared, &dir) {
            Ok(dir) => list.push(Contender {
                name: NODE,
                key: "typescript-sdk",
                ours: false,
                work: Work::InMemory,
                peer: true,
                launch: Launch::Node { dir },
            }),
            Err(e) => skipped.push(Skipped {
                name: NODE.into(),
                reason: format!("{e:#}"),
            }),
        }
    }
    list.push(Contender {
        name: "bare axum (HTTP ceiling)",
        key: "bare-axum",
        ours: false,
        work: Work::Ceiling,
        peer: false,
        launch: Launch::Addr("bare-axum"),
    });
    (list, skipped)
}

/// The host's API with 100 agents and no engine (`src/bin/host-api.rs`): what the soak loads
/// beside a plugin.
pub fn host_api() -> Contender {
    Contender {
        name: "host API",
        key: "host-api",
        ours: false,
        work: Work::Ceiling,
        peer: false,
        launch: Launch::AddrAndData("host-api"),
    }
}

/// Copies `notes_python.py` out of `shared/` and checks the interpreter.
fn prepare_python(peers: &PeerSources, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    if let Some(why) = &peers.python_unavailable {
        bail!("no Python venv with mcp==2.3.0: {why}");
    }
    if !peers.python.exists() {
        bail!(
            "no Python interpreter at {} (`cargo xtask bench` creates the venv from \
             interop/python/requirements.txt)",
            peers.python.display()
        );
    }
    let script = copy_fresh(&peers.shared.join("notes_python.py"), &dir.join("python"))?;
    Ok((peers.python.clone(), script))
}

/// Copies the Node peer out of `shared/` and unpacks its `node_modules.tgz` (once per
/// archive: a stamp records which one was unpacked).
fn prepare_node(shared: &Path, dir: &Path) -> Result<PathBuf> {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .context("node is not installed (the TypeScript peer runs on Node 20)")?;
    if !version.status.success() {
        bail!("`node --version` failed ({})", version.status);
    }
    let src = shared.join("notes_node");
    let dst = dir.join("notes_node");
    for file in ["server.mjs", "package.json"] {
        copy_fresh(&src.join(file), &dst)?;
    }
    let tgz = src.join("node_modules.tgz");
    let meta = std::fs::metadata(&tgz).with_context(|| format!("{}", tgz.display()))?;
    let stamp_value = format!("{} {:?}", meta.len(), meta.modified().ok());
    let stamp = dst.join(".node_modules.stamp");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(stamp_value.as_str())
        || !dst.join("node_modules").is_dir()
    {
        let _ = std::fs::remove_dir_all(dst.join("node_modules"));
        let status = Command::new("tar")
            .arg("xzf")
            .arg(&tgz)
            .arg("-C")
            .arg(&dst)
            .status()
            .context("cannot run tar to unpack node_modules.tgz")?;
        if !status.success() {
            bail!("tar xzf {} failed ({status})", tgz.display());
        }
        std::fs::write(&stamp, stamp_value)?;
    }
    Ok(dst)
}

/// Copies `file` into `dir` (replacing a previous copy, which may be read-only like its source).
fn copy_fresh(file: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = file
        .file_name()
        .with_context(|| format!("{} has no file name", file.display()))?;
    let dst = dir.join(name);
    let _ = std::fs::remove_file(&dst);
    std::fs::copy(file, &dst)
        .with_context(|| format!("cannot copy {} to {}", file.display(), dst.display()))?;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o644))?;
    Ok(dst)
}

/// A running contender, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id (for `VmRSS`).
    pub pid: u32,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

impl Server {
    /// Sends SIGTERM and waits up to `timeout` for the process to exit (then kills it).
    /// Returns whether it exited by itself.
    pub fn terminate(&mut self, timeout: Duration) -> Result<bool> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed ({status})", self.pid);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound and released; the tiny race is acceptable here).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("no free loopback port")?
        .local_addr()?
        .port())
}

impl Contender {
    /// Starts it with a fresh data directory under `out_dir` and waits until it accepts
    /// connections.
    pub fn start(&self, bin_dir: &Path, out_dir: &Path) -> Result<Server> {
        self.start_wrapped(&[], bin_dir, out_dir, Duration::from_secs(30))
    }

    /// [`Contender::start`] with its command run by `wrapper` (e.g. `valgrind --tool=…`;
    /// empty: run directly), waiting at most `timeout` for it to listen.
    pub fn start_wrapped(
        &self,
        wrapper: &[String],
        bin_dir: &Path,
        out_dir: &Path,
        timeout: Duration,
    ) -> Result<Server> {
        let data = out_dir.join("data").join(self.key);
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        self.launch(wrapper, bin_dir, out_dir, &data, timeout)
    }

    /// [`Contender::start`] on a data directory of its own (`<key>-<label>`) that `prefill`
    /// fills first (e.g. with 100,000 notes).
    pub fn start_prefilled(
        &self,
        bin_dir: &Path,
        out_dir: &Path,
        label: &str,
        prefill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Server> {
        let data = out_dir.join("data").join(format!("{}-{label}", self.key));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        prefill(&data).with_context(|| format!("cannot fill {}", data.display()))?;
        self.launch(&[], bin_dir, out_dir, &data, Duration::from_secs(30))
    }

    fn launch(
        &self,
        wrapper: &[String],
        bin_dir: &Path,
        out_dir: &Path,
        data: &Path,
        timeout: Duration,
    ) -> Result<Server> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let logs = out_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let suffix = if wrapper.is_empty() { "" } else { "-wrapped" };
        let label = data
            .file_name()
            .map_or_else(|| self.key.into(), |n| n.to_string_lossy());
        let log = logs.join(format!("{label}{suffix}.log"));
        let mut cmd = wrap(self.command(bin_dir, addr, data), wrapper);
        let out = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} ({cmd:?})", self.name))?;
        let pid = child.id();
        let mut server = Server {
            child,
            addr,
            pid,
            log,
        };
        let deadline = Instant::now() + timeout;
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{} exited before listening ({status}); its log:\n{}",
                    self.name,
                    log_tail(&server.log)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {addr} within {timeout:?}; its log:\n{}",
                    self.name,
                    log_tail(&server.log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn command(&self, bin_dir: &Path, addr: SocketAddr, data: &Path) -> Command {
        match &self.launch {
            Launch::Sdk(bin) => {
                let mut cmd = Command::new(bin_dir.join(bin));
                cmd.env(
                    nanofleet_sdk::contracts::env::NANOFLEET_MCP_ADDR,
                    addr.to_string(),
                )
                .env(nanofleet_sdk::contracts::env::NANOFLEET_DATA_DIR, data)
                .env("RUST_LOG", "warn");
                cmd
            }
            Launch::AddrAndData(bin) => {
                let mut cmd = Command::new(bin_dir.join(bin));
                cmd.arg(addr.to_string()).arg(data);
                cmd
            }
            Launch::Addr(bin) => {
                let mut cmd = Command::new(bin_dir.join(bin));
                cmd.arg(addr.to_string());
                cmd
            }
            Launch::AddrInMemory(bin) => {
                let mut cmd = Command::new(bin_dir.join(bin));
                cmd.arg(addr.to_string()).arg(":memory:");
                cmd
            }
            Launch::Python { python, script } => {
                let mut cmd = Command::new(python);
                cmd.arg(script)
                    .args(["--port", &addr.port().to_string()])
                    .current_dir(data);
                cmd
            }
            Launch::Node { dir } => {
                let mut cmd = Command::new("node");
                cmd.arg("server.mjs")
                    .args(["--port", &addr.port().to_string()])
                    .current_dir(dir);
                cmd
            }
        }
    }
}

/// `cmd` run by `wrapper` (same arguments, environment and directory); `cmd` itself when
/// `wrapper` is empty.
fn wrap(cmd: Command, wrapper: &[String]) -> Command {
    let Some((program, args)) = wrapper.split_first() else {
        return cmd;
    };
    let mut wrapped = Command::new(program);
    wrapped
        .args(args)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// The last lines of a log file, for an error message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
