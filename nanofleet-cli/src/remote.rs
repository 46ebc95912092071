//! Remote mode: the commands that change or list the host talk to a running `nanofleet serve`
//! through its HTTP API instead of opening the store and the engine themselves.
//!
//! The API's errors (`{"code", "message", "diagnostics"?, "missing"?}`) become the same
//! one-line `error: …` messages, details and exit statuses as in local mode.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use nanofleet_host::{HostError, manifest::Diagnostic};
use reqwest::{Method, Response, StatusCode, Url};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{error::CliError, output::clean};

/// The environment variable holding the server's API token.
pub const TOKEN_ENV: &str = "NANOFLEET_TOKEN";

/// The largest token file read; a real token is 44 bytes.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// How long connecting to the server may take. Requests themselves have no deadline: an
/// install waits for the plugin to be ready, and `logs -f` streams until stopped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `nanofleet serve`, as the command talks to it.
pub struct Server {
    /// The base URL, as given (for messages).
    shown: String,
    base: Url,
    token: String,
    http: reqwest::Client,
}

// By hand, so that the token cannot reach a message through `{:?}`.
impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// The server at `url` (`http://host:port`), authenticated by the token in
    /// `token_file`, else in [`TOKEN_ENV`].
    pub fn new(url: &str, token_file: Option<&Path>) -> Result<Self, CliError> {
        let base = parse_url(url)?;
        let token = match token_file {
            Some(path) => read_token_file(path)?,
            None => match std::env::var(TOKEN_ENV) {
                Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
                Ok(_) | Err(std::env::VarError::NotPresent) => {
                    return Err(CliError::usage(format!(
                        "--server needs the server's API token: set {TOKEN_ENV} or pass \
                         --token-file (`nanofleet serve` printed it on its first start; it is \
                         kept in the server's data directory as api-token)"
                    )));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(CliError::usage(format!(
                        "{TOKEN_ENV} is not valid text; set it to the server's API token"
                    )));
                }
            },
        };
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(CliError::usage(
                "the API token holds spaces or characters a token never has; check \
                 NANOFLEET_TOKEN or the --token-file",
            ));
        }
        // The SDK's builder: rustls with the webpki roots, for `https://` servers.
        let http = nanofleet_sdk::http::client_builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CliError::new(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            shown: clean(url.trim_end_matches('/')),
            base,
            token,
            http,
        })
    }

    /// The server's URL, for messages.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// `path` (a path and query the API returned, such as a UI session's
    /// `/api/plugins/x/ui/?nf_token=…`) as a URL on this server, below its base path.
    pub fn resolve(&self, path: &str) -> Result<Url, CliError> {
        let mut base = self.base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.join(path.trim_start_matches('/')).map_err(|e| {
            CliError::new(format!(
                "the server returned a path that is not a URL ({e}): {}",
                clean(path)
            ))
        })
    }

    /// The URL of the API route made of `segments` (each percent-encoded), with `query`.
    fn endpoint(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url, CliError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| CliError::usage(format!("--server {} is not a base URL", self.shown)))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends a request and returns the response if its status is a success.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Response, Failure> {
        let url = self.endpoint(segments, query)?;
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| CliError::new(format!("cannot encode the request as JSON: {e}")))?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.api_failure(response).await)
    }

    /// `GET` a JSON document.
    pub async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, Failure> {
        let response = self.send(Method::GET, segments, &[], None).await?;
        self.decode(response).await
    }

    /// `GET` a JSON document, with a query.
    pub async fn get_query<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, Failure> {
        let response = self.send(Method::GET, segments, query, None).await?;
        self.decode(response).await
    }

    /// `method` with a JSON body (or none), decoding the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<T, Failure> {
        let response = self.send(method, segments, &[], body).await?;
        self.decode(response).await
    }

    /// `method` with a JSON body (or none) and query, for routes answering without a body.
    pub async fn call_empty(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(), Failure> {
        self.send(method, segments, query, body).await.map(drop)
    }

    /// `GET` a streamed (text) response.
    pub async fn stream(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Response, Failure> {
        self.send(Method::GET, segments, query, None).await
    }

    async fn decode<T: DeserializeOwned>(&self, response: Response) -> Result<T, Failure> {
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Other(CliError::new(format!(
                "the server at {} answered with JSON this command does not understand ({e}); \
                 is it a nanofleet server of the same version?",
                self.shown
            )))
        })
    }

    /// The error of a response with a failure status.
    async fn api_failure(&self, response: Response) -> Failure {
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED {
            return Failure::Other(CliError::new(format!(
                "the server refused the token: {} does not accept it; use the token in the \
                 server's data directory (api-token), in {TOKEN_ENV} or --token-file",
                self.shown
            )));
        }
        match serde_json::from_slice::<WireError>(&body) {
            Ok(error) => Failure::Api(ApiFailure { status, error }),
            Err(_) => Failure::Other(CliError::new(format!(
                "the server at {} answered {status} without a nanofleet error; is it a \
                 nanofleet server?",
                self.shown
            ))),
        }
    }

    /// The error of a request that got no answer.
    pub fn transport(&self, error: &reqwest::Error) -> CliError {
        // The innermost cause says most: "Connection refused (os error 111)".
        let mut cause: &dyn std::error::Error = error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let cause = clean(&cause.to_string());
        if error.is_connect() {
            CliError::new(format!(
                "cannot reach the nanofleet server at {}: {cause}; is `nanofleet serve` running \
                 there?",
                self.shown
            ))
        } else if error.is_timeout() {
            CliError::new(format!(
                "the nanofleet server at {} did not answer in time: {cause}",
                self.shown
            ))
        } else {
            CliError::new(format!(
                "the request to the nanofleet server at {} failed: {cause}",
                self.shown
            ))
        }
    }
}

