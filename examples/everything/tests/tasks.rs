//! `#[tool(task)]` over HTTP, the way a client of MCP's tasks extension drives it: the call
//! answers at once with a task, `tasks/get` shows its progress and then its result, `tasks/cancel`
//! stops it, and another agent cannot see or touch it.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use nanofleet_sdk::testing::TestClient;
use serde_json::{Value, json};
use tower::ServiceExt;

const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A request of protocol 2026-07-28 as `agent`, with the standard headers and `_meta`; the
/// client declares the tasks extension when `tasks` is set.
async fn rpc(
    router: &axum::Router,
    agent: &str,
    method: &str,
    params: Value,
    tasks: bool,
) -> Value {
    let mut params = params;
    let extensions = if tasks {
        json!({ TASKS: {} })
    } else {
        json!({})
    };
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "tasks-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"extensions": extensions}
    });
    let name = params
        .get("name")
        .or_else(|| params.get("taskId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut req = Request::post(format!("/mcp?agent_id={agent}"))
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        req = req.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let req = req.body(Body::from(body.to_string())).expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // An SSE reply (progress before the result) carries the JSON in its last data line.
    let json_text = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .map_or(text.clone(), str::to_owned);
    let value: Value = serde_json::from_str(&json_text).unwrap_or(Value::Null);
    assert!(
        status == StatusCode::OK || value.get("error").is_some(),
        "{status}: {text}"
    );
    value
}

fn router() -> axum::Router {
    let plugin = everything::plugin().expect("the plugin builds");
    TestClient::new(&plugin).expect("starts").router()
}

async fn get(router: &axum::Router, agent: &str, id: &str) -> Value {
    rpc(router, agent, "tasks/get", json!({"taskId": id}), true).await
}

async fn until_done(router: &axum::Router, id: &str) -> Value {
    for _ in 0..200 {
        let task = get(router, "ada", id).await;
        if task["result"]["status"] != "working" {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} never finished");
}

#[tokio::test]
async fn a_client_of_the_extension_gets_a_task_and_polls_it_to_its_result() {
    let router = router();
    let started = rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "count_slowly", "arguments": {"steps": 4}}),
        true,
    )
    .await;
    let task = &started["result"];
    assert_eq!(task["resultType"], "task", "{started}");
    assert_eq!(task["status"], "working", "{started}");
    let id = task["taskId"].as_str().expect("a task id").to_owned();

    // Progress shows as the status message while it runs.
    let mut saw_progress = false;
    for _ in 0..100 {
        let now = get(&router, "ada", &id).await;
        if now["result"]["statusMessage"]
            .as_str()
            .is_some_and(|m| m.contains("step"))
        {
            saw_progress = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_progress, "no progress in the status message");

    let done = until_done(&router, &id).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "counted to 4",
        "{done}"
    );
}

#[tokio::test]
async fn a_client_without_the_extension_gets_the_result_inline() {
    let router = router();
    let answer = rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "count_slowly", "arguments": {"steps": 1}}),
        false,
    )
    .await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "counted to 1",
        "{answer}"
    );
}

#[tokio::test]
async fn cancel_stops_a_task_and_other_agents_cannot_see_or_cancel_it() {
    let router = router();
    let started = rpc(
        &router,
        "ada",
        "tools/call",
        json!({"name": "count_slowly", "arguments": {"steps": 1000}}),
        true,
    )
    .await;
    let id = started["result"]["taskId"].as_str().expect("id").to_owned();

    for method in ["tasks/get", "tasks/cancel"] {
        let refused = rpc(&router, "bob", method, json!({"taskId": id}), true).await;
        assert_eq!(refused["error"]["code"], -32602, "{method}: {refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no task")),
            "{refused}"
        );
    }
    let unknown = get(&router, "ada", "no-such-task").await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    let cancelled = rpc(&router, "ada", "tasks/cancel", json!({"taskId": id}), true).await;
    assert!(cancelled.get("error").is_none(), "{cancelled}");
    let done = until_done(&router, &id).await;
    assert_eq!(done["result"]["status"], "cancelled", "{done}");
}
