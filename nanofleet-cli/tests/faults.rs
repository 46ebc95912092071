//! The fault-injection suite: `nanofleet` killed with SIGKILL at every crash point of
//! install, upgrade, uninstall, link and unlink (`nanofleet_host::faults`), then run again.
//! After one reconcile the engine, the store and the agent's `.mcp.json` agree, a second
//! reconcile has nothing to do, nothing is orphaned and nothing is lost: the plugin's data
//! volume stays unless a purge was asked for, and the user's own `.mcp.json` entry stays.
//!
//! Each operation either completes or leaves no trace, whichever the point says: an install
//! that had not recorded the plugin as running is rolled back, an upgrade that had not
//! recorded the new version keeps the old one, an uninstall is finished, a link or unlink that
//! reached the store is written to the agent's file.

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nanofleet_host::{
    faults::{CRASH_AT_ENV, CRASH_POINTS},
    names::Instance,
    runtime::Runtime as _,
    store::SECRET_KEY_ENV,
};
use nanofleet_sdk::manifest::Manifest;
use nanofleet_test_support::{
    engine_proxy::{EngineProxy, Fault},
    *,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nanofleet");

/// The agent of every case, and the entry of its own it keeps in `.mcp.json`.
const AGENT: &str = "a";
const OWN_ENTRY: &str = "my-own-server";

/// One case: its own data directory, instance, plugin and agent workspace.
struct Case {
    dir: tempfile::TempDir,
    instance: Instance,
    plugin: String,
    /// `DOCKER_HOST` for every command: an [`EngineProxy`] in the engine's failure cases.
    docker_host: Option<String>,
}

impl Case {
    fn new() -> Self {
        let case = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            instance: Instance::new(format!("fault-{:08x}", rand::random::<u32>()))
                .expect("instance"),
            plugin: unique_plugin(),
            docker_host: None,
        };
        for (version, file) in [("0.1.0", "v1.json"), ("0.2.0", "v2.json")] {
            let manifest = Manifest::new(&case.plugin, version, HELLO_IMAGE, 8080)
                .with_description("hello, for the fault-injection suite");
            std::fs::write(case.path(file), manifest.to_json_pretty()).expect("manifest");
        }
        std::fs::create_dir_all(case.workspace()).expect("workspace");
        let own = json!({"mcpServers": {OWN_ENTRY: {"command": "my-server"}}});
        std::fs::write(case.workspace().join(".mcp.json"), own.to_string()).expect("own entry");
        case
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn workspace(&self) -> PathBuf {
        self.path("agents/a")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--data-dir")
            .arg(self.path("data"))
            .arg("--instance")
            .arg(self.instance.name())
            .args(args)
            .env_remove(SECRET_KEY_ENV)
            .env_remove(CRASH_AT_ENV)
            .env_remove("NANOFLEET_DATA_DIR")
            .env_remove("NANOFLEET_API_URL")
            .env_remove("NANOFLEET_INSTANCE")
            .env_remove("NANOFLEET_DEV")
            .env_remove("NANOFLEET_SERVER")
            .stdin(Stdio::null());
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        command
    }

    /// Runs a command that must fail with a clear message (not a panic, not a signal);
    /// returns its standard error.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.output(self.command(args)).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "nanofleet {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }

    async fn output(&self, mut command: Command) -> Output {
        tokio::task::spawn_blocking(move || command.output().expect("nanofleet runs"))
            .await
            .expect("join")
    }

    /// Runs a command that must succeed; returns its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.output(self.command(args)).await;
        assert!(
            out.status.success(),
            "nanofleet {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command that must be killed at `point`.
    async fn crash(&self, point: &str, args: &[&str]) {
        let mut command = self.command(args);
        command.env(CRASH_AT_ENV, point);
        let out = self.output(command).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(9),
            "nanofleet {args:?} was to be killed at {point}: {}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains(&format!("killing the process at {point}")),
            "{stderr}"
        );
    }

    async fn install(&self) {
        self.ok(&["install", self.path("v1.json").to_str().expect("utf-8")])
            .await;
    }

    async fn add_agent(&self) {
        let ws = self.workspace();
        self.ok(&[
            "agents",
            "add",
            AGENT,
            "--workspace",
            ws.to_str().expect("utf-8"),
        ])
        .await;
    }

    /// The hello plugin installed, and the agent registered and linked to it.
    async fn install_and_link(&self) {
        self.install().await;
        self.add_agent().await;
        self.link().await;
    }

    async fn link(&self) {
        self.ok(&["agents", "link", AGENT, &self.plugin]).await;
    }

    fn mcp_servers(&self) -> serde_json::Map<String, Value> {
        let text = std::fs::read_to_string(self.workspace().join(".mcp.json")).expect("read");
        let doc: Value = serde_json::from_str(&text).expect(".mcp.json is JSON");
        doc["mcpServers"].as_object().cloned().unwrap_or_default()
    }

    /// Restarts and reconciles, then checks that everything agrees; returns the plugin as
    /// `ls --json` shows it, if installed.
    async fn recover(
        &self,
        rt: &nanofleet_host::runtime::DockerRuntime,
        point: &str,
    ) -> Option<Value> {
        self.ok(&["reconcile"]).await;
        let again = self.ok(&["reconcile"]).await;
        assert_eq!(
            again, "nothing to do\n",
            "{point}: a second pass still had work"
        );

        let listed: Value = serde_json::from_str(&self.ok(&["ls", "--json"]).await).expect("json");
        let plugin = listed
            .as_array()
            .expect("array")
            .iter()
            .find(|p| p["name"] == self.plugin.as_str())
            .cloned();
        let ours: Vec<_> = rt
            .list_managed()
            .await
            .expect("list")
            .into_iter()
            .filter(|c| c.instance.as_deref() == Some(self.instance.name()))
            .collect();
        let servers = self.mcp_servers();
        assert!(
            servers.contains_key(OWN_ENTRY),
            "{point}: the user's entry was lost: {servers:?}"
        );
        let agents: Value =
            serde_json::from_str(&self.ok(&["agents", "ls", "--json"]).await).expect("json");
        let linked = agents
            .as_array()
            .and_then(|all| all.iter().find(|a| a["id"] == AGENT))
            .is_some_and(|a| {
                a["plugins"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p == self.plugin.as_str()))
            });
        assert_eq!(
            servers.contains_key(&self.plugin),
            linked,
            "{point}: the store says linked={linked}, the agent's file {servers:?}"
        );
        match &plugin {
            Some(record) => {
                assert_eq!(record["status"], "running", "{point}: {record}");
                assert_eq!(record["container"]["running"], true, "{point}: {record}");
                let names: Vec<_> = ours.iter().map(|c| c.name.clone()).collect();
                assert_eq!(
                    names,
                    [self.instance.container_name(&self.plugin)],
                    "{point}: one container, the plugin's own"
                );
                // The hello plugin answers as the agent (other cases check their own tools).
                if linked && record["manifest"]["image"] == HELLO_IMAGE {
                    let out = self
                        .ok(&[
                            "call",
                            &self.plugin,
                            "greet",
                            "--agent",
                            AGENT,
                            "--args",
                            r#"{"name":"Ada"}"#,
                        ])
                        .await;
                    assert_eq!(out, "Hello, Ada! (asked by agent a)\n", "{point}");
                }
            }
            None => {
                assert!(ours.is_empty(), "{point}: orphans {ours:?}");
                assert!(!linked, "{point}: a link to a plugin that is not installed");
            }
        }
        plugin
    }

    async fn volume_exists(&self, rt: &nanofleet_host::runtime::DockerRuntime) -> bool {
        rt.docker()
            .inspect_volume(&self.instance.volume_name(&self.plugin))
            .await
            .is_ok()
    }
}

