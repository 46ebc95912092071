//! Serving a plugin: MCP at `POST /mcp` on `0.0.0.0:<mcpPort>`, `GET /healthz`, and the UI on
//! `uiPort` when the plugin has one.
//!
//! # What the `/mcp` endpoint accepts
//!
//! Two of rmcp's Streamable HTTP services sit behind `/mcp`, and each client is served by one:
//!
//! - **Stateless, JSON** (the hot path; every client that declares nothing it could be asked):
//!   rmcp's stateless mode with JSON replies (a reply falls back to SSE only when a tool sends
//!   progress or log notifications before its result). In front of it, a thin layer makes the
//!   endpoint acceptable to NanoFleet's install probe, which needs a session id *and* JSON
//!   replies, something rmcp does not combine: an `initialize` reply carries a fresh
//!   `Mcp-Session-Id` that names nothing kept (every request stands alone, identity is read
//!   per request), so a client may send it back or not, and `tools/list` works before
//!   `notifications/initialized`. `DELETE /mcp` with such an id is `204`; `GET /mcp` (a
//!   standalone SSE stream) is `405`, which the MCP spec allows.
//! - **A session** (clients whose `initialize` declares `sampling` or `elicitation`): rmcp's
//!   session service, replies in SSE, a standalone `GET` stream for notifications outside
//!   any call, `DELETE` to end it, idle sessions closed after five minutes. A tool can then
//!   ask the client things ([`crate::ask`]) and subscribed clients are told of changes
//!   ([`crate::subscription`]). At most [`MAX_SESSIONS`] are kept; past that a client is
//!   served statelessly.
//!
//! Requests are routed by the `Mcp-Session-Id` they carry: an id the session service knows
//! goes there, anything else to the stateless service.
//!
//! # Who may call
//!
//! - **Host check.** rmcp refuses a `Host` it does not know (DNS-rebinding protection). The
//!   accepted hosts are `localhost`, `127.0.0.1`, `::1`, the container's DNS name
//!   `nanofleet-plugin-<name>` (and `nanofleet-plugin-<NANO_PLUGIN_ID>`), and whatever `NANOFLEET_ALLOWED_HOSTS` adds (comma-separated;
//!   `*` turns the check off, for a plugin behind a proxy that rewrites `Host`).
//! - **Origin check.** Agents are not browsers and send no `Origin`. A request that carries
//!   one is accepted only from a page on an accepted host (any port, `http` or `https`: a local
//!   inspector works); any other origin is refused (`403`), so a web page elsewhere cannot
//!   drive a plugin from a user's browser, even through a rebound DNS name. With
//!   `NANOFLEET_ALLOWED_HOSTS=*` both checks are off.
//! - **Agent identity.** `agent_id` is read from each request's query string. When the host
//!   sets `NANOFLEET_REQUIRE_AGENT_SIGNATURE=1`, every request naming an agent must carry a
//!   valid `agent_sig` (see [`crate::identity`]), or it is refused with `403` before any tool
//!   runs. A signature that is present is always checked when the token is known.
//! - **Body size.** Bodies over [`MAX_BODY_BYTES`] get `413`.

use std::{borrow::Cow, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use http_body_util::{BodyExt, Full, Limited};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
    session::{SessionId, SessionManager, local::LocalSessionManager, never::NeverSessionManager},
};
use tokio_util::sync::CancellationToken;

use crate::{
    agent::{AgentId, AgentIdError},
    env::PluginEnv,
    error::Error,
    identity::{self, AGENT_ID_PARAM, AGENT_LINK_PARAM, AGENT_SIGNATURE_PARAM},
    logging::Client,
    plugin::{McpHandler, Plugin, Running},
    tool::RequestAgent,
};

/// The largest request body accepted on `/mcp`.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The session header of MCP's Streamable HTTP transport.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The most sessions (clients that can be asked things, see [`crate::ask`]) kept at once. A
/// client past it is served statelessly: everything but elicitation, sampling and
/// subscriptions still works for it.
pub const MAX_SESSIONS: usize = 1024;

