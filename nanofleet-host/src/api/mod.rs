//! The host's HTTP API: the axum [`Router`] an application mounts, which the dashboard, the
//! `nanofleet` command and plugins talk to.
//!
//! ```no_run
//! # async fn demo(host: nanofleet_host::Host) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use nanofleet_host::api::{self, ApiConfig, BearerToken, StoreMessages};
//!
//! let config = ApiConfig::new("/var/lib/nanofleet");
//! let (auth, created) = BearerToken::load_or_create(&config.data_dir)?;
//! if let Some(token) = created {
//!     println!("API token (shown once): {token}");
//! }
//! let messages = Arc::new(StoreMessages::new(host.store().clone()));
//! let app = api::router(host, Arc::new(auth), messages, config);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /` (and `/dashboard/app.js`, `/dashboard/app.css`) | none (it signs in itself) | the [`dashboard`] |
//! | `GET /healthz` | none | `{"status":"ok"}` |
//! | `GET /api/openapi.json` | none | this API as OpenAPI 3.1, generated from the handlers |
//! | `POST /api/plugins` | Bearer | install from `{"manifest"}`, `{"url"}` or `{"image"}` (+ `egress`, `pull`, `overrides`, `allowMore`) → 201 |
//! | `GET /api/plugins`, `GET /api/plugins/{name}` | Bearer | plugins (never a token or secret) |
//! | `DELETE /api/plugins/{name}?purge=true` | Bearer | uninstall → 204 |
//! | `POST /api/plugins/{name}/restart`, `/upgrade`, `/enable`, `/disable` | Bearer | lifecycle |
//! | `GET /api/plugins/{name}/logs?tail=N&follow=true&since=UNIX&timestamps=true` | Bearer | `text/plain` lines, streamed |
//! | `POST /api/plugins/{name}/ui-session` | Bearer | a short-lived URL for the UI iframe |
//! | `ANY /api/plugins/{name}/ui/{*path}` (`/ui` redirects to `/ui/`) | Bearer or UI token | the UI proxy, see [`proxy`] |
//! | `POST /api/agents`, `GET /api/agents`, `DELETE /api/agents/{id}` | Bearer | agents |
//! | `PUT`/`DELETE /api/agents/{id}/links/{plugin}` | Bearer | links (204) |
//! | `GET /api/agents/{id}/messages` | Bearer | what plugins told the agent |
//! | `GET /api/agents/{id}/client-config` | Bearer | the client file the host writes the agent's links into |
//! | `PUT /api/keys/{name}` `{"value"}`, `GET /api/keys`, `DELETE /api/keys/{name}` | Bearer | API keys (names only out) |
//! | `GET /api/policy`, `PUT /api/policy` | Bearer | the operator's maxima and prohibitions on plugins' permissions |
//! | `GET /internal/agents`, `GET /internal/agents/{id}`, `POST /internal/agents/{id}/messages` | plugin token | plugin callbacks, see [`internal`] |
//!
//! # Errors
//!
//! Every error is JSON, `{"code": "<stable_snake_case>", "message": "...", "diagnostics"?,
//! "missing"?}` ([`ErrorBody`]): 400 `malformed_json` / `invalid_path` / `invalid_query` /
//! `unsupported_url`, 401 `unauthorized` (with `WWW-Authenticate: Bearer`), 403
//! `image_not_allowed`, 404 `plugin_not_found` / `agent_not_found` / `link_not_found` /
//! `key_not_found` / `no_ui` / `route_not_found`, 405 `method_not_allowed`, 409
//! `already_installed` / `plugin_not_running`, 413 `body_too_large` / `message_too_large`,
//! 415 `unsupported_media_type`, 422 `invalid_body` / `invalid_manifest` (with every
//! diagnostic) / `missing_api_keys` (with `missing`) / `image_missing` / `invalid_agent` /
//! `invalid_api_key_name` / `invalid_api_key_value`, 502 `plugin_unavailable` /
//! `plugin_not_ready` / `engine_error` / `delivery_failed`, 503 `engine_unavailable`, 504
//! `plugin_timeout`. A 500 (`internal_error`) is always the host's fault, never the caller's.

pub mod agents;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod internal;
pub mod keys;
pub mod mcp;
mod openapi;
pub mod plugins;
pub mod policy;
pub mod proxy;
pub mod tokens;
pub mod trust;

use std::{path::PathBuf, sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, middleware};
use nanofleet_sdk::identity::DEFAULT_UI_TOKEN_TTL;

pub use auth::{AuthError, Authenticator, BearerToken, Principal, TokenFileError};
pub use error::{ApiError, ErrorBody};
pub use internal::{MessageHandler, StoreMessages};
pub use openapi::openapi;
pub use trust::ImagePolicy;

use crate::{Host, store::MAX_MESSAGE_BYTES};