/// `ErrorBody` as it arrives (the API's type only serialises).
#[derive(Debug, Deserialize)]
struct WireError {
    code: String,
    message: String,
    #[serde(default)]
    diagnostics: Option<Vec<Diagnostic>>,
    #[serde(default)]
    missing: Option<Vec<String>>,
}

/// An error the API answered with.
#[derive(Debug)]
pub struct ApiFailure {
    status: StatusCode,
    error: WireError,
}

impl ApiFailure {
    /// Its stable code, e.g. `plugin_not_found`.
    pub fn code(&self) -> &str {
        &self.error.code
    }
}

/// Why an operation of [`Fleet`](crate::fleet::Fleet) failed, in either mode: with the
/// API's error code whenever the host gave one, so that a command can tell "not found" from
/// other failures the same way locally and remotely.
#[derive(Debug)]
pub enum Failure {
    /// The API answered with an error.
    Api(ApiFailure),
    /// The host on this machine failed, with the code the API would have answered.
    Local {
        /// The API's code for the error, e.g. `plugin_not_found`.
        code: &'static str,
        /// The error as the command prints it.
        error: CliError,
    },
    /// No usable answer: the server is unreachable, refused the token, or is not a nanofleet
    /// server.
    Other(CliError),
}

impl Failure {
    /// A local failure with the API's `code` for it.
    pub fn local(code: &'static str, error: CliError) -> Self {
        Self::Local { code, error }
    }

    /// The API's error code, when the host (local or remote) gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(failure) => Some(failure.code()),
            Self::Local { code, .. } => Some(code),
            Self::Other(_) => None,
        }
    }

    /// The plugin the error's message names, if any.
    pub fn plugin(&self) -> Option<String> {
        match self {
            Self::Api(failure) => plugin_in(&failure.error.message),
            Self::Local { error, .. } => plugin_in(&error.message),
            Self::Other(_) => None,
        }
    }
}

impl From<CliError> for Failure {
    fn from(error: CliError) -> Self {
        Self::Other(error)
    }
}

