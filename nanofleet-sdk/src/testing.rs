//! Calling a plugin's tools in-process, as a given agent: no port, no Docker.
//!
//! [`TestClient`] runs the plugin's real `/mcp` stack (the NanoFleet session layer, the agent
//! identity check, rmcp's Streamable HTTP service) and talks to it with rmcp's own client, over
//! a transport that hands each HTTP request straight to the router instead of a socket.
//!
//! ```
//! # use nanofleet_sdk::{Manifest, Plugin, testing::TestClient, tool::{NoArgs, Tool, ToolCall}};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plugin = Plugin::builder(Manifest::new("who", "0.1.0", "who:0.1.0", 8080))
//!     .tool(Tool::new("whoami", "Says which agent is calling.").handler(
//!         |_: NoArgs, call: ToolCall| async move { call.agent().map(|a| a.to_string()) },
//!     ))
//!     .build()?;
//! let client = TestClient::new(&plugin)?;
//! let alice = client.connect_as("alice").await?;
//! assert_eq!(alice.call_text("whoami", serde_json::json!({})).await?, "alice");
//! # Ok(()) }
//! ```

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use axum::{Router, body::Body};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rmcp::{
    RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientJsonRpcMessage, ServerJsonRpcMessage, Tool,
    },
    service::RunningService,
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{
            StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
            StreamableHttpPostResponse,
        },
    },
};
use tokio_util::sync::CancellationToken;

use crate::{
    env::PluginEnv,
    error::Error,
    identity::{AGENT_ID_PARAM, AGENT_SIGNATURE_PARAM},
    plugin::{Plugin, Running},
    server::{SESSION_HEADER, router},
    store::Store,
};

/// A plugin running in-process, with a fresh in-memory store.
#[derive(Clone, Debug)]
pub struct TestClient {
    running: Arc<Running>,
    router: Router,
}

/// What went wrong talking to the plugin.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TestError(String);

impl TestError {
    fn new(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

impl TestClient {
    /// Runs `plugin` with an empty environment (no host, no token) and an in-memory store.
    pub fn new(plugin: &Plugin) -> Result<Self, Error> {
        Self::with_env(plugin, PluginEnv::default())
    }

    /// Runs `plugin` with `env`. The store is in memory unless `env.data_dir` is set.
    pub fn with_env(plugin: &Plugin, env: PluginEnv) -> Result<Self, Error> {
        let running = if env.data_dir.is_none() {
            let store = Store::in_memory().map_err(|e| Error::Config(e.to_string()))?;
            plugin.start_with_store(env, store)?
        } else {
            plugin.start(env)?
        };
        let router = router(&running, CancellationToken::new());
        Ok(Self { running, router })
    }

    /// The plugin's `/mcp` + `/healthz` router, for sending raw HTTP requests.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The running plugin.
    pub fn running(&self) -> &Arc<Running> {
        &self.running
    }

    /// Connects (MCP `initialize`) as `agent`, the way a linked agent's URL does.
    pub async fn connect_as(&self, agent: &str) -> Result<AgentClient, TestError> {
        self.connect_with_query(&[(AGENT_ID_PARAM, agent)]).await
    }

    /// Connects as `agent` with an `agent_sig` signature.
    pub async fn connect_signed(
        &self,
        agent: &str,
        signature: &str,
    ) -> Result<AgentClient, TestError> {
        self.connect_with_query(&[(AGENT_ID_PARAM, agent), (AGENT_SIGNATURE_PARAM, signature)])
            .await
    }

    /// Connects without naming an agent, as the host's install probe does.
    pub async fn connect_anonymous(&self) -> Result<AgentClient, TestError> {
        self.connect_with_query(&[]).await
    }

    /// Connects with arbitrary query parameters on the `/mcp` URL.
    pub async fn connect_with_query(
        &self,
        query: &[(&str, &str)],
    ) -> Result<AgentClient, TestError> {
        let mut uri = String::from("http://localhost/mcp");
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        let transport = StreamableHttpClientTransport::with_client(
            InProcess {
                router: self.router.clone(),
            },
            StreamableHttpClientTransportConfig::with_uri(uri),
        );
        let service = ().serve(transport).await.map_err(TestError::new)?;
        Ok(AgentClient { service })
    }
}

/// An MCP client session with the plugin.
pub struct AgentClient {
    service: RunningService<RoleClient, ()>,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient").finish_non_exhaustive()
    }
}

impl AgentClient {
    /// `tools/list`, all pages.
    pub async fn list_tools(&self) -> Result<Vec<Tool>, TestError> {
        self.service.list_all_tools().await.map_err(TestError::new)
    }

