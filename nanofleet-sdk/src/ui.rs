//! A plugin's web UI, served on the manifest's `uiPort` behind an `nf_token` check.
//!
//! The host proxies `/api/plugins/<name>/ui/*` to the plugin and appends a fresh `nf_token` to
//! every proxied request: a short-lived token signed with the plugin's `NANO_INTERNAL_TOKEN`
//! (format in [`crate::identity`]). The SDK checks it on every request, offline, and hands the
//! verified [`UiCaller`] to the author's handlers as a request extension. A request without a
//! valid token gets `401`.
//!
//! NanoFleet's own host passes the dashboard user's access token as `nf_token`, which a plugin
//! cannot verify. To run under that host, set `NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN=1`: any
//! non-empty `nf_token` is then accepted, and handlers see [`UiCaller::Unverified`]. Only do
//! this when the plugin's UI port is reachable from the host alone (the default: nothing is
//! published).

use std::{path::PathBuf, sync::Arc, time::SystemTime};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

#[cfg(feature = "host-api")]
use crate::api::NanoApi;
#[cfg(feature = "store")]
use crate::store::{SharedStore, StoreError};
use crate::{
    error::Error,
    identity::{self, InternalToken, UI_TOKEN_PARAM, UiClaims},
    plugin::Running,
};

/// A plugin UI: an axum router, a folder of static files, or both (the router first).
#[derive(Clone, Default)]
pub struct Ui {
    router: Option<RouterSource>,
    static_dir: Option<PathBuf>,
}

#[derive(Clone)]
enum RouterSource {
    Ready(Router),
    Deferred(Arc<dyn Fn(&UiContext) -> Router + Send + Sync>),
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("router", &self.router.is_some())
            .field("static_dir", &self.static_dir)
            .finish()
    }
}

/// What a UI built with [`Ui::with_context`] can reach: the plugin's shared store, its state,
/// and the host API client.
#[derive(Clone)]
pub struct UiContext {
    running: Arc<Running>,
}

impl std::fmt::Debug for UiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiContext").finish_non_exhaustive()
    }
}

impl UiContext {
    /// The plugin-wide store (the same one tools reach as [`SharedStore`]).
    #[cfg(feature = "store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store")))]
    pub fn shared_store(&self) -> Result<SharedStore, StoreError> {
        Ok(self.running.store()?.shared())
    }

    /// The plugin state of type `T`, when the builder was given one.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.running.state::<T>()
    }

    /// The client for the host's callback API.
    #[cfg(feature = "host-api")]
    #[cfg_attr(docsrs, doc(cfg(feature = "host-api")))]
    pub fn nano_api(&self) -> Result<NanoApi, String> {
        self.running.nano_api()
    }
}

impl Ui {
    /// Serves `router`. Handlers can read the [`UiCaller`] extension.
    pub fn router(router: Router) -> Self {
        Self {
            router: Some(RouterSource::Ready(router)),
            static_dir: None,
        }
    }

    /// Serves the router `make` builds when the plugin starts, from a [`UiContext`], so the
    /// UI can reach the same store and state as the tools.
    pub fn with_context(make: impl Fn(&UiContext) -> Router + Send + Sync + 'static) -> Self {
        Self {
            router: Some(RouterSource::Deferred(Arc::new(make))),
            static_dir: None,
        }
    }

    /// Serves the files under `dir` (`index.html` for directories).
    pub fn static_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            router: None,
            static_dir: Some(dir.into()),
        }
    }

    /// Serves files from `dir` for paths the router does not match.
    pub fn with_static_fallback(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = Some(dir.into());
        self
    }

    fn into_router(self, running: &Arc<Running>) -> Router {
        let router = match self.router {
            Some(RouterSource::Ready(r)) => r,
            Some(RouterSource::Deferred(make)) => make(&UiContext {
                running: Arc::clone(running),
            }),
            None => Router::new(),
        };
        match self.static_dir {
            Some(dir) => router.fallback_service(tower_http::services::ServeDir::new(dir)),
            None => router,
        }
    }
}

/// Who a UI request is for, as the `nf_token` says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UiCaller {
    /// A token minted by the host for this plugin and checked here.
    Verified(UiClaims),
    /// A token accepted unchecked (`NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN=1`).
    Unverified,
}

#[derive(Clone)]
enum Check {
    Verify {
        token: InternalToken,
        plugin_id: Arc<str>,
    },
    AcceptAny,
}

/// The UI router of a started plugin, with the `nf_token` check applied; `None` when the plugin
/// has no UI. [`crate::serve`] serves it on `uiPort`; tests can drive it in-process.
pub fn router(running: &Arc<Running>) -> Result<Option<Router>, Error> {
    let Some(ui) = running.def.ui.clone() else {
        return Ok(None);
    };
    let env = running.env();
    let check = match (&env.internal_token, env.accept_unverified_ui_token) {
        (_, true) => Check::AcceptAny,
        (Some(token), false) => Check::Verify {
            token: token.clone(),
            plugin_id: Arc::from(env.plugin_id.as_deref().unwrap_or(&running.manifest().name)),
        },
        (None, false) => {
            return Err(Error::Config(
                "the plugin UI checks nf_token with NANO_INTERNAL_TOKEN, which is not set: the \
                 NanoFleet host sets it; to accept NanoFleet's unverifiable tokens instead, set \
                 NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN=1"
                    .into(),
            ));
        }
    };
    Ok(Some(ui.into_router(running).layer(
        axum::middleware::from_fn_with_state(check, require_ui_token),
    )))
}

async fn require_ui_token(State(check): State<Check>, mut req: Request, next: Next) -> Response {
    let presented = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == UI_TOKEN_PARAM)
            .map(|(_, v)| v.into_owned())
    });
    let caller = match (presented.as_deref(), &check) {
        (None | Some(""), _) => {
            return unauthorized(
                "this page is served through the NanoFleet host, which adds nf_token",
            );
        }
        (Some(_), Check::AcceptAny) => UiCaller::Unverified,
        (Some(tok), Check::Verify { token, plugin_id }) => {
            match identity::verify_ui_token(token, plugin_id, tok, SystemTime::now()) {
                Ok(claims) => UiCaller::Verified(claims),
                Err(e) => return unauthorized(&format!("nf_token refused: {e}")),
            }
        }
    };
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    // The token is in the URL: keep it out of Referer headers sent to other sites.
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn unauthorized(reason: &str) -> Response {
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({"error": "unauthorized", "message": reason})),
    )
        .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"nanofleet-plugin-ui\""),
    );
    resp
}
