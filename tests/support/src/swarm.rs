//! A single-node swarm for the tests that need one, and an agent's stand-in on its overlay.
//!
//! The first test in initialises a swarm when the engine is not in one (advertising on
//! loopback: one node), and the last test out leaves it again and removes what joining made
//! (`docker_gwbridge`), so the engine is left as it was found. An engine already in a swarm
//! is used as it is and left in it.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, LocalNodeState, NetworkConnectRequest,
    PortBinding, SwarmInitRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LeaveSwarmOptions, ListSecretsOptions, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures::{FutureExt as _, StreamExt as _};
use nanofleet_build::{CargoBuild, CargoOutput, ImageBuild, Profile, build_image};
use nanofleet_host::labels;
use nanofleet_host::names::{self, Instance};
use nanofleet_host::runtime::{Runtime, SwarmRuntime};
use serde_json::{Value, json};
use tokio::sync::{Mutex, RwLock};

use crate::{TEST_IMAGE_LABEL, TEST_TIMEOUT, probe_image};

/// Held (shared) by every running test; the last one out takes it alone to restore the engine.
static SWARM_USERS: RwLock<()> = RwLock::const_new(());
/// `Some(whether docker_gwbridge existed before)` while a swarm these tests initialised is up.
static INITIALISED: Mutex<Option<bool>> = Mutex::const_new(None);

