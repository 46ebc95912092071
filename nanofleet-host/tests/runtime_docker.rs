//! The Docker runtime against the real engine. Nothing here is skipped: without a reachable
//! engine these tests fail, with the runtime's own one-line error.
//!
//! The example plugins `hello` and `notes` are built as static binaries and turned into
//! `FROM scratch` images once per run (`nanofleet-test/{hello,notes}:dev`, labelled
//! `com.nanofleet.managed-by=nanofleet-rs-tests`; they stay cached). Every test uses its own
//! plugin names and removes the containers and volumes it made, even when it fails; the
//! last test out removes the networks.

use nanofleet_host::names::{self, Instance};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures::{FutureExt as _, StreamExt as _};
use nanofleet_build::{ImageBuild, build_image};
use nanofleet_host::labels;
use nanofleet_host::runtime::docker::{EGRESS_NETWORK, PUBLISH_NETWORK};
use nanofleet_host::runtime::{
    ContainerSpec, DockerRuntime, EventAction, LogOptions, Runtime, RuntimeError, RuntimeEvent,
};
use serde_json::{Value, json};

use nanofleet_test_support::*;

fn spec(plugin: &str, image: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new(plugin, image, "0.1.0", 8080);
    spec.env = BTreeMap::from([
        ("NANO_PLUGIN_ID".to_owned(), plugin.to_owned()),
        ("NANO_INTERNAL_TOKEN".to_owned(), "t".repeat(43)),
    ]);
    spec
}

