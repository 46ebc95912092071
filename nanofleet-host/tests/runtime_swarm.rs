//! The Swarm runtime against a real single-node swarm on the machine's engine. Nothing here is
//! skipped: without a reachable engine these tests fail with the runtime's own error.
//!
//! The first test in initialises a swarm when the engine is not in one (advertising on
//! loopback: one node), and the last test out leaves it again and removes what joining made
//! (`docker_gwbridge`), so the engine is left as it was found. An engine already in a swarm
//! is used as it is and left in it. Every test removes the services, secrets, volumes and
//! node labels it made, even when it fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, LocalNodeState, NetworkConnectRequest, PortBinding,
    SwarmInitRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LeaveSwarmOptions, ListSecretsOptions,
    RemoveContainerOptionsBuilder,
};
use futures::{FutureExt as _, StreamExt as _};
use nanofleet_host::labels;
use nanofleet_host::names::{self, Instance};
use nanofleet_host::runtime::swarm::data_label;
use nanofleet_host::runtime::{
    ContainerSpec, DockerRuntime, EventAction, LogOptions, Runtime, RuntimeError, SwarmRuntime,
};
use nanofleet_sdk::manifest::Filesystem;
use serde_json::{Value, json};
use tokio::sync::{Mutex, RwLock};

use nanofleet_test_support::*;

/// Held (shared) by every running test; the last one out takes it alone to restore the engine.
static SWARM_USERS: RwLock<()> = RwLock::const_new(());
/// `Some(whether docker_gwbridge existed before)` while a swarm these tests initialised is up.
static INITIALISED: Mutex<Option<bool>> = Mutex::const_new(None);

const TOKEN: &str = "swarm-test-token-0123456789abcdefghijklmnopq";

fn docker() -> Docker {
    Docker::connect_with_local_defaults().expect("a Docker client")
}

async fn swarm_state(docker: &Docker) -> LocalNodeState {
    docker
        .info()
        .await
        .unwrap_or_else(|e| panic!("the engine does not answer: {e}"))
        .swarm
        .and_then(|s| s.local_node_state)
        .unwrap_or(LocalNodeState::EMPTY)
}

