//! [`NanoApi`], a typed client for the NanoFleet host's internal API.
//!
//! Plugins call back into the host at `NANO_API_URL` with `NANO_INTERNAL_TOKEN` as a bearer
//! token, to look up agents and to talk to them:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use nanofleet_sdk::{NanoApi, env::PluginEnv};
//!
//! let api = NanoApi::from_env(&PluginEnv::from_env()?)?;
//! for agent in api.list_agents().await? {
//!     println!("{} ({})", agent.name, agent.id);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Transport
//!
//! The host's API is reached over the plugin's Docker network (`http://nanofleet-api:3000`), in
//! plain HTTP. An `https://` URL works when the SDK is built with its `tls` feature (see
//! [`crate::http`]) and is refused up front otherwise.
//!
//! The client also ignores `HTTP_PROXY`-style variables and does not follow redirects, so the
//! bearer token only ever goes to `NANO_API_URL` itself. Every request has a total timeout
//! ([`DEFAULT_TIMEOUT`], see [`NanoApi::with_timeout`]) and connection attempts give up after
//! [`CONNECT_TIMEOUT`]. Response bodies are read up to [`MAX_RESPONSE_BYTES`].

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::env::{EnvError, PluginEnv};
use crate::identity::InternalToken;

/// Total time allowed for one call, from connecting to reading the last byte of the response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to establish a connection to the API.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest response body the client reads.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How much of an error response is kept in [`NanoApiError::Status`].
const BODY_EXCERPT_CHARS: usize = 512;
/// How much of an error response is read to make the excerpt; the rest is not worth waiting for.
const ERROR_BODY_BYTES: usize = 4 * 1024;

/// Keys dropped from [`AgentInfo::extra`]: NanoFleet's agent records include each agent's own
/// internal token, which a plugin has no use for and must not pass on (say, to an LLM).
use nanofleet_contracts::{bearer, callback};

/// A client for the NanoFleet host's internal API. Cheap to clone.
#[derive(Clone)]
pub struct NanoApi {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    client: reqwest::Client,
    base: Url,
    /// `base` as configured, for messages.
    base_display: String,
    token: InternalToken,
    authorization: HeaderValue,
    timeout: Duration,
}

