//! The plugin UI proxy: `ANY /api/plugins/{name}/ui/{*path}` to the plugin's `uiPort`.
//!
//! # Who may use it
//!
//! A request is let through when either
//!
//! * the host's [`Authenticator`](super::Authenticator) accepts it (`Authorization: Bearer`),
//!   for scripts and tests; or
//! * its query carries `nf_token=<UI token>`, a token the host minted for **this plugin**
//!   (HMAC keyed by the plugin's internal token, at most an hour long, see
//!   [`nanofleet_sdk::identity`]). The dashboard gets one from
//!   `POST /api/plugins/{name}/ui-session` (Bearer-authenticated) as a ready URL,
//!   `/api/plugins/{name}/ui/?nf_token=…`, and loads it in the iframe. An iframe cannot send an
//!   `Authorization` header, and a cookie would be ambient authority for any page that can
//!   make the browser send a request; a token in the URL is sent only by whom it was given to.
//!   The page passes the same `nf_token` on to its own relative requests (the NanoFleet
//!   convention, which the SDK's UI page helpers follow) until it expires; the dashboard asks
//!   for a new session before `expiresAt`.
//!
//! A UI token is worth exactly one plugin's UI: it can reach nothing else of the host (every
//! other route wants the Bearer token), and the plugin it names could mint one itself anyway.
//! Without either credential the proxy answers 401 (NanoFleet proxied UIs with no auth at
//! all: defect 6).
//!
//! # What is forwarded
//!
//! Method, path (as sent, still encoded), query and headers, minus hop-by-hop headers
//! (`Connection` and what it lists, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//! `Transfer-Encoding`, `Upgrade`), the caller's credentials (`Authorization`, `Cookie`) and
//! any `nf_token` the caller sent: a **fresh** `nf_token` minted for this request replaces it,
//! so the plugin verifies it offline with the SDK. Request and response bodies are streamed in
//! both directions, never buffered. Waiting for the plugin's response head is bounded by
//! `proxy_timeout` (504 `plugin_timeout`), and so is every pause while reading the body. A
//! plugin that is not running or does not answer gives 502 `plugin_unavailable` (JSON).
//! `Set-Cookie` from the plugin is dropped: the plugin shares the host's origin and must not
//! plant cookies on it.
//!
//! # How the dashboard must frame plugin UIs
//!
//! Every proxied response carries
//! `Content-Security-Policy: sandbox allow-scripts allow-forms allow-popups allow-downloads`
//! (added to the plugin's own policy, never replacing it), `X-Frame-Options: SAMEORIGIN` and
//! `frame-ancestors 'self'`, `Referrer-Policy: no-referrer` (the URL holds a token) and
//! `X-Content-Type-Options: nosniff`. The CSP sandbox gives the page an opaque origin even if
//! it is opened outside a frame, so its scripts cannot read the dashboard's storage or call the
//! host's API with the dashboard's credentials. The dashboard must also embed it as
//! `<iframe sandbox="allow-scripts allow-forms allow-popups" src="…ui-session url…">`, and
//! **never** add `allow-same-origin` (with it, a script could remove its own sandbox);
//! serving plugin UIs from a separate origin is the other sound option. Because the page's
//! origin is opaque, its own requests are cross-origin: the proxy answers CORS preflights
//! itself and sends `Access-Control-Allow-Origin: *`, which grants nothing since no ambient
//! credential (cookie) is ever accepted, only the explicit token.

use std::time::SystemTime;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
    routing::any,
};
use nanofleet_sdk::identity::{InternalToken, UI_TOKEN_PARAM, mint_ui_token, verify_ui_token};

use super::{ApiState, auth::Principal, error::ApiError};
use crate::store::PluginRecord;

/// `/api/plugins/{name}/ui`: redirects to `ui/`, keeping the query.
pub const UI_ROOT: &str = "/api/plugins/{name}/ui";
/// `/api/plugins/{name}/ui/`: the UI's index.
pub const UI_INDEX: &str = "/api/plugins/{name}/ui/";
/// `/api/plugins/{name}/ui/{*path}`: everything below it.
pub const UI_PATH: &str = "/api/plugins/{name}/ui/{*path}";

/// The CSP added to every proxied response (with [`ApiConfig::frame_ancestors`]'s origins
/// after `'self'` when there are any).
///
/// [`ApiConfig::frame_ancestors`]: super::ApiConfig::frame_ancestors
pub const UI_SANDBOX_CSP: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-downloads; frame-ancestors 'self'";

/// The proxy's routes (they authenticate by themselves: Bearer or a UI token).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route(UI_ROOT, any(redirect))
        .route(UI_INDEX, any(forward))
        .route(UI_PATH, any(forward))
}

