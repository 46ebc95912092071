//! The host against the real engine: install, links, uninstall, restart, upgrade, the
//! reconciler, and each NanoFleet host defect this project must not repeat
//! (../shared/research/nanofleet-host.md, "defects"): the test named for it would fail on
//! that behaviour. Nothing is skipped; without an engine these tests fail with its error.

use nanofleet_host::names;
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use nanofleet_host::{
    Host, HostConfig, HostError, InstallOptions,
    host::Action,
    labels,
    runtime::{DockerRuntime, Runtime, RuntimeError},
    store::{AgentRecord, Status},
};
use nanofleet_sdk::manifest::Manifest;
use nanofleet_test_support::*;
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

fn hello_manifest(name: &str) -> Manifest {
    Manifest::new(name, "0.1.0", HELLO_IMAGE, 8080).with_description("hello, for host tests")
}

struct Fixture {
    host: Host,
    rt: DockerRuntime,
    dir: tempfile::TempDir,
}

async fn fixture(tweak: impl FnOnce(&mut HostConfig)) -> Fixture {
    hello_image().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = HostConfig::new(dir.path().join("host"));
    config.api_url = "http://127.0.0.1:9".into();
    config.ready_timeout = Duration::from_secs(30);
    // Tests run in parallel on one engine, each host with its own containers.
    config.instance = names::Instance::new(unique("test")).expect("instance");
    tweak(&mut config);
    let host = Host::open(config, Arc::new(runtime().await))
        .await
        .expect("host opens");
    Fixture {
        host,
        rt: runtime().await,
        dir,
    }
}

impl Fixture {
    fn workspace(&self, agent: &str) -> std::path::PathBuf {
        let path = self.dir.path().join("agents").join(agent);
        std::fs::create_dir_all(&path).expect("workspace");
        path
    }

    async fn agent(&self, id: &str) -> std::path::PathBuf {
        let ws = self.workspace(id);
        self.host
            .register_agent(AgentRecord::new(id, id, &ws))
            .await
            .expect("agent");
        ws
    }

    async fn containers_of(&self, plugin: &str) -> Vec<String> {
        self.rt
            .list_managed()
            .await
            .expect("list")
            .into_iter()
            .filter(|c| c.plugin == plugin)
            .map(|c| c.name)
            .collect()
    }
}

fn mcp_servers(workspace: &Path) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(workspace.join(".mcp.json")).unwrap_or_else(|_| "{}".into());
    let doc: Value = serde_json::from_str(&text).expect(".mcp.json is JSON");
    doc["mcpServers"].as_object().cloned().unwrap_or_default()
}

/// `greet` of the hello plugin `plugin`, called through the host for `agent`.
async fn greet(host: &Host, plugin: &str, agent: &str, who: &str) -> String {
    let result = host
        .call(
            plugin,
            agent,
            "greet",
            json!({"name": who}).as_object().cloned().expect("object"),
        )
        .await
        .expect("call");
    nanofleet_sdk::testing::result_text(&result)
}

async fn call_url(url: &str, tool: &str, args: Value) -> Result<String, String> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = ().serve(transport).await.map_err(|e| e.to_string())?;
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = args.as_object().cloned();
    let result = client.call_tool(params).await.map_err(|e| e.to_string())?;
    let _ = client.cancel().await;
    Ok(nanofleet_sdk::testing::result_text(&result))
}

