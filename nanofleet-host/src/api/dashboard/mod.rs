//! The dashboard: one page at `/` that runs the fleet through this API, from a browser.
//!
//! # How it is built
//!
//! Plain HTML, CSS and one script, written by hand and embedded in the binary
//! (`include_str!`): no framework, no Node build step, nothing fetched from elsewhere. The page
//! is small enough that a framework would be most of its weight, and a build step would make
//! every change to it need a toolchain nobody else in the project uses.
//!
//! # Security
//!
//! * **Sign-in** takes an API token (the operator's or a scoped one). It is kept in
//!   `sessionStorage` (gone with the tab) and sent as `Authorization: Bearer`, never in a URL.
//!   A `read` token sees everything and changes nothing (the API refuses, and the page shows
//!   the API's words).
//! * The page's own policy: `default-src 'none'`, its script and style only, `connect-src
//!   'self'`, `frame-src 'self'` (plugin UIs through the proxy), no inline script, and framed
//!   only by this origin (or the operator's [`ApiConfig::frame_ancestors`]).
//! * **Plugin UIs** are framed as the [proxy](super::proxy) prescribes: a fresh UI session
//!   URL in `<iframe sandbox="allow-scripts allow-forms allow-popups">`, never
//!   `allow-same-origin`, renewed before it expires.
//! * Everything a plugin or an agent says is inserted as text, never as HTML.
//!
//! # Live updates
//!
//! The page polls what it shows every few seconds while the tab is visible, and after each
//! action: simpler than a stream (an `EventSource` cannot send an `Authorization` header), and
//! at a fleet's scale a few small GETs.
//!
//! [`ApiConfig::frame_ancestors`]: super::ApiConfig::frame_ancestors

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{ApiState, frame_ancestors_directive};

/// The page.
const INDEX_HTML: &str = include_str!("index.html");
/// Its script.
const APP_JS: &str = include_str!("app.js");
/// Its styles.
const APP_CSS: &str = include_str!("app.css");

/// `/`, `/dashboard/app.js` and `/dashboard/app.css`; no auth (the page signs in itself).
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/app.js", get(script))
        .route("/dashboard/app.css", get(styles))
}

async fn index(State(state): State<ApiState>) -> Response {
    page(&state, "text/html; charset=utf-8", INDEX_HTML)
}

async fn script(State(state): State<ApiState>) -> Response {
    page(&state, "text/javascript; charset=utf-8", APP_JS)
}

async fn styles(State(state): State<ApiState>) -> Response {
    page(&state, "text/css; charset=utf-8", APP_CSS)
}

/// `body` with the dashboard's headers.
fn page(state: &ApiState, content_type: &'static str, body: &'static str) -> Response {
    let ancestors = &state.config.frame_ancestors;
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         connect-src 'self'; frame-src 'self'; form-action 'none'; base-uri 'none'; {}",
        frame_ancestors_directive(ancestors)
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response();
    // Origins are checked ASCII; were one not, no page rather than a page without a policy.
    match HeaderValue::from_str(&csp) {
        Ok(value) => {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
        Err(_) => return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    if ancestors.is_empty() {
        response.headers_mut().insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
    }
    response
}
