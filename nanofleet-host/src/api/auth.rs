//! Who may call the API: an [`Authenticator`] turns a request into a [`Principal`] or refuses
//! it. [`BearerToken`] is the default: one random token in `<data_dir>/api-token`, sent as
//! `Authorization: Bearer <token>`.
//!
//! Every `/api/*` route except `/api/openapi.json` runs `require_auth` before its handler
//! (so before any body is read). A refusal is `401` with `WWW-Authenticate: Bearer` and the
//! JSON error body `{"code": "unauthorized", ...}`. The plugin UI proxy has its own rule (the
//! host's auth *or* a UI token for that plugin): see [`super::proxy`].

use std::fs::{File, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use axum::{
    extract::{Request, State},
    http::{header, request::Parts},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use nanofleet_sdk::identity::InternalToken;

use super::{ApiState, error::ApiError};
use crate::store::Scope;

/// The file name of the API token inside the data directory.
pub const API_TOKEN_FILE: &str = "api-token";

/// The largest token file read; a real one is 44 bytes.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// Who a request is from, once authenticated. Handlers find it in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A name for the caller, passed to plugins as the `sub` of UI tokens and written in the
    /// audit log; e.g. `admin`, or `token:<name>` for a scoped token.
    pub subject: String,
    /// What the caller may do.
    pub scope: Scope,
    /// The scoped token the caller used, by name; `None` for the operator (the
    /// [`Authenticator`]'s principal), who alone manages tokens.
    pub token: Option<String>,
}

impl Principal {
    /// The operator, with every right: what an [`Authenticator`] returns.
    pub fn operator(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            scope: Scope::Operate,
            token: None,
        }
    }

    /// The holder of the scoped token `name`.
    pub fn token(name: &str, scope: Scope) -> Self {
        Self {
            subject: format!("token:{name}"),
            scope,
            token: Some(name.to_owned()),
        }
    }
}

/// The scope a request needs: `read` for `GET`, `HEAD` and `OPTIONS`, `operate` for the rest.
pub fn needed_scope(method: &axum::http::Method) -> Scope {
    use axum::http::Method;
    if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
        Scope::Read
    } else {
        Scope::Operate
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no credentials.
    #[error("this route needs `Authorization: Bearer <token>` (the host's API token)")]
    Missing,
    /// The credentials are not valid.
    #[error("the bearer token is not valid")]
    Invalid,
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::unauthorized(error.to_string())
    }
}

/// Decides who a request is from. Implement it to plug the API into an application's own
/// sessions; it sees the request head only, never the body.
pub trait Authenticator: Send + Sync {
    /// The caller, or why the request is refused.
    ///
    /// # Errors
    ///
    /// [`AuthError`] when the request carries no valid credentials.
    fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError>;
}

/// Why the API token file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    /// The file is readable or writable by others.
    #[error(
        "the API token file {} has mode {mode:03o}, which lets other users read or replace \
         it; run `chmod 600 {}` (and consider the token exposed)",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a usable token.
    #[error(
        "the API token file {} does not hold a valid token ({reason}); remove it to get a new one",
        path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the token).
        reason: String,
    },
    /// The file cannot be read or written.
    #[error("cannot read or create the API token file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The default [`Authenticator`]: one bearer token of 256 random bits, compared in constant
/// time. `Debug` never prints it.
#[derive(Clone)]
pub struct BearerToken {
    token: InternalToken,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// A bearer token with a given value (at least 16 printable ASCII characters).
    ///
    /// # Errors
    ///
    /// When the value is too short, too long or has spaces or control characters.
    pub fn new(token: String) -> Result<Self, nanofleet_sdk::identity::TokenFormatError> {
        Ok(Self {
            token: InternalToken::new(token)?,
        })
    }

