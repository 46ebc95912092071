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
//!
//! Beyond that:
//!
//! - [`TestClient::builder`] gives the plugin its environment variables (the plugin's own,
//!   which tools read with [`PluginEnv::var`], and the SDK's), state values for `State<T>` in
//!   place of the plugin's own, and a data directory;
//! - [`AgentClient::call_as`] decodes a tool's structured result into a type of the test's
//!   choosing (unwrapping `{"result": ...}` for tools whose output is not an object);
//! - the progress and log notifications a tool sends are kept, per call
//!   ([`AgentClient::call_recorded`]) and per client ([`AgentClient::notifications`]).
//!
//! ```
//! # use nanofleet_sdk::{Manifest, Plugin, testing::TestClient, tool::{Context, LogLevel, NoArgs, Tool, ToolCall, ToolError, Json}};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manifest = Manifest::new("weather", "0.1.0", "weather:0.1.0", 8080)
//!     .with_required_env_vars(["WEATHER_API_KEY"]);
//! let plugin = Plugin::builder(manifest)
//!     .tool(Tool::new("forecast", "Tomorrow's forecast, in degrees.").output::<Vec<i32>>().handler(
//!         |_: NoArgs, call: ToolCall| async move {
//!             let ctx: Context = call.extract()?;
//!             let key = call.env().require_var("WEATHER_API_KEY")?;
//!             ctx.log(LogLevel::Info, format!("asking with a {}-byte key", key.len())).await;
//!             ctx.progress(1.0, Some(1.0), None).await;
//!             Ok::<_, ToolError>(Json(vec![18, 21]))
//!         },
//!     ))
//!     .build()?;
//! let client = TestClient::builder(&plugin).env("WEATHER_API_KEY", "secret").build()?;
//! let alice = client.connect_as("alice").await?;
//! let temperatures: Vec<i32> = alice.call_as("forecast", serde_json::json!({})).await?;
//! assert_eq!(temperatures, [18, 21]);
//! let call = alice.call_recorded("forecast", serde_json::json!({})).await?;
//! assert_eq!(call.logs()[0].text(), "asking with a 6-byte key");
//! assert_eq!(call.progress().len(), 1);
//! # Ok(()) }
//! ```

use std::{
    any::{Any, TypeId},
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Router, body::Body};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use rmcp::{
    ClientHandler, ErrorData, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
        ClientJsonRpcMessage, CreateMessageRequestMethod, ElicitRequestParams, ElicitResult,
        ElicitationAction, ElicitationCapability, Implementation, RequestMetaObject,
        ServerJsonRpcMessage, Tool,
    },
    service::{RequestContext, RunningService},
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{
            StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
            StreamableHttpPostResponse,
        },
    },
};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "store")]
use crate::store::Store;
// Sampling is deprecated from protocol 2026-07-28 on (SEP-2577); a test client still answers
// it for plugins serving older clients (see `crate::ask`).
#[allow(deprecated)]
use rmcp::model::{CreateMessageRequestParams, CreateMessageResult, SamplingMessage};

use crate::{
    env::{self, PluginEnv},
    error::Error,
    identity::{AGENT_ID_PARAM, AGENT_SIGNATURE_PARAM},
    plugin::{Plugin, Running, StateMap, Stores},
    server::{SESSION_HEADER, router},
    tool::LogLevel,
};

