//! [`AgentClient`]: an MCP session with a plugin container, as one agent.

use std::{fmt, future::Future, time::Duration};

use rmcp::{
    Peer, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, GetPromptRequestParams, GetPromptResult, JsonObject,
        ReadResourceRequestParams, ReadResourceResult, Resource, Tool,
    },
    service::{ClientInitializeError, RunningService, ServiceError},
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError},
    },
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{Error, error::describe};

/// How long a request may take unless [`AgentClient::with_timeout`] says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An MCP session (rmcp's client over Streamable HTTP) with a plugin container, bound to one
/// agent by the URL it connected to.
///
/// Made by [`PluginContainer::client_as`](crate::PluginContainer::client_as) and its siblings.
/// Every request is bounded by a timeout ([`DEFAULT_REQUEST_TIMEOUT`]), so a hung plugin fails
/// the test instead of stalling it.
pub struct AgentClient {
    service: RunningService<RoleClient, ()>,
    plugin: String,
    who: String,
    timeout: Duration,
}

impl fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentClient")
            .field("plugin", &self.plugin)
            .field("who", &self.who)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// Opens a session (`initialize`) on `url`. `who` describes the caller in errors.
    pub(crate) async fn connect(
        url: String,
        plugin: &str,
        who: String,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let http = http_client().map_err(|message| Error::Connect {
            plugin: plugin.to_owned(),
            who: who.clone(),
            message,
        })?;
        let transport = StreamableHttpClientTransport::with_client(
            http,
            StreamableHttpClientTransportConfig::with_uri(url),
        );
        let fail = |message: String| Error::Connect {
            plugin: plugin.to_owned(),
            who: who.clone(),
            message,
        };
        let service = match tokio::time::timeout(timeout, ().serve(transport)).await {
            Ok(Ok(service)) => service,
            Ok(Err(e)) => return Err(fail(describe_init(&e))),
            Err(_) => return Err(fail(format!("initialize got no answer within {timeout:?}"))),
        };
        Ok(Self {
            service,
            plugin: plugin.to_owned(),
            who,
            timeout,
        })
    }

    /// Bounds every later request by `timeout` instead of [`DEFAULT_REQUEST_TIMEOUT`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Who this client calls as, e.g. `agent alice (signed)`.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// `tools/list`, every page.
    pub async fn list_tools(&self) -> Result<Vec<Tool>, Error> {
        self.request("tools/list".into(), self.service.list_all_tools())
            .await
    }

    /// `tools/call` with `arguments` (anything that serializes to a JSON object, or `null` for
    /// none), returning the raw result.
    ///
    /// A protocol error (unknown tool, invalid arguments, a refused request) is an `Err`; a tool
    /// that ran and failed is an `Ok` result with `is_error: Some(true)`. The `call_*` helpers
    /// turn that into [`Error::ToolFailed`].
    pub async fn call(
        &self,
        tool: &str,
        arguments: impl Serialize,
    ) -> Result<CallToolResult, Error> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        params.arguments = arguments_object(&format!("the arguments of `{tool}`"), arguments)?;
        self.request(format!("tools/call {tool}"), self.service.call_tool(params))
            .await
    }

    /// Calls `tool` and returns its `structuredContent`.
    ///
    /// # Errors
    ///
    /// [`Error::ToolFailed`] with the tool's text when it reported an error,
    /// [`Error::NoStructuredContent`] when it returned none, or the errors of [`call`](Self::call).
    pub async fn call_json(&self, tool: &str, arguments: impl Serialize) -> Result<Value, Error> {
        let result = self.call(tool, arguments).await?;
        let text = result_text(&result);
        if result.is_error == Some(true) {
            return Err(Error::ToolFailed {
                tool: tool.to_owned(),
                message: text,
            });
        }
        result
            .structured_content
            .ok_or_else(|| Error::NoStructuredContent {
                tool: tool.to_owned(),
                text,
            })
    }

    /// Calls `tool` and deserializes its `structuredContent` into `T`.
    ///
    /// # Errors
    ///
    /// Those of [`call_json`](Self::call_json), and [`Error::Decode`] (with the path to the
    /// offending field) when the content does not fit `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        tool: &str,
        arguments: impl Serialize,
    ) -> Result<T, Error> {
        let value = self.call_json(tool, arguments).await?;
        serde_path_to_error::deserialize(value).map_err(|e| Error::Decode {
            tool: tool.to_owned(),
            message: e.to_string(),
        })
    }

    /// Calls `tool` and returns its text blocks, joined by newlines.
    ///
    /// # Errors
    ///
    /// [`Error::ToolFailed`] with the text when the tool reported an error, or the errors of
    /// [`call`](Self::call).
    pub async fn call_text(&self, tool: &str, arguments: impl Serialize) -> Result<String, Error> {
        let result = self.call(tool, arguments).await?;
        let text = result_text(&result);
        if result.is_error == Some(true) {
            return Err(Error::ToolFailed {
                tool: tool.to_owned(),
                message: text,
            });
        }
        Ok(text)
    }

    /// `resources/list`, every page.
    pub async fn list_resources(&self) -> Result<Vec<Resource>, Error> {
        self.request("resources/list".into(), self.service.list_all_resources())
            .await
    }

    /// `resources/read` of `uri`.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, Error> {
        self.request(
            format!("resources/read {uri}"),
            self.service
                .read_resource(ReadResourceRequestParams::new(uri)),
        )
        .await
    }

    /// `prompts/get` of `name` with `arguments` (a JSON object, or `null` for none).
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: impl Serialize,
    ) -> Result<GetPromptResult, Error> {
        let mut params = GetPromptRequestParams::new(name);
        params.arguments =
            arguments_object(&format!("the arguments of prompt `{name}`"), arguments)?;
        self.request(
            format!("prompts/get {name}"),
            self.service.get_prompt(params),
        )
        .await
    }

    /// The rmcp peer, for any request the helpers do not cover.
    pub fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }

    /// The whole rmcp client service.
    pub fn service(&self) -> &RunningService<RoleClient, ()> {
        &self.service
    }

    /// Ends the session. Dropping the client ends it too, without waiting.
    pub async fn close(self) -> Result<(), Error> {
        let plugin = self.plugin.clone();
        self.service
            .cancel()
            .await
            .map(drop)
            .map_err(|e| Error::Request {
                plugin,
                method: "closing the session".into(),
                message: e.to_string(),
            })
    }

    async fn request<T>(
        &self,
        method: String,
        fut: impl Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Error::Request {
                plugin: self.plugin.clone(),
                method,
                message: describe_service(&e),
            }),
            Err(_) => Err(Error::Timeout {
                what: format!("{method} on plugin {} as {}", self.plugin, self.who),
                after: self.timeout,
            }),
        }
    }
}

