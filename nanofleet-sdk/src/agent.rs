//! Which agent is calling: [`AgentId`], taken from every request, never from a session.
//!
//! NanoFleet links an agent to a plugin by giving it the URL
//! `http://nanofleet-plugin-<name>:<port>/mcp?agent_id=<id>`. The SDK reads `agent_id` from the
//! query string of *each* HTTP request (a session may carry requests for several agents, so
//! identity bound to a session would leak one agent's data to another). When the host asks for
//! it, the URL also carries `agent_sig`, and a request whose signature is missing or forged is
//! refused before it reaches any tool (see [`crate::identity`]).
//!
//! There is no default agent: a tool that needs an agent and gets none fails with
//! [`AgentIdError`], never falls back to a shared bucket.

use std::{fmt, sync::Arc};

use serde::Serialize;

/// The longest agent id accepted, in bytes (the host's limit too:
/// [`nanofleet_contracts::agent_id`]).
pub const MAX_AGENT_ID_LEN: usize = nanofleet_contracts::agent_id::MAX_LEN;

/// The id of the agent a request is made for. Valid by construction, by the rule the host
/// applies too ([`nanofleet_contracts::agent_id`]): non-empty, at most [`MAX_AGENT_ID_LEN`]
/// bytes, no control or invisible characters, no surrounding white space.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentId(Arc<str>);

impl AgentId {
    /// Checks `id` and wraps it.
    pub fn new(id: impl AsRef<str>) -> Result<Self, AgentIdError> {
        use nanofleet_contracts::agent_id::{Invalid, check};
        let id = id.as_ref();
        check(id).map_err(|invalid| match invalid {
            Invalid::Empty => AgentIdError::Empty,
            Invalid::TooLong { len } => AgentIdError::TooLong { len },
            Invalid::ControlCharacter => AgentIdError::ControlCharacter,
            Invalid::SurroundingWhitespace => AgentIdError::SurroundingWhitespace,
            Invalid::Invisible { ch } => AgentIdError::Invisible { ch },
            // `Invalid` may grow; what it says is the message.
            other => AgentIdError::Invalid(other.to_string()),
        })?;
        Ok(Self(Arc::from(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AgentId").field(&&*self.0).finish()
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AgentId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for AgentId {
    type Err = AgentIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Why a request has no usable agent id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentIdError {
    /// The URL has no `agent_id` parameter.
    #[error(
        "this tool needs to know which agent is calling, and the request names none: the plugin \
         URL must end in `?agent_id=<id>` (the NanoFleet host adds it when it links an agent)"
    )]
    Missing,
    /// `agent_id=` is present but empty.
    #[error("the `agent_id` parameter is empty: link the agent again so its URL names it")]
    Empty,
    /// The id is longer than [`MAX_AGENT_ID_LEN`].
    #[error(
        "the `agent_id` parameter is {len} bytes long; at most {MAX_AGENT_ID_LEN} are accepted"
    )]
    TooLong {
        /// The length that was given.
        len: usize,
    },
    /// The id contains a control character.
    #[error("the `agent_id` parameter contains a control character")]
    ControlCharacter,
    /// The id starts or ends with white space.
    #[error("the `agent_id` parameter starts or ends with white space")]
    SurroundingWhitespace,
    /// The id contains a character that shows as nothing (a zero-width space, a bidi
    /// override, ...).
    #[error(
        "the `agent_id` parameter contains the invisible character U+{:04X}",
        u32::from(*ch)
    )]
    Invisible {
        /// The character.
        ch: char,
    },
    /// The id breaks another part of the agent-id rule.
    #[error("the `agent_id` parameter is not an agent id: {0}")]
    Invalid(String),
    /// `agent_id` appears more than once in the query string.
    #[error("the `agent_id` parameter appears more than once; a request is made for one agent")]
    Ambiguous,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_readable_ids() {
        for id in [
            "3f1c2d4e-0000-4000-8000-000000000001",
            "alice",
            "agent:7",
            "zoë",
        ] {
            assert_eq!(AgentId::new(id).map(|a| a.to_string()), Ok(id.to_owned()));
        }
    }

    #[test]
    fn rejects_empty_long_control_and_padded_ids() {
        assert_eq!(AgentId::new(""), Err(AgentIdError::Empty));
        assert_eq!(
            AgentId::new("a".repeat(MAX_AGENT_ID_LEN + 1)),
            Err(AgentIdError::TooLong {
                len: MAX_AGENT_ID_LEN + 1
            })
        );
        assert!(AgentId::new("a".repeat(MAX_AGENT_ID_LEN)).is_ok());
        assert_eq!(AgentId::new("al\nice"), Err(AgentIdError::ControlCharacter));
        assert_eq!(
            AgentId::new("al\u{0}ice"),
            Err(AgentIdError::ControlCharacter)
        );
        assert_eq!(
            AgentId::new(" alice"),
            Err(AgentIdError::SurroundingWhitespace)
        );
    }

    #[test]
    fn missing_agent_message_says_how_to_fix_it() {
        assert!(AgentIdError::Missing.to_string().contains("?agent_id=<id>"));
    }
}