    /// Reads `<data_dir>/api-token`, creating it with a fresh token on first start.
    ///
    /// Returns the token and, only when the file was just created, its value, so the caller
    /// can show it once. A new file is written to a temporary file with mode `0600` and linked
    /// into place only if none exists yet (two hosts starting together agree on one token). A
    /// file readable or writable by group or others is refused.
    ///
    /// # Errors
    ///
    /// [`TokenFileError`] when the file is too widely accessible, invalid or unreadable.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, Option<String>), TokenFileError> {
        let path = data_dir.join(API_TOKEN_FILE);
        if let Some(token) = read_token_file(&path)? {
            return Ok((Self { token }, None));
        }
        let token = InternalToken::generate();
        let io_error = |source| TokenFileError::Io {
            path: path.clone(),
            source,
        };
        create_private_dir(data_dir).map_err(io_error)?;
        match write_token_file(data_dir, &path, &token) {
            Ok(()) => {
                let shown = token.expose_secret().to_owned();
                Ok((Self { token }, Some(shown)))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match read_token_file(&path)? {
                Some(token) => Ok((Self { token }, None)),
                None => Err(io_error(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the file vanished right after another process created it",
                ))),
            },
            Err(e) => Err(io_error(e)),
        }
    }
}

impl Authenticator for BearerToken {
    fn authenticate(&self, parts: &Parts) -> Result<Principal, AuthError> {
        let candidate = bearer(parts).ok_or(AuthError::Missing)?;
        if self.token.matches(candidate.as_bytes()) {
            Ok(Principal::operator("admin"))
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    nanofleet_contracts::bearer::token_str(value)
}

/// The caller: the configured [`Authenticator`]'s principal or, failing that, the holder of a
/// scoped token from the store.
async fn authenticate(state: &ApiState, parts: &Parts) -> Result<Principal, ApiError> {
    match state.auth.authenticate(parts) {
        Ok(principal) => Ok(principal),
        Err(AuthError::Missing) => Err(AuthError::Missing.into()),
        Err(AuthError::Invalid) => {
            let found = match bearer(parts) {
                Some(candidate) => state.host.store().use_token(candidate).await?,
                None => None,
            };
            found
                .map(|record| Principal::token(&record.name, record.scope))
                .ok_or_else(|| AuthError::Invalid.into())
        }
    }
}

/// Middleware for the fleet's MCP server: authenticates as [`require_auth`] does and leaves
/// the [`Principal`] for the tools, which check the scope each needs (every MCP call is a
/// `POST`, so the method says nothing) and audit what they change.
pub(crate) async fn require_caller(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match authenticate(&state, &parts).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Middleware: authenticates with the configured [`Authenticator`] or, failing that, a
/// scoped token from the store; refuses a scope that does not cover the method (403
/// `insufficient_scope`, naming the scope missing); stores the [`Principal`] in the request
/// extensions; and writes every mutating call, refused or not, to the audit log.
pub(crate) async fn require_auth(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let principal = match authenticate(&state, &parts).await {
        Ok(principal) => principal,
        Err(refusal) => return refusal.into_response(),
    };
    let needed = needed_scope(&parts.method);
    let action = format!("{} {}", parts.method, parts.uri.path());
    let audited = needed == Scope::Operate;
    let who = principal.subject.clone();
    let response = if principal.scope.allows(needed) {
        parts.extensions.insert(principal);
        next.run(Request::from_parts(parts, body)).await
    } else {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "{who} has scope `{}`; {action} needs scope `{needed}`",
                principal.scope
            ),
        )
        .into_response()
    };
    if audited
        && let Err(e) = state
            .host
            .store()
            .audit(&who, &action, response.status().as_u16())
            .await
    {
        tracing::error!(error = %e, %who, %action, "cannot write the audit log");
    }
    response
}

fn read_token_file(path: &Path) -> Result<Option<InternalToken>, TokenFileError> {
    let io_error = |source| TokenFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    // Metadata of the open descriptor: what is checked is what is read.
    let metadata = file.metadata().map_err(io_error)?;
    let invalid = |reason: &str| TokenFileError::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if !metadata.is_file() {
        return Err(invalid("it is not a regular file"));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|_| invalid("it is not UTF-8 text"))?;
    InternalToken::new(text.trim().to_owned())
        .map(Some)
        .map_err(|e| invalid(&e.to_string()))
}

fn write_token_file(dir: &Path, path: &Path, token: &InternalToken) -> io::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix(".api-token.")
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    writeln!(file, "{}", token.expose_secret())?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and parents) accessible by the owner only, when it does not exist yet.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
