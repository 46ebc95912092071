//! What an agent does with the `.mcp.json` the host wrote, reduced to a script: read the file,
//! connect to each plugin by the URL in it (the plugin's container name on `nanofleet-net`),
//! call tools, print one JSON line per call, then `done`.
//!
//! Environment:
//! - `AGENT_WORKSPACE`: the directory holding `.mcp.json` (default `/workspace`);
//! - `AGENT_SCRIPT`: a JSON array of `{"server", "tool", "args", "agent_id"?}`; `agent_id`
//!   replaces the id in the URL while keeping its signature (a forgery, for the tests).

use std::process::ExitCode;

use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => {
            println!("done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            println!("{}", json!({"fatal": e}));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let workspace = std::env::var("AGENT_WORKSPACE").unwrap_or_else(|_| "/workspace".into());
    let config = std::fs::read_to_string(format!("{workspace}/.mcp.json"))
        .map_err(|e| format!("cannot read {workspace}/.mcp.json: {e}"))?;
    let config: Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
    let script: Value =
        serde_json::from_str(&std::env::var("AGENT_SCRIPT").unwrap_or_else(|_| "[]".into()))
            .map_err(|e| format!("AGENT_SCRIPT: {e}"))?;
    for step in script.as_array().into_iter().flatten() {
        let server = step["server"].as_str().unwrap_or_default();
        let tool = step["tool"].as_str().unwrap_or_default();
        let line = match config["mcpServers"][server]["url"].as_str() {
            None => {
                json!({"server": server, "tool": tool, "ok": false, "error": "not in .mcp.json"})
            }
            Some(url) => {
                let url = match step["agent_id"].as_str() {
                    Some(forged) => forge(url, forged),
                    None => url.to_owned(),
                };
                match call(&url, tool, step["args"].clone()).await {
                    Ok(result) => {
                        json!({"server": server, "tool": tool, "ok": true, "result": result})
                    }
                    Err(e) => json!({"server": server, "tool": tool, "ok": false, "error": e}),
                }
            }
        };
        println!("{line}");
    }
    Ok(())
}

/// The URL with another `agent_id`, the signature left as it was.
fn forge(url: &str, agent: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| {
            if kv.starts_with("agent_id=") {
                format!("agent_id={agent}")
            } else {
                kv.to_owned()
            }
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

async fn call(url: &str, tool: &str, args: Value) -> Result<Value, String> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = ().serve(transport).await.map_err(|e| e.to_string())?;
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = args.as_object().cloned();
    let result = client.call_tool(params).await.map_err(|e| e.to_string());
    let _ = client.cancel().await;
    let result = result?;
    serde_json::to_value(&result).map_err(|e| e.to_string())
}