/// Marks a request that arrived on a session (see [`crate::ask`]), with the session's id.
#[derive(Debug, Clone)]
pub(crate) struct SessionRoute(pub(crate) String);

/// Serves `plugin` with the environment the host injected, until SIGTERM or SIGINT.
///
/// Reads the environment ([`PluginEnv::from_env_for`]: a variable the manifest lists in
/// `requiredEnvVars` that is unset is an error naming it, with every other problem), installs
/// a `tracing` subscriber when none is set (`RUST_LOG` filters it; default
/// [`DEFAULT_LOG_FILTER`]), binds `0.0.0.0:<mcpPort>` (or `NANOFLEET_MCP_ADDR`) and, when the
/// plugin has a UI, `0.0.0.0:<uiPort>` (or `NANOFLEET_UI_ADDR`).
pub async fn serve(plugin: Plugin) -> Result<(), Error> {
    init_tracing();
    let env = PluginEnv::from_env_for(plugin.manifest())?;
    serve_with(plugin, env, shutdown_signal()).await
}

/// Serves `plugin` with an explicit environment until `shutdown` resolves. In-flight requests
/// are finished before it returns.
pub async fn serve_with(
    plugin: Plugin,
    env: PluginEnv,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let running = plugin.start(env)?;
    let bound = bind(&running).await?;
    tracing::info!(
        plugin = %running.manifest().name,
        version = %running.manifest().version,
        mcp = %bound.mcp_addr,
        ui = ?bound.ui_addr,
        "serving"
    );
    bound.run(shutdown).await
}

/// Listening sockets for a running plugin, bound but not yet serving: lets a caller learn the
/// actual addresses (port `0` binds a free port) before requests arrive.
pub struct Bound {
    running: Arc<Running>,
    mcp: tokio::net::TcpListener,
    ui: Option<(tokio::net::TcpListener, Router)>,
    /// The address `/mcp` is served on.
    pub mcp_addr: SocketAddr,
    /// The address the UI is served on, when the plugin has one.
    pub ui_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("mcp_addr", &self.mcp_addr)
            .field("ui_addr", &self.ui_addr)
            .finish_non_exhaustive()
    }
}

/// Binds the MCP (and UI) sockets of a started plugin.
pub async fn bind(running: &Arc<Running>) -> Result<Bound, Error> {
    let manifest = running.manifest();
    let mcp_addr = running
        .env()
        .mcp_addr
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], manifest.mcp_port)));
    let mcp = listen(mcp_addr).await?;
    #[cfg(feature = "ui")]
    let ui_router = crate::ui::router(running)?;
    #[cfg(not(feature = "ui"))]
    let ui_router: Option<Router> = None;
    let ui = match ui_router {
        Some(router) => {
            let port = manifest.ui_port.ok_or_else(|| {
                Error::Config("the plugin has a UI but its manifest has no uiPort".into())
            })?;
            let addr = running
                .env()
                .ui_addr
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port)));
            Some((listen(addr).await?, router))
        }
        None => None,
    };
    Ok(Bound {
        running: Arc::clone(running),
        mcp_addr: mcp.local_addr().map_err(Error::Serve)?,
        ui_addr: match &ui {
            Some((l, _)) => Some(l.local_addr().map_err(Error::Serve)?),
            None => None,
        },
        mcp,
        ui,
    })
}

impl Bound {
    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let stop = CancellationToken::new();
        let app = router(&self.running, stop.child_token());
        let deadline_stop = stop.clone();
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        // Timeouts and a connection cap on both ports: see `crate::connections`.
        let limits = crate::connections::Limits::default();
        let mcp = crate::connections::serve(self.mcp, app, limits, stop.clone().cancelled_owned());
        let servers = async move {
            match self.ui {
                Some((listener, ui)) => {
                    let ui = crate::connections::serve(
                        listener,
                        ui,
                        limits,
                        stop.clone().cancelled_owned(),
                    );
                    let (a, b) = tokio::join!(mcp, ui);
                    a.and(b)
                }
                None => mcp.await,
            }
        };
        // A client holding a connection open must not keep the process from stopping.
        let deadline = async move {
            deadline_stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            res = servers => res.map_err(Error::Serve),
            () = deadline => {
                tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
                Ok(())
            }
        }
    }
}

async fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// The `/mcp` + `/healthz` router of a started plugin, for mounting in another axum app or
/// driving in-process. `stop` ends rmcp's in-flight streams on shutdown.
pub fn router(running: &Arc<Running>, stop: CancellationToken) -> Router {
    let health = Arc::clone(running);
    mcp_router(running, stop).route(
        "/healthz",
        get(move || {
            let m = health.manifest();
            let body = serde_json::json!({"status": "ok", "name": m.name, "version": m.version});
            async move { axum::Json(body) }
        }),
    )
}

/// The `/mcp` route alone, for an application that serves its own `/healthz` (the host
/// mounts its fleet server so, behind its own auth).
pub fn mcp_router(running: &Arc<Running>, stop: CancellationToken) -> Router {
    let name = running.manifest().name.clone();
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    hosts.push(nanofleet_contracts::names::container_name(&name));
    // The host names the container after the id it installed the plugin under.
    if let Some(id) = running.env().plugin_id.as_deref().filter(|id| *id != name) {
        hosts.push(nanofleet_contracts::names::container_name(id));
    }
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(stop.clone());
    if running.env().allowed_hosts.iter().any(|h| h == "*") {
        config = config.disable_allowed_hosts().disable_allowed_origins();
    } else {
        hosts.extend(running.env().allowed_hosts.iter().cloned());
        config = config
            .with_allowed_origins(accepted_origins(&hosts))
            .enforce_origin_validation()
            .with_allowed_hosts(hosts);
    }
    // Clients that can be asked things get a session (see `crate::ask`): the same checks,
    // replies streamed, and the client's answers routed to the call that asked.
    let session_config = config
        .clone()
        .with_legacy_session_mode(true)
        .with_json_response(false);
    let handler = McpHandler(Arc::clone(running));
    let mcp = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let session_manager = Arc::new(LocalSessionManager::default());
    let handler = McpHandler(Arc::clone(running));
    let sessions = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::clone(&session_manager),
        session_config,
    );
    let endpoint = Arc::new(Endpoint {
        mcp,
        sessions,
        session_manager,
        running: Arc::clone(running),
    });
    let router = Router::new()
        // A service rather than a handler: nothing to extract, one layer less on every call.
        .route_service(
            "/mcp",
            tower::service_fn(move |req: Request| {
                let endpoint = Arc::clone(&endpoint);
                async move { Ok::<_, std::convert::Infallible>(mcp_endpoint(endpoint, req).await) }
            }),
        );
    // The request spans are debug-level: without a subscriber that wants them, the layer
    // only costs (callgrind: its futures were most of what the SDK's HTTP path spent beyond
    // plain rmcp's). The log's filter is set before the router is built (`RUST_LOG`).
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return router;
    }
    router.layer(
        tower_http::trace::TraceLayer::new_for_http()
            // The query string can carry `agent_sig`: log the path only.
            .make_span_with(|req: &Request| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            }),
    )
}

/// The browser origins accepted: a page served from an accepted host, on any port and over
/// either scheme (a local inspector on `http://localhost:6274`, say). A page from anywhere else
/// is refused, which is what stops DNS rebinding: its `Origin` names the attacker's host.
fn accepted_origins(hosts: &[String]) -> Vec<String> {
    hosts
        .iter()
        .flat_map(|host| {
            // An IPv6 address is bracketed in an origin, as in a URL.
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            ["http", "https"].map(|scheme| format!("{scheme}://{host}:*"))
        })
        .collect()
}

struct Endpoint {
    /// The stateless service: every client that cannot be asked anything.
    mcp: StreamableHttpService<McpHandler, NeverSessionManager>,
    /// The session service: clients that declared sampling or elicitation.
    sessions: StreamableHttpService<McpHandler, LocalSessionManager>,
    session_manager: Arc<LocalSessionManager>,
    running: Arc<Running>,
}

