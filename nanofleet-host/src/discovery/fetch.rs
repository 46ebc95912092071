//! Manifests over HTTP.

use std::error::Error as _;

use super::{Candidate, FETCH_TIMEOUT, MAX_MANIFEST_BYTES, parse_text, problem};

/// How many redirects are followed.
const MAX_REDIRECTS: usize = 5;

/// The one client of a discovery run, or why it could not be built.
pub(super) type Client = Result<reqwest::Client, String>;

/// Whether this build fetches `https://` URLs (the `tls` feature: rustls, with the
/// webpki roots compiled in).
const HTTPS: bool = cfg!(feature = "tls");

/// Whether a URL of `scheme` can be fetched by this build.
fn fetchable(scheme: &str) -> bool {
    scheme == "http" || HTTPS && scheme == "https"
}

/// A client with the discovery limits: [`FETCH_TIMEOUT`] for the whole exchange, redirects
/// only to what this build can fetch.
pub(super) fn client() -> Client {
    nanofleet_sdk::ensure_crypto_provider();
    nanofleet_sdk::http::client_builder()
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("nanofleet-host/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if !fetchable(attempt.url().scheme()) {
                let message = format!(
                    "redirected to {}, which is not a URL this build can fetch",
                    attempt.url()
                );
                attempt.error(message)
            } else if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| error_chain(&e))
}

/// Fetches and parses the manifest at `url`; every failure is a diagnostic on its candidate.
pub(super) async fn fetch(client: &Client, url: &str) -> Candidate {
    let fail = |message: String, hint: &str| problem(url.to_owned(), message, hint);
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        scheme if fetchable(scheme) => {}
        "https" => {
            return fail(
                "https:// URLs cannot be fetched: this build of nanofleet-host has no TLS \
                 support"
                    .into(),
                "download the manifest and pass the file, or serve it over http:// on a \
                 trusted network",
            );
        }
        other => {
            return fail(
                format!(
                    "unsupported URL scheme `{other}`: only {} URLs can be fetched",
                    if HTTPS {
                        "http:// and https://"
                    } else {
                        "http://"
                    }
                ),
                "pass a local file as a plain path, or an image as image:<reference>",
            );
        }
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(err) => return fail(format!("invalid URL: {err}"), "check the URL"),
    };
    let client = match client {
        Ok(client) => client,
        Err(err) => return fail(format!("cannot create an HTTP client: {err}"), ""),
    };

    let mut response = match client.get(parsed).send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => {
            return fail(
                format!("no answer within {} s", FETCH_TIMEOUT.as_secs()),
                "check that the server is up and reachable from here",
            );
        }
        Err(err) => {
            return fail(
                format!("request failed: {}", error_chain(&err)),
                "check that the server is up and reachable from here",
            );
        }
    };
    let status = response.status();
    if !status.is_success() {
        let hint = if status == reqwest::StatusCode::NOT_FOUND {
            "check the URL's path"
        } else {
            "check the URL and the server's logs"
        };
        return fail(format!("the server answered {status}"), hint);
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_MANIFEST_BYTES)
    {
        return fail(too_large(), "is this URL really a manifest?");
    }
    // Read in chunks and stop at the limit: a server may send no length, or lie about it.
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > MAX_MANIFEST_BYTES {
                    return fail(too_large(), "is this URL really a manifest?");
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) if err.is_timeout() => {
                return fail(
                    format!(
                        "the body did not arrive within {} s",
                        FETCH_TIMEOUT.as_secs()
                    ),
                    "check the server",
                );
            }
            Err(err) => {
                return fail(
                    format!("reading the body failed: {}", error_chain(&err)),
                    "check the server",
                );
            }
        }
    }
    parse_text(url.to_owned(), body)
}

fn too_large() -> String {
    format!("the body is larger than the {MAX_MANIFEST_BYTES}-byte limit")
}

/// An error and its causes, `outer: inner: innermost`: reqwest's own message alone ("error
/// sending request") does not say what went wrong.
fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