/// A plugin running in-process, with a fresh in-memory store unless given a data directory.
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
        Self::builder(plugin).build()
    }

    /// Runs `plugin` with `env`. The store is in memory unless `env.data_dir` is set.
    pub fn with_env(plugin: &Plugin, env: PluginEnv) -> Result<Self, Error> {
        Self::start(plugin, env, Stores::default(), StateMap::new())
    }

    /// Configures a client: environment variables, state, data directory; see
    /// [`TestClientBuilder`].
    pub fn builder(plugin: &Plugin) -> TestClientBuilder {
        TestClientBuilder {
            plugin: plugin.clone(),
            vars: BTreeMap::new(),
            state: StateMap::new(),
            data_dir: None,
            store: Stores::default(),
        }
    }

    fn start(
        plugin: &Plugin,
        env: PluginEnv,
        stores: Stores,
        state: StateMap,
    ) -> Result<Self, Error> {
        #[cfg(feature = "store")]
        let stores = Stores(match stores.0 {
            Some(store) => Some(store),
            None if env.data_dir.is_none() => {
                Some(Store::in_memory().map_err(|e| Error::Config(e.to_string()))?)
            }
            None => None,
        });
        let running = plugin.start_with_state(env, stores, state)?;
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

    /// Connects as `agent` with a client that answers what tools ask (elicitation, sampling)
    /// as `answers` says; it declares those capabilities, so it gets a session.
    pub async fn connect_answering(
        &self,
        agent: &str,
        answers: Answers,
    ) -> Result<AgentClient, TestError> {
        self.connect_with(&[(AGENT_ID_PARAM, agent)], answers).await
    }

    /// Connects with arbitrary query parameters on the `/mcp` URL.
    pub async fn connect_with_query(
        &self,
        query: &[(&str, &str)],
    ) -> Result<AgentClient, TestError> {
        self.connect_with(query, Answers::default()).await
    }

    async fn connect_with(
        &self,
        query: &[(&str, &str)],
        answers: Answers,
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
        let recorder = Arc::new(Recorder::default());
        let transport = StreamableHttpClientTransport::with_client(
            InProcess {
                router: self.router.clone(),
                recorder: Arc::clone(&recorder),
            },
            StreamableHttpClientTransportConfig::with_uri(uri),
        );
        let service = answers.serve(transport).await.map_err(TestError::new)?;
        Ok(AgentClient {
            service,
            running: Arc::clone(&self.running),
            recorder,
            calls: AtomicU64::new(0),
        })
    }
}

/// Configures a [`TestClient`]: `TestClient::builder(&plugin).env("API_KEY", "x").build()`.
#[must_use]
pub struct TestClientBuilder {
    plugin: Plugin,
    vars: BTreeMap<String, String>,
    state: StateMap,
    data_dir: Option<PathBuf>,
    store: Stores,
}

impl std::fmt::Debug for TestClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClientBuilder")
            .field("plugin", &self.plugin)
            .field("variables", &self.vars.keys().collect::<Vec<_>>())
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl TestClientBuilder {
    /// Sets the environment variable `name`, as the host would in the plugin's container. The
    /// plugin's own variables are what tools read with [`PluginEnv::var`]; the SDK's
    /// (`NANO_API_URL`, `NANOFLEET_DATA_DIR`, ...) are read and checked as at start-up. Nothing
    /// is read from the test process's own environment, and the variables the manifest
    /// requires are not enforced, so a test sets only what it needs.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Gives tools `value` as their `State<T>` in place of the plugin's own value of that type
    /// (for a `#[plugin]` type, the value `&self` methods see).
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(
            TypeId::of::<T>(),
            Arc::new(value) as Arc<dyn Any + Send + Sync>,
        );
        self
    }

    /// Keeps the store in `dir` instead of in memory, as `NANOFLEET_DATA_DIR` does.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Uses `store`, which several clients can share, instead of a fresh one.
    #[cfg(feature = "store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store")))]
    pub fn store(mut self, store: Store) -> Self {
        self.store = Stores(Some(store));
        self
    }

    /// Starts the plugin. Fails as start-up would: an SDK variable with a bad value, a host API
    /// that tools need but the variables do not configure, an unusable data directory.
    pub fn build(self) -> Result<TestClient, Error> {
        let vars = &self.vars;
        let mut env = PluginEnv::from_lookup(|name| vars.get(name).cloned())?;
        env.vars = self
            .vars
            .iter()
            .filter(|(name, _)| !env::SDK_VARIABLES.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let Some(dir) = self.data_dir {
            env.data_dir = Some(dir);
        }
        TestClient::start(&self.plugin, env, self.store, self.state)
    }
}

