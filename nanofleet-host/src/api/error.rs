//! Errors as the API reports them: a status, a stable snake_case `code` clients can match on,
//! a sentence for people, and the details that help (manifest diagnostics, missing API keys).
//!
//! The extractors here ([`ApiJson`], [`ApiPath`], [`ApiQuery`]) are axum's, with their
//! rejections turned into the same JSON body, so a caller's mistake is never a 500 and never a
//! plain-text error.

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Path, Query, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use nanofleet_sdk::manifest::{Diagnostic, Diagnostics};
use serde::{Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

use crate::{HostError, runtime::RuntimeError, store::StoreError};

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, snake_case identifier of the error, e.g. `plugin_not_found`.
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// Every problem of an invalid manifest (`invalid_manifest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub diagnostics: Option<Vec<Diagnostic>>,
    /// The API keys to set first (`missing_api_keys`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
}

/// An error response: status, code and message, plus optional details.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    www_authenticate: Option<&'static str>,
}

impl ApiError {
    /// An error with `status`, a stable `code` and a `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                diagnostics: None,
                missing: None,
            },
            www_authenticate: None,
        }
    }

    /// 404 with `code`.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 `invalid_manifest` with every diagnostic.
    pub fn invalid_manifest(diagnostics: Diagnostics) -> Self {
        let summary: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_manifest",
            format!("the manifest is not valid: {}", summary.join("; ")),
        );
        error.body.diagnostics = Some(diagnostics.into_vec());
        error
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        error.www_authenticate = Some("Bearer");
        error
    }

    /// 500 `internal_error`: the host failed, not the caller. The details go to the log,
    /// not to the caller.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("{context}; see the host's log"),
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<HostError> for ApiError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::InvalidManifest(diagnostics) => Self::invalid_manifest(diagnostics),
            HostError::Runtime(e) => e.into(),
            HostError::Store(e) => e.into(),
            other => {
                let code = other.code();
                let mut e = Self::new(status_of(code), code, other.to_string());
                match other {
                    HostError::MissingApiKeys { missing, .. } => e.body.missing = Some(missing),
                    HostError::Config { problems, .. } if !problems.missing.is_empty() => {
                        e.body.missing = Some(problems.missing);
                    }
                    _ => {}
                }
                e
            }
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        let code = error.code();
        Self::new(status_of(code), code, error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error.code() {
            "internal_error" => Self::internal("the host store failed", &error),
            code => Self::new(status_of(code), code, error.to_string()),
        }
    }
}

/// The status of an error with `code` (from [`HostError::code`], [`RuntimeError::code`] or
/// [`StoreError::code`]): one table, so that a code always comes with the same status.
fn status_of(code: &str) -> StatusCode {
    match code {
        "plugin_not_found" | "agent_not_found" | "not_found" => StatusCode::NOT_FOUND,
        "already_installed" | "plugin_not_running" | "link_failed" | "conflict" => {
            StatusCode::CONFLICT
        }
        "permissions_widened" | "refused_by_policy" => StatusCode::FORBIDDEN,
        "plugin_not_ready" | "call_failed" | "engine_error" => StatusCode::BAD_GATEWAY,
        "engine_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "message_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_host_config" | "internal_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// axum's `Json` extractor with its rejections as [`ApiError`]s: malformed JSON 400
/// `malformed_json`, a body of the wrong shape 422 `invalid_body`, a missing or wrong
/// `Content-Type` 415 `unsupported_media_type`, a body over the limit 413 `body_too_large`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", text),
        JsonRejection::JsonDataError(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", text)
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than the host accepts",
        ),
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// axum's `Path` extractor with its rejection as a 400 `invalid_path` [`ApiError`].
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e: PathRejection| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// axum's `Query` extractor with its rejection as a 400 `invalid_query` [`ApiError`].
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// The fallback of the whole router: 404 `route_not_found`.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::not_found("route_not_found", "no such route; see /api/openapi.json")
}

/// 405 `method_not_allowed`.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method; see /api/openapi.json",
    )
}