impl fmt::Debug for NanoApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NanoApi")
            .field("base_url", &self.inner.base_display)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl NanoApi {
    /// Creates a client for the API at `base_url` (such as `http://nanofleet-api:3000`) that
    /// authenticates with `token`.
    ///
    /// Fails if `base_url` is not an `http://` (or, with the `tls` feature, `https://`) URL
    /// with a host and without credentials, query or fragment.
    pub fn new(base_url: impl Into<String>, token: InternalToken) -> Result<Self, NanoApiError> {
        let base_display = base_url.into().trim().trim_end_matches('/').to_owned();
        let base = parse_base_url(&base_display)?;
        let mut authorization = HeaderValue::try_from(bearer::header_value(token.expose_secret()))
            .map_err(|_| {
                NanoApiError::Config("the internal token cannot be sent in an HTTP header".into())
            })?;
        // Keeps the value out of HPACK tables and out of the header's `Debug` output.
        authorization.set_sensitive(true);
        let client = crate::http::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|err| NanoApiError::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                base,
                base_display,
                token,
                authorization,
                timeout: DEFAULT_TIMEOUT,
            }),
        })
    }

    /// Creates a client from `NANO_API_URL` and `NANO_INTERNAL_TOKEN`.
    pub fn from_env(env: &PluginEnv) -> Result<Self, NanoApiError> {
        let url = env.require_api_url();
        let token = env.require_internal_token();
        match (url, token) {
            (Ok(url), Ok(token)) => Self::new(url, token.clone()),
            (url, token) => {
                let problems = [url.err(), token.err()]
                    .into_iter()
                    .flatten()
                    .flat_map(|err| err.problems)
                    .collect();
                Err(NanoApiError::Config(EnvError { problems }.to_string()))
            }
        }
    }

    /// Sets the total time allowed for each call (10 seconds by default), including reading the
    /// response. Connecting is still limited to [`CONNECT_TIMEOUT`].
    #[must_use = "`with_timeout` returns the reconfigured client"]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.timeout = timeout;
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The base URL the client calls, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_display
    }

    /// Lists the host's agents: `GET {base}/internal/agents`.
    ///
    /// Accepts both a bare JSON array of agents and `{"agents": [...]}`, which is what NanoFleet
    /// itself returns.
    pub async fn list_agents(&self) -> Result<Vec<AgentInfo>, NanoApiError> {
        let url = self.endpoint(&callback::AGENTS_SEGMENTS)?;
        let body = self
            .get_json(url, || "the agent list (GET /internal/agents)".to_owned())
            .await?;
        let agents = unwrap_field(body, callback::AGENTS_FIELD, Value::is_array);
        let agents: Vec<AgentInfo> = decode(agents, "the agent list")?;
        Ok(agents.into_iter().map(AgentInfo::without_secrets).collect())
    }

    /// Fetches one agent: `GET {base}/internal/agents/{id}`, the id percent-encoded.
    ///
    /// Accepts both a bare agent object and `{"agent": {...}}`, which is what NanoFleet itself
    /// returns. A 404 is [`NanoApiError::NotFound`].
    pub async fn get_agent(&self, id: &str) -> Result<AgentInfo, NanoApiError> {
        let url = self.agent_endpoint(id, &[])?;
        let body = self.get_json(url, || format!("agent {id:?}")).await?;
        let agent = unwrap_field(body, callback::AGENT_FIELD, Value::is_object);
        decode(agent, "the agent").map(AgentInfo::without_secrets)
    }

    /// Sends `content` to an agent as a message:
    /// `POST {base}/internal/agents/{id}/messages` with `{"content": content}`.
    ///
    /// Any 2xx status is success; the response body is ignored.
    pub async fn send_message(&self, agent_id: &str, content: &str) -> Result<(), NanoApiError> {
        let url = self.agent_endpoint(agent_id, &[callback::MESSAGES_SEGMENT])?;
        let body = callback::MessageRequest {
            content: content.to_owned(),
        };
        let request = self.inner.client.post(url).json(&body);
        self.send(request, || {
            format!("agent {agent_id:?} (or the host has no messages endpoint)")
        })
        .await
        .map(drop)
    }

    fn endpoint(&self, segments: &[&str]) -> Result<Url, NanoApiError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| NanoApiError::Config("the API URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn agent_endpoint(&self, id: &str, rest: &[&str]) -> Result<Url, NanoApiError> {
        // The URL parser silently drops `.` and `..` segments, which would address another
        // resource; no agent can be reached under such an id.
        if matches!(id, "" | "." | "..") {
            return Err(NanoApiError::NotFound {
                what: format!("agent {id:?} (not a usable id)"),
            });
        }
        let mut segments = callback::AGENTS_SEGMENTS.to_vec();
        segments.push(id);
        segments.extend_from_slice(rest);
        self.endpoint(&segments)
    }

    async fn get_json(
        &self,
        url: Url,
        what: impl FnOnce() -> String,
    ) -> Result<Value, NanoApiError> {
        let request = self.inner.client.get(url);
        let response = self.send(request, what).await?;
        let body = self.read_body(response, MAX_RESPONSE_BYTES).await?;
        serde_json::from_slice(&body).map_err(|err| NanoApiError::Decode {
            what: "the response".to_owned(),
            source: Box::new(err),
        })
    }

    /// Sends an authenticated request and turns non-2xx statuses into errors.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: impl FnOnce() -> String,
    ) -> Result<reqwest::Response, NanoApiError> {
        let response = request
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .timeout(self.inner.timeout)
            .send()
            .await
            .map_err(|err| self.transport_error(err))?;
        let status = response.status();
        match status {
            _ if status.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(NanoApiError::Unauthorized { status })
            }
            StatusCode::NOT_FOUND => Err(NanoApiError::NotFound { what: what() }),
            _ => Err(NanoApiError::Status {
                status,
                body_excerpt: self.error_excerpt(response).await,
            }),
        }
    }

    fn transport_error(&self, err: reqwest::Error) -> NanoApiError {
        // A connect timeout means nothing answered at that address: "unreachable" is the more
        // useful diagnosis than "slow".
        if err.is_timeout() && !err.is_connect() {
            NanoApiError::Timeout {
                url: self.inner.base_display.clone(),
                after: self.inner.timeout,
            }
        } else {
            NanoApiError::Unreachable {
                url: self.inner.base_display.clone(),
                source: err,
            }
        }
    }

    /// Reads a response body chunk by chunk, refusing to buffer more than `limit` bytes.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, NanoApiError> {
        let too_large = || NanoApiError::BodyTooLarge { limit };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| self.body_error(err))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn body_error(&self, err: reqwest::Error) -> NanoApiError {
        if err.is_timeout() {
            self.transport_error(err)
        } else {
            NanoApiError::Decode {
                what: "the response body (the connection broke while reading it)".to_owned(),
                source: Box::new(err),
            }
        }
    }

    /// The start of an error response, for the error message. Best effort: whatever arrived
    /// before a failure or the size cap is used.
    async fn error_excerpt(&self, mut response: reqwest::Response) -> String {
        let mut body = Vec::new();
        while body.len() < ERROR_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&body);
        let excerpt: String = text.trim().chars().take(BODY_EXCERPT_CHARS).collect();
        // Defensive: a host that echoes the request's headers must not leak the token into logs.
        excerpt.replace(self.inner.token.expose_secret(), "<redacted>")
    }
}