/// How the API behaves.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The host's data directory (where [`BearerToken::load_or_create`] keeps `api-token`).
    pub data_dir: PathBuf,
    /// Which images install and upgrade accept. Default [`ImagePolicy::Any`].
    pub image_policy: ImagePolicy,
    /// The lifetime of UI tokens: the per-request `nf_token` sent to plugins, and the
    /// dashboard's UI sessions. Default 5 minutes; at most an hour.
    pub ui_token_ttl: Duration,
    /// How long the UI proxy waits for a plugin's response head, and for each part of its
    /// body. Default 30 s.
    pub proxy_timeout: Duration,
    /// The largest JSON body the admin API reads. Default 1 MiB. (The UI proxy streams bodies
    /// and does not buffer them; callbacks accept messages up to the store's 256 KiB.)
    pub max_body_bytes: usize,
    /// Origins besides the host's own that may frame plugin UIs and the dashboard (an
    /// application embedding the host in its own dashboard), each checked by
    /// [`FrameAncestor::parse`]. Empty by default: `frame-ancestors 'self'` and
    /// `X-Frame-Options: SAMEORIGIN`.
    pub frame_ancestors: Vec<FrameAncestor>,
}

/// An origin allowed to frame the host's pages: `scheme://host[:port]`, nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAncestor(String);

impl FrameAncestor {
    /// Reads an origin such as `https://app.example.com` or `http://127.0.0.1:5173`.
    ///
    /// # Errors
    ///
    /// When `text` is not an `http`/`https` origin alone (a path, query, credentials or a
    /// wildcard would widen or break the policy).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(text.trim()).map_err(|e| {
            format!("`{text}` is not an origin ({e}), e.g. https://app.example.com")
        })?;
        let origin = url.origin();
        let plain = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && matches!(url.path(), "" | "/")
            && url.query().is_none()
            && url.fragment().is_none()
            && origin.is_tuple();
        if !plain {
            return Err(format!(
                "`{text}` is not an http(s) origin alone: give scheme://host[:port], e.g. \
                 https://app.example.com"
            ));
        }
        Ok(Self(origin.ascii_serialization()))
    }

    /// The origin, as it appears in the policy.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `frame-ancestors 'self' <origins>`.
pub(crate) fn frame_ancestors_directive(origins: &[FrameAncestor]) -> String {
    let mut directive = "frame-ancestors 'self'".to_owned();
    for origin in origins {
        directive.push(' ');
        directive.push_str(origin.as_str());
    }
    directive
}

impl ApiConfig {
    /// The defaults, with `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            image_policy: ImagePolicy::Any,
            ui_token_ttl: DEFAULT_UI_TOKEN_TTL,
            proxy_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            frame_ancestors: Vec::new(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) host: Host,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) messages: Arc<dyn MessageHandler>,
    pub(crate) config: Arc<ApiConfig>,
    /// The UI proxy's client; `None` if it could not be built (then the proxy answers 500).
    pub(crate) http: Option<reqwest::Client>,
    /// `/api/openapi.json`, serialised once.
    pub(crate) openapi_json: Arc<str>,
}

/// The API's router, ready to serve (it has its state).
///
/// Nothing in it panics on input from outside; see the [module docs](self) for the routes.
pub fn router(
    host: Host,
    auth: Arc<dyn Authenticator>,
    messages: Arc<dyn MessageHandler>,
    config: ApiConfig,
) -> Router {
    nanofleet_sdk::ensure_crypto_provider();
    // The SDK's builder: its roots are compiled in, so a host without the system's CA
    // certificates (a `FROM scratch` image) still gets a client.
    let http = nanofleet_sdk::http::client_builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.proxy_timeout)
        .read_timeout(config.proxy_timeout)
        .build()
        .map_err(|e| tracing::error!(error = %e, "cannot build the UI proxy's HTTP client"))
        .ok();
    let doc = openapi();
    let openapi_json: Arc<str> = serde_json::to_string(&doc)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            "{}".to_owned()
        })
        .into();
    let max_body = config.max_body_bytes;
    let state = ApiState {
        host,
        auth,
        messages,
        config: Arc::new(config),
        http,
        openapi_json,
    };

    let registered = openapi::registrations();
    let admin = registered
        .admin
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ))
        .layer(DefaultBodyLimit::max(max_body));
    // Room for a 256 KiB message even if every character were JSON-escaped.
    let internal = registered
        .internal
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES * 6 + 1024));
    let (routes, _) = registered
        .open
        .merge(admin)
        .merge(internal)
        .split_for_parts();
    // The fleet's MCP server at `/mcp`, behind the same auth.
    let routes = match mcp::router(&state, tokio_util::sync::CancellationToken::new()) {
        Some(mcp) => routes.route_service(
            "/mcp",
            mcp.layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_caller,
            )),
        ),
        None => routes,
    };
    routes
        .merge(proxy::routes())
        .merge(dashboard::routes())
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_are_origins_alone() {
        for (text, origin) in [
            ("https://app.example.com", "https://app.example.com"),
            ("https://App.Example.com/", "https://app.example.com"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("https://app.example.com:443", "https://app.example.com"),
        ] {
            let parsed = FrameAncestor::parse(text).expect(text);
            assert_eq!(parsed.as_str(), origin, "{text}");
        }
        for bad in [
            "",
            "*",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://app.example.com/?q=1",
            "https://user@app.example.com",
            "https://app.example.com; script-src *",
            "'self'",
        ] {
            assert!(FrameAncestor::parse(bad).is_err(), "{bad}");
        }
        let origins = [
            FrameAncestor::parse("https://a.example").expect("a"),
            FrameAncestor::parse("http://127.0.0.1:8080").expect("b"),
        ];
        assert_eq!(
            frame_ancestors_directive(&origins),
            "frame-ancestors 'self' https://a.example http://127.0.0.1:8080"
        );
        assert_eq!(frame_ancestors_directive(&[]), "frame-ancestors 'self'");
    }
}