async fn mcp_endpoint(ep: Arc<Endpoint>, req: Request) -> Response {
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let live = match &session {
        Some(id) => ep.is_live_session(id).await,
        None => false,
    };
    match (req.method().clone(), session) {
        (Method::POST, _) => ep.post(req, live).await,
        (Method::GET, Some(_)) if live => {
            // A session's standalone stream: notifications outside any request.
            Response::from(ep.sessions.handle(req).await).map(Body::new)
        }
        (Method::DELETE, Some(id)) => {
            let resp = if live {
                Response::from(ep.sessions.handle(req).await).map(Body::new)
            } else {
                // A stateless client's id names nothing kept but its log level.
                StatusCode::NO_CONTENT.into_response()
            };
            ep.running.log_levels().forget(&Client::Session(id.clone()));
            ep.running.subscriptions().forget(&id);
            resp
        }
        (Method::DELETE, None) => json_error(
            StatusCode::BAD_REQUEST,
            "missing_session",
            "DELETE /mcp ends a session and needs its Mcp-Session-Id header",
        ),
        _ => {
            let mut resp = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this MCP endpoint takes POST (and DELETE to end a session); it opens no SSE stream on GET",
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
            resp
        }
    }
}

impl Endpoint {
    /// Whether `id` names a session of the session service (rather than the id handed to a
    /// stateless client, which names nothing).
    async fn is_live_session(&self, id: &str) -> bool {
        self.session_manager
            .has_session(&SessionId::from(id.to_owned()))
            .await
            .unwrap_or(false)
    }

    async fn post(&self, req: Request, live_session: bool) -> Response {
        let (mut parts, body) = req.into_parts();
        let (agent, signed) = match self.identify(parts.uri.query()) {
            Ok(identified) => identified,
            Err(resp) => return *resp,
        };
        // A signed agent is served only on its current link (see `crate::links`).
        if let (Some(link), Ok(id)) = (signed, &agent.0)
            && let Err(refusal) = self.running.check_link(id, link.as_deref()).await
        {
            tracing::warn!(agent = %id, reason = refusal.code(), "refused a request on a link that is gone");
            return json_error(
                StatusCode::FORBIDDEN,
                refusal.code(),
                &refusal.message(id.as_str()),
            );
        }
        parts.extensions.insert(agent);

        if live_session {
            if let Some(id) = parts
                .headers
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                parts.extensions.insert(SessionRoute(id.to_owned()));
            }
            let resp = self.sessions.handle(Request::from_parts(parts, body)).await;
            return json_rpc_rejection(Response::from(resp).map(Body::new), None).await;
        }

