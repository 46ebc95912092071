//! Real clients nobody here wrote, against what the host writes and serves.
//!
//! A real nanobot (PyPI `nanobot-ai`, pinned in interop/nanobot) reads the `config.json` the
//! host writes for a nanobot agent: its own MCP loader connects to the linked plugin over
//! Streamable HTTP, registers the plugin's tools under nanobot's names, and calls one through
//! nanobot's tool wrapper (no language model is involved); with a bearer header, it lists and
//! runs the host's own fleet tools. The official Python MCP client (PyPI `mcp`, pinned in
//! interop/python) runs the fleet through the host's MCP server with scoped tokens.

use std::{path::Path, sync::Arc, time::Duration};

use nanofleet_host::{
    Host, HostConfig, InstallOptions,
    linking::{Client, NANOBOT_TOOL_TIMEOUT_SECS},
    names,
    store::{AgentRecord, Scope},
};
use nanofleet_sdk::manifest::Manifest;
use nanofleet_test_support::*;
use serde_json::{Value, json};

/// What `load_and_call.py` reports.
async fn nanobot(config: &Path, tool: &str, args: Value) -> Value {
    let (config, tool) = (config.to_owned(), tool.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        let python =
            nanobot_python().unwrap_or_else(|e| panic!("cannot set up the nanobot venv: {e}"));
        std::process::Command::new(python)
            .arg(nanobot_script())
            .arg(&config)
            .arg(&tool)
            .arg(args.to_string())
            // nanobot reads `NANOBOT_*` settings from the environment too: none may leak in.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", config.parent().expect("workspace"))
            .output()
            .expect("python runs")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "nanobot's loader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn nanobot_loads_the_plugins_the_host_linked_and_calls_their_tools() {
    let rt = runtime().await;
    hello_image().await;
    let name = format!("nb-hello-{:08x}", rand::random::<u32>());
    with_cleanup(&rt, &[&name], async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = HostConfig::new(dir.path().join("host"));
        config.api_url = "http://127.0.0.1:9".into();
        config.ready_timeout = Duration::from_secs(30);
        // nanobot runs in this process's network namespace: loopback URLs, as in development.
        config.publish_loopback = true;
        config.require_signatures = false;
        config.instance =
            names::Instance::new(format!("nb-{:08x}", rand::random::<u32>())).expect("instance");
        let host = Host::open(config, Arc::new(runtime().await))
            .await
            .expect("host opens");
        host.install(
            Manifest::new(&name, "0.1.0", HELLO_IMAGE, 8080),
            InstallOptions::default(),
        )
        .await
        .expect("installs");

        // nanobot's home directory is the agent's workspace.
        let home = dir.path().join("nanobot-home");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::write(
            home.join("config.json"),
            r#"{"agents": {"defaults": {"model": "anthropic/claude-opus-4-5"}}}"#,
        )
        .expect("user's config");
        host.register_agent(
            AgentRecord::new("nb-agent", "nanobot", &home).with_client(Client::Nanobot),
        )
        .await
        .expect("registers");
        host.link("nb-agent", &name).await.expect("links");
        assert!(!home.join(".mcp.json").exists());

        let path = home.join("config.json");
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(
            written["agents"]["defaults"]["model"],
            "anthropic/claude-opus-4-5"
        );
        assert_eq!(written["tools"]["ssrfWhitelist"], json!(["127.0.0.0/8"]));
        let entry = &written["tools"]["mcpServers"][&name];
        assert_eq!(entry["type"], "streamableHttp");
        assert_eq!(entry["toolTimeout"], NANOBOT_TOOL_TIMEOUT_SECS);

        let tool = format!("mcp_{name}_greet");
        let report = nanobot(&path, &tool, json!({"name": "Ada"})).await;
        assert_eq!(report["tools"], json!([tool]), "{report}");
        assert_eq!(
            report["result"], "Hello, Ada! (asked by agent nb-agent)",
            "{report}"
        );

        // The whitelist is what lets nanobot in: without it, nanobot refuses the URL.
        let mut bare = written.clone();
        bare["tools"]
            .as_object_mut()
            .expect("tools")
            .remove("ssrfWhitelist");
        let bare_path = home.join("without-whitelist.json");
        std::fs::write(&bare_path, bare.to_string()).expect("write");
        let refused = nanobot(&bare_path, &tool, json!({"name": "Ada"})).await;
        assert_eq!(refused["tools"], json!([]), "{refused}");
        let blocked = refused["blocked"].to_string();
        assert!(blocked.contains("private/internal address"), "{refused}");

        // Unlinked: the entry and the range leave the file, the user's settings stay.
        host.unlink("nb-agent", &name).await.expect("unlinks");
        let left: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(
            left["agents"]["defaults"]["model"],
            "anthropic/claude-opus-4-5"
        );
        assert!(left["tools"].get("ssrfWhitelist").is_none(), "{left}");
        assert_eq!(left["tools"]["mcpServers"], json!({}));
        let after = nanobot(&path, &tool, json!({})).await;
        assert_eq!(after["tools"], json!([]), "{after}");

        // The host's own MCP server, with a bearer header in nanobot's config: nanobot lists
        // the fleet's tools and runs one.
        let api = serve_api(&host, dir.path()).await;
        let fleet_config = home.join("fleet.json");
        std::fs::write(
            &fleet_config,
            json!({"tools": {
                "ssrfWhitelist": ["127.0.0.0/8"],
                "mcpServers": {"fleet": {
                    "type": "streamableHttp",
                    "url": format!("http://{}/mcp", api.addr),
                    "headers": {"Authorization": format!("Bearer {}", api.token)}
                }}
            }})
            .to_string(),
        )
        .expect("write");
        let fleet = nanobot(&fleet_config, "mcp_fleet_list_plugins", json!({})).await;
        let tools = fleet["tools"].to_string();
        for expected in [
            "mcp_fleet_install_plugin",
            "mcp_fleet_link_agent",
            "mcp_fleet_host_status",
        ] {
            assert!(tools.contains(expected), "{fleet}");
        }
        let result = fleet["result"].as_str().unwrap_or_default();
        assert!(result.contains(&name), "{fleet}");
    })
    .await;
}