    /// `tools/call`. A protocol error (unknown tool, refused request) is an `Err`; a tool that
    /// failed is an `Ok` result with `is_error: Some(true)`.
    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<CallToolResult, TestError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = match arguments {
            serde_json::Value::Object(map) => Some(map),
            serde_json::Value::Null => None,
            other => {
                return Err(TestError(format!(
                    "arguments must be an object, got {other}"
                )));
            }
        };
        self.service.call_tool(params).await.map_err(TestError::new)
    }

    /// Calls `tool` and returns its text, failing when the tool reported an error.
    pub async fn call_text(
        &self,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<String, TestError> {
        let result = self.call(tool, arguments).await?;
        let text = result_text(&result);
        if result.is_error == Some(true) {
            return Err(TestError(format!("tool `{tool}` failed: {text}")));
        }
        Ok(text)
    }

    /// Calls `tool` and returns its structured content, failing when the tool reported an error
    /// or returned none.
    pub async fn call_json(
        &self,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<serde_json::Value, TestError> {
        let result = self.call(tool, arguments).await?;
        if result.is_error == Some(true) {
            return Err(TestError(format!(
                "tool `{tool}` failed: {}",
                result_text(&result)
            )));
        }
        result
            .structured_content
            .ok_or_else(|| TestError(format!("tool `{tool}` returned no structured content")))
    }

    /// The rmcp client, for anything else.
    pub fn peer(&self) -> &rmcp::Peer<RoleClient> {
        self.service.peer()
    }

    /// Ends the session (`DELETE /mcp`).
    pub async fn close(self) -> Result<(), TestError> {
        self.service
            .cancel()
            .await
            .map(|_| ())
            .map_err(TestError::new)
    }
}

/// The text blocks of a result, joined by newlines.
pub fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Streamable HTTP client whose "network" is a call into the router.
#[derive(Clone)]
struct InProcess {
    router: Router,
}

type HttpResult<T> = Result<T, StreamableHttpError<std::io::Error>>;

impl InProcess {
    fn request(
        &self,
        method: Method,
        uri: &str,
        session_id: Option<&str>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        body: Body,
    ) -> HttpResult<Request<Body>> {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "localhost")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(id) = session_id {
            req = req.header(SESSION_HEADER, id);
        }
        for (k, v) in custom_headers {
            req = req.header(k, v);
        }
        req.body(body)
            .map_err(|e| StreamableHttpError::Client(std::io::Error::other(e)))
    }

    async fn send(&self, req: Request<Body>) -> http::Response<Body> {
        use tower::ServiceExt as _;
        match self.router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}

impl StreamableHttpClient for InProcess {
    type Error = std::io::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let body = serde_json::to_vec(&message)?;
        let req = self.request(
            Method::POST,
            &uri,
            session_id.as_deref(),
            custom_headers,
            Body::from(body),
        )?;
        let resp = self.send(req).await;
        let status = resp.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        let session = resp
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if content_type.starts_with("text/event-stream") && status.is_success() {
            let stream = sse_stream::SseStream::new(resp.into_body())
                .map_err(|e| {
                    sse_stream::Error::Body(Box::new(std::io::Error::other(e.to_string())))
                })
                .boxed();
            return Ok(StreamableHttpPostResponse::Sse(stream, session));
        }
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| StreamableHttpError::Client(std::io::Error::other(e)))?
            .to_bytes();
        if content_type.starts_with("application/json")
            && let Ok(msg) = serde_json::from_slice::<ServerJsonRpcMessage>(&bytes)
        {
            return Ok(StreamableHttpPostResponse::Json(msg, session));
        }
        Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
            format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
        )))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        let req = self.request(
            Method::DELETE,
            &uri,
            Some(&session_id),
            custom_headers,
            Body::empty(),
        )?;
        let status = self.send(req).await.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("DELETE answered {status}"),
            )))
        }
    }

    async fn get_stream(
        &self,
        _uri: Arc<str>,
        _session_id: Option<Arc<str>>,
        _last_event_id: Option<String>,
        _auth_header: Option<String>,
        _custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>>
    {
        Err(StreamableHttpError::ServerDoesNotSupportSse)
    }
}