#[tokio::test]
async fn install_registers_tools_and_a_linked_agents_url_answers() {
    let rt = runtime().await;
    let name = unique("ht-install");
    with_cleanup(&rt, &[&name], async {
        // Development mode: the URL written to .mcp.json is reachable from this process.
        let fx = fixture(|c| c.publish_loopback = true).await;
        let started = Instant::now();
        let record = fx
            .host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        eprintln!(
            "[timing] install-to-ready (hello): {:.0?}",
            started.elapsed()
        );
        assert_eq!(record.status, Status::Running);
        let tools: Vec<&str> = record
            .tools
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(tools, ["greet"]);

        let ws = fx.agent("agent-1").await;
        fx.host.link("agent-1", &name).await.expect("link");
        let servers = mcp_servers(&ws);
        let url = servers[&name]["url"].as_str().expect("url").to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.contains("agent_id=agent-1&agent_sig=v1."),
            "{url}"
        );
        let text = call_url(&url, "greet", json!({"name": "Ada"}))
            .await
            .expect("call");
        assert_eq!(text, "Hello, Ada! (asked by agent agent-1)");

        // Defect 8: another agent id with agent-1's signature is refused.
        let forged = url.replace("agent_id=agent-1", "agent_id=agent-2");
        let err = call_url(&forged, "greet", json!({"name": "Ada"}))
            .await
            .expect_err("forged");
        assert!(err.contains("403") || err.contains("signature"), "{err}");
        let unsigned = url.split("&agent_sig").next().expect("prefix").to_owned();
        assert!(
            call_url(&unsigned, "greet", json!({"name": "Ada"}))
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test]
async fn the_written_url_is_the_container_name_and_the_host_calls_through_it() {
    let rt = runtime().await;
    let name = unique("ht-url");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let ws = fx.agent("a").await;
        fx.host.link("a", &name).await.expect("link");
        let url = mcp_servers(&ws)[&name]["url"]
            .as_str()
            .expect("url")
            .to_owned();
        assert!(
            url.starts_with(&format!(
                "http://nanofleet-plugin-{name}.{}:8080/mcp?agent_id=a&agent_sig=v1.",
                fx.host.config().instance
            )),
            "{url}"
        );
        assert_eq!(
            greet(&fx.host, &name, "a", "Bo").await,
            "Hello, Bo! (asked by agent a)"
        );
    })
    .await;
}

#[tokio::test]
async fn uninstall_leaves_no_container_and_unlinks_every_agent() {
    let rt = runtime().await;
    let name = unique("ht-rm");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let ws = fx.agent("a").await;
        std::fs::write(
            ws.join(".mcp.json"),
            r#"{"mcpServers":{"mine":{"url":"http://example/mcp"}}}"#,
        )
        .expect("write");
        fx.host.link("a", &name).await.expect("link");
        assert!(mcp_servers(&ws).contains_key(&name));
        fx.host.uninstall(&name, false).await.expect("uninstall");
        assert!(fx.containers_of(&name).await.is_empty());
        let servers = mcp_servers(&ws);
        assert!(!servers.contains_key(&name), "{servers:?}");
        assert!(
            servers.contains_key("mine"),
            "entries the host does not own are kept"
        );
        assert!(matches!(
            fx.host.plugin(&name).await,
            Err(HostError::NotInstalled(_))
        ));
        assert!(matches!(
            fx.host.uninstall(&name, false).await,
            Err(HostError::NotInstalled(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn defect_1_a_failed_install_leaves_nothing_and_a_retry_works() {
    let rt = runtime().await;
    let name = unique("ht-fail");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|c| c.ready_timeout = Duration::from_secs(3)).await;
        fx.agent("a").await;
        // The plugin serves on 8080; a manifest saying 9999 never gets an answer.
        let mut wrong = hello_manifest(&name);
        wrong.mcp_port = 9999;
        let err = fx
            .host
            .install(wrong, InstallOptions::default())
            .await
            .expect_err("not ready");
        let message = err.to_string();
        assert!(matches!(err, HostError::NotReady { .. }), "{message}");
        assert!(
            message.contains("serving"),
            "the error carries the plugin's log lines: {message}"
        );
        assert!(
            fx.containers_of(&name).await.is_empty(),
            "no orphan container"
        );
        assert!(
            fx.host
                .store()
                .get_plugin(&name)
                .await
                .expect("store")
                .is_none(),
            "no row"
        );
        assert!(
            fx.host
                .store()
                .list_links()
                .await
                .expect("links")
                .is_empty(),
            "no link"
        );
        // The retry does not trip over a leftover name.
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("retry");
    })
    .await;
}

#[tokio::test]
async fn defect_2_restart_and_uninstall_work_on_stopped_and_deleted_containers() {
    let rt = runtime().await;
    let name = unique("ht-restart");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let container = fx.host.config().instance.container_name(&name);
        fx.rt.stop(&container).await.expect("stop");
        fx.rt
            .stop(&container)
            .await
            .expect("stopping twice is fine");
        let record = fx
            .host
            .restart(&name)
            .await
            .expect("restart a stopped container");
        assert_eq!(record.status, Status::Running);
        assert!(
            fx.rt
                .inspect(&container)
                .await
                .expect("inspect")
                .is_some_and(|c| c.running)
        );
        fx.rt.remove(&container).await.expect("remove");
        fx.host
            .restart(&name)
            .await
            .expect("restart a deleted container");
        assert!(
            fx.rt
                .inspect(&container)
                .await
                .expect("inspect")
                .is_some_and(|c| c.running)
        );
        fx.rt.stop(&container).await.expect("stop");
        fx.host
            .uninstall(&name, false)
            .await
            .expect("uninstall a stopped plugin");
    })
    .await;
}