/// An MCP client session with the plugin.
pub struct AgentClient {
    service: RunningService<RoleClient, Answers>,
    running: Arc<Running>,
    recorder: Arc<Recorder>,
    calls: AtomicU64,
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
        self.call_recorded(tool, arguments)
            .await
            .map(|call| call.result)
    }

    /// [`call`](Self::call), also returning the progress and log notifications the tool sent
    /// while it ran, told apart from those of other calls even when calls run at once. (Every
    /// call carries a progress token, so a tool's [`Context::progress`](crate::Context::progress)
    /// reports are always sent.)
    pub async fn call_recorded(
        &self,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<RecordedCall, TestError> {
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
        // rmcp gives every request a progress token of its own; this marks the HTTP request
        // that carries the call, whose response stream brings the call's notifications.
        let marker = format!("call-{}", self.calls.fetch_add(1, Ordering::Relaxed));
        let mut meta = RequestMetaObject::new();
        meta.insert(CALL_MARKER.to_owned(), marker.clone().into());
        params.meta = Some(meta);
        let result = self.service.call_tool(params).await;
        let notifications = self.recorder.take_call(&marker);
        Ok(RecordedCall {
            result: result.map_err(TestError::new)?,
            notifications,
        })
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

    /// Calls `tool` and returns its structured content as sent, `{"result": ...}` wrapper
    /// included; failing when the tool reported an error or returned none.
    /// [`call_as`](Self::call_as) decodes it instead.
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

    /// Calls `tool` and decodes its structured result as a `T`: the value the tool returned,
    /// without the `{"result": ...}` wrapper MCP needs for values that are not objects. Fails
    /// when the tool reported an error, returned no structured content (use
    /// [`call_text`](Self::call_text) for text), or returned something that is not a `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        tool: &str,
        arguments: serde_json::Value,
    ) -> Result<T, TestError> {
        let mut value = self.call_json(tool, arguments).await?;
        if self.running.wraps_output(tool) {
            value = match value {
                serde_json::Value::Object(mut map) => map
                    .remove(crate::tool::WRAPPED_RESULT_KEY)
                    .unwrap_or(serde_json::Value::Null),
                other => other,
            };
        }
        serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            TestError(format!(
                "the result of `{tool}` is not a `{}`: at `{path}`: {}",
                std::any::type_name::<T>(),
                err.into_inner()
            ))
        })
    }

    /// Every progress and log notification received on this client so far, in order.
    pub fn notifications(&self) -> Vec<Notification> {
        self.recorder.all()
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

/// A tool call's result with the notifications the tool sent while it ran.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    /// The result, as [`AgentClient::call`] returns it.
    pub result: CallToolResult,
    /// The progress and log notifications, in the order they were sent.
    pub notifications: Vec<Notification>,
}