impl From<Failure> for CliError {
    fn from(failure: Failure) -> Self {
        let ApiFailure { status, error } = match failure {
            Failure::Api(failure) => failure,
            Failure::Local { error, .. } | Failure::Other(error) => return error,
        };
        match (error.code.as_str(), error.diagnostics, error.missing) {
            ("invalid_manifest", Some(diagnostics), _) => {
                CliError::new("the manifest is not valid; nothing was changed:").with_details(
                    diagnostics
                        .iter()
                        .map(|d| format!("  {}", clean(&d.to_string()))),
                )
            }
            ("missing_api_keys", _, Some(missing)) => HostError::MissingApiKeys {
                plugin: plugin_in(&error.message).unwrap_or_else(|| "the plugin".to_owned()),
                missing,
            }
            .into(),
            _ => {
                let message = clean(&error.message);
                if status.is_server_error() && error.code == "internal_error" {
                    CliError::new(format!("the server failed: {message}"))
                } else {
                    CliError::new(message)
                }
            }
        }
    }
}

/// The plugin named first in a message, as the host's errors name it: "plugin `x` …".
fn plugin_in(message: &str) -> Option<String> {
    let rest = message.split_once("plugin `")?.1;
    let (name, _) = rest.split_once('`')?;
    Some(clean(name))
}

/// `url` as the base of the API, refusing what this build cannot speak.
fn parse_url(url: &str) -> Result<Url, CliError> {
    let shown = clean(url);
    let parsed = Url::parse(url).map_err(|e| {
        CliError::usage(format!(
            "--server `{shown}` is not a URL ({e}); give the server's address, e.g. \
             http://127.0.0.1:8787"
        ))
    })?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(CliError::usage(format!(
                "--server `{shown}` has the scheme {}; give the server's http:// or https:// \
                 address, e.g. http://127.0.0.1:8787",
                clean(other)
            )));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty)
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(CliError::usage(format!(
            "--server `{shown}` is not a plain server address; give http://HOST:PORT or \
             https://HOST[:PORT], e.g. http://127.0.0.1:8787"
        )));
    }
    Ok(parsed)
}

/// The token in `path`: its first line, trimmed.
fn read_token_file(path: &Path) -> Result<String, CliError> {
    let shown = clean(&path.display().to_string());
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TOKEN_FILE_BYTES).read_to_string(&mut text))
        .map_err(|e| CliError::new(format!("cannot read the token file {shown}: {e}")))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(CliError::new(format!(
            "the token file {shown} is empty; put the server's API token in it"
        )));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_server_urls() {
        assert!(parse_url("http://127.0.0.1:8787").is_ok());
        assert!(parse_url("http://host/prefix/").is_ok());
        assert!(parse_url("https://host").is_ok());
        for bad in [
            "",
            "host:8787",
            "ftp://host",
            "http://",
            "http://u:p@h",
            "http://h/?q",
        ] {
            assert!(parse_url(bad).is_err_and(|e| e.code == 2), "{bad}");
        }
    }

    #[test]
    fn plugin_names_are_found_in_messages() {
        assert_eq!(
            plugin_in("plugin `notes` needs API keys that are not set: A").as_deref(),
            Some("notes")
        );
        assert_eq!(plugin_in("no plugin here"), None);
    }

    #[test]
    fn api_errors_read_like_local_ones() {
        let failure = Failure::Api(ApiFailure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: WireError {
                code: "missing_api_keys".into(),
                message: "plugin `notes` needs API keys that are not set: A_KEY".into(),
                diagnostics: None,
                missing: Some(vec!["A_KEY".into()]),
            },
        });
        let err = CliError::from(failure);
        assert!(
            err.message.contains("plugin `notes` needs an API key"),
            "{}",
            err.message
        );
        assert!(err.details[0].contains("nanofleet keys set A_KEY"));

        let failure = Failure::Api(ApiFailure {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: WireError {
                code: "invalid_manifest".into(),
                message: "the manifest is not valid: …".into(),
                diagnostics: Some(vec![
                    Diagnostic::error("name", "bad"),
                    Diagnostic::warning("x", "meh"),
                ]),
                missing: None,
            },
        });
        let err = CliError::from(failure);
        assert_eq!(err.details.len(), 2);
        assert_eq!(err.code, 1);
    }
}