        // A client that already holds a session id is past `initialize`: stream its body to
        // rmcp untouched. Otherwise read it (bounded) to see whether it is `initialize`.
        let mut raw = None;
        let (body, initialize) = if parts.headers.contains_key(SESSION_HEADER) {
            (Body::new(body), None)
        } else {
            match Limited::new(body, MAX_BODY_BYTES).collect().await {
                Ok(collected) => {
                    let bytes = collected.to_bytes();
                    let init = initialize(&bytes);
                    raw = Some(bytes.clone());
                    (Body::new(Full::new(bytes)), init)
                }
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return json_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        &format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
                    );
                }
                Err(e) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        "bad_body",
                        &format!("the request body could not be read: {e}"),
                    );
                }
            }
        };
        if initialize.is_some_and(|init| init.can_be_asked) {
            if self.session_count().await < MAX_SESSIONS {
                let resp = self.sessions.handle(Request::from_parts(parts, body)).await;
                return json_rpc_rejection(Response::from(resp).map(Body::new), raw.as_ref()).await;
            }
            tracing::warn!(
                max = MAX_SESSIONS,
                "session limit reached: serving a client that can be asked things statelessly"
            );
        }
        let resp = self.mcp.handle(Request::from_parts(parts, body)).await;
        let (mut parts, body) = resp.into_parts();
        if initialize.is_some()
            && parts.status.is_success()
            && let Ok(value) = HeaderValue::from_str(&new_session_id())
        {
            parts.headers.insert(SESSION_HEADER, value);
        }
        json_rpc_rejection(Response::from_parts(parts, Body::new(body)), raw.as_ref()).await
    }

    /// Reads `agent_id` (and checks `agent_sig`) from the query string. A forged or missing
    /// required signature ends the request here; an unusable id is kept as an error for the
    /// tools that need an agent, so tools that don't still work. A verified signature comes
    /// back with the URL's `agent_link`, for the link check.
    #[allow(clippy::type_complexity)]
    fn identify(
        &self,
        query: Option<&str>,
    ) -> Result<(RequestAgent, Option<Option<String>>), Box<Response>> {
        let (mut id, mut sig, mut link, mut repeated) = (None, None, None, false);
        for (key, value) in query_pairs(query.unwrap_or("")) {
            if key == AGENT_ID_PARAM {
                repeated |= id.replace(value).is_some();
            } else if key == AGENT_SIGNATURE_PARAM {
                sig = Some(value);
            } else if key == AGENT_LINK_PARAM {
                link = Some(value.into_owned());
            }
        }
        let agent = match (id, repeated) {
            (_, true) => Err(AgentIdError::Ambiguous),
            (None, _) => Err(AgentIdError::Missing),
            (Some(raw), _) => AgentId::new(raw),
        };
        let Ok(agent_id) = &agent else {
            return Ok((RequestAgent(agent), None));
        };
        let env = self.running.env();
        let plugin_id = env
            .plugin_id
            .as_deref()
            .unwrap_or(&self.running.manifest().name);
        match (sig, &env.internal_token) {
            (Some(sig), Some(token))
                if identity::verify_agent(token, plugin_id, agent_id.as_str(), &sig).is_err() =>
            {
                tracing::warn!(agent = %agent_id, "refused a request with a forged agent signature");
                return Err(Box::new(json_error(
                    StatusCode::FORBIDDEN,
                    "agent_signature_invalid",
                    "the agent_sig parameter does not match agent_id: use the URL the host wrote \
                     in the agent's .mcp.json",
                )));
            }
            (None, _) if env.require_agent_signature => {
                return Err(Box::new(json_error(
                    StatusCode::FORBIDDEN,
                    "agent_signature_required",
                    "this plugin requires signed agent ids: the URL must carry agent_sig, as the \
                     host writes it in the agent's .mcp.json",
                )));
            }
            (Some(_), Some(_)) => return Ok((RequestAgent(agent), Some(link))),
            // Without the token a signature cannot be checked; NanoFleet's host sends none.
            _ => {}
        }
        Ok((RequestAgent(agent), None))
    }
}

/// The pairs of a query string, decoded as `application/x-www-form-urlencoded` (what
/// [`form_urlencoded::parse`] gives). A pair with nothing to decode, as the host's
/// `agent_id=...&agent_sig=...` always is, is borrowed from the query as it stands; this runs
/// on every request.
fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            if pair.bytes().any(|b| b == b'%' || b == b'+') {
                form_urlencoded::parse(pair.as_bytes()).next()
            } else {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((Cow::Borrowed(key), Cow::Borrowed(value)))
            }
        })
}

/// rmcp answers a body it cannot decode with `415` and plain text. A client is owed a JSON-RPC
/// error (and HTTP 400, as Streamable HTTP asks): `-32700` for text that is not JSON, `-32600`
/// for JSON that is no JSON-RPC message. `raw` is the body when it was read here (a streamed
/// one is taken for a parse error). A `415` for a wrong `Content-Type` stays as it is.
async fn json_rpc_rejection(resp: Response, raw: Option<&bytes::Bytes>) -> Response {
    if resp.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).into_owned();
    let Some(why) = text.strip_prefix("fail to deserialize request body") else {
        return Response::from_parts(parts, Body::from(text));
    };
    let is_json =
        raw.is_some_and(|raw| serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok());
    let (code, what) = if is_json {
        (
            -32600,
            "Invalid Request: the body is JSON but not a JSON-RPC message",
        )
    } else {
        (-32700, "Parse error: the body is not JSON")
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": format!("{what} ({})", why.trim()) },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// What the server needs to know of an `initialize` request before serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Initialize {
    /// The client declared `sampling` or `elicitation`: it gets a session.
    can_be_asked: bool,
}

