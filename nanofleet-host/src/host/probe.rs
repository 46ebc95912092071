//! Talking MCP to a plugin from the host: readiness, `tools/list`, and tool calls (for
//! `nanofleet call`), through rmcp's own client.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use http::{HeaderName, HeaderValue};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, Tool},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::time::Instant;

/// One MCP session with a plugin, as the host (or as an agent, with `query`).
pub(super) async fn connect(
    addr: SocketAddr,
    host_header: &str,
    query: &str,
) -> Result<RunningService<RoleClient, ()>, String> {
    let mut headers = HashMap::new();
    let value = HeaderValue::from_str(host_header).map_err(|e| e.to_string())?;
    headers.insert(HeaderName::from_static("host"), value);
    let url = if query.is_empty() {
        format!("http://{addr}/mcp")
    } else {
        format!("http://{addr}/mcp?{query}")
    };
    let transport = StreamableHttpClientTransport::with_client(
        http_client()?,
        StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers),
    );
    ().serve(transport).await.map_err(|e| e.to_string())
}

/// The client of every host-made call to a plugin, made once. Built from the SDK's (its roots
/// compiled in), not the transport's default, which needs the system's CA certificates and
/// panics without them: a host in a `FROM scratch` image has none. Plugins are reached
/// directly, never through a proxy from the environment.
fn http_client() -> Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            nanofleet_sdk::ensure_crypto_provider();
            nanofleet_sdk::http::client_builder()
                .no_proxy()
                .build()
                .map_err(|e| format!("cannot build the HTTP client for plugins: {e}"))
        })
        .clone()
}

/// The plugin's tools, once it answers; retries with backoff (2 ms doubling up to 500 ms)
/// until `timeout`.
pub(super) async fn wait_for_tools(
    addr: impl Fn() -> futures::future::BoxFuture<'static, Result<(SocketAddr, String), String>>,
    timeout: Duration,
) -> Result<Vec<Tool>, String> {
    let deadline = Instant::now() + timeout;
    // The first attempt follows the engine's start at once, and a plugin binary that is not
    // listening yet usually is a few milliseconds later: short waits first, so readiness costs
    // little beyond the start itself. A refused connection is cheap to retry.
    let mut delay = Duration::from_millis(2);
    loop {
        let attempt = async {
            let (addr, host) = addr().await?;
            let session = connect(addr, &host, "").await?;
            let tools = session.list_all_tools().await.map_err(|e| e.to_string());
            let _ = session.cancel().await;
            tools
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let last_error =
            match tokio::time::timeout(remaining.max(Duration::from_millis(1)), attempt).await {
                Ok(Ok(tools)) => return Ok(tools),
                Ok(Err(e)) => e,
                Err(_) => "timed out".to_owned(),
            };
        if Instant::now() + delay >= deadline {
            return Err(last_error);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// Calls `tool` with `arguments` through one session.
pub(super) async fn call_tool(
    addr: SocketAddr,
    host_header: &str,
    query: &str,
    tool: &str,
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<CallToolResult, String> {
    let session = connect(addr, host_header, query).await?;
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = Some(arguments);
    let result = session.call_tool(params).await.map_err(|e| e.to_string());
    let _ = session.cancel().await;
    result
}
