//! `/api/policy`: the operator's limits on what any plugin may be granted.

use axum::{Json, extract::State, http::StatusCode};

use super::{
    ApiState,
    error::{ApiError, ApiJson, ErrorBody},
};
use crate::policy::Policy;

/// The operator's policy.
#[utoipa::path(
    get, path = "/api/policy", tag = "policy",
    responses((status = 200, body = Policy)),
    security(("bearer" = []))
)]
pub(crate) async fn get(State(state): State<ApiState>) -> Result<Json<Policy>, ApiError> {
    Ok(Json(state.host.store().policy().await?))
}

/// Replaces the operator's policy. Installed plugins keep their grant; the policy applies to
/// the next install or upgrade.
#[utoipa::path(
    put, path = "/api/policy", tag = "policy",
    request_body = Policy,
    responses(
        (status = 200, description = "the policy now in force", body = Policy),
        (status = 422, description = "a maximum no plugin could run under", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn set(
    State(state): State<ApiState>,
    ApiJson(policy): ApiJson<Policy>,
) -> Result<Json<Policy>, ApiError> {
    policy.validate().map_err(|why| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            format!("the policy is not valid: {why}"),
        )
    })?;
    state.host.store().set_policy(&policy).await?;
    Ok(Json(policy))
}