/// `Some` when `body` is an `initialize` request.
fn initialize(body: &[u8]) -> Option<Initialize> {
    use serde::de::IgnoredAny;
    // Cheap filter first: only a body that mentions the method is parsed. The searcher is
    // built once: building it costs more than a search of a typical tool call's body.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"initialize\""));
    FINDER.find(body)?;
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
        params: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        capabilities: Option<Capabilities>,
    }
    #[derive(serde::Deserialize)]
    struct Capabilities {
        sampling: Option<IgnoredAny>,
        elicitation: Option<IgnoredAny>,
    }
    let probe = serde_json::from_slice::<Probe<'_>>(body).ok()?;
    if probe.method.as_deref() != Some("initialize") {
        return None;
    }
    let caps = probe.params.and_then(|p| p.capabilities);
    Some(Initialize {
        can_be_asked: caps.is_some_and(|c| c.sampling.is_some() || c.elicitation.is_some()),
    })
}

impl Endpoint {
    async fn session_count(&self) -> usize {
        self.session_manager.sessions.read().await.len()
    }
}

fn new_session_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": code, "message": message})),
    )
        .into_response()
}

/// Resolves on SIGINT or SIGTERM (the signal `docker stop` sends).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// The log filter when `RUST_LOG` is not set: the SDK's lines at `info`, which is one line per
/// tool call (target `nanofleet_sdk::call`: tool, agent, duration, outcome) plus start-up and
/// shutdown, and rmcp's own lines only from `warn` on (at `info` it logs every request's
/// `initialize` parameters, which say nothing about the calls).
pub const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

/// Installs a `tracing` subscriber writing to stderr, filtered by `RUST_LOG` (default
/// [`DEFAULT_LOG_FILTER`]), unless the application installed one already.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Container logs are read through `docker logs`, not a terminal: no colour codes there.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// How long the server waits for in-flight requests at shutdown before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_as_form_urlencoded_does() {
        for query in [
            "",
            "agent_id=alice&agent_sig=v1.abc",
            "agent_id=al%69ce",
            "agent_id=a+b&x",
            "&&agent_id=&=v&agent_id==x=&",
            "agent_id=%FF%fe&k%3D=v%26",
            "a=1&a=2&agent_id=%zz",
        ] {
            let fast: Vec<(String, String)> = query_pairs(query)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let reference: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(fast, reference, "{query}");
        }
    }

    #[test]
    fn initialize_is_recognised_only_as_the_method() {
        let plain = Some(Initialize {
            can_be_asked: false,
        });
        assert_eq!(
            initialize(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#),
            plain
        );
        assert_eq!(
            initialize(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            None
        );
        assert_eq!(
            initialize(
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"t":"initialize"}}}"#
            ),
            None
        );
        assert_eq!(initialize(b"not json \"initialize\""), None);
    }

    #[test]
    fn a_client_that_can_be_asked_is_told_apart() {
        let asked = |caps: &str| {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{caps},"clientInfo":{{"name":"c","version":"1"}}}}}}"#
            );
            initialize(body.as_bytes()).map(|i| i.can_be_asked)
        };
        assert_eq!(asked("{}"), Some(false));
        assert_eq!(asked(r#"{"roots":{}}"#), Some(false));
        assert_eq!(asked(r#"{"sampling":null}"#), Some(false));
        assert_eq!(asked(r#"{"sampling":{}}"#), Some(true));
        assert_eq!(asked(r#"{"elicitation":{"form":{}}}"#), Some(true));
    }

    #[test]
    fn session_ids_are_128_bit_hex_and_fresh() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