async fn ensure_swarm() {
    let mut initialised = INITIALISED.lock().await;
    let docker = docker();
    if swarm_state(&docker).await == LocalNodeState::ACTIVE {
        return;
    }
    let gwbridge_existed = docker
        .inspect_network("docker_gwbridge", None)
        .await
        .is_ok();
    docker
        .init_swarm(SwarmInitRequest {
            listen_addr: Some("127.0.0.1:2377".into()),
            advertise_addr: Some("127.0.0.1".into()),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("cannot initialise a single-node swarm: {e}"));
    *initialised = Some(gwbridge_existed);
}

async fn restore_engine() {
    let mut initialised = INITIALISED.lock().await;
    let Some(gwbridge_existed) = initialised.take() else {
        return;
    };
    let docker = docker();
    if let Err(e) = docker
        .leave_swarm(Some(LeaveSwarmOptions { force: true }))
        .await
    {
        eprintln!("cleanup: cannot leave the swarm: {e}");
        return;
    }
    if !gwbridge_existed {
        // Containers of tasks may still be detaching from it for a moment.
        for _ in 0..50 {
            match docker.remove_network("docker_gwbridge").await {
                Ok(()) => break,
                Err(_)
                    if docker
                        .inspect_network("docker_gwbridge", None)
                        .await
                        .is_err() =>
                {
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

fn runtime() -> SwarmRuntime {
    SwarmRuntime::connect().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a test body on a swarm, then removes whatever the plugins left, then (if no other test
/// runs) restores the engine, and only then reports the outcome.
async fn on_swarm(plugins: &[&str], body: impl Future<Output = ()>) {
    let users = SWARM_USERS.read().await;
    ensure_swarm().await;
    let outcome = AssertUnwindSafe(tokio::time::timeout(TEST_TIMEOUT, body))
        .catch_unwind()
        .await;
    let rt = runtime();
    for plugin in plugins {
        let instance = Instance::default();
        if let Err(e) = rt.remove(&instance.container_name(plugin)).await {
            eprintln!("cleanup: cannot remove the service of {plugin}: {e}");
        }
        if let Err(e) = rt.remove_volume(&instance, plugin).await {
            eprintln!("cleanup: cannot remove the data of {plugin}: {e}");
        }
    }
    drop(users);
    if let Ok(_exclusive) = SWARM_USERS.try_write() {
        if let Err(e) = rt.remove_network_if_unused().await {
            eprintln!("cleanup: cannot remove the overlays: {e}");
        }
        restore_engine().await;
    }
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(Err(_)) => panic!("the test did not finish within {TEST_TIMEOUT:?}"),
        Ok(Ok(())) => {}
    }
}

fn spec(plugin: &str, image: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new(plugin, image, "0.1.0", 8080);
    spec.env = BTreeMap::from([
        ("NANO_PLUGIN_ID".to_owned(), plugin.to_owned()),
        ("NANO_INTERNAL_TOKEN".to_owned(), TOKEN.to_owned()),
        // The plugin refuses to start without the token: a running task read it from its file.
        (
            "NANOFLEET_REQUIRE_AGENT_SIGNATURE".to_owned(),
            "1".to_owned(),
        ),
    ]);
    spec.secrets = BTreeSet::from(["NANO_INTERNAL_TOKEN".to_owned()]);
    spec
}

/// The secrets the engine holds for `plugin`.
async fn secrets_of(plugin: &str) -> Vec<String> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={plugin}", labels::PLUGIN)],
    )]);
    docker()
        .list_secrets(Some(ListSecretsOptions {
            filters: Some(filters),
        }))
        .await
        .expect("list secrets")
        .into_iter()
        .filter_map(|s| s.spec.and_then(|s| s.name))
        .collect()
}

/// The labels of the swarm's only node.
async fn node_labels() -> HashMap<String, String> {
    let nodes = docker().list_nodes(None).await.expect("nodes");
    nodes
        .into_iter()
        .next()
        .and_then(|n| n.spec)
        .and_then(|s| s.labels)
        .unwrap_or_default()
}

/// An agent's stand-in on the overlay: the probe plugin as a standalone container attached
/// to the internal overlay (agents join it so), with its port published on loopback so this
/// test can ask it to fetch URLs from inside the network. Removed on drop of the guard.
struct Agent {
    id: String,
    addr: SocketAddr,
}

impl Agent {
    async fn start(name: &str) -> Self {
        let docker = docker();
        let image = probe_image().await;
        let env = [
            "NANO_PLUGIN_ID=probe",
            "NANO_CONFIG_GREETING=hi",
            "NANO_CONFIG_SECRET=s",
            "NANOFLEET_ALLOWED_HOSTS=*",
        ];
        let body = ContainerCreateBody {
            image: Some(image),
            env: Some(env.iter().map(|s| (*s).to_owned()).collect()),
            labels: Some(HashMap::from([(
                labels::MANAGED_BY.to_owned(),
                TEST_IMAGE_LABEL.to_owned(),
            )])),
            exposed_ports: Some(vec!["8080/tcp".into()]),
            host_config: Some(HostConfig {
                port_bindings: Some(HashMap::from([(
                    "8080/tcp".to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                tmpfs: Some(HashMap::from([("/data".into(), "rw".into())])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let created = docker
            .create_container(Some(options), body)
            .await
            .expect("create the agent container");
        docker
            .connect_network(
                names::NETWORK,
                NetworkConnectRequest {
                    container: created.id.clone(),
                    endpoint_config: None,
                },
            )
            .await
            .expect("an agent container joins the attachable overlay");
        docker
            .start_container(&created.id, None)
            .await
            .expect("start the agent container");
        let inspected = docker
            .inspect_container(&created.id, None)
            .await
            .expect("inspect the agent");
        let port = inspected
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get("8080/tcp").cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse::<u16>().ok())
            .expect("a published port");
        let agent = Self {
            id: created.id,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        agent.wait_healthy().await;
        agent
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = reqwest::Client::new()
                .get(format!("http://{}/healthz", self.addr))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the agent never got healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the probe's `fetch` tool answers for `url`, from inside the overlay.
    async fn fetch(&self, url: &str) -> Result<String, String> {
        let client = reqwest::Client::new();
        let endpoint = format!("http://{}/mcp?agent_id=swarm-test", self.addr);
        let post = |body: Value| {
            client
                .post(&endpoint)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .timeout(Duration::from_secs(30))
                .body(body.to_string())
        };
        let init = post(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "swarm-test", "version": "1.0.0"}}}),
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
        let session = init
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .ok_or("no session id")?
            .to_owned();
        let reply: Value = post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "fetch", "arguments": {"url": url}}}))
        .header("mcp-session-id", session)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
        let text = reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if reply["result"]["isError"] == json!(true) {
            Err(text)
        } else {
            Ok(text)
        }
    }

    async fn remove(self) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        if let Err(e) = docker().remove_container(&self.id, Some(options)).await {
            eprintln!("cleanup: cannot remove the agent container: {e}");
        }
    }
}

/// Retries `fetch` until it answers (a fresh service's name takes a moment to resolve on the
/// overlay), up to 30 s.
async fn fetch_eventually(agent: &Agent, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match agent.fetch(url).await {
            Ok(text) => return text,
            Err(e) if Instant::now() > deadline => panic!("{url} never answered: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_runs_as_a_hardened_service_reachable_on_the_overlay() {
    let plugin = unique_plugin();
    on_swarm(&[&plugin], async {
        let rt = runtime();
        rt.ping().await.expect("a swarm manager");
        let image = notes_image().await;
        let spec = spec(&plugin, &image);
        let name = names::container_name(&plugin);

        let started = Instant::now();
        let state = rt.create_and_start(&spec).await.expect("created");
        eprintln!("[swarm] create → task running: {:.1?}", started.elapsed());
        assert!(state.running, "{state:?}");
        assert_eq!(
            (state.name.as_str(), state.plugin.as_str()),
            (name.as_str(), plugin.as_str())
        );
        assert_eq!(state.config_hash, Some(spec.config_hash()));
        assert!(
            state.ip.is_some(),
            "a virtual address on the overlay: {state:?}"
        );

        // The token is a secret file, never in the service's definition.
        let service = docker()
            .inspect_service(&name, None)
            .await
            .expect("the service");
        let definition = serde_json::to_string(&service.spec).expect("json");
        assert!(!definition.contains(TOKEN), "{definition}");
        let task = service
            .spec
            .as_ref()
            .and_then(|s| s.task_template.clone())
            .expect("a task template");
        let container = task.container_spec.clone().expect("a container spec");
        let secrets = container.secrets.clone().unwrap_or_default();
        assert_eq!(secrets.len(), 1, "{secrets:?}");
        let file = secrets[0].file.clone().expect("a file");
        assert_eq!(file.name.as_deref(), Some("NANO_INTERNAL_TOKEN"));
        assert_eq!(file.mode, Some(0o400));
        assert_eq!(file.uid.as_deref(), Some("65532"));
        assert_eq!(secrets_of(&plugin).await.len(), 1);
        assert!(
            !container
                .env
                .unwrap_or_default()
                .iter()
                .any(|e| e.starts_with("NANO_INTERNAL_TOKEN")),
        );

        // Hardening that every engine keeps, and what this one dropped, said.
        assert_eq!(container.read_only, Some(true));
        assert_eq!(container.user.as_deref(), Some("65532:65532"));
        assert_eq!(container.capability_drop, Some(vec!["ALL".to_owned()]));
        let limits = task.resources.and_then(|r| r.limits).expect("limits");
        assert_eq!(limits.pids, Some(256));
        assert_eq!(limits.memory_bytes, Some(256 * 1024 * 1024));
        let hardening = rt
            .hardening(&spec)
            .await
            .expect("read back")
            .expect("the service");
        assert!(hardening.base, "{hardening:?}");
        eprintln!(
            "[swarm] settings this engine dropped: {:?}",
            hardening.missing()
        );

        // State stays where its volume is.
        let label = data_label(&Instance::default(), &plugin);
        let constraints = task
            .placement
            .and_then(|p| p.constraints)
            .unwrap_or_default();
        assert_eq!(constraints, vec![format!("node.labels.{label}==true")]);
        assert_eq!(
            node_labels().await.get(&label).map(String::as_str),
            Some("true")
        );

        // Rolling updates start the new task first and roll back on failure.
        let update = service
            .spec
            .as_ref()
            .and_then(|s| s.update_config.clone())
            .expect("an update config");
        assert_eq!(
            update.order.map(|o| o.to_string()).as_deref(),
            Some("start-first")
        );
        assert_eq!(
            update.failure_action.map(|a| a.to_string()).as_deref(),
            Some("rollback")
        );

        // The single-engine backend does not take the service's task for one of its own.
        let docker_rt = DockerRuntime::connect().expect("docker");
        let own = docker_rt.list_managed().await.expect("list");
        assert!(own.iter().all(|c| c.plugin != plugin), "{own:?}");

        // Logs come through the service.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = rt.logs(&name, LogOptions::tail(50)).await.expect("logs");
            if lines.iter().any(|l| l.contains("serving")) {
                break;
            }
            assert!(Instant::now() < deadline, "no `serving` line: {lines:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // An agent attached to the overlay reaches it by its name, as `.mcp.json` says.
        let agent = Agent::start(&format!("{plugin}-agent")).await;
        let url = format!("http://{name}:8080/healthz");
        let answer = fetch_eventually(&agent, &url).await;
        assert!(answer.starts_with("200"), "{answer}");

        // Stop scales to zero; start brings a task back.
        rt.stop(&name).await.expect("stop");
        let stopped = rt.inspect(&name).await.expect("inspect").expect("exists");
        assert!(!stopped.running, "{stopped:?}");
        assert_eq!(stopped.status, "exited");
        rt.stop(&name).await.expect("stopping twice is fine");
        rt.start(&name).await.expect("start");
        assert!(
            rt.inspect(&name)
                .await
                .expect("inspect")
                .expect("exists")
                .running
        );
        let answer = fetch_eventually(&agent, &url).await;
        assert!(answer.starts_with("200"), "{answer}");
        agent.remove().await;

        // Removing leaves nothing: no service, no secret; then the data and its label go.
        rt.remove(&name).await.expect("remove");
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);
        assert!(secrets_of(&plugin).await.is_empty());
        rt.remove(&name).await.expect("removing twice is fine");
        rt.remove_volume(&Instance::default(), &plugin)
            .await
            .expect("remove the data");
        let volume = Instance::default().volume_name(&plugin);
        assert!(
            docker().inspect_volume(&volume).await.is_err(),
            "{volume} is gone"
        );
        assert!(!node_labels().await.contains_key(&label));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_refused_starts_leave_no_service_and_no_secret() {
    let crashing = unique_plugin();
    let missing = unique_plugin();
    on_swarm(&[&crashing, &missing], async {
        let rt = runtime();
        // An API URL the plugin refuses: it exits at once, every time. Like a container, the
        // service counts as started once its task ran; what follows is reported as it is.
        let mut spec = spec(&crashing, &hello_image().await);
        spec.data = Filesystem::None;
        spec.env.insert("NANO_API_URL".into(), "not a url".into());
        let name = names::container_name(&crashing);
        if let Err(err) = rt.create_and_start(&spec).await {
            assert!(matches!(err, RuntimeError::Engine { .. }), "{err:?}");
        } else {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let state = rt.inspect(&name).await.expect("inspect").expect("exists");
                if !state.running && state.exit_code.is_some_and(|c| c != 0) {
                    break;
                }
                assert!(Instant::now() < deadline, "never seen crashed: {state:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            rt.remove(&name).await.expect("remove");
        }
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);
        assert!(secrets_of(&crashing).await.is_empty());

        let spec = spec_without_image(&missing);
        let err = rt.create_and_start(&spec).await.expect_err("no image");
        assert!(matches!(err, RuntimeError::ImageMissing { .. }), "{err:?}");
        assert_eq!(
            rt.inspect(&names::container_name(&missing))
                .await
                .expect("inspect"),
            None
        );
        assert!(secrets_of(&missing).await.is_empty());

        // Loopback publishing is a single-engine feature, refused with why.
        let mut published = spec_without_image(&missing);
        published.publish_loopback = true;
        let err = rt.create_and_start(&published).await.expect_err("refused");
        assert!(err.to_string().contains("overlay"), "{err}");
    })
    .await;
}

fn spec_without_image(plugin: &str) -> ContainerSpec {
    spec(plugin, "nanofleet-test/absent:never")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_removed_by_hand_is_reported() {
    let plugin = unique_plugin();
    on_swarm(&[&plugin], async {
        let rt = runtime();
        let mut spec = spec(&plugin, &hello_image().await);
        spec.data = Filesystem::None;
        let name = names::container_name(&plugin);
        rt.create_and_start(&spec).await.expect("created");
        let listed = rt.list_managed().await.expect("list");
        let mine = listed.iter().find(|s| s.plugin == plugin).expect("listed");
        assert!(mine.running && mine.name == name, "{mine:?}");

        let mut events = rt.events().await.expect("events");
        docker()
            .delete_service(&name)
            .await
            .expect("removed by hand");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let event = tokio::time::timeout_at(deadline, events.next())
                .await
                .expect("an event within 30 s")
                .expect("the stream goes on")
                .expect("an event");
            if event.plugin == plugin && event.action == EventAction::Destroy {
                assert_eq!(event.container, name);
                break;
            }
        }
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_the_host_did_not_create_is_left_alone() {
    let plugin = unique_plugin();
    on_swarm(&[], async {
        let rt = runtime();
        let name = names::container_name(&plugin);
        let image = hello_image().await;
        let foreign = bollard::models::ServiceSpec {
            name: Some(name.clone()),
            task_template: Some(bollard::models::TaskSpec {
                container_spec: Some(bollard::models::TaskSpecContainerSpec {
                    image: Some(image),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mode: Some(bollard::models::ServiceSpecMode {
                replicated: Some(bollard::models::ServiceSpecModeReplicated { replicas: Some(0) }),
                ..Default::default()
            }),
            ..Default::default()
        };
        docker()
            .create_service(foreign, None)
            .await
            .expect("a foreign service");
        let result = async {
            for outcome in [rt.stop(&name).await, rt.remove(&name).await] {
                assert!(
                    matches!(outcome, Err(RuntimeError::Conflict(_))),
                    "{outcome:?}"
                );
            }
            assert!(matches!(
                rt.inspect(&name).await,
                Err(RuntimeError::Conflict(_))
            ));
            let listed = rt.list_managed().await.expect("list");
            assert!(listed.iter().all(|s| s.name != name), "{listed:?}");
        };
        let outcome = AssertUnwindSafe(result).catch_unwind().await;
        docker().delete_service(&name).await.expect("cleanup");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}
