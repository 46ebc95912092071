//! The environment a plugin container runs with: the variables the host injects, the SDK's
//! own knobs, and the one rule for `NANO_API_URL`.
//!
//! Both sides use these names: the host when it writes a container's environment, the SDK when
//! it reads it, `--help` when it lists it.

use std::fmt;

/// Base URL of the NanoFleet API, such as `http://nanofleet-api:3000`. Set by the host.
pub const NANO_API_URL: &str = "NANO_API_URL";
/// The plugin install's secret (at least 256 random bits, fresh per install). Set by the host.
pub const NANO_INTERNAL_TOKEN: &str = "NANO_INTERNAL_TOKEN";
/// The plugin's name, as in its manifest. Set by the host.
pub const NANO_PLUGIN_ID: &str = "NANO_PLUGIN_ID";

/// The environment variables the host injects into every plugin container.
pub const INJECTED: [&str; 3] = [NANO_API_URL, NANO_INTERNAL_TOKEN, NANO_PLUGIN_ID];

/// The prefix of the environment variables the host reserves for itself: a manifest's
/// `requiredEnvVars` may not use it.
pub const RESERVED_PREFIX: &str = "NANO_";

/// Whether MCP requests must carry a valid `agent_sig` (`1`/`true`/`yes` or `0`/`false`/`no`).
/// Our host sets it.
pub const NANOFLEET_REQUIRE_AGENT_SIGNATURE: &str = "NANOFLEET_REQUIRE_AGENT_SIGNATURE";
/// Directory for the plugin's persistent data (default `/data`).
pub const NANOFLEET_DATA_DIR: &str = "NANOFLEET_DATA_DIR";
/// Socket address the MCP server binds instead of `0.0.0.0:<mcpPort>`.
pub const NANOFLEET_MCP_ADDR: &str = "NANOFLEET_MCP_ADDR";
/// Socket address the UI server binds instead of `0.0.0.0:<uiPort>`.
pub const NANOFLEET_UI_ADDR: &str = "NANOFLEET_UI_ADDR";
/// Comma-separated extra `Host` names the MCP endpoint accepts, or `*` for any.
pub const NANOFLEET_ALLOWED_HOSTS: &str = "NANOFLEET_ALLOWED_HOSTS";
/// Whether the UI accepts NanoFleet's own `nf_token`, which the plugin cannot verify (boolean).
pub const NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN: &str = "NANOFLEET_UI_ACCEPT_UNVERIFIED_TOKEN";

/// The `NANO_API_URL` the NanoFleet host uses when it is not told otherwise.
pub const DEFAULT_API_URL: &str = "http://nanofleet-api:3000";

/// Why a value is not a usable `NANO_API_URL`. The message never quotes a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrlError(String);

impl fmt::Display for ApiUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApiUrlError {}

/// The one rule for `NANO_API_URL`, applied by the host before it starts a plugin and by the
/// SDK when it reads its environment: an `http://` or `https://` URL with a host, an optional
/// numeric port and an optional path, and nothing else (no user name or password: the internal
/// token travels as a bearer token; no query or fragment: paths are appended to it). Returns the
/// URL trimmed, without a trailing `/`.
///
/// ```
/// use nanofleet_contracts::env::parse_api_url;
///
/// assert_eq!(parse_api_url(" http://nanofleet-api:3000/ ").unwrap(), "http://nanofleet-api:3000");
/// assert!(parse_api_url("nanofleet-api:3000").is_err());
/// assert!(!parse_api_url("http://u:secret@h").unwrap_err().to_string().contains("secret"));
/// ```
///
/// # Errors
///
/// One sentence saying what is wrong and what is expected.
pub fn parse_api_url(value: &str) -> Result<String, ApiUrlError> {
    const EXPECTED: &str = "expected an http:// or https:// URL such as http://nanofleet-api:3000";
    let fail = |why: String| Err(ApiUrlError(format!("{why}: {EXPECTED}")));
    let trimmed = value.trim();
    if let Some(c) = trimmed
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return fail(format!(
            "contains {} ({})",
            crate::manifest::rules::describe_char(c),
            quote(value)
        ));
    }
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return fail(format!("is not a URL ({})", quote(value)));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return fail(format!(
            "has the unsupported scheme `{}` ({})",
            scheme.escape_debug(),
            quote(value)
        ));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        // Not quoted: the value holds a credential.
        return fail(
            "contains a user name or password; the internal token is sent as a bearer token, \
             not in the URL"
                .to_owned(),
        );
    }
    if tail.contains(['?', '#']) {
        return fail(format!("has a query or fragment ({})", quote(value)));
    }
    let (host, port) = split_host_port(authority);
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            })
    };
    if !host_ok {
        return fail(format!("has no valid host ({})", quote(value)));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return fail(format!(
            "has an invalid port `{}` ({})",
            port.escape_debug(),
            quote(value)
        ));
    }
    Ok(trimmed.trim_end_matches('/').to_owned())
}

/// `host[:port]`, with `[v6]` addresses kept whole.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let (host, rest) = authority.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    }
}

/// A value for a message: quoted, shortened, invisible characters escaped.
fn quote(value: &str) -> String {
    const MAX: usize = 80;
    let shown: String = value.chars().take(MAX).collect();
    let more = if value.chars().count() > MAX {
        "…"
    } else {
        ""
    };
    format!("{shown:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls() {
        for (ok, expected) in [
            ("http://nanofleet-api:3000", "http://nanofleet-api:3000"),
            ("https://h/", "https://h"),
            ("HTTP://h:1/api/", "HTTP://h:1/api"),
            ("http://172.18.0.1:8787", "http://172.18.0.1:8787"),
            ("http://[::1]:8787", "http://[::1]:8787"),
            ("  http://h  ", "http://h"),
        ] {
            assert_eq!(parse_api_url(ok).as_deref(), Ok(expected), "{ok}");
        }
        for bad in [
            "",
            "nanofleet-api:3000",
            "ftp://h",
            "http://",
            "http://:80",
            "http://h:0",
            "http://h:99999",
            "http://h:x",
            "http://h?x=1",
            "http://h/#f",
            "http://h a",
            "http://h\nx",
            "http://a..b",
            "http://[zz]",
        ] {
            assert!(parse_api_url(bad).is_err(), "{bad:?}");
        }
        let err = parse_api_url("https://user:hunter2@h")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("password") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn injected_names_are_reserved() {
        assert!(
            INJECTED
                .iter()
                .all(|name| name.starts_with(RESERVED_PREFIX))
        );
    }
}
