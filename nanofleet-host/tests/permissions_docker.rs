//! A manifest's `permissions`, enforced by the runtime on the real engine: each test would
//! fail if the grant were only recorded. The `probe` test plugin (tests/probe) tries what a
//! grant governs, and its tools report what the kernel answered.

use std::{sync::Arc, time::Duration};

use nanofleet_host::{
    Host, HostConfig, HostError, InstallOptions, egress,
    manifest::{Cpus, Filesystem, Manifest, Memory, Network, Overrides, Resources},
    names,
    policy::{GrantError, Policy},
    runtime::{DockerRuntime, Runtime},
};
use nanofleet_test_support::*;
use rmcp::model::CallToolResult;
use serde_json::json;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// The probe's manifest, with the settings it declares (`ProbeConfig` in tests/probe).
fn probe_manifest(name: &str) -> Manifest {
    let config = serde_json::from_value(json!({
        "greeting": {"type": "string", "required": true},
        "secret": {"type": "string", "required": true, "sensitive": true},
        "repeat": {"type": "integer", "default": 1, "min": 1, "max": 5}
    }))
    .expect("config schema");
    Manifest::new(name, "0.1.0", PROBE_IMAGE, 8080)
        .with_description("probe, for permission tests")
        .with_config(config)
}

/// Options with the values the probe's required settings need.
fn probe_options() -> InstallOptions {
    InstallOptions {
        config: [
            ("greeting".to_owned(), json!("hi")),
            ("secret".to_owned(), json!("not-a-real-secret")),
        ]
        .into(),
        ..InstallOptions::default()
    }
}

async fn host() -> (Host, tempfile::TempDir) {
    host_with(|_| {}).await
}

async fn host_with(tweak: impl FnOnce(&mut HostConfig)) -> (Host, tempfile::TempDir) {
    probe_image().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = HostConfig::new(dir.path().join("host"));
    config.api_url = "http://127.0.0.1:9".into();
    config.ready_timeout = Duration::from_secs(30);
    // Reached from this process; agents are not the point here, so ids go unsigned.
    config.publish_loopback = true;
    config.require_signatures = false;
    config.instance = names::Instance::new(unique("perm")).expect("instance");
    tweak(&mut config);
    let host = Host::open(config, Arc::new(runtime().await))
        .await
        .expect("host opens");
    (host, dir)
}

