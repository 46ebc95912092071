//! `/api/keys`: the API keys plugins ask for in `requiredEnvVars`. Values go in and never come
//! out: listings carry names only.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiState,
    error::{ApiError, ApiJson, ApiPath, ErrorBody},
};

/// The value of an API key.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    /// The secret; stored encrypted, never returned.
    pub value: String,
}

// By hand, so that the value cannot reach a log through `{:?}`.
impl std::fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyValue(<redacted>)")
    }
}

/// `{"keys": ["NAME", ...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    /// The names of the keys that are set.
    pub keys: Vec<String>,
}

/// Sets (or replaces) an API key.
#[utoipa::path(
    put, path = "/api/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "environment variable name, e.g. OPENAI_API_KEY")),
    request_body = KeyValue,
    responses(
        (status = 204, description = "set"),
        (status = 422, description = "invalid name or value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn set(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<KeyValue>,
) -> Result<StatusCode, ApiError> {
    state.host.store().set_api_key(&name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The names of the keys that are set (never their values).
#[utoipa::path(
    get, path = "/api/keys", tag = "keys",
    responses((status = 200, body = KeyList)),
    security(("bearer" = []))
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(KeyList {
        keys: state.host.store().api_key_names().await?,
    }))
}

/// Removes an API key.
#[utoipa::path(
    delete, path = "/api/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "key name")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.host.store().delete_api_key(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "key_not_found",
            format!("no API key named `{name}` is set"),
        ))
    }
}
