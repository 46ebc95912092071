//! `cargo xtask demo [--once]`: the main job for a new user with Rust and Docker.

use std::{path::Path, sync::Arc, time::Instant};

use anyhow::{Context, Result, bail};
use nanofleet_host::{
    Host, HostConfig, InstallOptions,
    api::{self, ApiConfig, BearerToken, StoreMessages},
    runtime::Runtime,
    store::AgentRecord,
};
use serde_json::{Value, json};

use crate::image::{EXAMPLES, connect, example_build};

const INSTANCE: &str = "demo";
const PORT: u16 = 8787;

pub(crate) fn run(once: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(demo(once))
}

async fn demo(once: bool) -> Result<()> {
    let docker = connect()
        .await
        .context("the demo runs plugins as containers: start the Docker engine and run it again")?;
    println!("== building the example plugin images (FROM scratch, cached)");
    let mut manifests = Vec::new();
    for plugin in EXAMPLES {
        let image = nanofleet_build::build_plugin(
            &docker,
            &example_build(plugin, nanofleet_build::CargoOutput::Inherit),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "   {:<26} {:>5.1} MiB",
            image.tag,
            image.size_bytes as f64 / 1048576.0
        );
        manifests.push(image.manifest);
    }

    let data_dir = crate::root().join("target/nanofleet-demo");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let gateway = docker
        .internal_gateway()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let port = if once { 0 } else { PORT };
    let on_gateway = tokio::net::TcpListener::bind((gateway, port))
        .await
        .with_context(|| format!("cannot listen on {gateway}:{port}"))?;
    let port = on_gateway.local_addr()?.port();
    let on_loopback = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port} (is a demo already running?)")
        })?;

    let mut config = HostConfig::new(&data_dir);
    config.instance =
        nanofleet_host::names::Instance::new(INSTANCE).map_err(|e| anyhow::anyhow!("{e}"))?;
    config.auto_link_new_agents = true;
    config.api_url = format!("http://{gateway}:{port}");
    let host = Host::open(config, Arc::new(connect().await?)).await?;
    // Containers of an earlier demo that was killed are orphans of this instance now.
    host.reconcile().await?;

    let result = script(&host, &data_dir, &manifests, on_gateway, on_loopback, once).await;
    println!("\n== cleaning up");
    for plugin in EXAMPLES {
        if let Err(e) = host.uninstall(plugin, true).await {
            eprintln!("   {plugin}: {e}");
        }
    }
    let _ = docker.remove_network_if_unused().await;
    println!("   plugins, containers, volumes and networks removed");
    result
}

async fn script(
    host: &Host,
    data_dir: &Path,
    manifests: &[nanofleet_sdk::manifest::Manifest],
    on_gateway: tokio::net::TcpListener,
    on_loopback: tokio::net::TcpListener,
    once: bool,
) -> Result<()> {
    let (bearer, token) = BearerToken::load_or_create(data_dir)?;
    let app = api::router(
        host.clone(),
        Arc::new(bearer),
        Arc::new(StoreMessages::new(host.store().clone())),
        ApiConfig::new(data_dir),
    );
    let port = on_loopback.local_addr()?.port();
    let servers = [
        tokio::spawn(axum::serve(on_gateway, app.clone()).into_future()),
        tokio::spawn(axum::serve(on_loopback, app).into_future()),
    ];
    println!("\n== installing the plugins (hardened containers on nanofleet-net)");
    for manifest in manifests {
        let t = Instant::now();
        let record = host
            .install(manifest.clone(), InstallOptions::default())
            .await?;
        let tools: Vec<&str> = record
            .tools
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        println!(
            "   {:<7} {} ready in {:>4.0?}  tools: {}",
            record.name,
            record.manifest.version,
            t.elapsed(),
            tools.join(", ")
        );
    }

    println!("\n== two agents; the host writes each one's .mcp.json");
    for agent in ["alice", "bob"] {
        let workspace = data_dir.join("agents").join(agent);
        std::fs::create_dir_all(&workspace)?;
        host.register_agent(AgentRecord::new(agent, agent, &workspace))
            .await?;
        let text = std::fs::read_to_string(workspace.join(".mcp.json"))?;
        println!(
            "   {}:\n{}",
            workspace.join(".mcp.json").display(),
            indent(&text, 6)
        );
    }

    println!("\n== calling tools as each agent (signed URLs, as in .mcp.json)");
    let call = |agent: &'static str, plugin: &'static str, tool: &'static str, args: Value| async move {
        let result = host
            .call(
                plugin,
                agent,
                tool,
                args.as_object().cloned().unwrap_or_default(),
            )
            .await?;
        let shown = result
            .structured_content
            .clone()
            .unwrap_or_else(|| json!(nanofleet_sdk::testing::result_text(&result)));
        println!("   {agent:<5} {plugin}.{tool}({args}) -> {shown}");
        anyhow::Ok(shown)
    };
    call("alice", "hello", "greet", json!({"name": "world"})).await?;
    call("alice", "notes", "add_note", json!({"text": "buy milk"})).await?;
    call(
        "alice",
        "notes",
        "add_note",
        json!({"text": "water the plants"}),
    )
    .await?;
    call("bob", "notes", "add_note", json!({"text": "call the bank"})).await?;
    let a = call("alice", "notes", "list_notes", json!({})).await?;
    let b = call("bob", "notes", "list_notes", json!({})).await?;
    if a["notes"].as_array().map(Vec::len) != Some(2)
        || b["notes"].as_array().map(Vec::len) != Some(1)
    {
        bail!("scoping is broken: alice sees {a}, bob sees {b}");
    }
    println!("   -> each agent sees only its own notes");
    call(
        "alice",
        "kanban",
        "create_task",
        json!({"title": "ship the demo"}),
    )
    .await?;
    call(
        "alice",
        "kanban",
        "assign_task",
        json!({"id": 1, "assignee": "bob"}),
    )
    .await?;
    let messages = host.store().messages_for_agent("bob").await?;
    let Some(message) = messages.first() else {
        bail!("kanban's callback did not reach the host: bob got no message");
    };
    println!(
        "   -> bob was told through the host's callback API (by {}): {:?}",
        message.plugin, message.content
    );

    let base = format!("http://127.0.0.1:{port}");
    let token = token.context("the demo's data directory is fresh, so its API token is new")?;
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{base}/api/plugins/kanban/ui-session"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ui = format!("{base}{}", session["url"].as_str().unwrap_or_default());
    let page = http.get(&ui).send().await?;
    if !page.status().is_success() {
        bail!("the kanban UI through the proxy answered {}", page.status());
    }

    println!("\n== the host's API");
    println!("   API        {base}/api/plugins   (Authorization: Bearer {token})");
    println!("   OpenAPI    {base}/api/openapi.json");
    println!(
        "   fleet MCP  {base}/mcp   (same bearer token; the fleet's tools for your own agent)"
    );
    println!("   kanban UI  {ui}");
    println!(
        "              (a UI session; it expires in minutes: POST /api/plugins/kanban/ui-session for another)"
    );
    let result = if once {
        println!("\n--once: done");
        Ok(())
    } else {
        println!("\nServing. Ctrl-C to stop and clean up.");
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    };
    for server in servers {
        server.abort();
    }
    result
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