fn parse_base_url(base_url: &str) -> Result<Url, NanoApiError> {
    let url = Url::parse(base_url).map_err(|err| {
        NanoApiError::Config(format!(
            "the API URL {base_url:?} is not valid ({err}); expected something like \
             http://nanofleet-api:3000"
        ))
    })?;
    match url.scheme() {
        "http" => {}
        "https" if crate::http::HTTPS => {}
        "https" => {
            return Err(NanoApiError::Config(format!(
                "the API URL {base_url:?} uses https, but nanofleet-sdk is built without TLS: \
                 enable its `tls` feature, or use http:// on the internal network"
            )));
        }
        scheme => {
            return Err(NanoApiError::Config(format!(
                "the API URL {base_url:?} has the unsupported scheme `{scheme}`; expected \
                 http://host:port"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(NanoApiError::Config(format!(
            "the API URL {base_url:?} has no host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(NanoApiError::Config(
            "the API URL must not contain a user name or password; the internal token is sent \
             as a bearer token"
                .into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(NanoApiError::Config(format!(
            "the API URL {base_url:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// Returns `body[key]` if `body` is an object wrapping the payload that way, else `body`.
fn unwrap_field(body: Value, key: &str, is_payload: fn(&Value) -> bool) -> Value {
    match body {
        Value::Object(mut map) if map.get(key).is_some_and(is_payload) => {
            map.remove(key).unwrap_or_default()
        }
        other => other,
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, NanoApiError> {
    serde_json::from_value(value).map_err(|err| NanoApiError::Decode {
        what: what.to_owned(),
        source: Box::new(err),
    })
}

/// An agent as the host describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// The agent's id, as passed in `agent_id`.
    pub id: String,
    /// The agent's display name.
    #[serde(default)]
    pub name: String,
    /// The agent's state as the host reports it, such as `running` or `paused`.
    #[serde(default)]
    pub status: Option<String>,
    /// The id of the agent's current link to this plugin, from hosts that issue them (see
    /// [`nanofleet_contracts::callback::Agent::link`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Every other field the host sent, except the agent's own `token`, which [`NanoApi`]
    /// drops.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AgentInfo {
    fn without_secrets(mut self) -> Self {
        for key in callback::SECRET_AGENT_FIELDS {
            self.extra.remove(key);
        }
        self
    }
}

/// Why a [`NanoApi`] call failed. Never contains the internal token.
///
/// Where there is an underlying error, it is available through
/// [`source`](std::error::Error::source) rather than repeated in the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NanoApiError {
    /// The client is misconfigured: a bad base URL, or `NANO_API_URL` / `NANO_INTERNAL_TOKEN`
    /// missing.
    #[error("{0}")]
    Config(String),
    /// No connection could be made to the API (refused, DNS failure, connect timeout...).
    #[error(
        "the NanoFleet API could not be reached at {url}: check NANO_API_URL and that the host \
         is running"
    )]
    Unreachable {
        /// The API's base URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The API accepted the connection but did not answer in time.
    #[error("the NanoFleet API at {url} did not answer within {after:?}")]
    Timeout {
        /// The API's base URL.
        url: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The API refused the internal token (401 or 403).
    #[error(
        "the NanoFleet API refused the internal token ({status}): check that NANO_INTERNAL_TOKEN \
         is the one the host issued for this plugin install"
    )]
    Unauthorized {
        /// 401 or 403.
        status: StatusCode,
    },
    /// The API answered 404.
    #[error("the NanoFleet API does not know {what}")]
    NotFound {
        /// What was looked for, such as `agent "a1"`.
        what: String,
    },
    /// The API answered with another unsuccessful status.
    #[error("the NanoFleet API answered {status}: {body_excerpt}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The start of the response body (at most 512 characters), for diagnosis.
        body_excerpt: String,
    },
    /// The response body is larger than the client is willing to read.
    #[error("the NanoFleet API sent a response larger than {limit} bytes; refusing to read it")]
    BodyTooLarge {
        /// The limit, in bytes ([`MAX_RESPONSE_BYTES`]).
        limit: usize,
    },
    /// The response could not be read or is not what was expected.
    #[error("could not decode {what} sent by the NanoFleet API")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The underlying error.
        source: Box<dyn StdError + Send + Sync>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::{Path, Request, State};
    use axum::http::HeaderMap;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use std::sync::Mutex;
    use tokio::net::TcpListener;

    const SECRET: &str = "test-internal-token-0123456789";

    #[derive(Clone, Default)]
    struct Seen {
        paths: Arc<Mutex<Vec<String>>>,
        messages: Arc<Mutex<Vec<(String, Value)>>>,
    }

    fn token() -> InternalToken {
        InternalToken::new(SECRET.to_owned()).expect("valid token")
    }

    fn authorized(headers: &HeaderMap) -> bool {
        headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {SECRET}"))
    }

    fn agent_json(id: &str) -> Value {
        serde_json::json!({
            "id": id,
            "name": format!("Agent {id}"),
            "status": "running",
            "packPath": "/packs/default",
            "token": "agent-secret-token",
        })
    }

    async fn list(headers: HeaderMap) -> Response {
        if !authorized(&headers) {
            return (
                http::StatusCode::UNAUTHORIZED,
                "{\"error\":\"Unauthorized\"}",
            )
                .into_response();
        }
        axum::Json(serde_json::json!({ "agents": [agent_json("a1"), agent_json("a2")] }))
            .into_response()
    }

    async fn one(
        State(seen): State<Seen>,
        Path(id): Path<String>,
        headers: HeaderMap,
        request: Request,
    ) -> Response {
        if !authorized(&headers) {
            return http::StatusCode::UNAUTHORIZED.into_response();
        }
        seen.paths
            .lock()
            .expect("lock")
            .push(request.uri().path().to_owned());
        match id.as_str() {
            "missing" => (http::StatusCode::NOT_FOUND, "{\"error\":\"Not found\"}").into_response(),
            "broken" => (
                http::StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "database exploded {} echo Bearer {SECRET}",
                    "x".repeat(2_000)
                ),
            )
                .into_response(),
            "bare" => axum::Json(agent_json(&id)).into_response(),
            "not-json" => "<html>".into_response(),
            _ => axum::Json(serde_json::json!({ "agent": agent_json(&id) })).into_response(),
        }
    }

    async fn message(
        State(seen): State<Seen>,
        Path(id): Path<String>,
        headers: HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> Response {
        if !authorized(&headers) {
            return http::StatusCode::UNAUTHORIZED.into_response();
        }
        if id == "missing" {
            return http::StatusCode::NOT_FOUND.into_response();
        }
        seen.messages.lock().expect("lock").push((id, body));
        http::StatusCode::NO_CONTENT.into_response()
    }

    async fn serve(router: Router) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        format!("http://{addr}")
    }

    async fn host() -> (NanoApi, Seen) {
        let seen = Seen::default();
        let router = Router::new()
            .route("/internal/agents", get(list))
            .route("/internal/agents/{id}", get(one))
            .route("/internal/agents/{id}/messages", post(message))
            .with_state(seen.clone());
        let api = NanoApi::new(serve(router).await, token()).expect("valid");
        (api, seen)
    }

    #[tokio::test]
    async fn lists_agents_wrapped_or_bare() {
        let (api, _) = host().await;
        let agents = api.list_agents().await.expect("list");
        assert_eq!(agents.len(), 2);
        assert_eq!(agents[0].id, "a1");
        assert_eq!(agents[0].name, "Agent a1");
        assert_eq!(agents[0].status.as_deref(), Some("running"));
        assert_eq!(
            agents[0].extra.get("packPath"),
            Some(&Value::from("/packs/default"))
        );
        assert!(!agents[0].extra.contains_key("token"));

        let bare = Router::new().route(
            "/internal/agents",
            get(|| async { axum::Json(serde_json::json!([{ "id": "x" }])) }),
        );
        let api = NanoApi::new(serve(bare).await, token()).expect("valid");
        let agents = api.list_agents().await.expect("list");
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].name, "");
        assert_eq!(agents[0].status, None);
    }

    #[tokio::test]
    async fn gets_an_agent_wrapped_or_bare() {
        let (api, _) = host().await;
        let agent = api.get_agent("a1").await.expect("agent");
        assert_eq!(agent.id, "a1");
        assert!(!agent.extra.contains_key("token"));
        let agent = api.get_agent("bare").await.expect("agent");
        assert_eq!(agent.id, "bare");
    }

    #[tokio::test]
    async fn percent_encodes_the_agent_id() {
        let (api, seen) = host().await;
        let agent = api.get_agent("a/b c?d#e%").await.expect("agent");
        assert_eq!(agent.id, "a/b c?d#e%");
        let paths = seen.paths.lock().expect("lock").clone();
        assert_eq!(paths, ["/internal/agents/a%2Fb%20c%3Fd%23e%25"]);
    }

    #[tokio::test]
    async fn dot_ids_are_not_sent() {
        let (api, seen) = host().await;
        for id in ["", ".", ".."] {
            assert!(matches!(
                api.get_agent(id).await,
                Err(NanoApiError::NotFound { .. })
            ));
        }
        assert!(seen.paths.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn sends_a_message() {
        let (api, seen) = host().await;
        api.send_message("a 1", "hello \"agent\"")
            .await
            .expect("sent");
        let messages = seen.messages.lock().expect("lock").clone();
        assert_eq!(
            messages,
            [(
                "a 1".to_owned(),
                serde_json::json!({ "content": "hello \"agent\"" })
            )]
        );
        assert!(matches!(
            api.send_message("missing", "hi").await,
            Err(NanoApiError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn wrong_token_is_unauthorized() {
        let (api, _) = host().await;
        let wrong = InternalToken::new("another-token-0123456789".to_owned()).expect("valid");
        let api = NanoApi::new(api.base_url(), wrong).expect("valid");
        let err = api.list_agents().await.expect_err("refused");
        assert!(
            matches!(err, NanoApiError::Unauthorized { status } if status == StatusCode::UNAUTHORIZED),
            "{err:?}"
        );
        assert!(err.to_string().contains("NANO_INTERNAL_TOKEN"));
        assert!(matches!(
            api.send_message("a1", "hi").await,
            Err(NanoApiError::Unauthorized { .. })
        ));
    }

    #[tokio::test]
    async fn missing_agent_is_not_found() {
        let (api, _) = host().await;
        let err = api.get_agent("missing").await.expect_err("404");
        assert!(matches!(&err, NanoApiError::NotFound { what } if what.contains("missing")));
    }

    #[tokio::test]
    async fn server_error_keeps_a_redacted_excerpt() {
        let (api, _) = host().await;
        let err = api.get_agent("broken").await.expect_err("500");
        let NanoApiError::Status {
            status,
            body_excerpt,
        } = &err
        else {
            panic!("expected Status, got {err:?}");
        };
        assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body_excerpt.starts_with("database exploded"));
        assert_eq!(body_excerpt.chars().count(), 512);
        assert!(!err.to_string().contains(SECRET));
        assert!(!format!("{err:?}").contains(SECRET));
    }

    #[tokio::test]
    async fn error_excerpt_redacts_the_token() {
        let echo = Router::new().route(
            "/internal/agents",
            get(|| async {
                (
                    http::StatusCode::BAD_GATEWAY,
                    format!("you sent Bearer {SECRET}"),
                )
            }),
        );
        let api = NanoApi::new(serve(echo).await, token()).expect("valid");
        let err = api.list_agents().await.expect_err("502");
        let message = err.to_string();
        assert!(message.contains("<redacted>"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
    }

    #[tokio::test]
    async fn non_json_is_a_decode_error() {
        let (api, _) = host().await;
        let err = api.get_agent("not-json").await.expect_err("html");
        assert!(matches!(err, NanoApiError::Decode { .. }), "{err:?}");
        assert!(err.source().is_some());

        let wrong_shape = Router::new().route(
            "/internal/agents",
            get(|| async { axum::Json(serde_json::json!({ "agents": "none" })) }),
        );
        let api = NanoApi::new(serve(wrong_shape).await, token()).expect("valid");
        assert!(matches!(
            api.list_agents().await,
            Err(NanoApiError::Decode { .. })
        ));
    }

    #[tokio::test]
    async fn unreachable_port() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let url = format!("http://{addr}");
        let api = NanoApi::new(url.clone(), token()).expect("valid");
        let err = api.list_agents().await.expect_err("nothing listens");
        assert!(
            matches!(&err, NanoApiError::Unreachable { url: u, .. } if *u == url),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&url) && message.contains("NANO_API_URL"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn slow_server_times_out() {
        let slow = Router::new().route(
            "/internal/agents",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "[]"
            }),
        );
        let api = NanoApi::new(serve(slow).await, token())
            .expect("valid")
            .with_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = api.list_agents().await.expect_err("too slow");
        assert!(
            matches!(err, NanoApiError::Timeout { after, .. } if after == Duration::from_millis(200)),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused() {
        let big = Router::new()
            .route(
                "/internal/agents",
                get(|| async { "x".repeat(MAX_RESPONSE_BYTES + 1) }),
            )
            .route(
                "/internal/agents/{id}",
                get(|| async {
                    // Streamed without a Content-Length, so only the running count can stop it.
                    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
                    let chunks = std::iter::repeat_n(chunk, 64).map(Ok::<_, std::io::Error>);
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            );
        let api = NanoApi::new(serve(big).await, token()).expect("valid");
        assert!(matches!(
            api.list_agents().await,
            Err(NanoApiError::BodyTooLarge {
                limit: MAX_RESPONSE_BYTES
            })
        ));
        assert!(matches!(
            api.get_agent("a1").await,
            Err(NanoApiError::BodyTooLarge {
                limit: MAX_RESPONSE_BYTES
            })
        ));
    }

    #[test]
    fn base_url_validation() {
        for ok in [
            "http://nanofleet-api:3000",
            "http://127.0.0.1:3000/",
            " http://h/prefix/ ",
        ] {
            let api = NanoApi::new(ok, token()).expect(ok);
            assert!(!api.base_url().ends_with('/'));
        }
        let https = NanoApi::new("https://api.example.com", token());
        if crate::http::HTTPS {
            assert!(https.is_ok(), "{https:?}");
        } else {
            let err = https.expect_err("no TLS");
            assert!(err.to_string().contains("`tls` feature"), "{err}");
        }
        for bad in [
            "nanofleet-api:3000",
            "ftp://host",
            "http://",
            "http://user:pw@host",
            "http://host?x",
            "",
        ] {
            let err = NanoApi::new(bad, token()).expect_err(bad);
            assert!(matches!(err, NanoApiError::Config(_)), "{bad}: {err:?}");
        }
    }

    #[tokio::test]
    async fn prefix_in_base_url_is_kept() {
        let seen = Seen::default();
        let router = Router::new()
            .route("/nf/internal/agents/{id}", get(one))
            .with_state(seen.clone());
        let api = NanoApi::new(format!("{}/nf/", serve(router).await), token()).expect("valid");
        api.get_agent("a1").await.expect("agent");
        assert_eq!(
            *seen.paths.lock().expect("lock"),
            ["/nf/internal/agents/a1"]
        );
    }

    #[test]
    fn from_env_reports_everything_missing() {
        let err = NanoApi::from_env(&PluginEnv::default()).expect_err("empty env");
        let message = err.to_string();
        assert!(message.contains("NANO_API_URL") && message.contains("NANO_INTERNAL_TOKEN"));

        let env = PluginEnv {
            api_url: Some("http://nanofleet-api:3000".to_owned()),
            internal_token: Some(token()),
            ..PluginEnv::default()
        };
        let api = NanoApi::from_env(&env).expect("valid");
        assert_eq!(api.base_url(), "http://nanofleet-api:3000");
    }

    #[test]
    fn debug_hides_the_token() {
        let api = NanoApi::new("http://h:1", token()).expect("valid");
        let debug = format!("{api:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("http://h:1"));
    }
}