/// The text blocks of a tool result, joined by newlines.
pub fn result_text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why `initialize` failed. For a transport failure, the transport's own error and its causes
/// (`HTTP 403 Forbidden: {…}`, `connection refused`), without rmcp's wrapper around them.
fn describe_init(err: &ClientInitializeError) -> String {
    match err {
        ClientInitializeError::TransportError { error, context } => {
            format!(
                "{} (while trying to {context})",
                describe_transport(error.error.as_ref())
            )
        }
        other => describe(other),
    }
}

/// Why a request failed, as [`describe_init`] does it.
fn describe_service(err: &ServiceError) -> String {
    match err {
        ServiceError::TransportSend(error) => describe_transport(error.error.as_ref()),
        other => describe(other),
    }
}

/// A transport error: the HTTP client's own error with its causes (`connection refused`),
/// which rmcp's wrapper does not chain.
fn describe_transport(err: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    match err.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
        Some(StreamableHttpError::Client(inner)) => describe(inner),
        _ => describe(err),
    }
}

/// Serializes `arguments` to a JSON object; `null` means none.
fn arguments_object(what: &str, arguments: impl Serialize) -> Result<Option<JsonObject>, Error> {
    match serde_json::to_value(arguments) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(None),
        Ok(other) => Err(Error::InvalidOption(format!(
            "{what} must be a JSON object (or null for none), not {other}"
        ))),
        Err(e) => Err(Error::InvalidOption(format!(
            "{what} do not serialize to JSON: {e}"
        ))),
    }
}

/// The HTTP client: no proxy (the plugin is on loopback, and a proxy from the environment would
/// only get in the way), no redirects, no idle connections kept (as rmcp's own default).
fn http_client() -> Result<reqwest::Client, String> {
    nanofleet_sdk::ensure_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_must_be_an_object_or_nothing() {
        assert_eq!(arguments_object("x", json!(null)).ok(), Some(None));
        let some = arguments_object("x", json!({"text": "hi"})).expect("object");
        assert_eq!(some.and_then(|m| m.get("text").cloned()), Some(json!("hi")));
        let err = arguments_object("the arguments of `add_note`", json!(["hi"]))
            .expect_err("an array is not arguments");
        assert!(
            err.to_string()
                .contains("the arguments of `add_note` must be a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn causes_are_appended_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(describe(&err), "error sending request: connection refused");
        let service = ServiceError::Timeout {
            timeout: Duration::from_secs(1),
        };
        assert!(describe_service(&service).starts_with("request timeout"));
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_with_its_cause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = AgentClient::connect(
            format!("http://{addr}/mcp"),
            "notes",
            "no agent".into(),
            Duration::from_secs(5),
        )
        .await
        .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(
            text.contains("Connection refused") || text.contains("connection refused"),
            "{text}"
        );
        assert!(!text.contains("WorkerTransport"), "{text}");
    }

    #[test]
    fn text_blocks_are_joined() {
        let result = CallToolResult::success(vec![
            rmcp::model::ContentBlock::text("one"),
            rmcp::model::ContentBlock::text("two"),
        ]);
        assert_eq!(result_text(&result), "one\ntwo");
    }
}
