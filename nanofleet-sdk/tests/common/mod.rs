//! A small plugin and raw-HTTP helpers shared by the SDK's integration tests.
#![allow(dead_code, missing_docs)]

use axum::{Router, body::Body};
use http::{Request, Response, header};
use http_body_util::BodyExt;
use nanofleet_sdk::{
    AgentId, Manifest, Plugin,
    tool::{Json, NoArgs, Tool, ToolCall, ToolError},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Deserialize, JsonSchema)]
pub struct Echo {
    /// Text to echo.
    pub text: String,
    /// How many times.
    pub times: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct Count {
    pub count: u64,
}

pub fn plugin() -> Plugin {
    Plugin::builder(
        Manifest::new("probe", "1.2.3", "nanofleet/probe:1.2.3", 8080)
            .with_description("Test plugin."),
    )
    .tool(Tool::new("echo", "Echoes text.").read_only(true).handler(
        |args: Echo, _call: ToolCall| async move {
            Ok::<_, ToolError>(args.text.repeat(args.times.unwrap_or(1) as usize))
        },
    ))
    .tool(Tool::new("whoami", "Names the calling agent.").handler(
        |_: NoArgs, call: ToolCall| async move { call.agent().map(|a: AgentId| a.to_string()) },
    ))
    .tool(
        Tool::new("count", "Counts the agent's calls.")
            .output::<Count>()
            .handler(|_: NoArgs, call: ToolCall| async move {
                let store: nanofleet_sdk::AgentStore = call.extract()?;
                let n: u64 = store.get("n").await?.unwrap_or(0) + 1;
                store.put("n", &n).await?;
                Ok::<_, ToolError>(Json(Count { count: n }))
            }),
    )
    .build()
    .expect("valid plugin")
}

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

pub fn rpc(id: u64, method: &str, params: serde_json::Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

pub fn initialize_body() -> String {
    rpc(
        1,
        "initialize",
        serde_json::json!({
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": {"name": "nanofleet-api", "version": "1.0.0"}
        }),
    )
}

pub fn post(uri: &str) -> http::request::Builder {
    Request::post(uri)
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, ACCEPT_BOTH)
        .header(header::CONTENT_TYPE, "application/json")
}

pub async fn send(router: &Router, req: Request<Body>) -> (Response<()>, String) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

pub async fn post_json(router: &Router, uri: &str, body: String) -> (Response<()>, String) {
    let req = post(uri).body(Body::from(body)).expect("request");
    send(router, req).await
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
