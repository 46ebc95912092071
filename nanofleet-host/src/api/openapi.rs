//! The OpenAPI document, generated from the same registrations that build the router
//! (`utoipa-axum`): a handler is served exactly when it is documented. The UI proxy, whose
//! catch-all path OpenAPI cannot express, is documented by hand below, next to its route
//! constants in [`super::proxy`].

use axum::{Json, extract::State, http::header, response::IntoResponse};
use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiState, agents, config, internal, keys, plugins, policy, tokens};

/// The routes, by how they authenticate.
pub(crate) struct Registrations {
    /// No auth: health and this document.
    pub(crate) open: OpenApiRouter<ApiState>,
    /// The host's auth (Bearer).
    pub(crate) admin: OpenApiRouter<ApiState>,
    /// A plugin's internal token.
    pub(crate) internal: OpenApiRouter<ApiState>,
}

/// Every documented route, registered once for both the router and the document.
pub(crate) fn registrations() -> Registrations {
    let open = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(openapi_json));
    let admin = OpenApiRouter::new()
        .routes(routes!(plugins::list, plugins::install))
        .routes(routes!(plugins::get, plugins::uninstall))
        .routes(routes!(plugins::restart))
        .routes(routes!(plugins::upgrade))
        .routes(routes!(plugins::enable))
        .routes(routes!(plugins::disable))
        .routes(routes!(plugins::logs))
        .routes(routes!(plugins::ui_session))
        .routes(routes!(config::get, config::patch))
        .routes(routes!(agents::list, agents::register))
        .routes(routes!(agents::get, agents::remove))
        .routes(routes!(agents::link, agents::unlink))
        .routes(routes!(agents::messages))
        .routes(routes!(agents::client_config))
        .routes(routes!(keys::list))
        .routes(routes!(keys::set, keys::remove))
        .routes(routes!(policy::get, policy::set))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::audit));
    let internal = OpenApiRouter::new()
        .routes(routes!(internal::list_agents))
        .routes(routes!(internal::get_agent))
        .routes(routes!(internal::send_message));
    Registrations {
        open,
        admin,
        internal,
    }
}

/// The whole API as an OpenAPI 3.1 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let r = registrations();
    r.open.merge(r.admin).merge(r.internal).into_openapi()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nanofleet-host API",
        description = "Install and run NanoFleet plugins, link agents, proxy plugin UIs, and \
                       serve plugin callbacks."
    ),
    paths(ui_proxy_root, ui_proxy),
    modifiers(&SecuritySchemes),
    tags(
        (name = "plugins", description = "installed plugins"),
        (name = "agents", description = "agents and their links"),
        (name = "keys", description = "API keys for plugins' requiredEnvVars"),
        (name = "policy", description = "the operator's limits on plugins' permissions"),
        (name = "tokens", description = "scoped API tokens and the audit log"),
        (name = "ui", description = "the plugin UI proxy"),
        (name = "internal", description = "callbacks for plugins (NANO_INTERNAL_TOKEN)"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer =
            || SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        components.add_security_scheme("bearer", bearer());
        components.add_security_scheme("plugin_token", bearer());
    }
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok` while the process serves.
    status: &'static str,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "plugins", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "plugins",
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.to_string(),
    )
}

/// Redirects to `ui/`, keeping the query.
#[utoipa::path(
    method(get, head, post, put, patch, delete),
    path = "/api/plugins/{name}/ui", tag = "ui",
    params(("name" = String, Path, description = "plugin name")),
    responses((status = 308, description = "to /api/plugins/{name}/ui/"), (status = 401, body = super::ErrorBody)),
    security(("bearer" = []), ("ui_token" = []))
)]
#[allow(dead_code)]
fn ui_proxy_root() {}

/// The plugin's UI, proxied (`{path}` is any rest of the path, empty included). Auth: Bearer,
/// or `?nf_token=` from `POST /api/plugins/{name}/ui-session`. The plugin gets a fresh
/// `nf_token`; bodies stream both ways.
#[utoipa::path(
    method(get, head, post, put, patch, delete, options),
    path = "/api/plugins/{name}/ui/{path}", tag = "ui",
    params(
        ("name" = String, Path, description = "plugin name"),
        ("path" = String, Path, description = "the rest of the path, passed to the plugin"),
        ("nf_token" = Option<String>, Query, description = "a UI token from ui-session"),
    ),
    responses(
        (status = 200, description = "whatever the plugin answers"),
        (status = 401, body = super::ErrorBody),
        (status = 404, description = "unknown plugin or no UI", body = super::ErrorBody),
        (status = 502, description = "the plugin is down", body = super::ErrorBody),
        (status = 504, description = "the plugin did not answer in time", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[allow(dead_code)]
fn ui_proxy() {}