async fn wait_healthy(addr: SocketAddr) {
    nanofleet_sdk::ensure_crypto_provider();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client
            .get(format!("http://{addr}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        match response {
            Ok(r) if r.status() == 200 => return,
            other => assert!(
                Instant::now() < deadline,
                "{addr}/healthz never answered 200: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One MCP tool call the way NanoFleet's probe talks: JSON mode, a session from `initialize`.
async fn call_tool(addr: SocketAddr, tool: &str, arguments: Value) -> Value {
    nanofleet_sdk::ensure_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/mcp?agent_id=rt-agent");
    let post = |body: Value| {
        client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .timeout(Duration::from_secs(10))
            .body(body.to_string())
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "nanofleet-api", "version": "1.0.0"}}}),
    )
    .send()
    .await
    .expect("initialize");
    assert!(init.status().is_success(), "initialize: {}", init.status());
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let reply = post(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}}))
    .header("mcp-session-id", session)
    .send()
    .await
    .expect("tools/call");
    assert!(
        reply.status().is_success(),
        "tools/call: {}",
        reply.status()
    );
    let body: Value = reply.json().await.expect("a JSON reply");
    assert!(body["result"]["isError"] != json!(true), "{body}");
    body["result"]["structuredContent"].clone()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_plugin_container_is_created_hardened() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let spec = spec(&plugin, &hello_image().await);
        let name = names::container_name(&plugin);
        let state = rt.create_and_start(&spec).await.expect("created");
        assert_eq!(
            (state.name.as_str(), state.plugin.as_str()),
            (name.as_str(), plugin.as_str())
        );
        assert!(state.published.is_empty(), "{state:?}");

        let seen = rt.inspect(&name).await.expect("inspect").expect("exists");
        assert!(seen.running, "{seen:?}");
        assert!(
            seen.ip.is_some(),
            "an address on {}: {seen:?}",
            names::NETWORK
        );
        assert_eq!(seen.version.as_deref(), Some("0.1.0"));
        assert_eq!(seen.config_hash, Some(spec.config_hash()));

        let raw = rt
            .docker()
            .inspect_container(&name, None)
            .await
            .expect("inspect");
        let config = raw.config.expect("config");
        let user = config.user.expect("user");
        let (uid, gid) = user.split_once(':').expect("uid:gid");
        assert!(
            uid.parse::<u32>().expect("numeric uid") != 0
                && gid.parse::<u32>().expect("numeric gid") != 0,
            "{user}"
        );
        let container_labels = config.labels.expect("labels");
        assert_eq!(
            container_labels.get(labels::MANAGED_BY).map(String::as_str),
            Some(labels::MANAGED_BY_VALUE)
        );
        assert_eq!(container_labels.get(labels::PLUGIN), Some(&plugin));
        assert_eq!(
            container_labels.get(labels::VERSION).map(String::as_str),
            Some("0.1.0")
        );
        assert_eq!(
            container_labels.get(labels::CONFIG_HASH),
            Some(&spec.config_hash())
        );
        let env = config.env.expect("env");
        assert!(env.contains(&format!("NANO_PLUGIN_ID={plugin}")), "{env:?}");

        let host = raw.host_config.expect("host config");
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert!(
            host.security_opt
                .expect("security opts")
                .contains(&"no-new-privileges:true".to_owned())
        );
        assert_eq!(host.memory, Some(256 * 1024 * 1024));
        assert_eq!(host.nano_cpus, Some(1_000_000_000));
        assert_eq!(host.pids_limit, Some(256));
        assert_eq!(
            host.tmpfs.expect("tmpfs").get("/tmp").map(String::as_str),
            Some("rw,noexec,nosuid,size=64m")
        );
        assert!(
            host.port_bindings.unwrap_or_default().is_empty(),
            "nothing published"
        );
        assert_eq!(host.privileged, Some(false));
        assert_eq!(
            host.restart_policy.and_then(|p| p.name),
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );

        let mounts = raw.mounts.expect("mounts");
        assert_eq!(mounts.len(), 1, "{mounts:?}");
        assert_eq!(mounts[0].destination.as_deref(), Some("/data"));
        assert_eq!(
            mounts[0].name.as_deref(),
            Some(names::volume_name(&plugin).as_str())
        );
        assert_eq!(mounts[0].rw, Some(true));
        assert_eq!(mounts[0].typ.as_deref(), Some("volume"));

        let networks = raw
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks");
        assert_eq!(
            networks.keys().collect::<Vec<_>>(),
            [names::NETWORK],
            "egress is off"
        );
        let aliases = networks[names::NETWORK].aliases.clone().unwrap_or_default();
        assert!(aliases.contains(&name), "{aliases:?}");
        let network = rt
            .docker()
            .inspect_network(names::NETWORK, None)
            .await
            .expect("network");
        assert_eq!(network.internal, Some(true));
        assert_eq!(
            network
                .labels
                .unwrap_or_default()
                .get(labels::MANAGED_BY)
                .map(String::as_str),
            Some(labels::MANAGED_BY_VALUE)
        );
        let volume = rt
            .docker()
            .inspect_volume(&names::volume_name(&plugin))
            .await
            .expect("volume");
        assert_eq!(volume.labels.get(labels::PLUGIN), Some(&plugin));
    })
    .await;
}

#[tokio::test]
async fn egress_adds_the_egress_network_only() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let mut spec = spec(&plugin, &hello_image().await);
        spec.egress = true;
        let state = rt.create_and_start(&spec).await.expect("created");
        let raw = rt
            .docker()
            .inspect_container(&state.id, None)
            .await
            .expect("inspect");
        let mut networks: Vec<String> = raw
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks")
            .into_keys()
            .collect();
        networks.sort();
        assert_eq!(networks, [EGRESS_NETWORK, names::NETWORK]);
        let egress = rt
            .docker()
            .inspect_network(EGRESS_NETWORK, None)
            .await
            .expect("network");
        assert_eq!(egress.internal, Some(false));
    })
    .await;
}

