//! A tower layer that lets only the NanoFleet host through.
//!
//! Routes a plugin exposes for the host's callbacks must not be callable by agents or anything
//! else on the Docker network. [`RequireInternalToken`] answers `401 Unauthorized` unless the
//! request carries `Authorization: Bearer <NANO_INTERNAL_TOKEN>`:
//!
//! ```
//! use axum::{Router, routing::post};
//! use nanofleet_sdk::auth::RequireInternalToken;
//! use nanofleet_sdk::identity::InternalToken;
//!
//! let token = InternalToken::generate();
//! let callbacks: Router = Router::new()
//!     .route("/callbacks/agent-started", post(|| async { "ok" }))
//!     .layer(RequireInternalToken::new(token));
//! ```
//!
//! Refusals follow RFC 6750: a `WWW-Authenticate: Bearer realm="nanofleet-plugin"` header, with
//! `error="invalid_token"` when a bearer token was sent but is not the right one, and a JSON body
//! `{"error":"unauthorized","message":"..."}`. The presented token is never echoed or logged.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::BoxError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::{Either, MapOk, Ready, TryFutureExt, ready};
use http::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, StatusCode};
use serde::Serialize;
use tower::{Layer, Service};

use crate::env::{EnvError, internal_token_from_env};
use crate::identity::InternalToken;

const CHALLENGE: &str = r#"Bearer realm="nanofleet-plugin""#;
const CHALLENGE_INVALID_TOKEN: &str = r#"Bearer realm="nanofleet-plugin", error="invalid_token""#;

/// A [`Layer`] that refuses requests without the plugin's internal token as a bearer token.
///
/// Cheap to clone: the token is shared behind an [`Arc`].
#[derive(Debug, Clone)]
pub struct RequireInternalToken {
    token: Arc<InternalToken>,
}

impl RequireInternalToken {
    /// Guards routes with `token`, normally the value of `NANO_INTERNAL_TOKEN`.
    pub fn new(token: InternalToken) -> Self {
        Self {
            token: Arc::new(token),
        }
    }

    /// Guards routes with the token in the `NANO_INTERNAL_TOKEN` environment variable.
    ///
    /// Fails if the variable is unset or not a valid token; only that variable is read.
    pub fn from_env() -> Result<Self, EnvError> {
        internal_token_from_env().map(Self::new)
    }
}

impl<S> Layer<S> for RequireInternalToken {
    type Service = RequireInternalTokenService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireInternalTokenService {
            inner,
            token: Arc::clone(&self.token),
        }
    }
}

/// The [`Service`] made by [`RequireInternalToken`]: calls `S` only for requests that carry the
/// internal token, and answers `401 Unauthorized` itself otherwise.
#[derive(Debug, Clone)]
pub struct RequireInternalTokenService<S> {
    inner: S,
    token: Arc<InternalToken>,
}

/// The future returned by [`RequireInternalTokenService`]: either the inner service's response
/// (with its body boxed into an axum [`Body`]) or an immediate refusal.
pub type ResponseFuture<F, B, E> =
    Either<MapOk<F, fn(http::Response<B>) -> Response>, Ready<Result<Response, E>>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireInternalTokenService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match check(&self.token, request.headers()) {
            Ok(()) => {
                let into_axum: fn(http::Response<ResBody>) -> Response = into_axum_response;
                Either::Left(self.inner.call(request).map_ok(into_axum))
            }
            Err(refusal) => {
                tracing::debug!(
                    reason = refusal.as_str(),
                    "refused a request without the internal token"
                );
                Either::Right(ready(Ok(refusal.into_response())))
            }
        }
    }
}

fn into_axum_response<B>(response: http::Response<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // `Body::new` does not re-box a body that already is an axum `Body`.
    response.map(Body::new)
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No `Authorization` header at all.
    Missing,
    /// An `Authorization` header with another scheme, such as `Basic`.
    NotBearer,
    /// More than one `Authorization` header: ambiguous, so not trusted.
    Ambiguous,
    /// A bearer token that is empty or not the internal token.
    InvalidToken,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing authorization header",
            Self::NotBearer => "not a bearer token",
            Self::Ambiguous => "several authorization headers",
            Self::InvalidToken => "wrong bearer token",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Missing => {
                "this route is for the NanoFleet host: send `Authorization: Bearer <NANO_INTERNAL_TOKEN>`"
            }
            Self::NotBearer => {
                "the Authorization header must use the Bearer scheme with the plugin's internal token"
            }
            Self::Ambiguous => "send exactly one Authorization header",
            Self::InvalidToken => "the bearer token is not this plugin's internal token",
        }
    }

    fn challenge(self) -> &'static str {
        match self {
            // RFC 6750 §3.1: no error code when no bearer credentials were presented at all.
            Self::Missing | Self::NotBearer => CHALLENGE,
            Self::Ambiguous | Self::InvalidToken => CHALLENGE_INVALID_TOKEN,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: "unauthorized",
            message: self.message(),
        };
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, HeaderValue::from_static(self.challenge()))],
            axum::Json(body),
        )
            .into_response()
    }
}

