//! The whole system on the real engine, the way a user runs it: the example plugins as
//! `FROM scratch` images, the host in-process on the Docker runtime, and agents as containers
//! on `nanofleet-net` that read the `.mcp.json` the host wrote and call plugins by their
//! container names. Run by `cargo xtask e2e` (which builds the images first) and in CI.

use nanofleet_host::names;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use nanofleet_build::{
    CargoBuild, CargoOutput, ImageBuild, PluginBuild, PluginImage, build_image, build_plugin,
    build_static,
};
use nanofleet_host::{
    Host, HostConfig, InstallOptions,
    api::{self, ApiConfig, BearerToken, StoreMessages},
    labels,
    runtime::{DockerRuntime, Runtime},
    store::AgentRecord,
};
use serde_json::{Value, json};
use testcontainers::{
    GenericImage, ImageExt,
    core::{Mount, WaitFor, wait::ExitWaitStrategy},
    runners::AsyncRunner,
};

const AGENT_IMAGE: (&str, &str) = ("nanofleet-e2e/agent", "dev");
const INSTANCE: &str = "e2e";
const PLUGINS: [&str; 3] = ["hello", "notes", "kanban"];

/// A package of this workspace, built as plugin images are.
fn workspace_build(package: &str, bin: &str) -> CargoBuild {
    CargoBuild::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .package(package)
        .bin(bin)
        .output(CargoOutput::Capture)
}

async fn engine() -> DockerRuntime {
    let rt = DockerRuntime::connect().unwrap_or_else(|e| panic!("{e}"));
    rt.ping().await.unwrap_or_else(|e| panic!("{e}"));
    rt
}

/// The example images (release profile `image`, cached by binary digest) and the agent image.
async fn images(rt: &DockerRuntime) -> BTreeMap<String, PluginImage> {
    let mut out = BTreeMap::new();
    for plugin in PLUGINS {
        let image = build_plugin(rt, &PluginBuild::new(workspace_build(plugin, plugin)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "[e2e] image {} {:.1} MiB",
            image.tag,
            image.size_bytes as f64 / 1048576.0
        );
        out.insert(plugin.to_owned(), image);
    }
    let binary = tokio::task::spawn_blocking(|| {
        build_static(&workspace_build("nanofleet-e2e", "e2e-agent"))
    })
    .await
    .expect("join")
    .unwrap_or_else(|e| panic!("{e}"))
    .path;
    let mut build = ImageBuild::new(format!("{}:{}", AGENT_IMAGE.0, AGENT_IMAGE.1), binary);
    build.labels = BTreeMap::from([(
        labels::MANAGED_BY.to_owned(),
        "nanofleet-rs-tests".to_owned(),
    )]);
    build_image(rt, &build)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Runs the agent container on `nanofleet-net` with `workspace` mounted, and returns one JSON
/// value per call it made.
async fn run_agent(workspace: &Path, script: Value) -> Vec<Value> {
    let container = GenericImage::new(AGENT_IMAGE.0, AGENT_IMAGE.1)
        .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_exit_code(0)))
        .with_network(names::NETWORK)
        .with_mount(Mount::bind_mount(workspace.to_string_lossy(), "/workspace"))
        .with_env_var("AGENT_SCRIPT", script.to_string())
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .unwrap_or_else(|e| panic!("the agent container failed: {e}"));
    let stdout =
        String::from_utf8(container.stdout_to_vec().await.expect("stdout")).expect("utf-8");
    let lines: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(
        stdout.trim_end().ends_with("done"),
        "the agent did not finish: {stdout}"
    );
    lines
}

fn structured(line: &Value) -> &Value {
    assert_eq!(line["ok"], true, "{line}");
    &line["result"]["structuredContent"]
}