#[tokio::test]
async fn loopback_mode_publishes_a_plugin_that_answers() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let mut spec = spec(&plugin, &hello_image().await);
        spec.publish_loopback = true;
        let started = Instant::now();
        let state = rt.create_and_start(&spec).await.expect("created");
        let created = started.elapsed();
        let addr = state.published.get(&8080).copied().expect("8080 published");
        assert!(addr.ip().is_loopback(), "{addr}");
        // The static binary runs as 65532 on a read-only root and serves.
        wait_healthy(addr).await;
        eprintln!(
            "[timing] hello: create_and_start {created:.1?}, healthy after {:.1?}",
            started.elapsed()
        );
        let listed = rt.list_managed().await.expect("list");
        let mine = listed.iter().find(|c| c.plugin == plugin).expect("listed");
        assert_eq!(mine.published, state.published);
        assert_eq!(mine.ip, state.ip);
        assert!(mine.ip.is_some(), "{mine:?}");

        let raw = rt
            .docker()
            .inspect_container(&state.id, None)
            .await
            .expect("inspect");
        let mut networks: Vec<String> = raw
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks")
            .into_keys()
            .collect();
        networks.sort();
        // Docker publishes nothing for a container on internal networks only.
        assert_eq!(networks, [names::NETWORK, PUBLISH_NETWORK]);
        let publish = rt
            .docker()
            .inspect_network(PUBLISH_NETWORK, None)
            .await
            .expect("network");
        let options = publish.options.unwrap_or_default();
        assert_eq!(
            options
                .get("com.docker.network.bridge.enable_ip_masquerade")
                .map(String::as_str),
            Some("false"),
            "no NAT to the outside"
        );
    })
    .await;
}

#[tokio::test]
async fn the_plugin_can_write_its_data_volume_and_keeps_it_across_restarts() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let mut spec = spec(&plugin, &notes_image().await);
        spec.publish_loopback = true;
        let name = spec.name();
        let state = rt.create_and_start(&spec).await.expect("created");
        let addr = state.published[&8080];
        wait_healthy(addr).await;
        // notes keeps its SQLite in /data: a successful add_note means uid 65532 can write it.
        let added = call_tool(addr, "add_note", json!({"text": "remember the milk"})).await;
        assert_eq!(added["count"], 1, "{added}");

        rt.stop(&name).await.expect("stop");
        rt.start(&name).await.expect("start");
        let addr = rt
            .inspect(&name)
            .await
            .expect("inspect")
            .expect("exists")
            .published[&8080];
        wait_healthy(addr).await;
        let listed = call_tool(addr, "list_notes", json!({})).await;
        assert_eq!(listed["notes"][0]["text"], "remember the milk", "{listed}");
    })
    .await;
}

#[tokio::test]
async fn stop_and_remove_are_idempotent() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let spec = spec(&plugin, &hello_image().await);
        let name = spec.name();
        rt.create_and_start(&spec).await.expect("created");

        rt.stop(&name).await.expect("first stop");
        rt.stop(&name)
            .await
            .expect("stopping a stopped container is fine");
        let stopped = rt
            .inspect(&name)
            .await
            .expect("inspect")
            .expect("still there");
        assert!(!stopped.running, "{stopped:?}");
        assert_eq!(stopped.status, "exited");
        assert!(stopped.exit_code.is_some(), "{stopped:?}");

        rt.remove(&name).await.expect("first remove");
        rt.remove(&name)
            .await
            .expect("removing a removed container is fine");
        assert_eq!(rt.inspect(&name).await.expect("inspect"), None);

        let never = names::container_name(&unique_plugin());
        rt.stop(&never)
            .await
            .expect("stopping a container that never existed is fine");
        rt.remove(&never).await.expect("removing one is fine too");
        let err = rt.start(&never).await.expect_err("starting one is not");
        assert!(matches!(err, RuntimeError::NotFound(_)), "{err:?}");

        rt.remove_volume(&Instance::default(), &plugin)
            .await
            .expect("remove volume");
        rt.remove_volume(&Instance::default(), &plugin)
            .await
            .expect("again");
    })
    .await;
}

#[tokio::test]
async fn creating_twice_is_a_conflict_that_leaves_the_first_running() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let spec = spec(&plugin, &hello_image().await);
        let first = rt.create_and_start(&spec).await.expect("created");
        let err = rt.create_and_start(&spec).await.expect_err("name taken");
        assert!(matches!(err, RuntimeError::Conflict(_)), "{err:?}");
        assert!(err.to_string().contains(&first.name), "{err}");
        let still = rt
            .inspect(&first.name)
            .await
            .expect("inspect")
            .expect("exists");
        assert!(still.running && still.id == first.id, "{still:?}");
    })
    .await;
}

