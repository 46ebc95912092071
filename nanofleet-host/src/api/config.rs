//! `/api/plugins/{name}/config`: a plugin's typed settings. Values go in typed (or as their
//! text form); sensitive ones never come out.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiState,
    error::{ApiError, ApiJson, ApiPath, ErrorBody},
};
use crate::host::ConfigEntry;

/// `{"plugin": "...", "settings": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfigList {
    /// The plugin.
    pub plugin: String,
    /// Every setting its manifest declares, in key order, with the value it runs with unless
    /// the setting is sensitive.
    pub settings: Vec<ConfigEntry>,
}

/// Changes to a plugin's settings.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// New values by key, like a JSON merge patch: a value sets the setting (a string is read
    /// as the setting's text form when the setting is not a string, e.g. `"42"`), `null`
    /// removes its value so that the default applies again.
    #[schema(value_type = Object)]
    pub values: BTreeMap<String, Option<serde_json::Value>>,
}

// By hand, so that a sensitive value cannot reach a log through `{:?}`.
impl std::fmt::Debug for ConfigPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigPatch")
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A plugin's settings and the values it runs with (never a sensitive value).
#[utoipa::path(
    get, path = "/api/plugins/{name}/config", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    responses((status = 200, body = ConfigList), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ConfigList>, ApiError> {
    let settings = state.host.config_entries(&name).await?;
    Ok(Json(ConfigList {
        plugin: name,
        settings,
    }))
}

/// Changes a plugin's settings, then recreates it with the new values when it runs. Every
/// change is checked first: one that does not fit changes nothing.
#[utoipa::path(
    patch, path = "/api/plugins/{name}/config", tag = "plugins",
    params(("name" = String, Path, description = "plugin name")),
    request_body = ConfigPatch,
    responses(
        (status = 200, body = ConfigList),
        (status = 404, body = ErrorBody),
        (status = 422, description = "an unknown key, a value that does not fit (`invalid_config`), or a required setting left without a value (`missing_config`, with the list)", body = ErrorBody),
        (status = 502, description = "the values are stored but the plugin did not come up with them", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn patch(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> Result<Json<ConfigList>, ApiError> {
    let settings = state.host.configure(&name, patch.values).await?;
    Ok(Json(ConfigList {
        plugin: name,
        settings,
    }))
}