/// Runs `body` for each crash point of `operation`, each in a case of its own.
async fn each_point<F, Fut>(operation: &str, body: F) -> usize
where
    F: Fn(Case, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = runtime().await;
    hello_image().await;
    let mut ran = 0;
    for point in CRASH_POINTS
        .iter()
        .filter(|p| p.starts_with(&format!("{operation}:")))
    {
        let case = Case::new();
        let plugin = case.plugin.clone();
        eprintln!("[faults] {point}");
        with_cleanup(&rt, &[&plugin], body(case, point)).await;
        ran += 1;
    }
    ran
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_during_install() {
    let ran = each_point("install", |case, point| async move {
        let rt = runtime().await;
        case.add_agent().await;
        case.crash(
            point,
            &["install", case.path("v1.json").to_str().expect("utf-8")],
        )
        .await;
        let plugin = case.recover(&rt, point).await;
        // Recorded as running: installed. Before that: rolled back, as if never asked.
        let expect_installed = point == "install:running";
        assert_eq!(plugin.is_some(), expect_installed, "{point}: {plugin:?}");
        assert_eq!(
            case.volume_exists(&rt).await,
            expect_installed || point != "install:recorded",
            "{point}"
        );
    })
    .await;
    assert_eq!(ran, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_during_upgrade() {
    let ran = each_point("upgrade", |case, point| async move {
        let rt = runtime().await;
        case.install_and_link().await;
        case.crash(
            point,
            &["upgrade", case.path("v2.json").to_str().expect("utf-8")],
        )
        .await;
        let plugin = case.recover(&rt, point).await.expect("still installed");
        // The new version counts once recorded; before, the old one serves as it did.
        let expected = if point == "upgrade:recorded" {
            "0.2.0"
        } else {
            "0.1.0"
        };
        assert_eq!(plugin["manifest"]["version"], expected, "{point}: {plugin}");
        assert!(
            case.mcp_servers().contains_key(&case.plugin),
            "{point}: still linked"
        );
        assert!(
            case.volume_exists(&rt).await,
            "{point}: the data volume is kept"
        );
    })
    .await;
    assert_eq!(ran, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_during_uninstall() {
    let ran = each_point("uninstall", |case, point| async move {
        let rt = runtime().await;
        case.install_and_link().await;
        // The last point is reached only when purging.
        let purge = point == "uninstall:volume-removed";
        let mut args = vec!["rm", case.plugin.as_str()];
        if purge {
            args.push("--purge");
        }
        case.crash(point, &args).await;
        let plugin = case.recover(&rt, point).await;
        assert!(
            plugin.is_none(),
            "{point}: the removal is finished: {plugin:?}"
        );
        assert!(!case.mcp_servers().contains_key(&case.plugin), "{point}");
        assert_eq!(
            case.volume_exists(&rt).await,
            !purge,
            "{point}: data kept unless purged"
        );
    })
    .await;
    assert_eq!(ran, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_during_link_and_unlink() {
    let linked = each_point("link", |case, point| async move {
        let rt = runtime().await;
        case.install().await;
        case.add_agent().await;
        case.crash(point, &["agents", "link", AGENT, &case.plugin])
            .await;
        case.recover(&rt, point).await.expect("installed");
        // The store had the link: the agent's file gets it.
        assert!(case.mcp_servers().contains_key(&case.plugin), "{point}");
    })
    .await;
    let unlinked = each_point("unlink", |case, point| async move {
        let rt = runtime().await;
        case.install_and_link().await;
        case.crash(point, &["agents", "unlink", AGENT, &case.plugin])
            .await;
        case.recover(&rt, point).await.expect("installed");
        assert!(!case.mcp_servers().contains_key(&case.plugin), "{point}");
    })
    .await;
    assert_eq!((linked, unlinked), (1, 1));
}

/// Runs `body` on a fresh case whose commands reach the engine through a proxy it controls.
async fn through_a_proxy<F, Fut>(body: F)
where
    F: FnOnce(Case, EngineProxy) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = runtime().await;
    hello_image().await;
    let mut case = Case::new();
    let proxy = EngineProxy::start(case.dir.path());
    case.docker_host = Some(proxy.docker_host());
    let plugin = case.plugin.clone();
    with_cleanup(&rt, &[&plugin], body(case, proxy)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_failing_to_start_the_container_leaves_no_install() {
    through_a_proxy(|case, proxy| async move {
        let rt = runtime().await;
        case.add_agent().await;
        proxy.set(Some(Fault::Fail {
            method: "POST",
            path: "/start",
            status: 500,
        }));
        let stderr = case
            .fails(&["install", case.path("v1.json").to_str().expect("utf-8")])
            .await;
        assert!(proxy.hits() > 0, "the fault was never hit");
        assert!(stderr.contains("injected engine failure"), "{stderr}");
        proxy.set(None);
        let plugin = case.recover(&rt, "install, start failing").await;
        assert!(plugin.is_none(), "{plugin:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_gone_mid_upgrade_keeps_the_old_version_serving() {
    through_a_proxy(|case, proxy| async move {
        let rt = runtime().await;
        case.install_and_link().await;
        // The old container is removed, then the connection dies on the rename.
        proxy.set(Some(Fault::Cut {
            method: "POST",
            path: "/rename",
        }));
        case.fails(&["upgrade", case.path("v2.json").to_str().expect("utf-8")])
            .await;
        assert!(proxy.hits() > 0, "the fault was never hit");
        proxy.set(None);
        let plugin = case
            .recover(&rt, "upgrade, engine gone")
            .await
            .expect("installed");
        assert_eq!(plugin["manifest"]["version"], "0.1.0", "{plugin}");
        assert!(case.volume_exists(&rt).await, "the data volume is kept");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_gone_mid_uninstall_is_finished_when_it_is_back() {
    through_a_proxy(|case, proxy| async move {
        let rt = runtime().await;
        case.install_and_link().await;
        proxy.set(Some(Fault::Cut {
            method: "DELETE",
            path: "/containers/",
        }));
        case.fails(&["rm", &case.plugin]).await;
        assert!(proxy.hits() > 0, "the fault was never hit");
        // While the engine is away, the next pass fails too, and says so.
        case.fails(&["reconcile"]).await;
        proxy.set(None);
        let plugin = case.recover(&rt, "uninstall, engine gone").await;
        assert!(plugin.is_none(), "{plugin:?}");
        assert!(!case.mcp_servers().contains_key(&case.plugin));
        assert!(
            case.volume_exists(&rt).await,
            "no purge was asked: the data stays"
        );
    })
    .await;
}

/// The notes plugin killed (SIGKILL, by the engine) while agents' writes stream in: once the
/// host has restarted it, its store opens and every note a call was told was added is there.
#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_killed_mid_write_keeps_every_acknowledged_note() {
    let rt = runtime().await;
    let image = notes_image().await;
    let case = std::sync::Arc::new(Case::new());
    let plugin = case.plugin.clone();
    let body = {
        let case = std::sync::Arc::clone(&case);
        async move {
            let manifest = Manifest::new(&case.plugin, "0.1.0", &image, 8080)
                .with_description("notes, for the fault-injection suite")
                .to_json_pretty();
            std::fs::write(case.path("notes.json"), manifest).expect("write");
            case.ok(&["install", case.path("notes.json").to_str().expect("utf-8")])
                .await;
            case.add_agent().await;
            case.link().await;

            let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let (case, acknowledged, stop) = (
                        std::sync::Arc::clone(&case),
                        std::sync::Arc::clone(&acknowledged),
                        std::sync::Arc::clone(&stop),
                    );
                    tokio::spawn(async move {
                        let mut n = 0;
                        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                            let text = format!("writer {w} note {n}");
                            let args = json!({ "text": text }).to_string();
                            let out = case
                                .output(case.command(&[
                                    "call",
                                    &case.plugin,
                                    "add_note",
                                    "--agent",
                                    AGENT,
                                    "--args",
                                    &args,
                                ]))
                                .await;
                            if out.status.success() {
                                acknowledged.lock().expect("lock").push(text);
                            }
                            n += 1;
                        }
                    })
                })
                .collect();
            while acknowledged.lock().expect("lock").len() < 20 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let container = case.instance.container_name(&case.plugin);
            rt.docker()
                .kill_container(
                    &container,
                    Some(
                        bollard::query_parameters::KillContainerOptionsBuilder::new()
                            .signal("SIGKILL")
                            .build(),
                    ),
                )
                .await
                .expect("kill");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            for writer in writers {
                writer.await.expect("writer");
            }
            let acknowledged = acknowledged.lock().expect("lock").clone();

            case.recover(&rt, "notes killed mid-write")
                .await
                .expect("still installed");
            let listed: Value = serde_json::from_str(
                &case
                    .ok(&[
                        "call",
                        &case.plugin,
                        "list_notes",
                        "--agent",
                        AGENT,
                        "--json",
                    ])
                    .await,
            )
            .expect("json");
            let stored: Vec<&str> = listed["structuredContent"]["notes"]
                .as_array()
                .expect("notes")
                .iter()
                .filter_map(|n| n["text"].as_str())
                .collect();
            let lost: Vec<&String> = acknowledged
                .iter()
                .filter(|t| !stored.contains(&t.as_str()))
                .collect();
            assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
            eprintln!(
                "[faults] {} notes acknowledged before the kill, {} stored after it",
                acknowledged.len(),
                stored.len()
            );
        }
    };
    with_cleanup(&runtime().await, &[&plugin], body).await;
}

#[test]
fn every_crash_point_belongs_to_an_operation_the_suite_drives() {
    for point in CRASH_POINTS {
        let operation = point.split(':').next().unwrap_or_default();
        assert!(
            ["install", "upgrade", "uninstall", "link", "unlink"].contains(&operation),
            "{point}"
        );
    }
    let _ = Path::new(BIN);
}