#[tokio::test]
async fn an_upgrade_can_start_under_a_temporary_name_and_rename() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let mut next = spec(&plugin, &hello_image().await);
        next.container_name = Some(format!("{}-next", names::container_name(&plugin)));
        let state = rt.create_and_start(&next).await.expect("created");
        let raw = rt
            .docker()
            .inspect_container(&state.id, None)
            .await
            .expect("inspect");
        let aliases = raw
            .network_settings
            .and_then(|n| n.networks)
            .expect("networks")[names::NETWORK]
            .aliases
            .clone()
            .unwrap_or_default();
        assert!(
            aliases.contains(&names::container_name(&plugin)),
            "{aliases:?}"
        );

        let canonical = names::container_name(&plugin);
        rt.rename(&state.name, &canonical).await.expect("rename");
        let renamed = rt
            .inspect(&canonical)
            .await
            .expect("inspect")
            .expect("renamed");
        assert_eq!(renamed.id, state.id);
        assert_eq!(
            renamed.config_hash,
            Some(next.config_hash()),
            "the name is not in the hash"
        );
    })
    .await;
}

#[tokio::test]
async fn list_managed_finds_ours_and_leaves_other_containers_alone() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    let foreign = format!("{plugin}-foreign");
    with_cleanup(&rt, &[&plugin], async {
        let image = hello_image().await;
        let ours = rt
            .create_and_start(&spec(&plugin, &image))
            .await
            .expect("created");
        let options = CreateContainerOptionsBuilder::new().name(&foreign).build();
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            ..Default::default()
        };
        rt.docker()
            .create_container(Some(options), body)
            .await
            .expect("a foreign container");

        let outcome = AssertUnwindSafe(async {
            let listed = rt.list_managed().await.expect("list");
            assert!(
                listed.iter().any(|c| c.id == ours.id && c.plugin == plugin),
                "{listed:?}"
            );
            assert!(listed.iter().all(|c| c.name != foreign), "{listed:?}");
            for result in [rt.stop(&foreign).await, rt.remove(&foreign).await] {
                assert!(
                    matches!(result, Err(RuntimeError::Conflict(_))),
                    "{result:?}"
                );
            }
            let err = rt.inspect(&foreign).await.expect_err("not ours");
            assert!(err.to_string().contains(labels::MANAGED_BY), "{err}");
        })
        .catch_unwind()
        .await;
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        rt.docker()
            .remove_container(&foreign, Some(remove))
            .await
            .expect("remove the foreign one");
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}

