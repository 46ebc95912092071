//! The HTTP ceiling: an axum handler that reads the request body and answers every `POST /mcp`
//! with one fixed JSON-RPC reply, doing no MCP, no JSON parsing and no storage. Whatever a real
//! plugin does costs its throughput relative to this; no MCP server on the same HTTP stack
//! (hyper and axum, a multi-threaded tokio runtime) can be faster.
//!
//! Usage: `bare-axum <addr>`.

use axum::{
    Router,
    body::Bytes,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};

/// A `list_notes`-shaped result carrying the note the load generator checks for.
const REPLY: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"{\"notes\":[{\"id\":1,\"text\":\"benchmark note\"}]}"}],"structuredContent":{"notes":[{"id":1,"text":"benchmark note"}]},"isError":false}}"#;

async fn mcp(body: Bytes) -> impl IntoResponse {
    // The body is read in full (as every contender must), then ignored.
    drop(body);
    ([(header::CONTENT_TYPE, "application/json")], REPLY)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8096".into());
    let app = Router::new()
        .route("/mcp", post(mcp))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