#[tokio::test]
async fn defect_3_the_reconciler_repairs_removed_and_stopped_containers() {
    let rt = runtime().await;
    let name = unique("ht-reconcile");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let container = fx.host.config().instance.container_name(&name);

        let started = Instant::now();
        let idle = fx.host.reconcile().await.expect("reconcile");
        eprintln!(
            "[timing] reconcile pass with nothing to do (1 plugin): {:.0?}",
            started.elapsed()
        );
        assert!(idle.is_noop(), "{idle:?}");

        fx.rt.remove(&container).await.expect("docker rm -f");
        let started = Instant::now();
        let report = fx.host.reconcile().await.expect("reconcile");
        eprintln!(
            "[timing] reconcile recreating a removed plugin: {:.0?}",
            started.elapsed()
        );
        assert_eq!(report.actions, [Action::Created(name.clone())]);
        assert!(
            fx.rt
                .inspect(&container)
                .await
                .expect("inspect")
                .is_some_and(|c| c.running)
        );

        fx.rt.stop(&container).await.expect("stop");
        let report = fx.host.reconcile().await.expect("reconcile");
        assert_eq!(report.actions, [Action::Started(name.clone())]);
        let again = fx.host.reconcile().await.expect("reconcile");
        assert!(
            again.is_noop(),
            "running it twice changes nothing: {again:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn defect_3_engine_events_trigger_repair_without_a_manual_pass() {
    let rt = runtime().await;
    let name = unique("ht-events");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let host = fx.host.clone();
        let reconciler = tokio::spawn(async move {
            host.run_reconciler(Duration::from_secs(3600), async {
                let _ = stop_rx.await;
            })
            .await;
        });
        let container = fx.host.config().instance.container_name(&name);
        let before = fx
            .rt
            .inspect(&container)
            .await
            .expect("inspect")
            .expect("exists")
            .id;
        tokio::time::sleep(Duration::from_millis(500)).await;
        fx.rt.remove(&container).await.expect("docker rm -f");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = fx.rt.inspect(&container).await.expect("inspect")
                && c.running
                && c.id != before
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not recreated after the destroy event"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop_tx.send(());
        reconciler.await.expect("reconciler stops");
    })
    .await;
}

