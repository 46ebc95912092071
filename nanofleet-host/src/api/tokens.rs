//! `/api/tokens` and `/api/audit`: scoped tokens, which only the operator manages, and the
//! log of every mutating call.

use axum::{Extension, Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiState,
    auth::Principal,
    error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody},
};
use crate::store::{AuditEntry, Scope, TokenRecord};

/// The prefix of every scoped token, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "nft_";

/// A fresh scoped token: [`TOKEN_PREFIX`] and 256 random bits.
pub fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        nanofleet_sdk::identity::InternalToken::generate().expose_secret()
    )
}

/// A token to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Its name: letters, digits, `-`, `_`, `.`; unique.
    pub name: String,
    /// What it may do: `read` (GET routes) or `operate` (everything but tokens).
    pub scope: Scope,
}

/// A token just created: the only time its value is shown.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    /// The token as listed.
    #[serde(flatten)]
    pub record: TokenRecord,
    /// The value, to send as `Authorization: Bearer <token>`. Not stored; keep it now.
    pub token: String,
}

// By hand, so that the value cannot reach a log through `{:?}`.
impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// `{"tokens": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// The scoped tokens, by name; never their values.
    pub tokens: Vec<TokenRecord>,
}

/// `{"entries": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    /// The audited calls, newest first.
    pub entries: Vec<AuditEntry>,
}

/// Options of `GET /api/audit`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// How many entries (default 100, at most 10000).
    pub limit: Option<usize>,
}

/// Only the operator manages tokens: a token cannot mint or revoke tokens.
fn operator_only(principal: &Principal) -> Result<(), ApiError> {
    match &principal.token {
        None => Ok(()),
        Some(name) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "operator_only",
            format!("token `{name}` cannot manage tokens; only the operator token can"),
        )),
    }
}

/// Creates a scoped token; its value is in this answer only.
#[utoipa::path(
    post, path = "/api/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, body = NewToken),
        (status = 403, description = "not the operator token", body = ErrorBody),
        (status = 422, description = "invalid or taken name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    operator_only(&principal)?;
    let token = new_token();
    let record = state
        .host
        .store()
        .create_token(&request.name, request.scope, &token)
        .await?;
    Ok((StatusCode::CREATED, Json(NewToken { record, token })))
}

/// The scoped tokens (never their values).
#[utoipa::path(
    get, path = "/api/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<TokenList>, ApiError> {
    operator_only(&principal)?;
    Ok(Json(TokenList {
        tokens: state.host.store().list_tokens().await?,
    }))
}

/// Revokes a scoped token: it stops working at once.
#[utoipa::path(
    delete, path = "/api/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "token name")),
    responses((status = 204, description = "revoked"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    operator_only(&principal)?;
    if state.host.store().revoke_token(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "token_not_found",
            format!("no token named `{name}`; see GET /api/tokens"),
        ))
    }
}

/// The audit log: every mutating call through the API, newest first.
#[utoipa::path(
    get, path = "/api/audit", tag = "tokens",
    params(AuditQuery),
    responses((status = 200, body = AuditList)),
    security(("bearer" = []))
)]
pub(crate) async fn audit(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let limit = query.limit.unwrap_or(100).min(10_000);
    Ok(Json(AuditList {
        entries: state.host.store().audit_log(limit).await?,
    }))
}