fn check(token: &InternalToken, headers: &HeaderMap) -> Result<(), Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(Refusal::Missing)?;
    if values.next().is_some() {
        return Err(Refusal::Ambiguous);
    }
    let presented =
        nanofleet_contracts::bearer::token(value.as_bytes()).ok_or(Refusal::NotBearer)?;
    if presented.is_empty() || !token.matches(presented) {
        return Err(Refusal::InvalidToken);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt as _;

    const SECRET: &str = "plugin-secret-0123456789";

    fn router() -> Router {
        let token = InternalToken::new(SECRET.to_owned()).expect("valid token");
        Router::new()
            .route("/callback", get(|| async { "called" }))
            .layer(RequireInternalToken::new(token))
    }

    async fn call(authorization: &[&str]) -> (StatusCode, Option<String>, String) {
        let mut request = Request::builder().uri("/callback");
        for value in authorization {
            request = request.header(AUTHORIZATION, *value);
        }
        let request = request.body(Body::empty()).expect("valid request");
        let response = router().oneshot(request).await.expect("infallible");
        let status = response.status();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("body");
        let body = String::from_utf8(body.to_vec()).expect("utf-8");
        (status, challenge, body)
    }

    fn assert_refused(body: &str) {
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(json["error"], "unauthorized");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn no_header_is_refused_with_a_challenge() {
        let (status, challenge, body) = call(&[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some(CHALLENGE));
        assert_refused(&body);
    }

    #[tokio::test]
    async fn wrong_token_is_invalid_token() {
        let (status, challenge, body) = call(&["Bearer not-the-right-token-at-all"]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some(CHALLENGE_INVALID_TOKEN));
        assert_refused(&body);
        assert!(!body.contains("not-the-right-token-at-all"));
    }

    #[tokio::test]
    async fn other_schemes_are_refused() {
        for value in [
            "Basic cGx1Z2luOnNlY3JldA==",
            &format!("Basic {SECRET}"),
            &format!("Token {SECRET}"),
            &format!("Bearer{SECRET}"),
            &format!("BearerX {SECRET}"),
            SECRET,
        ] {
            let (status, challenge, body) = call(&[value]).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{value}");
            assert_eq!(challenge.as_deref(), Some(CHALLENGE), "{value}");
            assert_refused(&body);
        }
    }

    #[tokio::test]
    async fn empty_or_truncated_bearer_tokens_are_refused() {
        let prefix = format!("Bearer {}", &SECRET[..SECRET.len() - 1]);
        let longer = format!("Bearer {SECRET}x");
        for value in ["Bearer", "Bearer ", "bearer    ", &prefix, &longer] {
            let (status, challenge, _) = call(&[value]).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{value:?}");
            assert_eq!(
                challenge.as_deref(),
                Some(CHALLENGE_INVALID_TOKEN),
                "{value:?}"
            );
        }
    }

    #[tokio::test]
    async fn right_token_passes() {
        for value in [
            format!("Bearer {SECRET}"),
            format!("bearer {SECRET}"),
            format!("BEARER {SECRET}"),
            format!("Bearer   {SECRET}"),
        ] {
            let (status, challenge, body) = call(&[&value]).await;
            assert_eq!(status, StatusCode::OK, "{value}");
            assert_eq!(challenge, None);
            assert_eq!(body, "called");
        }
    }

    #[tokio::test]
    async fn several_authorization_headers_are_refused() {
        let right = format!("Bearer {SECRET}");
        let (status, challenge, body) = call(&[&right, &right]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some(CHALLENGE_INVALID_TOKEN));
        assert!(!body.contains(SECRET));
    }

    #[tokio::test]
    async fn refusals_never_contain_the_token() {
        let near_miss = format!("Bearer {SECRET}0");
        let basic = format!("Basic {SECRET}");
        for value in [near_miss.as_str(), basic.as_str(), "Bearer x"] {
            let (_, challenge, body) = call(&[value]).await;
            assert!(!body.contains(SECRET));
            assert!(!challenge.unwrap_or_default().contains(SECRET));
        }
    }

    #[tokio::test]
    async fn wraps_services_with_other_body_types() {
        let token = InternalToken::new(SECRET.to_owned()).expect("valid token");
        let service =
            RequireInternalToken::new(token).layer(tower::service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::from("plain")))
            }));
        let request = Request::builder()
            .header(AUTHORIZATION, format!("Bearer {SECRET}"))
            .body(())
            .expect("valid request");
        let response = service.oneshot(request).await.expect("infallible");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&body[..], b"plain");
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(
            nanofleet_contracts::bearer::token(b"Bearer abc"),
            Some(&b"abc"[..])
        );
        assert_eq!(
            nanofleet_contracts::bearer::token(b"bEaReR  abc "),
            Some(&b"abc"[..])
        );
        assert_eq!(
            nanofleet_contracts::bearer::token(b"Bearer"),
            Some(&b""[..])
        );
        assert_eq!(nanofleet_contracts::bearer::token(b"Bearerabc"), None);
        assert_eq!(nanofleet_contracts::bearer::token(b"Bear"), None);
        assert_eq!(nanofleet_contracts::bearer::token(b""), None);
        assert_eq!(nanofleet_contracts::bearer::token(b"Basic abc"), None);
    }
}
