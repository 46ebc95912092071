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

use crate::{HostError, policy::GrantError, runtime::RuntimeError, store::StoreError};

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
        let message = error.to_string();
        let new = Self::new;
        match error {
            HostError::InvalidManifest(diagnostics) => Self::invalid_manifest(diagnostics),
            HostError::InvalidConfig(_) => new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid_host_config",
                message,
            ),
            HostError::AlreadyInstalled(_) => {
                new(StatusCode::CONFLICT, "already_installed", message)
            }
            HostError::NotInstalled(_) => Self::not_found("plugin_not_found", message),
            HostError::NameMismatch { .. } => {
                new(StatusCode::UNPROCESSABLE_ENTITY, "name_mismatch", message)
            }
            HostError::MissingApiKeys { missing, .. } => {
                let mut e = new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "missing_api_keys",
                    message,
                );
                e.body.missing = Some(missing);
                e
            }
            HostError::Config { problems, .. } => {
                let only_missing = problems.invalid.is_empty() && problems.unknown.is_empty();
                let code = if only_missing {
                    "missing_config"
                } else {
                    "invalid_config"
                };
                let mut e = new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                if !problems.missing.is_empty() {
                    e.body.missing = Some(problems.missing);
                }
                e
            }
            HostError::NotReady { .. } => new(StatusCode::BAD_GATEWAY, "plugin_not_ready", message),
            HostError::NotRunning(_) => new(StatusCode::CONFLICT, "plugin_not_running", message),
            HostError::UnknownAgent(_) => Self::not_found("agent_not_found", message),
            HostError::Call(_) => new(StatusCode::BAD_GATEWAY, "call_failed", message),
            HostError::Runtime(e) => e.into(),
            HostError::Store(e) => e.into(),
            HostError::Link(_) => new(StatusCode::CONFLICT, "link_failed", message),
            HostError::Grant(e) => {
                let (status, code) = match e {
                    GrantError::HostTooOld { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "host_too_old")
                    }
                    GrantError::InvalidOverrides { .. } => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_overrides")
                    }
                    GrantError::Widening { .. } => (StatusCode::FORBIDDEN, "permissions_widened"),
                    GrantError::Policy { .. } => (StatusCode::FORBIDDEN, "refused_by_policy"),
                };
                new(status, code, message)
            }
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        let message = error.to_string();
        let new = Self::new;
        match error {
            RuntimeError::Unreachable { .. } => new(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_unavailable",
                message,
            ),
            RuntimeError::NotFound(_) => Self::not_found("not_found", message),
            RuntimeError::Conflict(_) => new(StatusCode::CONFLICT, "conflict", message),
            RuntimeError::ImageMissing { .. } => {
                new(StatusCode::UNPROCESSABLE_ENTITY, "image_missing", message)
            }
            RuntimeError::InvalidSpec(_) => {
                new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_spec", message)
            }
            RuntimeError::Engine { .. } => new(StatusCode::BAD_GATEWAY, "engine_error", message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        let unprocessable =
            |code| Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.clone());
        match error {
            StoreError::UnknownPlugin { .. } => Self::not_found("plugin_not_found", message),
            StoreError::UnknownAgent { .. } => Self::not_found("agent_not_found", message),
            StoreError::InvalidPlugin { .. } => unprocessable("invalid_plugin"),
            StoreError::InvalidAgent { .. } => unprocessable("invalid_agent"),
            StoreError::InvalidApiKeyName { .. } => unprocessable("invalid_api_key_name"),
            StoreError::InvalidApiKeyValue { .. } => unprocessable("invalid_api_key_value"),
            StoreError::InvalidConfig { .. } => unprocessable("invalid_config"),
            StoreError::InvalidToken { .. } => unprocessable("invalid_token"),
            StoreError::MessageTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", message)
            }
            _ => Self::internal("the host store failed", &message),
        }
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