fn text(line: &Value) -> String {
    assert_eq!(line["ok"], true, "{line}");
    line["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

struct Workspaces {
    root: tempfile::TempDir,
}

impl Workspaces {
    fn of(&self, agent: &str) -> PathBuf {
        let path = self.root.path().join("agents").join(agent);
        std::fs::create_dir_all(&path).expect("workspace");
        path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_agents_and_the_host_end_to_end() {
    let started = Instant::now();
    let rt = engine().await;
    let images = images(&rt).await;
    eprintln!("[e2e] images ready after {:.1?}", started.elapsed());

    let dirs = Workspaces {
        root: tempfile::tempdir().expect("tempdir"),
    };
    let data_dir = dirs.root.path().join("host");
    // The host API listens where plugins reach it (the internal network's gateway) and on
    // loopback, for this test; plugins get the former as NANO_API_URL.
    let gateway = rt
        .internal_gateway()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let on_gateway = tokio::net::TcpListener::bind((gateway, 0))
        .await
        .expect("bind gateway");
    let port = on_gateway.local_addr().expect("addr").port();
    let on_loopback = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind loopback");
    let mut config = HostConfig::new(&data_dir);
    config.instance =
        nanofleet_host::names::Instance::new(INSTANCE).expect("the e2e instance name");
    config.auto_link_new_agents = true;
    config.api_url = format!("http://{gateway}:{port}");
    let host = Host::open(config, Arc::new(engine().await))
        .await
        .expect("host");
    let (bearer, token) = BearerToken::load_or_create(&data_dir).expect("api token");
    let token = token.expect("a fresh data directory gets a new token");
    let app = api::router(
        host.clone(),
        Arc::new(bearer),
        Arc::new(StoreMessages::new(host.store().clone())),
        ApiConfig::new(&data_dir),
    );
    let servers = [
        tokio::spawn(axum::serve(on_gateway, app.clone()).into_future()),
        tokio::spawn(axum::serve(on_loopback, app).into_future()),
    ];
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        token,
        http: reqwest::Client::new(),
    };

    let outcome = tokio::time::timeout(
        Duration::from_secs(600),
        scenario(&host, &rt, &images, &dirs, &api),
    )
    .await;
    for server in servers {
        server.abort();
    }
    // Whatever happened, leave nothing of ours behind.
    for plugin in PLUGINS {
        let _ = host.uninstall(plugin, true).await;
    }
    let _ = rt.remove_network_if_unused().await;
    outcome.expect("the scenario finished in time");
    assert_nothing_left(&rt).await;
    eprintln!("[e2e] wall time {:.1?}", started.elapsed());
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

async fn scenario(
    host: &Host,
    rt: &DockerRuntime,
    images: &BTreeMap<String, PluginImage>,
    dirs: &Workspaces,
    api: &Api,
) {
    for plugin in PLUGINS {
        let t = Instant::now();
        let record = host
            .install(images[plugin].manifest.clone(), InstallOptions::default())
            .await
            .unwrap_or_else(|e| panic!("install {plugin}: {e}"));
        eprintln!(
            "[e2e] {plugin} installed and ready in {:.1?} ({} tools)",
            t.elapsed(),
            record.tools.len()
        );
    }
    for agent in ["alice", "bob"] {
        host.register_agent(AgentRecord::new(agent, agent, dirs.of(agent)))
            .await
            .expect("agent");
    }

    // Alice, from her own container, through the URLs in her .mcp.json.
    let alice = run_agent(
        &dirs.of("alice"),
        json!([
            {"server": "hello", "tool": "greet", "args": {"name": "Ada"}},
            {"server": "notes", "tool": "add_note", "args": {"text": "alice's secret"}},
            {"server": "notes", "tool": "list_notes", "args": {}},
            {"server": "kanban", "tool": "create_task", "args": {"title": "write the report"}},
            {"server": "kanban", "tool": "list_tasks", "args": {}},
        ]),
    )
    .await;
    assert_eq!(text(&alice[0]), "Hello, Ada! (asked by agent alice)");
    assert_eq!(structured(&alice[1])["count"], 1);
    assert_eq!(structured(&alice[2])["notes"][0]["text"], "alice's secret");
    assert_eq!(
        structured(&alice[4])["tasks"].as_array().map(Vec::len),
        Some(1)
    );

    // Bob sees none of it, and cannot pass for Alice with his own signature.
    let bob = run_agent(
        &dirs.of("bob"),
        json!([
            {"server": "notes", "tool": "list_notes", "args": {}},
            {"server": "kanban", "tool": "list_tasks", "args": {}},
            {"server": "notes", "tool": "list_notes", "args": {}, "agent_id": "alice"},
        ]),
    )
    .await;
    assert_eq!(structured(&bob[0])["notes"], json!([]));
    assert_eq!(structured(&bob[1])["tasks"], json!([]));
    assert_eq!(
        bob[2]["ok"], false,
        "a forged agent_id must be refused: {}",
        bob[2]
    );
    assert!(
        bob[2]["error"].as_str().unwrap_or_default().contains("403"),
        "{}",
        bob[2]
    );

    // Kanban's callback: assigning a task messages the assignee through the host's internal
    // API, authenticated by kanban's own token and scoped to agents linked to it.
    let assign = run_agent(
        &dirs.of("alice"),
        json!([{"server": "kanban", "tool": "assign_task", "args": {"id": 1, "assignee": "bob"}}]),
    )
    .await;
    assert_eq!(structured(&assign[0])["notified"], true, "{}", assign[0]);
    let messages = host
        .store()
        .messages_for_agent("bob")
        .await
        .expect("messages");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].plugin, "kanban");
    assert!(
        messages[0].content.contains("write the report"),
        "{:?}",
        messages[0]
    );
    let bob_tasks = run_agent(
        &dirs.of("bob"),
        json!([{"server": "kanban", "tool": "list_tasks", "args": {}}]),
    )
    .await;
    assert_eq!(
        structured(&bob_tasks[0])["tasks"][0]["title"],
        "write the report"
    );

    // The kanban UI through the host's proxy: refused without the host's credentials, served
    // with a UI session (the plugin verifies the nf_token the proxy mints for it).
    let ui = format!("{}/api/plugins/kanban/ui/", api.base);
    let refused = api.http.get(&ui).send().await.expect("proxy");
    assert_eq!(refused.status(), 401);
    let session: Value = api
        .http
        .post(format!("{}/api/plugins/kanban/ui-session", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("ui-session")
        .json()
        .await
        .expect("json");
    let url = format!("{}{}", api.base, session["url"].as_str().expect("url"));
    let page = api.http.get(&url).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.expect("html").contains("api/tasks"),
        "the board page"
    );
    let tasks_url = url.replace("/ui/?", "/ui/api/tasks?");
    let board: Value = api
        .http
        .get(&tasks_url)
        .send()
        .await
        .expect("tasks")
        .json()
        .await
        .expect("json");
    assert_eq!(board["tasks"][0]["assignee"], "bob", "{board}");

    // Access ends with the link. A copy of Alice's .mcp.json kept from before (as anyone who
    // read her workspace could keep one) stops working once she is unlinked from notes and has
    // moved to another workspace; the file the host writes in her new workspace works.
    let kept = dirs.of("alice-kept");
    std::fs::copy(dirs.of("alice").join(".mcp.json"), kept.join(".mcp.json")).expect("copy");
    host.unlink("alice", "notes").await.expect("unlink");
    host.register_agent(AgentRecord::new("alice", "alice", dirs.of("alice-moved")))
        .await
        .expect("move");
    // The plugins keep an answer about a link for at most this long.
    tokio::time::sleep(nanofleet_sdk::contracts::callback::LINK_CACHE_TTL + Duration::from_secs(1))
        .await;
    let stale = run_agent(
        &kept,
        json!([
            {"server": "notes", "tool": "list_notes", "args": {}},
            {"server": "hello", "tool": "greet", "args": {"name": "Ada"}},
        ]),
    )
    .await;
    for line in &stale {
        assert_eq!(line["ok"], false, "an old URL must stop working: {line}");
        assert!(
            line["error"].as_str().unwrap_or_default().contains("403"),
            "{line}"
        );
    }
    let moved = run_agent(
        &dirs.of("alice-moved"),
        json!([{"server": "hello", "tool": "greet", "args": {"name": "Ada"}}]),
    )
    .await;
    assert_eq!(text(&moved[0]), "Hello, Ada! (asked by agent alice)");

    // The containers are what the host says they are.
    let ours: Vec<_> = rt
        .list_managed()
        .await
        .expect("list")
        .into_iter()
        .filter(|c| c.instance.as_deref() == Some(INSTANCE))
        .collect();
    assert_eq!(ours.len(), PLUGINS.len(), "{ours:?}");
    assert!(ours.iter().all(|c| c.running));
}

/// Nothing the host created is left: no container, volume or network with its label.
async fn assert_nothing_left(rt: &DockerRuntime) {
    let containers = rt
        .list_managed()
        .await
        .expect("list")
        .into_iter()
        .filter(|c| c.instance.as_deref() == Some(INSTANCE))
        .count();
    assert_eq!(containers, 0, "managed containers left behind");
    let filter = format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE);
    let docker = rt.docker();
    let volumes = docker
        .list_volumes(Some(
            bollard::query_parameters::ListVolumesOptionsBuilder::default()
                .filters(&std::collections::HashMap::from([(
                    "label",
                    vec![filter.as_str()],
                )]))
                .build(),
        ))
        .await
        .expect("volumes")
        .volumes
        .unwrap_or_default();
    let ours: Vec<_> = volumes
        .iter()
        .filter(|v| {
            let instance = names::Instance::new(INSTANCE).expect("the e2e instance name");
            PLUGINS.iter().any(|p| v.name == instance.volume_name(p))
        })
        .map(|v| v.name.clone())
        .collect();
    assert!(ours.is_empty(), "volumes left behind: {ours:?}");
    let networks = docker
        .list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(&std::collections::HashMap::from([(
                    "label",
                    vec![filter.as_str()],
                )]))
                .build(),
        ))
        .await
        .expect("networks");
    assert!(
        networks.is_empty(),
        "networks left behind: {:?}",
        networks.iter().map(|n| n.name.clone()).collect::<Vec<_>>()
    );
}
