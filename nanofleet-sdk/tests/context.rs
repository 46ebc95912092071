//! Progress and log notifications from a tool: the reply switches from JSON to SSE so no
//! message is lost, and the result still arrives.

mod common;

use common::*;
use nanofleet_sdk::{
    Manifest, Plugin,
    testing::TestClient,
    tool::{Context, LogLevel, Tool, ToolCall, ToolError},
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Work {
    /// Also send a log message.
    #[serde(default)]
    log: bool,
}

fn plugin_with_progress() -> Plugin {
    Plugin::builder(Manifest::new("slow", "0.1.0", "nanofleet/slow:0.1.0", 8080))
        .tool(Tool::new("work", "Works in three steps.").handler(
            |args: Work, call: ToolCall| async move {
                let ctx: Context = call.extract()?;
                for step in 1..=3 {
                    ctx.progress(f64::from(step), Some(3.0), Some("working"))
                        .await;
                }
                if args.log {
                    ctx.log(LogLevel::Info, "done").await;
                }
                Ok::<_, ToolError>("finished")
            },
        ))
        .build()
        .expect("valid")
}

#[tokio::test]
async fn progress_and_logs_stream_as_sse_before_the_result() {
    let router = TestClient::new(&plugin_with_progress())
        .expect("starts")
        .router();
    let call = serde_json::json!({
        "jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "work", "arguments": {"log": true}, "_meta": {"progressToken": "tok-1"}}
    });
    let (resp, body) = post_json(&router, "/mcp?agent_id=a", call.to_string()).await;
    assert_eq!(resp.status(), 200, "{body}");
    let ct = resp
        .headers()
        .get("content-type")
        .expect("ct")
        .to_str()
        .expect("ascii");
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let events: Vec<serde_json::Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(json)
        .collect();
    let progress: Vec<f64> = events
        .iter()
        .filter(|e| e["method"] == "notifications/progress")
        .map(|e| {
            assert_eq!(e["params"]["progressToken"], "tok-1");
            e["params"]["progress"].as_f64().expect("number")
        })
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0], "{body}");
    assert!(
        events
            .iter()
            .any(|e| e["method"] == "notifications/message" && e["params"]["data"] == "done"),
        "{body}"
    );
    let last = events.last().expect("events");
    assert_eq!(last["id"], 9);
    assert_eq!(last["result"]["content"][0]["text"], "finished", "{body}");
}

#[tokio::test]
async fn without_a_progress_token_the_reply_is_plain_json() {
    let router = TestClient::new(&plugin_with_progress())
        .expect("starts")
        .router();
    let call = rpc(
        3,
        "tools/call",
        serde_json::json!({"name": "work", "arguments": {}}),
    );
    let (resp, body) = post_json(&router, "/mcp", call).await;
    assert_eq!(resp.status(), 200, "{body}");
    // Progress calls are no-ops without a token, so nothing precedes the result.
    let ct = resp
        .headers()
        .get("content-type")
        .expect("ct")
        .to_str()
        .expect("ascii");
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(
        json(&body)["result"]["content"][0]["text"],
        "finished",
        "{body}"
    );
}

/// A tool that logs once at each of four levels.
fn chatty() -> Plugin {
    Plugin::builder(Manifest::new(
        "chatty",
        "0.1.0",
        "nanofleet/chatty:0.1.0",
        8080,
    ))
    .tool(Tool::new("chat", "Logs at four levels.").handler(
        |_: nanofleet_sdk::tool::NoArgs, call: ToolCall| async move {
            let ctx: Context = call.extract()?;
            for level in [
                LogLevel::Debug,
                LogLevel::Info,
                LogLevel::Warning,
                LogLevel::Error,
            ] {
                ctx.log(level, format!("{level:?}")).await;
            }
            Ok::<_, ToolError>("said")
        },
    ))
    .build()
    .expect("valid")
}

fn levels_logged(call: &nanofleet_sdk::testing::RecordedCall) -> Vec<String> {
    call.logs().iter().map(|l| l.text()).collect()
}

#[tokio::test]
async fn set_level_filters_what_the_client_that_set_it_receives() {
    #[allow(deprecated)] // logging is deprecated from 2026-07-28; older clients use it
    use nanofleet_sdk::rmcp::model::{LoggingLevel, SetLevelRequestParams};

    let client = TestClient::new(&chatty()).expect("starts");
    let quiet = client.connect_as("alice").await.expect("connects");
    let loud = client.connect_as("alice").await.expect("connects");

    // Nothing set: every message.
    let call = quiet.call_recorded("chat", json!({})).await.expect("call");
    assert_eq!(levels_logged(&call), ["Debug", "Info", "Warning", "Error"]);

    #[allow(deprecated)]
    quiet
        .peer()
        .set_level(SetLevelRequestParams::new(LoggingLevel::Warning))
        .await
        .expect("logging/setLevel is served");
    let call = quiet.call_recorded("chat", json!({})).await.expect("call");
    assert_eq!(levels_logged(&call), ["Warning", "Error"]);

    // Another client of the same agent (another session) is not affected.
    let call = loud.call_recorded("chat", json!({})).await.expect("call");
    assert_eq!(levels_logged(&call), ["Debug", "Info", "Warning", "Error"]);
}

#[tokio::test]
async fn set_level_answers_an_empty_result_even_without_a_session() {
    let router = TestClient::new(&chatty()).expect("starts").router();
    let (resp, body) = post_json(
        &router,
        "/mcp?agent_id=ada",
        rpc(7, "logging/setLevel", json!({"level": "info"})),
    )
    .await;
    assert_eq!(resp.status(), http::StatusCode::OK, "{body}");
    assert_eq!(json(&body)["result"], json!({}), "{body}");
    // A level that MCP does not define is a JSON-RPC error, not a crash.
    let (_, body) = post_json(
        &router,
        "/mcp?agent_id=ada",
        rpc(8, "logging/setLevel", json!({"level": "loud"})),
    )
    .await;
    assert!(json(&body)["error"]["code"].is_i64(), "{body}");
}
