//! `nanofleet serve --engine swarm` on a real single-node swarm, the way it is deployed: the
//! host in a container attached to the plugins' overlay network (plugins call it back by
//! name), driving the swarm through the engine's socket. A plugin is installed through the
//! API, an agent attached to the overlay calls it with the URL and signature of the client
//! file the host wrote, a service removed by hand is brought back by the reconciler, and an
//! uninstall leaves nothing. Nothing here is skipped; the engine is left as it was found
//! (see [`on_swarm`]).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use nanofleet_host::names;
use nanofleet_host::runtime::Runtime as _;
use nanofleet_sdk::Manifest;
use serde_json::json;

use nanofleet_test_support::swarm::{
    Agent, HostContainer, Place, docker, host_image, on_swarm, secrets_of, swarm_runtime,
};
use nanofleet_test_support::*;

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
        let host = HostContainer::start(&Place::local(), &host_image).await;
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
    let url = host.client_url("a1", plugin).await;
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