#[tokio::test]
async fn a_host_restart_makes_no_duplicates_and_rolls_back_a_crashed_install() {
    let rt = runtime().await;
    let (name, crashed) = (unique("ht-reopen"), unique("ht-crashed"));
    with_cleanup(&rt, &[&name, &crashed], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        // An install that died half-way: a row still `installing`, and its container.
        let token = nanofleet_sdk::identity::InternalToken::generate();
        let record = nanofleet_host::store::PluginRecord::new(hello_manifest(&crashed));
        fx.host
            .store()
            .put_plugin(&record, &token)
            .await
            .expect("row");
        let mut spec =
            nanofleet_host::runtime::ContainerSpec::new(&crashed, HELLO_IMAGE, "0.1.0", 8080);
        spec.instance = fx.host.config().instance.clone();
        spec.env = BTreeMap::from([("NANO_PLUGIN_ID".into(), crashed.clone())]);
        fx.rt
            .create_and_start(&spec)
            .await
            .expect("half-installed container");

        // A second host process on the same data directory.
        let config = fx.host.config().clone();
        drop(fx.host);
        let host = Host::open(config, Arc::new(runtime().await))
            .await
            .expect("reopen");
        let report = host.reconcile().await.expect("reconcile");
        assert_eq!(
            report.actions,
            [Action::RolledBack(crashed.clone())],
            "{report:?}"
        );
        let report = host.reconcile().await.expect("reconcile");
        assert!(report.is_noop(), "{report:?}");
        let ours: Vec<_> = fx
            .rt
            .list_managed()
            .await
            .expect("list")
            .into_iter()
            .filter(|c| c.plugin == name || c.plugin == crashed)
            .collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours[0].name, host.config().instance.container_name(&name));
        assert!(
            host.store()
                .get_plugin(&crashed)
                .await
                .expect("store")
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn defect_4_a_failed_upgrade_keeps_the_old_version_serving() {
    let rt = runtime().await;
    let name = unique("ht-upgrade");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|c| c.ready_timeout = Duration::from_secs(3)).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let container = fx.host.config().instance.container_name(&name);
        let old_id = fx
            .rt
            .inspect(&container)
            .await
            .expect("inspect")
            .expect("exists")
            .id;

        // An image that is not there: refused before anything is touched.
        let mut missing = hello_manifest(&name);
        missing.version = "0.2.0".into();
        missing.image = "nanofleet-test/not-built:0.2.0".into();
        let err = fx
            .host
            .upgrade(missing, InstallOptions::default())
            .await
            .expect_err("no image");
        assert!(
            matches!(err, HostError::Runtime(RuntimeError::ImageMissing { .. })),
            "{err}"
        );

        // A version that never gets ready: removed, and the old one is untouched.
        let mut broken = hello_manifest(&name);
        broken.version = "0.2.0".into();
        broken.mcp_port = 9999;
        let err = fx
            .host
            .upgrade(broken, InstallOptions::default())
            .await
            .expect_err("not ready");
        assert!(matches!(err, HostError::NotReady { .. }), "{err}");
        let now = fx
            .rt
            .inspect(&container)
            .await
            .expect("inspect")
            .expect("still there");
        assert!(
            now.running && now.id == old_id,
            "the old container keeps serving"
        );
        assert_eq!(
            fx.containers_of(&name).await,
            std::slice::from_ref(&container),
            "no staging leftover"
        );
        assert_eq!(
            fx.host
                .plugin(&name)
                .await
                .expect("record")
                .manifest
                .version,
            "0.1.0"
        );
        fx.host
            .call(
                &name,
                "x",
                "greet",
                json!({"name": "Old"}).as_object().cloned().expect("o"),
            )
            .await
            .expect("old one answers");

        // A good upgrade replaces it.
        let mut good = hello_manifest(&name);
        good.version = "0.2.0".into();
        let record = fx
            .host
            .upgrade(good, InstallOptions::default())
            .await
            .expect("upgrade");
        assert_eq!(record.manifest.version, "0.2.0");
        let now = fx
            .rt
            .inspect(&container)
            .await
            .expect("inspect")
            .expect("exists");
        assert!(now.running && now.id != old_id && now.version.as_deref() == Some("0.2.0"));
        assert!(
            fx.host.reconcile().await.expect("reconcile").is_noop(),
            "no drift after the rename"
        );
    })
    .await;
}