/// An installed plugin with a UI: its record, token and UI port; 404 otherwise.
pub(crate) async fn ui_plugin(
    state: &ApiState,
    name: &str,
) -> Result<(PluginRecord, InternalToken), ApiError> {
    let store = state.host.store();
    let not_found = || {
        ApiError::not_found(
            "plugin_not_found",
            format!("plugin `{name}` is not installed"),
        )
    };
    let record = store.get_plugin(name).await?.ok_or_else(not_found)?;
    let token = store.plugin_token(name).await?.ok_or_else(not_found)?;
    if record.manifest.ui_port.is_none() {
        return Err(ApiError::not_found(
            "no_ui",
            format!("plugin `{name}` has no UI (its manifest has no uiPort)"),
        ));
    }
    Ok((record, token))
}

/// The plugin name in a proxied path (`/api/plugins/<name>/ui...`) and the rest, still
/// percent-encoded.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/api/plugins/")?;
    let (name, tail) = rest.split_once('/')?;
    let tail = tail.strip_prefix("ui")?;
    Some((name, tail))
}

/// The value of the caller's `nf_token`, if any.
fn query_ui_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    let url = reqwest::Url::parse(&format!("http://x/?{query}")).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == UI_TOKEN_PARAM)
        .map(|(_, v)| v.into_owned())
}

/// Bearer (the host's auth) or a UI token for this plugin; 401 otherwise, 404 for an unknown
/// plugin only once the caller is authenticated.
async fn authorize(
    state: &ApiState,
    parts: &Parts,
    name: &str,
) -> Result<(Principal, PluginRecord, InternalToken), ApiError> {
    let plugin = ui_plugin(state, name).await;
    match state.auth.authenticate(parts) {
        Ok(principal) => {
            let (record, token) = plugin?;
            return Ok((principal, record, token));
        }
        Err(super::AuthError::Invalid) => return Err(super::AuthError::Invalid.into()),
        Err(_) => {}
    }
    let refused = || {
        ApiError::unauthorized(
            "open plugin UIs through the dashboard: it gets a URL with an nf_token from \
             POST /api/plugins/{name}/ui-session (or send Authorization: Bearer)",
        )
    };
    let candidate = query_ui_token(parts).ok_or_else(refused)?;
    let (record, token) = plugin.map_err(|_| refused())?;
    match verify_ui_token(&token, name, &candidate, SystemTime::now()) {
        Ok(claims) => Ok((
            Principal {
                subject: claims.subject.unwrap_or_else(|| "ui-session".into()),
                scope: crate::store::Scope::Read,
                token: None,
            },
            record,
            token,
        )),
        Err(e) => Err(ApiError::unauthorized(format!("nf_token refused: {e}"))),
    }
}

/// `ANY /api/plugins/{name}/ui`: 308 to `ui/` with the same query.
async fn redirect(State(state): State<ApiState>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (name, _) = split_path(parts.uri.path())
        .ok_or_else(|| ApiError::not_found("route_not_found", "no such route"))?;
    authorize(&state, &parts, name).await?;
    let target = match parts.uri.query() {
        Some(q) => format!("{}/?{q}", parts.uri.path()),
        None => format!("{}/", parts.uri.path()),
    };
    Ok(Redirect::permanent(&target).into_response())
}

/// `ANY /api/plugins/{name}/ui/{*path}`: the proxy itself.
async fn forward(State(state): State<ApiState>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if is_preflight(&parts) {
        return Ok(preflight());
    }
    let path = parts.uri.path().to_owned();
    let (name, tail) =
        split_path(&path).ok_or_else(|| ApiError::not_found("route_not_found", "no such route"))?;
    let (principal, record, token) = authorize(&state, &parts, name).await?;
    let ui_port = record.manifest.ui_port.unwrap_or_default();
    let Some(client) = state.http.as_ref() else {
        return Err(ApiError::internal(
            "the proxy's HTTP client could not be built",
            &"see the log at start-up",
        ));
    };

    let addr = upstream_addr(&state, name, ui_port).await?;
    let fresh = mint_ui_token(
        &token,
        name,
        Some(&principal.subject),
        state.config.ui_token_ttl,
        SystemTime::now(),
    );
    let url = upstream_url(addr, tail, parts.uri.query(), &fresh)?;

    let mut upstream = reqwest::Request::new(parts.method.clone(), url);
    *upstream.headers_mut() = request_headers(&parts.headers);
    let container = state.host.config().instance.container_name(name);
    if let Ok(host) = HeaderValue::from_str(&format!("{container}:{ui_port}")) {
        upstream.headers_mut().insert(header::HOST, host);
    }
    if !matches!(parts.method, Method::GET | Method::HEAD)
        || parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING)
    {
        *upstream.body_mut() = Some(reqwest::Body::wrap_stream(body.into_data_stream()));
    }

    let response =
        match tokio::time::timeout(state.config.proxy_timeout, client.execute(upstream)).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "plugin_timeout",
                    format!(
                        "plugin `{name}` did not answer within {:?}",
                        state.config.proxy_timeout
                    ),
                ));
            }
            Ok(Err(e)) => return Err(unavailable(name, &e.to_string())),
            Ok(Ok(response)) => response,
        };

    let status = response.status();
    let headers = response_headers(response.headers(), &state.config.frame_ancestors);
    let mut out = Response::new(Body::from_stream(response.bytes_stream()));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn unavailable(name: &str, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "plugin_unavailable",
        format!("plugin `{name}` is not answering on its UI port: {why}"),
    )
}