impl RecordedCall {
    /// The progress reports.
    pub fn progress(&self) -> Vec<&Progress> {
        self.notifications
            .iter()
            .filter_map(|n| match n {
                Notification::Progress(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// The log messages.
    pub fn logs(&self) -> Vec<&LogMessage> {
        self.notifications
            .iter()
            .filter_map(|n| match n {
                Notification::Log(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    /// The result's text blocks, joined by newlines.
    pub fn text(&self) -> String {
        result_text(&self.result)
    }
}

/// A notification the plugin sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// `notifications/progress`, from [`Context::progress`](crate::Context::progress).
    Progress(Progress),
    /// `notifications/message`, from [`Context::log`](crate::Context::log).
    Log(LogMessage),
    /// `notifications/resources/updated` for a subscribed URI, from
    /// [`ResourceUpdates`](crate::subscription::ResourceUpdates).
    ResourceUpdated(String),
}

/// One progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// How far along the tool is.
    pub progress: f64,
    /// The total `progress` is counting towards, if the tool said.
    pub total: Option<f64>,
    /// What the tool is doing, if it said.
    pub message: Option<String>,
}

/// One log message.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMessage {
    /// Its severity.
    pub level: LogLevel,
    /// The logger's name, if the message has one.
    pub logger: Option<String>,
    /// The message's data: a string for [`Context::log`](crate::Context::log).
    pub data: serde_json::Value,
}

impl LogMessage {
    /// The data as text: the string itself, or the JSON of anything else.
    pub fn text(&self) -> String {
        match &self.data {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// The notifications received on one client: all of them, and those of each call by its
/// progress token until the call takes them.
#[derive(Debug, Default)]
struct Recorder {
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    all: Vec<Notification>,
    by_call: HashMap<String, Vec<Notification>>,
}

impl Recorder {
    fn record(&self, call: Option<&str>, notification: Notification) {
        let Ok(mut recorded) = self.inner.lock() else {
            return;
        };
        if let Some(call) = call {
            recorded
                .by_call
                .entry(call.to_owned())
                .or_default()
                .push(notification.clone());
        }
        recorded.all.push(notification);
    }

    fn take_call(&self, call: &str) -> Vec<Notification> {
        self.inner
            .lock()
            .map(|mut recorded| recorded.by_call.remove(call).unwrap_or_default())
            .unwrap_or_default()
    }

    fn all(&self) -> Vec<Notification> {
        self.inner
            .lock()
            .map(|recorded| recorded.all.clone())
            .unwrap_or_default()
    }
}

/// Reads a progress or log notification from an SSE event's data; `None` for anything else.
fn notification(data: &str) -> Option<Notification> {
    let message: serde_json::Value = serde_json::from_str(data).ok()?;
    let params = message.get("params")?;
    let text = |key: &str| params.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    match message.get("method")?.as_str()? {
        "notifications/progress" => Some(Notification::Progress(Progress {
            progress: params.get("progress")?.as_f64()?,
            total: params.get("total").and_then(serde_json::Value::as_f64),
            message: text("message"),
        })),
        "notifications/message" => Some(Notification::Log(LogMessage {
            level: log_level(params.get("level")?.as_str()?)?,
            logger: text("logger"),
            data: params.get("data").cloned().unwrap_or_default(),
        })),
        "notifications/resources/updated" => Some(Notification::ResourceUpdated(text("uri")?)),
        _ => None,
    }
}

fn log_level(level: &str) -> Option<LogLevel> {
    Some(match level {
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "notice" => LogLevel::Notice,
        "warning" => LogLevel::Warning,
        "error" => LogLevel::Error,
        "critical" => LogLevel::Critical,
        "alert" => LogLevel::Alert,
        "emergency" => LogLevel::Emergency,
        _ => return None,
    })
}

type ElicitationAnswer =
    Arc<dyn Fn(&str, &serde_json::Value) -> ElicitResult + Send + Sync + 'static>;
#[allow(deprecated)] // sampling: see `crate::ask`
type SamplingAnswer =
    Arc<dyn Fn(&CreateMessageRequestParams) -> CreateMessageResult + Send + Sync + 'static>;

/// What a test client answers when a tool asks it something: the user's answer to a form,
/// the model's answer to a sampling request. A client declares only what it can answer.
///
/// ```
/// use nanofleet_sdk::testing::Answers;
///
/// let answers = Answers::new()
///     .accept_forms(|_message, _schema| serde_json::json!({"name": "Ada"}))
///     .sample_with_text("42");
/// # let _ = answers;
/// ```
#[derive(Clone, Default)]
pub struct Answers {
    elicitation: Option<ElicitationAnswer>,
    sampling: Option<SamplingAnswer>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("elicitation", &self.elicitation.is_some())
            .field("sampling", &self.sampling.is_some())
            .finish()
    }
}

impl Answers {
    /// A client that answers nothing (and so declares neither capability).
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers every form with `answer(message, requested_schema)`.
    pub fn elicit_with(
        mut self,
        answer: impl Fn(&str, &serde_json::Value) -> ElicitResult + Send + Sync + 'static,
    ) -> Self {
        self.elicitation = Some(Arc::new(answer));
        self
    }

    /// Accepts every form, with the content `content(message, requested_schema)` returns.
    pub fn accept_forms(
        self,
        content: impl Fn(&str, &serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        self.elicit_with(move |message, schema| {
            ElicitResult::new(ElicitationAction::Accept).with_content(content(message, schema))
        })
    }

    /// Declines every form.
    pub fn decline_forms(self) -> Self {
        self.elicit_with(|_, _| ElicitResult::new(ElicitationAction::Decline))
    }

    /// Answers every sampling request with `answer(request)`.
    #[allow(deprecated)] // sampling: see `crate::ask`
    pub fn sample_with(
        mut self,
        answer: impl Fn(&CreateMessageRequestParams) -> CreateMessageResult + Send + Sync + 'static,
    ) -> Self {
        self.sampling = Some(Arc::new(answer));
        self
    }

    /// Answers every sampling request with `text`, from a model named `test-model`.
    #[allow(deprecated)] // sampling: see `crate::ask`
    pub fn sample_with_text(self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.sample_with(move |_| {
            CreateMessageResult::new(
                SamplingMessage::assistant_text(text.clone()),
                "test-model".to_owned(),
            )
        })
    }
}

#[allow(deprecated)] // sampling: see `crate::ask`
impl ClientHandler for Answers {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if self.elicitation.is_some() {
            capabilities.elicitation = Some(ElicitationCapability::default());
        }
        if self.sampling.is_some() {
            capabilities.sampling = Some(Default::default());
        }
        ClientConfig::new(
            capabilities,
            Implementation::new("nanofleet-sdk-testing", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        match &self.sampling {
            Some(answer) => Ok(answer(&params)),
            None => Err(ErrorData::method_not_found::<CreateMessageRequestMethod>()),
        }
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let (
            Some(answer),
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            },
        ) = (&self.elicitation, &request)
        else {
            return Ok(ElicitResult::new(ElicitationAction::Decline));
        };
        let schema = serde_json::to_value(requested_schema).unwrap_or_default();
        Ok(answer(message, &schema))
    }
}

/// The `_meta` key marking the request of one [`AgentClient::call_recorded`].
const CALL_MARKER: &str = "nanofleetTestCall";

/// The call a request is for, when it is a call's.
fn call_marker(message: &ClientJsonRpcMessage) -> Option<String> {
    let value = serde_json::to_value(message).ok()?;
    value
        .get("params")?
        .get("_meta")?
        .get(CALL_MARKER)?
        .as_str()
        .map(str::to_owned)
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
    recorder: Arc<Recorder>,
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
        let call = call_marker(&message);
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
            // The notifications a tool sends come in this response, before its result: they
            // are recorded here, so they are all in by the time the call returns.
            let recorder = Arc::clone(&self.recorder);
            let stream = sse_stream::SseStream::new(resp.into_body())
                .map_err(|e| {
                    sse_stream::Error::Body(Box::new(std::io::Error::other(e.to_string())))
                })
                .inspect_ok(move |event| {
                    if let Some(n) = event.data.as_deref().and_then(notification) {
                        recorder.record(call.as_deref(), n);
                    }
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
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>>
    {
        if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            custom_headers.insert(HeaderName::from_static("last-event-id"), id);
        }
        let mut req = self.request(
            Method::GET,
            &uri,
            session_id.as_deref(),
            custom_headers,
            Body::empty(),
        )?;
        req.headers_mut().insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let resp = self.send(req).await;
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !resp.status().is_success() {
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("GET answered {}", resp.status()),
            )));
        }
        // Notifications outside any call (a subscribed resource changed) arrive here.
        let recorder = Arc::clone(&self.recorder);
        Ok(sse_stream::SseStream::new(resp.into_body())
            .map_err(|e| sse_stream::Error::Body(Box::new(std::io::Error::other(e.to_string()))))
            .inspect_ok(move |event| {
                if let Some(n) = event.data.as_deref().and_then(notification) {
                    recorder.record(None, n);
                }
            })
            .boxed())
    }
}