/// An image carrying a tool list (as `nanofleet build` labels it): the plan says what the
/// upgrade adds and removes, and making it starts nothing.
#[tokio::test]
async fn an_upgrade_plan_comes_from_the_image_labels_before_anything_starts() {
    const PLANNED_IMAGE: &str = "nanofleet-test/hello-planned:0.2.0";
    let rt = runtime().await;
    let name = unique("ht-plan");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        let record = fx
            .host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let container = fx.host.config().instance.container_name(&name);
        let before = fx.rt.inspect(&container).await.expect("inspect");

        // The hello binary, labelled as a version that drops the first tool and adds one.
        hello_image().await;
        let binary = tokio::task::spawn_blocking(|| cargo_build_static("hello"))
            .await
            .expect("join")
            .expect("hello builds");
        let dropped = record.tools[0]["name"].as_str().expect("name").to_owned();
        let mut tools = record.tools[1..].to_vec();
        tools.push(
            json!({"name": "wave", "description": "Waves.", "inputSchema": {"type": "object"}}),
        );
        let mut build = nanofleet_build::ImageBuild::new(PLANNED_IMAGE, binary);
        build.labels = BTreeMap::from([
            (labels::MANAGED_BY.to_owned(), TEST_IMAGE_LABEL.to_owned()),
            (
                labels::IMAGE_TOOLS.to_owned(),
                serde_json::to_string(&tools).expect("json"),
            ),
        ]);
        nanofleet_build::build_image(&fx.rt, &build)
            .await
            .expect("image builds");

        let mut next = hello_manifest(&name);
        next.version = "0.2.0".into();
        next.image = PLANNED_IMAGE.into();
        let plan = fx.host.plan_upgrade(&next).await.expect("plan");
        let changes = plan.tools.expect("the image lists its tools");
        assert_eq!(changes.added, ["wave"]);
        assert_eq!(changes.removed, [dropped]);
        assert!(changes.changed.is_empty(), "{changes:?}");
        assert_eq!(
            (plan.from_version.as_str(), plan.to_version.as_str()),
            ("0.1.0", "0.2.0")
        );
        assert_eq!(
            fx.rt.inspect(&container).await.expect("inspect"),
            before,
            "planning touches no container"
        );
        assert_eq!(
            fx.containers_of(&name).await,
            std::slice::from_ref(&container)
        );

        // An image without the label: the change is unknown, not an error.
        let mut unlabelled = hello_manifest(&name);
        unlabelled.version = "0.3.0".into();
        let plan = fx.host.plan_upgrade(&unlabelled).await.expect("plan");
        assert_eq!(plan.tools, None);
        // Not installed: the host's own error.
        let err = fx
            .host
            .plan_upgrade(&hello_manifest("ht-plan-never-installed"))
            .await
            .expect_err("not installed");
        assert!(matches!(err, HostError::NotInstalled(_)), "{err}");

        let _ = fx
            .rt
            .docker()
            .remove_image(
                PLANNED_IMAGE,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    })
    .await;
}

#[tokio::test]
async fn defect_5_required_env_vars_are_checked_and_injected() {
    let rt = runtime().await;
    let name = unique("ht-keys");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        let manifest = hello_manifest(&name).with_required_env_vars(["ALPHA_KEY", "BETA_KEY"]);
        fx.host
            .store()
            .set_api_key("ALPHA_KEY", "alpha-value")
            .await
            .expect("key");
        let err = fx
            .host
            .install(manifest.clone(), InstallOptions::default())
            .await
            .expect_err("missing");
        match &err {
            HostError::MissingApiKeys { missing, .. } => assert_eq!(missing, &["BETA_KEY"]),
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("BETA_KEY"));
        assert!(fx.containers_of(&name).await.is_empty());
        fx.host
            .store()
            .set_api_key("BETA_KEY", "beta-value")
            .await
            .expect("key");
        fx.host
            .install(manifest, InstallOptions::default())
            .await
            .expect("install");
        let inspected = fx
            .rt
            .docker()
            .inspect_container(&fx.host.config().instance.container_name(&name), None)
            .await
            .expect("inspect");
        let env: HashMap<String, String> = inspected
            .config
            .and_then(|c| c.env)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        assert_eq!(
            env.get("ALPHA_KEY").map(String::as_str),
            Some("alpha-value")
        );
        assert_eq!(env.get("BETA_KEY").map(String::as_str), Some("beta-value"));
        assert_eq!(env.get("NANO_PLUGIN_ID"), Some(&name));
        assert_eq!(
            env.get("NANOFLEET_REQUIRE_AGENT_SIGNATURE")
                .map(String::as_str),
            Some("1")
        );
        assert!(
            env.get("NANO_INTERNAL_TOKEN")
                .is_some_and(|t| t.len() >= 43),
            "256-bit token"
        );
        // Rotating a key is configuration drift: the reconciler recreates the container.
        fx.host
            .store()
            .set_api_key("BETA_KEY", "rotated")
            .await
            .expect("key");
        let report = fx.host.reconcile().await.expect("reconcile");
        assert_eq!(report.actions, [Action::Recreated(name.clone())]);
    })
    .await;
}