#[tokio::test]
async fn logs_and_follow_logs_return_lines() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let spec = spec(&plugin, &hello_image().await);
        let name = spec.name();
        rt.create_and_start(&spec).await.expect("created");
        let deadline = Instant::now() + Duration::from_secs(20);
        let lines = loop {
            let lines = rt.logs(&name, LogOptions::tail(50)).await.expect("logs");
            if lines.iter().any(|l| l.contains("serving")) {
                break lines;
            }
            assert!(Instant::now() < deadline, "no `serving` line: {lines:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(lines.iter().all(|l| !l.contains('\n')), "{lines:?}");

        let mut follow = rt
            .follow_logs(&name, LogOptions::tail(10))
            .await
            .expect("follow");
        let line = tokio::time::timeout(Duration::from_secs(10), follow.next())
            .await
            .expect("a line in time")
            .expect("the stream is open")
            .expect("a line");
        assert!(line.contains("serving"), "{line}");

        let missing = names::container_name(&unique_plugin());
        let err = rt
            .logs(&missing, LogOptions::tail(10))
            .await
            .expect_err("no container");
        assert!(matches!(err, RuntimeError::NotFound(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn stopping_a_plugin_is_reported_as_events() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let spec = spec(&plugin, &hello_image().await);
        let name = spec.name();
        rt.create_and_start(&spec).await.expect("created");
        let mut events = rt.events().await.expect("subscribe");
        rt.stop(&name).await.expect("stop");

        let mut seen: Vec<RuntimeEvent> = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !seen.iter().any(|e| e.action == EventAction::Stop) {
            let event = tokio::time::timeout_at(deadline, events.next())
                .await
                .unwrap_or_else(|_| panic!("no stop event in time; saw {seen:?}"))
                .expect("the stream is open")
                .expect("an event");
            if event.plugin == plugin {
                seen.push(event);
            }
        }
        assert!(seen.iter().all(|e| e.container == name), "{seen:?}");
        assert!(
            seen.iter()
                .any(|e| matches!(e.action, EventAction::Die { .. })),
            "{seen:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_missing_image_is_reported_and_leaves_no_container() {
    let rt = runtime().await;
    let plugin = unique_plugin();
    with_cleanup(&rt, &[&plugin], async {
        let spec = spec(&plugin, "nanofleet-test/never-built:0.0.0");
        let err = rt.create_and_start(&spec).await.expect_err("no such image");
        assert!(matches!(err, RuntimeError::ImageMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("never pulls"), "{err}");
        assert_eq!(rt.inspect(&spec.name()).await.expect("inspect"), None);
        assert!(!rt.image_exists(&spec.image).await.expect("exists?"));

        // Nothing can be pulled on this machine: the failure says so, once asked.
        let lines = std::sync::Mutex::new(Vec::new());
        let record = |line: String| lines.lock().expect("lock").push(line);
        let err = rt.pull(&spec.image, &record).await.expect_err("offline");
        assert!(matches!(err, RuntimeError::ImageMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("pull failed"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn built_images_carry_labels_tags_and_the_plugin_user() {
    let rt = runtime().await;
    let tag = format!("nanofleet-test/hello:rt-{:08x}", rand::random::<u32>());
    let extra = format!("{tag}-extra");
    let outcome = AssertUnwindSafe(async {
        let id = hello_image().await;
        let binary =
            tokio::task::spawn_blocking(|| nanofleet_test_support::cargo_build_static("hello"))
                .await
                .expect("join")
                .expect("built");
        // JSON with quotes and a newline: labels go through the API, not through LABEL lines.
        let manifest = json!({"name": "hello", "version": "0.1.0", "mcpPort": 8080,
            "description": "quotes \" and\nnewlines"})
        .to_string();
        let mut build = ImageBuild::new(&tag, &binary);
        build.extra_tags = vec![extra.clone()];
        build.expose = vec![8080];
        build.labels = BTreeMap::from([
            (labels::IMAGE_MANIFEST.to_owned(), manifest.clone()),
            (labels::MANAGED_BY.to_owned(), TEST_IMAGE_LABEL.to_owned()),
        ]);
        let built = build_image(&rt, &build).await.expect("built");
        assert_ne!(built.as_str(), id, "labels differ from the shared image");
        for reference in [&tag, &extra] {
            assert!(
                rt.image_exists(reference).await.expect("exists?"),
                "{reference}"
            );
            assert_eq!(
                rt.image_label(reference, labels::IMAGE_MANIFEST)
                    .await
                    .expect("label")
                    .as_deref(),
                Some(manifest.as_str())
            );
        }
        assert_eq!(
            rt.image_label(&id, labels::IMAGE_MANIFEST)
                .await
                .expect("label"),
            None
        );
        let inspected = rt.docker().inspect_image(&tag).await.expect("inspect");
        let config = inspected.config.expect("config");
        assert_eq!(config.user.as_deref(), Some("65532:65532"));
        assert_eq!(config.entrypoint, Some(vec!["/plugin".to_owned()]));
        assert_eq!(config.exposed_ports, Some(vec!["8080/tcp".to_owned()]));

        let err = rt
            .image_label("nanofleet-test/never-built:0.0.0", labels::IMAGE_MANIFEST)
            .await
            .expect_err("missing");
        assert!(matches!(err, RuntimeError::ImageMissing { .. }), "{err:?}");

        // A dynamically linked binary (this test binary) is refused before the engine is asked.
        let dynamic = ImageBuild::new(&tag, std::env::current_exe().expect("own path"));
        let err = build_image(&rt, &dynamic).await.expect_err("dynamic");
        assert!(err.to_string().contains("dynamically linked"), "{err}");
    })
    .catch_unwind()
    .await;
    for reference in [&tag, &extra] {
        let options = RemoveImageOptionsBuilder::new().build();
        let _ = rt
            .docker()
            .remove_image(reference, Some(options), None)
            .await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn networks_are_created_once_healed_when_duplicated_and_removed_when_unused() {
    let _exclusive = NETWORKS.write().await;
    let rt = runtime().await;
    rt.remove_network_if_unused().await.expect("start clean");
    let outcome = AssertUnwindSafe(async {
        let mut racers = Vec::new();
        for _ in 0..4 {
            racers.push(runtime().await);
        }
        let results = futures::future::join_all(racers.iter().map(|r| r.ensure_network())).await;
        for result in results {
            result.expect("ensure_network");
        }
        assert_one_network_each(&rt).await;

        // Two host processes racing can still leave two networks of one name (API 1.41 allows
        // it, and such a name can no longer be used): the next ensure heals it.
        let duplicate = bollard::models::NetworkCreateRequest {
            name: names::NETWORK.to_owned(),
            internal: Some(true),
            labels: Some(std::collections::HashMap::from([(
                labels::MANAGED_BY.to_owned(),
                labels::MANAGED_BY_VALUE.to_owned(),
            )])),
            ..Default::default()
        };
        rt.docker()
            .create_network(duplicate)
            .await
            .expect("a duplicate");
        assert_eq!(networks_named(&rt, names::NETWORK).await.len(), 2);
        rt.ensure_network().await.expect("heals");
        assert_one_network_each(&rt).await;
    })
    .catch_unwind()
    .await;
    rt.remove_network_if_unused().await.expect("remove");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    for name in [names::NETWORK, EGRESS_NETWORK, PUBLISH_NETWORK] {
        assert!(
            networks_named(&rt, name).await.is_empty(),
            "{name} is still there"
        );
    }
}

async fn networks_named(rt: &DockerRuntime, name: &str) -> Vec<bollard::models::Network> {
    let filters = std::collections::HashMap::from([("name", vec![name])]);
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::new()
        .filters(&filters)
        .build();
    rt.docker()
        .list_networks(Some(options))
        .await
        .expect("list")
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .collect()
}

async fn assert_one_network_each(rt: &DockerRuntime) {
    for (name, internal) in [(names::NETWORK, true), (EGRESS_NETWORK, false)] {
        let found = networks_named(rt, name).await;
        assert_eq!(found.len(), 1, "exactly one {name}: {found:?}");
        assert_eq!(found[0].internal, Some(internal), "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_engine_is_one_plain_sentence_naming_the_socket() {
    let err = DockerRuntime::connect_to("unix:///nonexistent/docker.sock").expect_err("no socket");
    let text = err.to_string();
    assert!(matches!(err, RuntimeError::Unreachable { .. }), "{err:?}");
    assert_eq!(
        text,
        "cannot reach the Docker engine at unix:///nonexistent/docker.sock: is dockerd running? \
         Start it (e.g. systemctl start docker) or set DOCKER_HOST"
    );

    // A socket file nobody listens on (dockerd died): connecting works, the first call fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    let endpoint = format!("unix://{}", path.display());
    let rt: Arc<dyn Runtime> =
        Arc::new(DockerRuntime::connect_to(&endpoint).expect("the file exists"));
    let err = rt.ping().await.expect_err("nobody listening");
    assert!(matches!(err, RuntimeError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot reach the Docker engine at {endpoint}: ")),
        "{text}"
    );
    assert!(
        !text.contains('\n') && text.matches(": ").count() == 1,
        "one plain sentence: {text}"
    );
    // The same error from any operation, not only ping.
    let err = rt.list_managed().await.expect_err("nobody listening");
    assert!(matches!(err, RuntimeError::Unreachable { .. }), "{err:?}");
}
