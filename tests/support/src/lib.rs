//! The harness shared by this repository's engine-backed tests (the host's and the CLI's):
//! the engine check, the test images (built once per run from the example plugins as static
//! binaries) and cleanup that runs even when a test fails. Not published.
#![allow(missing_docs)]

/// The README's examples (a plugin and an embedding host), compiled as doctests so they cannot
/// drift from the code. Here, in a crate that is not published and sees both the SDK and the
/// host, rather than in a published crate whose package would not hold the README.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

pub mod engine_proxy;
pub mod nodes;
pub mod swarm;

use nanofleet_host::names;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use nanofleet_build::{CargoBuild, CargoOutput, ImageBuild, Profile, build_image};
use nanofleet_host::labels;
use nanofleet_host::runtime::{DockerRuntime, Runtime};
use tokio::sync::{OnceCell, RwLock};

pub const HELLO_IMAGE: &str = "nanofleet-test/hello:dev";
pub const NOTES_IMAGE: &str = "nanofleet-test/notes:dev";
pub const KANBAN_IMAGE: &str = "nanofleet-test/kanban:dev";
pub const PROBE_IMAGE: &str = "nanofleet-test/probe:dev";
pub const TEST_IMAGE_LABEL: &str = "nanofleet-rs-tests";
/// Generous: the first test to need an image also compiles the plugin.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(600);

pub static HELLO: OnceCell<String> = OnceCell::const_new();
pub static NOTES: OnceCell<String> = OnceCell::const_new();
pub static KANBAN: OnceCell<String> = OnceCell::const_new();
pub static PROBE: OnceCell<String> = OnceCell::const_new();
/// Tests hold it shared while they may use the networks; whoever gets it exclusively at the
/// end removes them.
pub static NETWORKS: RwLock<()> = RwLock::const_new(());

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The engine of `DOCKER_HOST` (or the default socket), checked: without one, every test
/// fails right here with the runtime's own one-sentence error.
pub async fn runtime() -> DockerRuntime {
    // The tests build HTTP clients of their own; in a workspace-wide build reqwest may need a
    // crypto provider (see the function's docs).
    nanofleet_sdk::ensure_crypto_provider();
    let rt = DockerRuntime::connect().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = rt.ping().await {
        panic!("{e}");
    }
    rt
}

/// The Python of a venv holding the pinned nanobot (`interop/nanobot/requirements.txt`),
/// created in `target/py-venv-nanobot` on first use and reused while the requirements are the
/// same. Blocks (pip); call it from `spawn_blocking`.
pub fn nanobot_python() -> Result<std::path::PathBuf, String> {
    python_venv("target/py-venv-nanobot", "interop/nanobot/requirements.txt")
}

/// The Python of the interop suite's venv (the pinned official MCP SDK), `target/py-venv`,
/// the one `cargo xtask interop` uses. Blocks (pip); call it from `spawn_blocking`.
pub fn interop_python() -> Result<std::path::PathBuf, String> {
    python_venv("target/py-venv", "interop/python/requirements.txt")
}

/// A venv at `dir` with `requirements` installed, reused while they are the same (the
/// stamp `.requirements` holds what was installed, as xtask writes it).
fn python_venv(dir: &str, requirements: &str) -> Result<std::path::PathBuf, String> {
    let workspace = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let venv = workspace.join(dir);
    let python = venv.join("bin/python");
    let requirements = workspace.join(requirements);
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("read {}: {e}", requirements.display()))?;
    let stamp = venv.join(".requirements");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    let run = |command: &mut std::process::Command| -> Result<(), String> {
        let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    run(std::process::Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv))?;
    run(std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}

/// A script of the repository's `interop/` directory.
pub fn interop_script(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("interop")
        .join(relative)
}

/// The script that has nanobot's loader read a config, connect and call a tool.
pub fn nanobot_script() -> std::path::PathBuf {
    interop_script("nanobot/load_and_call.py")
}

pub fn unique_plugin() -> String {
    format!("rt-test-{:08x}", rand::random::<u32>())
}

/// Builds a workspace package's binary statically, unoptimised (quick to build).
pub fn cargo_build_static(package: &str) -> Result<std::path::PathBuf, String> {
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    nanofleet_build::build_static(
        &CargoBuild::new(workspace)
            .package(package)
            .bin(package)
            .profile(Profile::Debug)
            .output(CargoOutput::Capture),
    )
    .map(|built| built.path)
    .map_err(|e| e.to_string())
}

