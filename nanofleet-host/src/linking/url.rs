//! The URL an agent uses to reach a plugin.

use std::fmt::Write as _;

use nanofleet_contracts::names::AGENT_LINK_PARAM;
use nanofleet_sdk::identity::{AGENT_ID_PARAM, AGENT_SIGNATURE_PARAM};

/// How an agent's URL vouches for it: the host's signature of the agent id, and the id of
/// the link it was written for (which the plugin checks is still the agent's current one).
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// From [`sign_agent`](nanofleet_sdk::identity::sign_agent).
    pub signature: &'a str,
    /// From [`Store::link_id`](crate::store::Store::link_id); `None` for an agent that is not
    /// linked (the plugin will refuse it, saying so).
    pub link: Option<&'a str>,
}

/// The URL at which the agent `agent_id` reaches a plugin whose MCP endpoint is `base_url`:
/// `<base_url>?agent_id=<id>[&agent_sig=<signature>&agent_link=<link>]`.
///
/// `base_url` is [`names::plugin_base_url`](crate::names::plugin_base_url) (or a loopback
/// URL in development); when it already has a query string the parameters are appended with
/// `&`. The values are percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), so an id
/// holding `&`, `=`, `#`, spaces or any Unicode reaches the plugin intact through any query
/// decoder.
///
/// ```
/// use nanofleet_host::linking::{Credentials, agent_url};
///
/// let credentials = Credentials { signature: "v1.abc", link: Some("0f3a") };
/// assert_eq!(
///     agent_url("http://nanofleet-plugin-notes:8080/mcp", "ada & bob", Some(credentials)),
///     "http://nanofleet-plugin-notes:8080/mcp?agent_id=ada%20%26%20bob&agent_sig=v1.abc\
///      &agent_link=0f3a",
/// );
/// ```
pub fn agent_url(base_url: &str, agent_id: &str, credentials: Option<Credentials<'_>>) -> String {
    let mut url = String::with_capacity(base_url.len() + agent_id.len() * 3 + 64);
    url.push_str(base_url);
    url.push(if base_url.contains('?') { '&' } else { '?' });
    url.push_str(AGENT_ID_PARAM);
    url.push('=');
    encode_into(&mut url, agent_id);
    if let Some(Credentials { signature, link }) = credentials {
        let link = link.map(|link| (AGENT_LINK_PARAM, link));
        for (param, value) in std::iter::once((AGENT_SIGNATURE_PARAM, signature)).chain(link) {
            url.push('&');
            url.push_str(param);
            url.push('=');
            encode_into(&mut url, value);
        }
    }
    url
}

/// Appends `value` percent-encoded: every byte outside RFC 3986's unreserved set as `%XX`.
///
/// Spaces become `%20`, not `+`: both form decoders and plain percent-decoders read `%20` as
/// a space, while a `+` means a space only to the former.
fn encode_into(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
}
