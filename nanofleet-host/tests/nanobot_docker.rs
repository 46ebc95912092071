//! A real nanobot (PyPI `nanobot-ai`, pinned in interop/nanobot) reads the `config.json` the
//! host writes for a nanobot agent: its own MCP loader connects to the linked plugin over
//! Streamable HTTP, registers the plugin's tools under nanobot's names, and calls one through
//! nanobot's tool wrapper. No language model is involved.

use std::{path::Path, sync::Arc, time::Duration};

use nanofleet_host::{
    Host, HostConfig, InstallOptions,
    linking::{Client, NANOBOT_TOOL_TIMEOUT_SECS},
    names,
    store::AgentRecord,
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
    })
    .await;
}
