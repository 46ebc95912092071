//! `nanofleet serve --engine swarm` on a real single-node swarm, the way it is deployed: the
//! host in a container attached to the plugins' overlay network (plugins call it back by
//! name), driving the swarm through the engine's socket. A plugin is installed through the
//! API, an agent attached to the overlay calls it with the URL and signature of the client
//! file the host wrote, a service removed by hand is brought back by the reconciler, and an
//! uninstall leaves nothing. Nothing here is skipped; the engine is left as it was found
//! (see [`on_swarm`]).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::{FutureExt as _, StreamExt as _};
use nanofleet_build::{CargoBuild, CargoOutput, ImageBuild, Profile, build_image};
use nanofleet_host::labels;
use nanofleet_host::names;
use nanofleet_host::runtime::Runtime as _;
use nanofleet_sdk::Manifest;
use serde_json::{Value, json};

use nanofleet_test_support::swarm::{Agent, docker, on_swarm, secrets_of, swarm_runtime};
use nanofleet_test_support::*;

const HOST_IMAGE: &str = "nanofleet-test/host:dev";
/// The host's name on the overlay, in plugins' `NANO_API_URL`.
const HOST_NAME: &str = "nanofleet-host";
const API_PORT: u16 = 3000;

/// The `nanofleet` command as a static binary in a `FROM scratch` image.
async fn host_image() -> String {
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
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
    let rt = runtime().await;
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
/// published on loopback for this test).
struct HostContainer {
    id: String,
    api: String,
    token: String,
}

impl HostContainer {
    async fn start(image: &str) -> Self {
        let docker = docker();
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
            .unwrap_or_else(|| "/var/run/docker.sock".into());
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
                        host_ip: Some("127.0.0.1".into()),
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
        let api = format!("http://127.0.0.1:{port}");
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

    async fn logs(&self) -> String {
        let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
        let chunks: Vec<_> = docker().logs(&self.id, Some(options)).collect().await;
        chunks
            .into_iter()
            .filter_map(Result::ok)
            .map(|c| String::from_utf8_lossy(c.as_ref()).into_owned())
            .collect()
    }

    async fn remove(&self) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        if let Err(e) = docker().remove_container(&self.id, Some(options)).await {
            eprintln!("cleanup: cannot remove the host container: {e}");
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(120))
    }

    /// A JSON request; the answer's status and body.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_runs_plugins_on_a_swarm_for_agents_on_its_overlay() {
    nanofleet_sdk::ensure_crypto_provider();
    let plugin = format!("sw-{:08x}", rand::random::<u32>());
    on_swarm(&[&plugin], async {
        let rt = swarm_runtime();
        // The overlay exists before the host joins it.
        rt.ensure_network().await.expect("the overlay");
        let (host_image, hello) = (host_image().await, hello_image().await);
        assert!(!hello.is_empty());
        let host = HostContainer::start(&host_image).await;
        let outcome = AssertUnwindSafe(scenario(&host, &plugin))
            .catch_unwind()
            .await;
        if outcome.is_err() {
            eprintln!("the host's output:\n{}", host.logs().await);
        }
        host.remove().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}

async fn scenario(host: &HostContainer, plugin: &str) {
    use reqwest::Method;
    let service = names::container_name(plugin);
    let manifest =
        Manifest::new(plugin, "0.1.0", HELLO_IMAGE, 8080).with_description("hello, on a swarm");

    // Install → ready: the service runs, and its tools were listed over the overlay.
    let started = Instant::now();
    let (status, body) = host
        .call(
            Method::POST,
            "/api/plugins",
            Some(json!({ "manifest": serde_json::to_value(&manifest).expect("json") })),
        )
        .await;
    let install = started.elapsed();
    assert_eq!(status, 201, "{body}");
    eprintln!("[swarm] install → ready through the API: {install:.1?}");
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"greet"), "{body}");
    assert_eq!(
        secrets_of(plugin).await.len(),
        1,
        "the internal token, as a secret"
    );

    // An agent's link: the host writes its client file, signed.
    let (status, body) = host
        .call(
            Method::POST,
            "/api/agents",
            Some(json!({"id": "a1", "name": "a1", "workspaceDir": "/data"})),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {body}");
    let (status, body) = host
        .call(Method::PUT, &format!("/api/agents/a1/links/{plugin}"), None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = host
        .call(Method::GET, "/api/agents/a1/client-config", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let file: Value =
        serde_json::from_str(body["content"].as_str().expect("a written file")).expect("JSON");
    let url = file["mcpServers"][plugin]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no entry for {plugin}: {file}"))
        .to_owned();
    assert!(
        url.starts_with(&format!("http://{service}:8080/mcp?")),
        "{url}"
    );
    assert!(url.contains("agent_sig="), "{url}");

    // The agent, on the overlay, calls the plugin with that URL; without the signature the
    // plugin refuses.
    let agent = Agent::start(plugin).await;
    let greeted = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match agent
                .mcp_call(&url, "greet", json!({"name": "swarm"}))
                .await
            {
                Ok(text) => break text,
                Err(e) if Instant::now() > deadline => panic!("the call never succeeded: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
    .await;
    assert!(greeted.contains("swarm"), "{greeted}");
    let unsigned = url
        .split('&')
        .filter(|part| !part.starts_with("agent_sig="))
        .collect::<Vec<_>>()
        .join("&");
    let refused = agent
        .mcp_call(&unsigned, "greet", json!({"name": "x"}))
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // An upgrade whose new version never lists its tools: the host has the engine roll it
    // back, and the old version answers the same URL.
    let upgrade = format!("/api/plugins/{plugin}/upgrade");
    let mut unready = manifest.clone();
    unready.version = "0.2.0".into();
    unready.mcp_port = 9999;
    let (status, body) = host
        .call(
            Method::POST,
            &upgrade,
            Some(json!({ "manifest": serde_json::to_value(&unready).expect("json") })),
        )
        .await;
    assert!(status >= 400, "{status} {body}");
    assert_eq!(body["code"], "plugin_not_ready", "{body}");
    let rt = swarm_runtime();
    let state = rt.inspect(&service).await.expect("inspect").expect("kept");
    assert!(
        state.running && state.version.as_deref() == Some("0.1.0"),
        "{state:?}"
    );
    let (_, body) = host
        .call(Method::GET, &format!("/api/plugins/{plugin}"), None)
        .await;
    assert_eq!(body["manifest"]["version"], "0.1.0", "{body}");
    let greeted = agent
        .mcp_call(&url, "greet", json!({"name": "after rollback"}))
        .await
        .expect("the old version answers");
    assert!(greeted.contains("after rollback"), "{greeted}");

    // A good upgrade: the same service, updated start-first; the agent's URL still works.
    let mut next = manifest.clone();
    next.version = "0.2.0".into();
    let started = Instant::now();
    let (status, body) = host
        .call(
            Method::POST,
            &upgrade,
            Some(json!({ "manifest": serde_json::to_value(&next).expect("json") })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eprintln!(
        "[swarm] upgrade through the API (start-first, monitored): {:.1?}",
        started.elapsed()
    );
    assert_eq!(body["manifest"]["version"], "0.2.0", "{body}");
    let state = rt.inspect(&service).await.expect("inspect").expect("there");
    assert!(
        state.running && state.version.as_deref() == Some("0.2.0"),
        "{state:?}"
    );
    let greeted = agent
        .mcp_call(&url, "greet", json!({"name": "upgraded"}))
        .await
        .expect("the new version answers the same URL");
    assert!(greeted.contains("upgraded"), "{greeted}");
    agent.remove().await;

    // A service removed by hand comes back, from the engine's events.
    let removed = Instant::now();
    docker()
        .delete_service(&service)
        .await
        .expect("removed by hand");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if rt
            .inspect(&service)
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s.running)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the service never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[swarm] a service removed by hand runs again after {:.1?}",
        removed.elapsed()
    );

    // Uninstalling with its data leaves nothing: no service, no secret, no volume.
    let (status, body) = host
        .call(
            Method::DELETE,
            &format!("/api/plugins/{plugin}?purge=true"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(rt.inspect(&service).await.expect("inspect"), None);
    assert_eq!(secrets_of(plugin).await.len(), 0);
    let volume = names::volume_name(plugin);
    assert!(
        docker().inspect_volume(&volume).await.is_err(),
        "{volume} remains"
    );
}
