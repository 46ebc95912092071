//! `cargo xtask author`: the whole path of a plugin author outside this repository, against
//! the crates as `cargo package` produced them.
//!
//! 1. `cargo package` every published crate (this also checks that each one packages: no file
//!    from outside its directory, every dependency versioned).
//! 2. Unpack the packages, and point a scratch directory outside the workspace at them with
//!    `[patch.crates-io]` in its `.cargo/config.toml` (so the crates are the packaged sources,
//!    not paths into this repository).
//! 3. In that directory: `nanofleet new`, the generated tests, `nanofleet build`,
//!    `nanofleet inspect`, `nanofleet install` on a host of its own, an agent linked to it
//!    calling a tool, the generated end-to-end test on the image, and `nanofleet dev`: ready,
//!    a call through the printed URL, an edit that adds a tool, the upgrade, Ctrl-C, and
//!    nothing left behind.
//!
//! The `nanofleet` command is the one this workspace builds, from the same sources.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::process::Guard;

/// The crates a plugin author gets from crates.io, in dependency order.
pub(crate) const PUBLISHED: &[&str] = &[
    "nanofleet-contracts",
    "nanofleet-macros",
    "nanofleet-sdk",
    "nanofleet-testkit",
    "nanofleet-host",
    "nanofleet-build",
    "nanofleet-cli",
];

/// The plugin the path creates.
const PLUGIN: &str = "author-check";

/// The host instance (and label) its install uses, so cleanup finds exactly its objects.
const INSTANCE: &str = "author-check";

pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let root = crate::root();
    let target = crate::target_dir();
    let packages = package(&root, &target)?;

    let scratch = tempdir()?;
    let work = scratch.path();
    write_patches(work, &packages)?;
    let result = author_path(work, &target);
    // The engine objects are removed whatever happened; the scratch directory goes on drop.
    cleanup_engine();
    result?;
    eprintln!(
        "author path passed in {:.0?} (scratch dir {} removed)",
        started.elapsed(),
        work.display()
    );
    Ok(())
}

/// `cargo package` for every published crate; returns (name, unpacked directory).
fn package(root: &Path, target: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = Command::new("cargo");
    cmd.args(["package", "--no-verify", "--allow-dirty", "--quiet"]);
    for name in PUBLISHED {
        cmd.args(["-p", name]);
    }
    crate::process::run(&mut cmd).context("cargo package failed for a published crate")?;
    let version = workspace_version(root)?;
    let unpacked = target.join("author").join("crates");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked)?;
    let mut out = Vec::new();
    for name in PUBLISHED {
        let file = target
            .join("package")
            .join(format!("{name}-{version}.crate"));
        ensure!(file.is_file(), "cargo package made no {}", file.display());
        crate::process::run(
            Command::new("tar")
                .arg("xzf")
                .arg(&file)
                .arg("-C")
                .arg(&unpacked),
        )?;
        let dir = unpacked.join(format!("{name}-{version}"));
        ensure!(
            dir.join("Cargo.toml").is_file(),
            "{} did not unpack",
            file.display()
        );
        for license in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
            ensure!(
                dir.join(license).is_file(),
                "the package of {name} has no {license}"
            );
        }
        out.push(((*name).to_owned(), dir));
    }
    eprintln!("packaged {} crates into {}", out.len(), unpacked.display());
    Ok(out)
}

fn workspace_version(root: &Path) -> Result<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let in_package = text
        .split("[workspace.package]")
        .nth(1)
        .context("no [workspace.package]")?;
    in_package
        .lines()
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim_matches('"').to_owned())
        .context("no workspace version")
}

/// A scratch directory outside the workspace, removed on drop.
fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("nanofleet-author-")
        .tempdir_in(std::env::temp_dir())
        .context("cannot create a scratch directory")
}

/// `.cargo/config.toml` in `work`: the published crates are the packaged sources.
fn write_patches(work: &Path, packages: &[(String, PathBuf)]) -> Result<()> {
    let mut config = String::from(
        "# The crates as `cargo package` produced them, in place of crates.io.\n[patch.crates-io]\n",
    );
    for (name, dir) in packages {
        config.push_str(&format!(
            "{name} = {{ path = {:?} }}\n",
            dir.display().to_string()
        ));
    }
    std::fs::create_dir_all(work.join(".cargo"))?;
    std::fs::write(work.join(".cargo/config.toml"), config)?;
    Ok(())
}

/// The `nanofleet` command this workspace built (by `cargo build -p nanofleet-cli`).
fn nanofleet(target: &Path) -> Result<PathBuf> {
    crate::process::cargo(&["build", "--quiet", "-p", "nanofleet-cli"])?;
    let bin = target.join("debug").join("nanofleet");
    ensure!(bin.is_file(), "no {}", bin.display());
    Ok(bin)
}