#[tokio::test]
async fn defect_9_unlink_rewrites_mcp_json_and_nothing_brings_the_link_back() {
    let rt = runtime().await;
    let name = unique("ht-unlink");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|c| c.auto_link_new_agents = true).await;
        fx.host.install(hello_manifest(&name), InstallOptions::default()).await.expect("install");
        let (a, b) = (fx.agent("a").await, fx.agent("b").await);
        assert!(mcp_servers(&a).contains_key(&name) && mcp_servers(&b).contains_key(&name), "auto-linked");
        let mut events = fx.host.subscribe();
        assert!(fx.host.unlink("a", &name).await.expect("unlink"));
        assert!(!mcp_servers(&a).contains_key(&name));
        let event = events.try_recv().expect("an event for the application");
        assert!(matches!(event, nanofleet_host::HostEvent::AgentConfigChanged { ref agent_id, ref removed, .. } if agent_id == "a" && removed.as_slice() == std::slice::from_ref(&name)), "{event:?}");
        fx.host.restart(&name).await.expect("restart");
        fx.host.reconcile().await.expect("reconcile");
        assert!(!mcp_servers(&a).contains_key(&name), "the unlink stays");
        assert!(mcp_servers(&b).contains_key(&name), "b keeps its link");
        // Drift in .mcp.json is repaired.
        std::fs::write(b.join(".mcp.json"), "{\"mcpServers\":{}}").expect("write");
        let report = fx.host.reconcile().await.expect("reconcile");
        assert_eq!(report.actions, [Action::LinkedAgent("b".into())]);
        assert!(mcp_servers(&b).contains_key(&name));
    })
    .await;
}

/// Identity of a file as the reconciler sees it: a rewrite is a new inode.
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).expect("file").ino()
}