pub fn docker() -> Docker {
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

/// An engine a test starts containers on, and how the test reaches what they publish.
#[derive(Clone)]
pub struct Place {
    /// The engine.
    pub docker: Docker,
    /// The path of the engine's socket on its machine, to mount into a container.
    pub socket: String,
    /// Where published ports bind, on the engine's machine.
    pub publish_ip: String,
    /// Where this test reaches them.
    pub reach_ip: IpAddr,
}

impl Place {
    /// The machine's own engine: ports published on loopback.
    pub fn local() -> Self {
        Self {
            docker: docker(),
            socket: std::env::var("DOCKER_HOST")
                .ok()
                .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
                .unwrap_or_else(|| "/var/run/docker.sock".into()),
            publish_ip: "127.0.0.1".into(),
            reach_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

pub fn swarm_runtime() -> SwarmRuntime {
    SwarmRuntime::connect().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a test body on a swarm, then removes whatever the plugins left, then (if no other test
/// runs) restores the engine, and only then reports the outcome.
pub async fn on_swarm(plugins: &[&str], body: impl Future<Output = ()>) {
    let users = SWARM_USERS.read().await;
    ensure_swarm().await;
    let outcome = AssertUnwindSafe(tokio::time::timeout(TEST_TIMEOUT, body))
        .catch_unwind()
        .await;
    let rt = swarm_runtime();
    for plugin in plugins {
        // Agents first: attached to the overlay, they keep it from being removed.
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match docker()
            .remove_container(&agent_name(plugin), Some(options))
            .await
        {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => eprintln!("cleanup: cannot remove the agent of {plugin}: {e}"),
        }
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

/// The name of the agent container of `plugin`'s test.
pub fn agent_name(plugin: &str) -> String {
    format!("{plugin}-agent")
}

/// An agent's stand-in on the overlay: the probe plugin as a standalone container attached
/// to the internal overlay (agents join it so), with its port published on loopback so this
/// test can ask it to fetch URLs from inside the network. Removed on drop of the guard.
pub struct Agent {
    pub id: String,
    pub addr: SocketAddr,
    docker: Docker,
}

impl Agent {
    /// Starts the agent of `plugin`'s test, named [`agent_name`]`(plugin)` so that
    /// [`on_swarm`] removes it even when the test fails before it does.
    pub async fn start(plugin: &str) -> Self {
        Self::start_at(&Place::local(), plugin).await
    }

    /// [`start`](Self::start) on the engine of `place`.
    pub async fn start_at(place: &Place, plugin: &str) -> Self {
        let name = agent_name(plugin);
        let name = name.as_str();
        let docker = place.docker.clone();
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
                        host_ip: Some(place.publish_ip.clone()),
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
            addr: SocketAddr::new(place.reach_ip, port),
            docker,
        };
        agent.wait_healthy().await;
        agent
    }

    /// An agent already started, by the address [`start`](Self::start) gave it: a handle for
    /// another task. Removing it stays with the first handle.
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            id: String::new(),
            addr,
            docker: docker(),
        }
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
    pub async fn fetch(&self, url: &str) -> Result<String, String> {
        self.call("fetch", json!({ "url": url })).await
    }

    /// What the probe's `mcp_call` tool answers: `tool` of the MCP server at `url` called
    /// from inside the overlay, as an agent there would.
    pub async fn mcp_call(
        &self,
        url: &str,
        tool: &str,
        arguments: Value,
    ) -> Result<String, String> {
        self.call(
            "mcp_call",
            json!({ "url": url, "tool": tool, "arguments": arguments }),
        )
        .await
    }

    /// [`mcp_call`](Self::mcp_call), each request given up after `timeout`.
    pub async fn mcp_call_within(
        &self,
        url: &str,
        tool: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<String, String> {
        self.call(
            "mcp_call",
            json!({ "url": url, "tool": tool, "arguments": arguments,
                    "timeout_secs": timeout.as_secs().max(1) }),
        )
        .await
    }

    /// Calls the probe's `tool` with `arguments`: its text, or its error's text.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<String, String> {
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
            "params": {"name": tool, "arguments": arguments}}))
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

    pub async fn remove(self) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        if let Err(e) = self.docker.remove_container(&self.id, Some(options)).await {
            eprintln!("cleanup: cannot remove the agent container: {e}");
        }
    }
}

/// Retries `fetch` until it answers (a fresh service's name takes a moment to resolve on the
/// overlay), up to 30 s.
pub async fn fetch_eventually(agent: &Agent, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match agent.fetch(url).await {
            Ok(text) => return text,
            Err(e) if Instant::now() > deadline => panic!("{url} never answered: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The secrets the engine holds for `plugin`.
pub async fn secrets_of(plugin: &str) -> Vec<String> {
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

pub const HOST_IMAGE: &str = "nanofleet-test/host:dev";
/// The host's name on the overlay, in plugins' `NANO_API_URL`.
pub const HOST_NAME: &str = "nanofleet-host";
pub const API_PORT: u16 = 3000;

/// The `nanofleet` command as a static binary in a `FROM scratch` image.
pub async fn host_image() -> String {
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let started = Instant::now();
    let binary = tokio::task::spawn_blocking(move || {
        nanofleet_build::build_static(
            &CargoBuild::new(workspace)
                .package("nanofleet-cli")
                .bin("nanofleet")
                .profile(Profile::Debug)
                .output(CargoOutput::Capture),
        )
    })
    .await
    .expect("the build task")
    .unwrap_or_else(|e| panic!("cannot build nanofleet statically: {e}"))
    .path;
    let rt = crate::runtime().await;
    let mut build = ImageBuild::new(HOST_IMAGE, binary);
    build.binary_name = "/nanofleet".into();
    build.expose = vec![API_PORT];
    build.labels = [(labels::MANAGED_BY.to_owned(), TEST_IMAGE_LABEL.to_owned())].into();
    let id = build_image(&rt, &build)
        .await
        .unwrap_or_else(|e| panic!("cannot build the host image: {e}"));
    eprintln!("[timing] host image: {:.1?}", started.elapsed());
    id.as_str().to_owned()
}

/// The host, as a container on the overlay (and on the default bridge, with its API port
/// published where the test reaches it: see [`Place`]).
pub struct HostContainer {
    docker: Docker,
    id: String,
    api: String,
    token: String,
}

impl HostContainer {
    /// Starts the host on the engine of `place`, driving the swarm through that engine's
    /// socket, and waits until it said its API token.
    pub async fn start(place: &Place, image: &str) -> Self {
        let docker = place.docker.clone();
        let socket = place.socket.clone();
        let command = [
            "serve",
            "--engine",
            "swarm",
            "--listen",
            &format!("0.0.0.0:{API_PORT}"),
            "--api-url",
            &format!("http://{HOST_NAME}:{API_PORT}"),
            "--data-dir",
            "/data",
            "--reconcile-interval",
            "3",
            // A version that never gets ready is given up (and rolled back) sooner.
            "--ready-timeout",
            "10",
        ]
        .map(str::to_owned)
        .to_vec();
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(command),
            // The engine's socket belongs to root; in production, run with its group instead.
            user: Some("0:0".into()),
            labels: Some(HashMap::from([(
                labels::MANAGED_BY.to_owned(),
                TEST_IMAGE_LABEL.to_owned(),
            )])),
            exposed_ports: Some(vec![format!("{API_PORT}/tcp")]),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{socket}:/var/run/docker.sock")]),
                tmpfs: Some(HashMap::from([("/data".into(), "rw,size=64m".into())])),
                port_bindings: Some(HashMap::from([(
                    format!("{API_PORT}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some(place.publish_ip.clone()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("nanofleet-test-host-{:08x}", rand::random::<u32>());
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = docker
            .create_container(Some(options), body)
            .await
            .expect("create the host container");
        let host = Self {
            docker: docker.clone(),
            id: created.id,
            api: String::new(),
            token: String::new(),
        };
        let attached = docker
            .connect_network(
                names::NETWORK,
                NetworkConnectRequest {
                    container: host.id.clone(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(vec![HOST_NAME.into()]),
                        ..Default::default()
                    }),
                },
            )
            .await;
        if let Err(e) = attached {
            host.remove().await;
            panic!("the host joins the overlay: {e}");
        }
        docker
            .start_container(&host.id, None)
            .await
            .expect("start the host");
        let port = docker
            .inspect_container(&host.id, None)
            .await
            .expect("inspect the host")
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{API_PORT}/tcp")).cloned().flatten())
            .and_then(|b| b.into_iter().find_map(|b| b.host_port))
            .and_then(|p| p.parse::<u16>().ok())
            .expect("a published port");
        let api = format!("http://{}:{port}", place.reach_ip);
        let deadline = Instant::now() + Duration::from_secs(30);
        let token = loop {
            let logs = host.logs().await;
            if let Some(token) = logs
                .lines()
                .find_map(|l| l.split("API token: ").nth(1))
                .map(|t| t.trim().to_owned())
            {
                break token;
            }
            assert!(
                Instant::now() < deadline,
                "the host never said its token:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Self { api, token, ..host }
    }

    /// What the host printed.
    pub async fn logs(&self) -> String {
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let chunks: Vec<_> = self.docker.logs(&self.id, Some(options)).collect().await;
        chunks
            .into_iter()
            .filter_map(Result::ok)
            .map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
            .collect()
    }

    /// Removes the host's container.
    pub async fn remove(&self) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        if let Err(e) = self.docker.remove_container(&self.id, Some(options)).await {
            eprintln!("cleanup: cannot remove the host container: {e}");
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(120))
    }

    /// The URL the host wrote into `agent`'s client file for `plugin`.
    pub async fn client_url(&self, agent: &str, plugin: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/agents/{agent}/client-config"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let file: Value =
            serde_json::from_str(body["content"].as_str().expect("a written file")).expect("JSON");
        file["mcpServers"][plugin]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("no entry for {plugin}: {file}"))
            .to_owned()
    }

    /// A JSON request; the answer's status and body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}