/// Where the plugin's UI listens: its published loopback port in development mode, else its
/// address on the plugin network.
async fn upstream_addr(
    state: &ApiState,
    name: &str,
    ui_port: u16,
) -> Result<std::net::SocketAddr, ApiError> {
    let container = state.host.config().instance.container_name(name);
    let inspected = state
        .host
        .runtime()
        .inspect(&container)
        .await
        .map_err(|e| unavailable(name, &e.to_string()))?;
    let Some(s) = inspected.filter(|s| s.running) else {
        return Err(unavailable(name, "its container is not running"));
    };
    s.host_address(ui_port)
        .ok_or_else(|| unavailable(name, "its container has no address"))
}

/// `http://<addr><tail>?<query without nf_token>&nf_token=<fresh>`.
fn upstream_url(
    addr: std::net::SocketAddr,
    tail: &str,
    query: Option<&str>,
    fresh: &str,
) -> Result<reqwest::Url, ApiError> {
    let path = if tail.is_empty() { "/" } else { tail };
    let mut url = reqwest::Url::parse(&format!("http://{addr}{path}"))
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()))?;
    let kept: Vec<(String, String)> = match query {
        Some(q) => reqwest::Url::parse(&format!("http://x/?{q}"))
            .map(|u| {
                u.query_pairs()
                    .filter(|(k, _)| k != UI_TOKEN_PARAM)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    {
        let mut pairs = url.query_pairs_mut();
        pairs.clear();
        for (k, v) in &kept {
            pairs.append_pair(k, v);
        }
        pairs.append_pair(UI_TOKEN_PARAM, fresh);
    }
    Ok(url)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the obsolete ones proxies drop too.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers, including those `Connection` lists.
fn strip_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let listed: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let lower = name.as_str();
        if HOP_BY_HOP.contains(&lower)
            || lower == "upgrade"
            || lower.starts_with("proxy-")
            || listed.iter().any(|l| l == lower)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn request_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = strip_hop_by_hop(headers);
    for name in [
        header::AUTHORIZATION,
        header::COOKIE,
        header::HOST,
        header::CONTENT_LENGTH,
    ] {
        out.remove(name);
    }
    out
}

fn response_headers(headers: &HeaderMap, embedders: &[super::FrameAncestor]) -> HeaderMap {
    let mut out = strip_hop_by_hop(headers);
    out.remove(header::SET_COOKIE);
    if embedders.is_empty() {
        out.append(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(UI_SANDBOX_CSP),
        );
        out.entry(header::X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("SAMEORIGIN"));
    } else {
        // X-Frame-Options cannot name origins: the CSP alone says who may frame.
        let csp = format!(
            "sandbox allow-scripts allow-forms allow-popups allow-downloads; {}",
            super::frame_ancestors_directive(embedders)
        );
        // Origins are checked ASCII; were one not, the strict policy is the safe fallback.
        let value = HeaderValue::from_str(&csp)
            .unwrap_or_else(|_| HeaderValue::from_static(UI_SANDBOX_CSP));
        out.append(header::CONTENT_SECURITY_POLICY, value);
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    out
}

fn is_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a CORS preflight from a sandboxed (opaque-origin) plugin page. It carries
/// no credentials and does nothing, so it needs none.
fn preflight() -> Response {
    let headers = [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, HEAD, POST, PUT, PATCH, DELETE",
        ),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type, accept"),
        (header::ACCESS_CONTROL_MAX_AGE, "600"),
    ];
    (StatusCode::NO_CONTENT, headers).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_the_hosts_origin_unless_the_operator_names_others() {
        let plugin = HeaderMap::new();
        let strict = response_headers(&plugin, &[]);
        assert_eq!(strict[header::CONTENT_SECURITY_POLICY], UI_SANDBOX_CSP);
        assert_eq!(strict[header::X_FRAME_OPTIONS], "SAMEORIGIN");

        let app = super::super::FrameAncestor::parse("https://app.example.com").expect("origin");
        let named = response_headers(&plugin, &[app]);
        let csp = named[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(csp.starts_with("sandbox allow-scripts"), "{csp}");
        assert!(
            csp.ends_with("frame-ancestors 'self' https://app.example.com"),
            "{csp}"
        );
        // X-Frame-Options cannot name an origin: it would refuse the one allowed.
        assert!(named.get(header::X_FRAME_OPTIONS).is_none());
    }
}