#[tokio::test]
async fn reconcile_rewrites_only_the_agents_whose_links_or_files_changed() {
    let rt = runtime().await;
    let name = unique("ht-sync");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|c| c.auto_link_new_agents = true).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let (a, b, c) = (
            fx.agent("a").await,
            fx.agent("b").await,
            fx.agent("c").await,
        );
        let files = [
            a.join(".mcp.json"),
            b.join(".mcp.json"),
            c.join(".mcp.json"),
        ];
        // The first pass reads every file; the next ones only look at them.
        for _ in 0..3 {
            assert!(fx.host.reconcile().await.expect("reconcile").is_noop());
        }
        let before: Vec<u64> = files.iter().map(|f| inode(f)).collect();

        // A link dropped in the store by another process (the CLI, say), file untouched.
        assert!(fx.host.store().unlink("a", &name).await.expect("unlink"));
        // An edit by hand that replaces the file.
        std::fs::write(&files[1], "{\"mcpServers\":{}}").expect("write");
        let report = fx.host.reconcile().await.expect("reconcile");
        assert_eq!(
            report.actions,
            [
                Action::LinkedAgent("a".into()),
                Action::LinkedAgent("b".into())
            ]
        );
        assert!(
            !mcp_servers(&a).contains_key(&name),
            "a's entry went with its link"
        );
        assert!(mcp_servers(&b).contains_key(&name), "b's entry is back");
        assert_eq!(inode(&files[2]), before[2], "c's file was not rewritten");
        assert!(fx.host.reconcile().await.expect("reconcile").is_noop());

        // An edit in place that keeps the size and the modification time shows nothing a
        // look at the file can see: the pass that reads every file repairs it.
        let text = std::fs::read_to_string(&files[2]).expect("read");
        let mtime = std::fs::metadata(&files[2])
            .expect("meta")
            .modified()
            .expect("mtime");
        let edited = text.replacen(&name, &"x".repeat(name.len()), 1);
        assert_eq!(edited.len(), text.len());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&files[2])
            .expect("open");
        std::io::Write::write_all(&mut &file, edited.as_bytes()).expect("write in place");
        file.set_modified(mtime).expect("keep the mtime");
        drop(file);
        let mut repaired = None;
        for pass in 0..nanofleet_host::host::AGENT_FILES_FULL_CHECK_EVERY {
            let report = fx.host.reconcile().await.expect("reconcile");
            if !report.is_noop() {
                assert_eq!(report.actions, [Action::LinkedAgent("c".into())]);
                repaired = Some(pass);
                break;
            }
        }
        assert!(
            repaired.is_some(),
            "a full check repairs what a look could not see"
        );
        assert!(mcp_servers(&c).contains_key(&name));
    })
    .await;
}

#[tokio::test]
async fn concurrent_installs_of_one_plugin_are_serialised() {
    let rt = runtime().await;
    let name = unique("ht-race");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        let (a, b) = tokio::join!(
            fx.host
                .install(hello_manifest(&name), InstallOptions::default()),
            fx.host
                .install(hello_manifest(&name), InstallOptions::default()),
        );
        let oks = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(oks, 1, "{a:?} {b:?}");
        assert!(matches!(
            a.err().or(b.err()),
            Some(HostError::AlreadyInstalled(_))
        ));
        assert_eq!(fx.containers_of(&name).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn disabling_stops_and_enabling_starts_across_reconciles() {
    let rt = runtime().await;
    let name = unique("ht-enable");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        fx.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("install");
        let container = fx.host.config().instance.container_name(&name);
        let record = fx.host.set_enabled(&name, false).await.expect("disable");
        assert_eq!(record.status, Status::Stopped);
        assert!(
            fx.rt
                .inspect(&container)
                .await
                .expect("inspect")
                .is_some_and(|c| !c.running)
        );
        assert!(
            fx.host.reconcile().await.expect("reconcile").is_noop(),
            "a disabled plugin stays stopped"
        );
        let record = fx.host.set_enabled(&name, true).await.expect("enable");
        assert_eq!(record.status, Status::Running);
        assert!(
            fx.rt
                .inspect(&container)
                .await
                .expect("inspect")
                .is_some_and(|c| c.running)
        );
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_engine_is_one_plain_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Connecting may fail at once (no socket file) or at the first request: either way, one
    // sentence naming the socket.
    let message = match DockerRuntime::connect_to("unix:///nonexistent/docker.sock") {
        Err(e) => e.to_string(),
        Ok(rt) => Host::open(HostConfig::new(dir.path()), Arc::new(rt))
            .await
            .expect_err("no engine")
            .to_string(),
    };
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains("unix:///nonexistent/docker.sock") && message.contains("dockerd"),
        "{message}"
    );
}

/// The volume a container mounts at `/data`.
async fn data_volume(rt: &DockerRuntime, container: &str) -> Option<String> {
    rt.docker()
        .inspect_container(container, None)
        .await
        .expect("inspect")
        .mounts
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some(names::DATA_DIR))
        .and_then(|m| m.name)
}