/// A command in `dir` with none of the variables cargo sets for xtask itself. It shares the
/// workspace's target directory: the packaged crates get their own artifacts (their source
/// paths differ), while the registry dependencies, resolved from the same lock file, are
/// reused instead of compiled a second time.
fn command(program: &Path, dir: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TERM_COLOR" {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUSTFLAGS");
    cmd.env("CARGO_TARGET_DIR", target);
    cmd
}

fn check(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("\n--> {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    ensure!(status.success(), "{shown} exited with {status}");
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    eprintln!("\n--> {shown}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    ensure!(out.status.success(), "{shown} exited with {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn author_path(work: &Path, target: &Path) -> Result<()> {
    let nf = nanofleet(target)?;
    let cargo = PathBuf::from("cargo");
    let krate = work.join(PLUGIN);
    let host_dir = work.join("host");
    let at = |dir: &Path| command(&nf, dir, target);

    check(at(work).args(["new", PLUGIN]))?;
    // The same dependency versions as this workspace: the check is about our crates, and the
    // build then reuses what is compiled for them.
    std::fs::copy(crate::root().join("Cargo.lock"), krate.join("Cargo.lock"))?;
    check(command(&cargo, &krate, target).args(["test", "--quiet"]))?;

    let build = at(&krate)
        .args(["build", "--json"])
        .output()
        .context("cannot run nanofleet build")?;
    let said = String::from_utf8_lossy(&build.stderr).into_owned();
    eprint!("{said}");
    ensure!(build.status.success(), "nanofleet build failed: {said}");
    let built: Value = serde_json::from_slice(&build.stdout).context("build --json")?;
    ensure!(
        built["rebuilt"] == false || said.contains("building image "),
        "the image step was not shown while it ran: {said}"
    );
    let image = built["image"]
        .as_str()
        .context("no image in build --json")?
        .to_owned();
    ensure!(
        built["tools"] == serde_json::json!(["remember", "recall"]),
        "the image lists the wrong tools: {built}"
    );
    let cached = output(at(&krate).args(["build", "--json"]))?;
    let cached: Value = serde_json::from_str(&cached)?;
    ensure!(
        cached["rebuilt"] == false,
        "an unchanged crate was rebuilt: {cached}"
    );

    let inspected: Value =
        serde_json::from_str(&output(at(work).args(["inspect", "--json", &image]))?)?;
    ensure!(
        inspected["manifest"]["name"] == PLUGIN
            && inspected["tools"][0]["inputSchema"]["properties"]["item"]["type"] == "string",
        "inspect shows the wrong manifest or schema: {inspected}"
    );

    // Installed on a host of its own, linked to an agent, called as that agent.
    let host = |args: &[&str]| {
        let mut cmd = at(work);
        cmd.arg("--data-dir")
            .arg(&host_dir)
            .args(["--instance", INSTANCE])
            .args(args);
        cmd
    };
    check(&mut host(&["install", &format!("image:{image}")]))?;
    let agent_dir = work.join("agents").join("ada");
    std::fs::create_dir_all(&agent_dir)?;
    check(host(&["agents", "add", "ada", "--workspace"]).arg(&agent_dir))?;
    check(&mut host(&["agents", "link", "ada", PLUGIN]))?;
    let mcp_json: Value =
        serde_json::from_str(&std::fs::read_to_string(agent_dir.join(".mcp.json"))?)?;
    let url = mcp_json["mcpServers"][PLUGIN]["url"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        url.contains("agent_id=ada") && url.contains("agent_sig="),
        "the agent's .mcp.json has no signed URL for the plugin: {mcp_json}"
    );
    let said = output(&mut host(&[
        "call",
        PLUGIN,
        "remember",
        "--agent",
        "ada",
        "--args",
        r#"{"item":"from the author path"}"#,
    ]))?;
    ensure!(
        said.contains("\"count\": 1") || said.contains("\"count\":1"),
        "remember said {said}"
    );
    let recalled = output(&mut host(&["call", PLUGIN, "recall", "--agent", "ada"]))?;
    ensure!(
        recalled.contains("from the author path"),
        "recall said {recalled}"
    );
    check(&mut host(&["rm", "--purge", PLUGIN]))?;

    // The generated end-to-end test, on the image, through the harness.
    check(command(&cargo, &krate, target).args(["test", "--quiet", "--features", "e2e"]))?;

    dev_loop(&nf, work, &krate, target)?;
    Ok(())
}

/// `nanofleet dev`: ready, a call through the printed URL, an edit, the upgrade, Ctrl-C.
fn dev_loop(nf: &Path, work: &Path, krate: &Path, target: &Path) -> Result<()> {
    let data = work.join("dev-host");
    let mut child = command(nf, krate, target)
        .arg("--data-dir")
        .arg(&data)
        .args(["dev", "--poll-ms", "200"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start nanofleet dev")?;
    let lines = read_lines(&mut child)?;
    let mut guard = Guard(child);
    let url = wait_for(&lines, Duration::from_secs(900), |l| {
        l.strip_prefix("url: ").map(str::to_owned)
    })?;
    let called = output(command(nf, work, target).args([
        "call",
        "--url",
        &url,
        "remember",
        "--args",
        r#"{"item":"via dev"}"#,
    ]))?;
    ensure!(
        called.contains("count"),
        "the call through the dev URL said {called}"
    );

    // An edit: a third tool. The loop rebuilds and upgrades; the URL stays the same.
    let lib = krate.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib)?;
    let edited = source.replacen(
        "    /// Lists what the calling agent asked to remember, oldest first.",
        "    /// Forgets everything the calling agent asked to remember.\n    #[tool(destructive)]\n    \
         async fn forget(&self, store: AgentStore) -> Result<u64, ToolError> {\n        \
         let items = store.collection::<String>(\"items\");\n        \
         let mut forgotten = 0;\n        \
         for (id, _) in items.list().await? {\n            \
         if items.remove(id).await? {\n                forgotten += 1;\n            }\n        }\n        \
         Ok(forgotten)\n    }\n\n    /// Lists what the calling agent asked to remember, oldest first.",
        1,
    );
    ensure!(
        edited != source,
        "the template changed: cannot add a tool to it"
    );
    std::fs::write(&lib, edited)?;
    let upgraded = wait_for(&lines, Duration::from_secs(900), |l| {
        l.strip_prefix("upgraded: ").map(str::to_owned)
    })?;
    ensure!(
        upgraded.contains("added forget"),
        "the upgrade said {upgraded}"
    );
    let recalled = output(command(nf, work, target).args(["call", "--url", &url, "recall"]))?;
    ensure!(
        recalled.contains("via dev"),
        "data did not survive the upgrade, or the URL changed: {recalled}"
    );

    // Ctrl-C: everything the session made goes.
    interrupt(&guard.0)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = guard.0.try_wait()? {
            break status;
        }
        ensure!(
            Instant::now() < deadline,
            "nanofleet dev did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    ensure!(status.success(), "nanofleet dev exited with {status}");
    let left = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.nanofleet.instance=dev-{PLUGIN}"),
    ])?;
    ensure!(
        left.trim().is_empty(),
        "nanofleet dev left containers: {left}"
    );
    let volumes = docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        // A prefix: the dev instance's volume is this name with `.dev-<plugin>` after it.
        &format!("name={}", nanofleet_host::names::volume_name(PLUGIN)),
    ])?;
    ensure!(
        volumes.trim().is_empty(),
        "nanofleet dev left volumes: {volumes}"
    );
    ensure!(
        !data.join("dev").join(PLUGIN).exists(),
        "nanofleet dev left its store behind"
    );
    Ok(())
}

/// Sends SIGINT, as Ctrl-C in a terminal does.
fn interrupt(child: &Child) -> Result<()> {
    check(Command::new("kill").args(["-INT", &child.id().to_string()]))
}

/// Forwards the child's stdout, line by line, to a channel (and echoes it).
fn read_lines(child: &mut Child) -> Result<mpsc::Receiver<String>> {
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[dev] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// The first line `pick` accepts, within `timeout`.
fn wait_for(
    lines: &mpsc::Receiver<String>,
    timeout: Duration,
    mut pick: impl FnMut(&str) -> Option<String>,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(remaining)
            .context("nanofleet dev stopped or went quiet before the expected line")?;
        if let Some(found) = pick(&line) {
            return Ok(found);
        }
    }
}

fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker").args(args).output()?;
    if !out.status.success() {
        bail!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes what the path may have left on the engine when it failed half-way.
fn cleanup_engine() {
    for label in [
        format!("com.nanofleet.instance={INSTANCE}"),
        format!("com.nanofleet.instance=dev-{PLUGIN}"),
    ] {
        if let Ok(ids) = docker(&["ps", "-aq", "--filter", &format!("label={label}")]) {
            for id in ids.split_whitespace() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
    }
    // Its volumes in every instance (each named for its instance, all labelled with the plugin).
    let _ = docker(&["volume", "rm", &nanofleet_host::names::volume_name(PLUGIN)]);
    if let Ok(volumes) = docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.nanofleet.plugin={PLUGIN}"),
    ]) {
        for volume in volumes.split_whitespace() {
            let _ = docker(&["volume", "rm", volume]);
        }
    }
    if let Ok(images) = docker(&["images", "-q", PLUGIN]) {
        for id in images.split_whitespace() {
            let _ = docker(&["rmi", "-f", id]);
        }
    }
}