/// Builds the static binary and the image once per test process, and returns the image id.
pub async fn test_image(
    cell: &'static OnceCell<String>,
    package: &'static str,
    tag: &'static str,
) -> String {
    cell.get_or_try_init(|| async move {
        let started = Instant::now();
        let binary = tokio::task::spawn_blocking(move || cargo_build_static(package))
            .await
            .map_err(|e| e.to_string())??;
        let compiled = started.elapsed();
        let rt = runtime().await;
        let previous = rt.docker().inspect_image(tag).await.ok().and_then(|i| i.id);
        let mut build = ImageBuild::new(tag, binary);
        build.expose = vec![8080];
        build.labels =
            BTreeMap::from([(labels::MANAGED_BY.to_owned(), TEST_IMAGE_LABEL.to_owned())]);
        let built = Instant::now();
        let id = build_image(&rt, &build).await.map_err(|e| e.to_string())?;
        eprintln!(
            "[timing] {package}: cargo build {compiled:.1?}, image build {:.1?}",
            built.elapsed()
        );
        // A rebuilt binary leaves the old image untagged: remove it rather than pile them up.
        if let Some(old) = previous.filter(|old| *old != id.as_str()) {
            let _ = rt
                .docker()
                .remove_image(
                    &old,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await;
        }
        Ok::<_, String>(id.as_str().to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("cannot build the {package} test image: {e}"))
    .clone()
}

pub async fn hello_image() -> String {
    test_image(&HELLO, "hello", HELLO_IMAGE).await
}

pub async fn notes_image() -> String {
    test_image(&NOTES, "notes", NOTES_IMAGE).await
}

/// The `probe` test plugin (tests/probe), whose tools try what permissions govern.
pub async fn probe_image() -> String {
    test_image(&PROBE, "probe", PROBE_IMAGE).await
}

pub async fn kanban_image() -> String {
    test_image_exposing(&KANBAN, "kanban", KANBAN_IMAGE, &[8080, 8081]).await
}

/// [`test_image`] for a plugin that listens on more ports than 8080 (e.g. a UI port).
pub async fn test_image_exposing(
    cell: &'static OnceCell<String>,
    package: &'static str,
    tag: &'static str,
    expose: &'static [u16],
) -> String {
    cell.get_or_try_init(|| async move {
        let started = Instant::now();
        let binary = tokio::task::spawn_blocking(move || cargo_build_static(package))
            .await
            .map_err(|e| e.to_string())??;
        let compiled = started.elapsed();
        let rt = runtime().await;
        let previous = rt.docker().inspect_image(tag).await.ok().and_then(|i| i.id);
        let mut build = ImageBuild::new(tag, binary);
        build.expose = expose.to_vec();
        build.labels =
            BTreeMap::from([(labels::MANAGED_BY.to_owned(), TEST_IMAGE_LABEL.to_owned())]);
        let built = Instant::now();
        let id = build_image(&rt, &build).await.map_err(|e| e.to_string())?;
        eprintln!(
            "[timing] {package}: cargo build {compiled:.1?}, image build {:.1?}",
            built.elapsed()
        );
        if let Some(old) = previous.filter(|old| *old != id.as_str()) {
            let _ = rt
                .docker()
                .remove_image(
                    &old,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await;
        }
        Ok::<_, String>(id.as_str().to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("cannot build the {package} test image: {e}"))
    .clone()
}

/// Runs a test body, then removes every container and volume of `plugins` whatever happened,
/// then (if no other test is running) the networks, and only then reports the outcome.
pub async fn with_cleanup(rt: &DockerRuntime, plugins: &[&str], body: impl Future<Output = ()>) {
    let networks = NETWORKS.read().await;
    let outcome = AssertUnwindSafe(tokio::time::timeout(TEST_TIMEOUT, body))
        .catch_unwind()
        .await;
    for plugin in plugins {
        remove_plugin(rt, plugin).await;
    }
    drop(networks);
    if let Ok(_exclusive) = NETWORKS.try_write()
        && let Err(e) = rt.remove_network_if_unused().await
    {
        eprintln!("cleanup: cannot remove the networks: {e}");
    }
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(Err(_)) => panic!("the test did not finish within {TEST_TIMEOUT:?}"),
        Ok(Ok(())) => {}
    }
}

pub async fn remove_plugin(rt: &DockerRuntime, plugin: &str) {
    let mut names = vec![names::container_name(plugin)];
    if let Ok(all) = rt.list_managed().await {
        names.extend(
            all.into_iter()
                .filter(|c| c.plugin == plugin)
                .map(|c| c.name),
        );
    }
    for name in names {
        if let Err(e) = rt.remove(&name).await {
            eprintln!("cleanup: cannot remove {name}: {e}");
        }
    }
    // The plugin's volumes in every instance: each carries the plugin's label.
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={plugin}", labels::PLUGIN)],
    )]);
    let options = bollard::query_parameters::ListVolumesOptionsBuilder::new()
        .filters(&filters)
        .build();
    let volumes = match rt.docker().list_volumes(Some(options)).await {
        Ok(list) => list.volumes.unwrap_or_default(),
        Err(e) => {
            eprintln!("cleanup: cannot list the volumes of {plugin}: {e}");
            Vec::new()
        }
    };
    for volume in volumes {
        if let Err(e) = rt
            .docker()
            .remove_volume(
                &volume.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        {
            eprintln!("cleanup: cannot remove the volume {}: {e}", volume.name);
        }
    }
}