/// Reliability defect 1: two hosts on one engine (`--instance`) installing the same plugin
/// took each other's container and mounted each other's data, one's `rm --purge` deleted the
/// other's data, and their reconcilers fought over one name.
#[tokio::test]
async fn instances_sharing_an_engine_never_touch_each_others_plugins() {
    let rt = runtime().await;
    let name = unique("ht-inst");
    with_cleanup(&rt, &[&name], async {
        let a = fixture(|_| {}).await;
        let b = fixture(|_| {}).await;
        let (ia, ib) = (
            a.host.config().instance.clone(),
            b.host.config().instance.clone(),
        );
        a.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("a installs");
        b.host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect("b installs the same plugin");
        let ca = rt
            .inspect(&ia.container_name(&name))
            .await
            .expect("inspect")
            .expect("a's container");
        let cb = rt
            .inspect(&ib.container_name(&name))
            .await
            .expect("inspect")
            .expect("b's container");
        assert_ne!(ca.id, cb.id);
        assert_eq!(ca.instance.as_deref(), Some(ia.name()));
        assert_eq!(cb.instance.as_deref(), Some(ib.name()));
        // Each mounts its own data.
        let va = data_volume(&rt, &ca.name).await.expect("a's volume");
        let vb = data_volume(&rt, &cb.name).await.expect("b's volume");
        assert_eq!(va, ia.volume_name(&name));
        assert_eq!(vb, ib.volume_name(&name));
        assert_ne!(va, vb);
        let labels = rt
            .docker()
            .inspect_volume(&vb)
            .await
            .expect("b's volume")
            .labels;
        assert_eq!(
            labels.get(labels::INSTANCE).map(String::as_str),
            Some(ib.name())
        );
        // Neither reconciler has anything to do: no fight over a name.
        for host in [&a.host, &b.host] {
            let report = host.reconcile().await.expect("reconcile");
            assert!(report.is_noop(), "{report:?}");
        }
        // B purges its plugin: A's container and data stay.
        b.host.uninstall(&name, true).await.expect("b uninstalls");
        let still = rt
            .inspect(&ia.container_name(&name))
            .await
            .expect("inspect")
            .expect("a's container is still there");
        assert_eq!(still.id, ca.id);
        assert!(still.running);
        rt.docker().inspect_volume(&va).await.expect("a's data");
        assert!(
            rt.docker().inspect_volume(&vb).await.is_err(),
            "b's data is gone"
        );
        // And A still serves its agents.
        a.agent("ada").await;
        a.host.link("ada", &name).await.expect("link");
        assert_eq!(
            greet(&a.host, &name, "ada", "Ada").await,
            "Hello, Ada! (asked by agent ada)"
        );
    })
    .await;
}

/// Reliability defect 1, rollback: an install refused because its container's name was taken
/// removed the container that held the name, which it had not created.
#[tokio::test]
async fn a_failed_install_removes_only_what_it_created() {
    let rt = runtime().await;
    let name = unique("ht-taken");
    with_cleanup(&rt, &[&name], async {
        let fx = fixture(|_| {}).await;
        let instance = fx.host.config().instance.clone();
        // Something of this instance already holds the plugin's name (a container left by
        // another process of this host, say).
        let mut spec =
            nanofleet_host::runtime::ContainerSpec::new(&name, HELLO_IMAGE, "0.0.9", 8080);
        spec.instance = instance.clone();
        let before = rt
            .create_and_start(&spec)
            .await
            .expect("the earlier container");
        let err = fx
            .host
            .install(hello_manifest(&name), InstallOptions::default())
            .await
            .expect_err("the name is taken");
        assert!(
            matches!(err, HostError::Runtime(RuntimeError::Conflict(_))),
            "{err:?}"
        );
        let after = rt
            .inspect(&instance.container_name(&name))
            .await
            .expect("inspect")
            .expect("the container the install did not create is still there");
        assert_eq!(after.id, before.id);
        // The failed install left no record either.
        assert!(
            fx.host
                .store()
                .get_plugin(&name)
                .await
                .expect("store")
                .is_none()
        );
    })
    .await;
}