async fn call(host: &Host, plugin: &str, tool: &str, args: serde_json::Value) -> CallToolResult {
    host.call(
        plugin,
        "probe-agent",
        tool,
        args.as_object().cloned().unwrap_or_default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The tool's text, `Ok` when it succeeded and `Err` when it answered with an error.
async fn outcome(
    host: &Host,
    plugin: &str,
    tool: &str,
    args: serde_json::Value,
) -> Result<String, String> {
    let result = call(host, plugin, tool, args).await;
    let text = nanofleet_sdk::testing::result_text(&result);
    if result.is_error == Some(true) {
        Err(text)
    } else {
        Ok(text)
    }
}

async fn container(
    rt: &DockerRuntime,
    host: &Host,
    plugin: &str,
) -> bollard::models::ContainerInspectResponse {
    rt.docker()
        .inspect_container(
            &host.config().instance.container_name(plugin),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("inspect")
}

fn upgrade_options(overrides: Overrides, allow_more: bool) -> InstallOptions {
    InstallOptions {
        overrides,
        allow_more,
        ..InstallOptions::default()
    }
}

#[tokio::test]
async fn a_plugin_starts_no_process_unless_granted_and_threads_always_work() {
    let rt = runtime().await;
    let name = unique("perm-spawn");
    with_cleanup(&rt, &[&name], async {
        let (host, _dir) = host().await;
        host.install(probe_manifest(&name), probe_options())
            .await
            .expect("installs");
        let refused = outcome(&host, &name, "spawn_child", json!({})).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("Operation not permitted")),
            "spawn: false must refuse the child: {refused:?}"
        );
        let threads = outcome(&host, &name, "start_threads", json!({})).await;
        assert_eq!(threads, Ok("4 threads ran, sum 12".to_owned()));

        // More than the manifest declares: refused without --allow-more, and nothing changes.
        let spawn = Overrides {
            spawn: Some(true),
            ..Overrides::default()
        };
        let err = host
            .upgrade(probe_manifest(&name), upgrade_options(spawn.clone(), false))
            .await
            .expect_err("a widening needs allow_more");
        assert!(
            matches!(&err, HostError::Grant(GrantError::Widening { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("process.spawn"), "{err}");
        assert!(
            outcome(&host, &name, "spawn_child", json!({}))
                .await
                .is_err()
        );

        let record = host
            .upgrade(probe_manifest(&name), upgrade_options(spawn, true))
            .await
            .expect("granted with allow_more");
        assert!(record.permissions().process.spawn);
        assert_eq!(
            record.allowed_more,
            ["process.spawn where it was not declared"]
        );
        let ran = outcome(&host, &name, "spawn_child", json!({})).await;
        assert_eq!(ran, Ok("child process ran".to_owned()));
        let security = container(&rt, &host, &name)
            .await
            .host_config
            .and_then(|h| h.security_opt)
            .unwrap_or_default();
        assert!(
            !security.iter().any(|o| o.starts_with("seccomp=")),
            "spawning allowed: the engine's default profile, {security:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_data_volume_is_read_write_read_only_or_absent_as_granted() {
    let rt = runtime().await;
    let name = unique("perm-fs");
    with_cleanup(&rt, &[&name], async {
        let (host, _dir) = host().await;
        host.install(probe_manifest(&name), probe_options())
            .await
            .expect("installs");
        let wrote = outcome(&host, &name, "write_data", json!({"text": "kept"})).await;
        assert_eq!(wrote, Ok("wrote 4 bytes".to_owned()));

        // Narrowing needs no allow_more; the data stays readable.
        let read_only = Overrides {
            filesystem: Some(Filesystem::ReadOnly),
            ..Overrides::default()
        };
        host.upgrade(probe_manifest(&name), upgrade_options(read_only, false))
            .await
            .expect("narrowed");
        let refused = outcome(&host, &name, "write_data", json!({"text": "lost"})).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("Read-only file system")),
            "{refused:?}"
        );
        assert_eq!(
            outcome(&host, &name, "read_data", json!({})).await,
            Ok("kept".to_owned())
        );

        let none = Overrides {
            filesystem: Some(Filesystem::None),
            ..Overrides::default()
        };
        host.upgrade(probe_manifest(&name), upgrade_options(none, false))
            .await
            .expect("narrowed again");
        // The image's own empty `/data`, on the read-only root: the volume's data is gone
        // from view, and nothing can be written there either.
        let absent = outcome(&host, &name, "read_data", json!({})).await;
        assert!(
            absent.as_ref().is_err_and(|e| e.contains("No such file")),
            "{absent:?}"
        );
        let refused = outcome(&host, &name, "write_data", json!({"text": "lost"})).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("Read-only file system")),
            "{refused:?}"
        );
        let mounts = container(&rt, &host, &name)
            .await
            .mounts
            .unwrap_or_default();
        assert!(mounts.is_empty(), "{mounts:?}");
    })
    .await;
}

#[tokio::test]
async fn resources_asked_for_are_the_containers_limits_within_the_operators_maxima() {
    let rt = runtime().await;
    let (small, big) = (unique("perm-small"), unique("perm-big"));
    with_cleanup(&rt, &[&small, &big], async {
        let (host, _dir) = host().await;
        host.store()
            .set_policy(&Policy {
                max_memory: Some(Memory(128 << 20)),
                ..Policy::default()
            })
            .await
            .expect("policy");

        let mut asks_little = probe_manifest(&small);
        asks_little.permissions.resources = Resources {
            memory: Some(Memory(64 << 20)),
            cpus: Cpus::from_cpus(0.5).ok(),
            pids: Some(32),
        };
        host.install(asks_little, probe_options())
            .await
            .expect("within the maxima");
        let limits = container(&rt, &host, &small)
            .await
            .host_config
            .unwrap_or_default();
        assert_eq!(
            (limits.memory, limits.nano_cpus, limits.pids_limit),
            (Some(64 << 20), Some(500_000_000), Some(32))
        );

        let mut asks_much = probe_manifest(&big);
        asks_much.permissions.resources.memory = Some(Memory(512 << 20));
        let err = host
            .install(asks_much, probe_options())
            .await
            .expect_err("above the maximum");
        let text = err.to_string();
        assert!(
            text.contains("memory 512MiB is above the operator's maximum 128MiB"),
            "{text}"
        );
        // Refused before anything was made.
        assert!(
            host.store()
                .get_plugin(&big)
                .await
                .expect("store")
                .is_none()
        );
        let containers = rt.list_managed().await.expect("list");
        assert!(
            !containers.iter().any(|c| c.plugin == big),
            "{containers:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_plugin_needing_a_newer_host_is_refused_naming_both_versions() {
    let rt = runtime().await;
    let name = unique("perm-version");
    with_cleanup(&rt, &[&name], async {
        let (host, _dir) = host().await;
        let needs = probe_manifest(&name).with_min_host_version(">=99");
        let err = host
            .install(needs, probe_options())
            .await
            .expect_err("too old a host");
        let text = err.to_string();
        assert!(
            text.contains(">=99") && text.contains(env!("CARGO_PKG_VERSION")),
            "{text}"
        );
        assert!(
            host.store()
                .get_plugin(&name)
                .await
                .expect("store")
                .is_none()
        );
    })
    .await;
}

/// A server on this machine's loopback answering `text` to every request: reachable from a
/// plugin only through the host's egress proxy.
async fn serve_text(text: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().fallback(move || async move { text });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn an_allow_list_reaches_what_it_lists_by_name_and_by_address_and_nothing_else() {
    let rt = runtime().await;
    let (listed, bare) = (unique("perm-net"), unique("perm-nonet"));
    with_cleanup(&rt, &[&listed, &bare], async {
        let (a, b) = (serve_text("server A").await, serve_text("server B").await);
        let gateway = rt.internal_gateway().await.expect("gateway");
        let proxy = tokio::net::TcpListener::bind((gateway, 0))
            .await
            .expect("bind the proxy");
        let proxy_addr = proxy.local_addr().expect("addr");
        let (host, _dir) =
            host_with(|c| c.egress_proxy = Some(format!("http://{proxy_addr}"))).await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(egress::serve(proxy, host.clone(), async {
            let _ = stopped.await;
        }));

        let mut manifest = probe_manifest(&listed);
        manifest.permissions.network =
            Network::Allow(vec![format!("localhost:{a}"), format!("127.0.0.1:{b}")]);
        host.install(manifest, probe_options())
            .await
            .expect("installs");
        let fetch = |url: String| {
            let host = host.clone();
            let listed = listed.clone();
            async move { outcome(&host, &listed, "fetch", json!({ "url": url })).await }
        };
        // Allowed by name, and by address.
        assert_eq!(
            fetch(format!("http://localhost:{a}/")).await,
            Ok("200 server A".into())
        );
        assert_eq!(
            fetch(format!("http://127.0.0.1:{b}/")).await,
            Ok("200 server B".into())
        );
        // The same servers under what the list does not say: refused by the proxy.
        for url in [
            format!("http://127.0.0.1:{a}/"),
            format!("http://localhost:{b}/"),
        ] {
            let refused = fetch(url.clone()).await;
            assert!(
                refused
                    .as_ref()
                    .is_ok_and(|r| r.starts_with("403 nanofleet egress")),
                "{url}: {refused:?}"
            );
        }
        // A tunnel (what TLS goes through) is held to the same list.
        let tunnelled = outcome(
            &host,
            &listed,
            "tunnel",
            json!({"host": "localhost", "port": a}),
        )
        .await;
        assert!(
            tunnelled
                .as_ref()
                .is_ok_and(|t| t.contains(" 200") && t.ends_with("server A")),
            "{tunnelled:?}"
        );
        let refused = outcome(
            &host,
            &listed,
            "tunnel",
            json!({"host": "localhost", "port": b}),
        )
        .await;
        assert!(
            refused.as_ref().is_ok_and(|t| t.contains(" 403")),
            "{refused:?}"
        );

        // Without a grant, no proxy is named, and the servers are out of reach.
        host.install(probe_manifest(&bare), probe_options())
            .await
            .expect("installs");
        let env = container(&rt, &host, &bare)
            .await
            .config
            .and_then(|c| c.env)
            .unwrap_or_default();
        assert!(!env.iter().any(|e| e.starts_with("HTTP_PROXY=")), "{env:?}");
        let unreachable = outcome(
            &host,
            &bare,
            "fetch",
            json!({"url": format!("http://localhost:{a}/")}),
        )
        .await;
        assert!(unreachable.is_err(), "{unreachable:?}");
        let _ = stop.send(());
    })
    .await;
}