/// A host for these tests: development mode (nanobot and the Python client run in this
/// process's network namespace, so plugins are reached on loopback ports).
async fn dev_host(dir: &Path) -> Host {
    let mut config = HostConfig::new(dir.join("host"));
    config.api_url = "http://127.0.0.1:9".into();
    config.ready_timeout = Duration::from_secs(30);
    config.publish_loopback = true;
    config.require_signatures = false;
    config.instance =
        names::Instance::new(format!("cl-{:08x}", rand::random::<u32>())).expect("instance");
    Host::open(config, Arc::new(runtime().await))
        .await
        .expect("host opens")
}

#[tokio::test]
async fn the_official_python_client_runs_the_fleet_with_scoped_tokens() {
    let rt = runtime().await;
    hello_image().await;
    let name = format!("py-hello-{:08x}", rand::random::<u32>());
    with_cleanup(&rt, &[&name], async {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dev_host(dir.path()).await;
        let api = serve_api(&host, dir.path()).await;
        let mut tokens = Vec::new();
        for (token_name, scope) in [("py-read", Scope::Read), ("py-ops", Scope::Operate)] {
            let token = nanofleet_host::api::tokens::new_token();
            host.store()
                .create_token(token_name, scope, &token)
                .await
                .expect("token");
            tokens.push(token);
        }
        let workspace = dir.path().join("py-agent");
        std::fs::create_dir_all(&workspace).expect("workspace");
        let manifest = Manifest::new(&name, "0.1.0", HELLO_IMAGE, 8080);
        let (read, operate) = (tokens[0].clone(), tokens[1].clone());
        let url = format!("http://{}/mcp", api.addr);
        let output = tokio::task::spawn_blocking(move || {
            let python =
                interop_python().unwrap_or_else(|e| panic!("cannot set up the interop venv: {e}"));
            std::process::Command::new(python)
                .arg(interop_script("python/fleet_client.py"))
                .env("FLEET_URL", url)
                .env("READ_TOKEN", read)
                .env("OPERATE_TOKEN", operate)
                .env("MANIFEST", serde_json::to_string(&manifest).expect("json"))
                .env("WORKSPACE", &workspace)
                .output()
                .expect("python runs")
        })
        .await
        .expect("join");
        assert!(
            output.status.success() && String::from_utf8_lossy(&output.stdout).contains("OK"),
            "the official client's run failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // What it did is on record, by token.
        let audit = host.store().audit_log(100).await.expect("audit");
        let actions: Vec<(String, String)> = audit
            .iter()
            .rev()
            .map(|e| (e.who.clone(), e.action.clone()))
            .collect();
        let expected = [
            ("token:py-read", "MCP install_plugin"),
            ("token:py-ops", "MCP install_plugin"),
            ("token:py-ops", "MCP register_agent"),
            ("token:py-ops", "MCP link_agent"),
            ("token:py-ops", "MCP uninstall_plugin"),
            ("token:py-ops", "MCP uninstall_plugin"),
        ]
        .map(|(w, a)| (w.to_owned(), a.to_owned()));
        assert_eq!(actions, expected);
        assert!(host.store().list_plugins().await.expect("list").is_empty());
    })
    .await;
}

/// The host's API, served on a loopback port for the rest of the test.
struct ServedApi {
    addr: std::net::SocketAddr,
    token: String,
}

async fn serve_api(host: &Host, dir: &Path) -> ServedApi {
    use nanofleet_host::api::{self, ApiConfig, BearerToken, StoreMessages};
    let config = ApiConfig::new(dir.join("api"));
    let (auth, token) = BearerToken::load_or_create(&config.data_dir).expect("token");
    let messages = Arc::new(StoreMessages::new(host.store().clone()));
    let router = api::router(host.clone(), Arc::new(auth), messages, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    ServedApi {
        addr,
        token: token.expect("a new token"),
    }
}
