//! Requests of protocol 2026-07-28 over HTTP, as a client without a handshake sends them.

use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use nanofleet_sdk::testing::TestClient;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A request of protocol 2026-07-28 as `agent`, with the standard headers and the `_meta` that
/// stands in for a handshake, from a client declaring `capabilities`; the JSON-RPC reply.
pub async fn rpc(
    router: &axum::Router,
    agent: &str,
    method: &str,
    params: Value,
    capabilities: Value,
) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "everything-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities
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

/// The `/mcp` router of a fresh `everything`.
pub fn router() -> axum::Router {
    let plugin = everything::plugin().expect("the plugin builds");
    TestClient::new(&plugin).expect("starts").router()
}
