//! [`ToolError`]: what a tool reports to the model as an `isError` result.

use std::fmt;

use crate::agent::AgentIdError;
#[cfg(feature = "store")]
use crate::store::StoreError;

/// An error a tool reports to its caller as an `isError: true` result.
///
/// Converts from the SDK's own errors and from `String`/`&str`; for any other error type use
/// [`ToolError::new`] or `map_err(ToolError::from_display)`.
#[derive(Debug)]
pub struct ToolError {
    pub(crate) kind: ErrorKind,
}

#[derive(Debug)]
pub(crate) enum ErrorKind {
    Message(String),
    Agent(AgentIdError),
}

impl ToolError {
    /// An error with `message`, shown to the caller.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Message(message.into()),
        }
    }

    /// An error from anything that displays.
    pub fn from_display(err: impl fmt::Display) -> Self {
        Self::new(err.to_string())
    }

    /// The agent problem behind this error, if it is one.
    pub fn agent_error(&self) -> Option<&AgentIdError> {
        match &self.kind {
            ErrorKind::Agent(e) => Some(e),
            ErrorKind::Message(_) => None,
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Message(m) => f.write_str(m),
            ErrorKind::Agent(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<AgentIdError> for ToolError {
    fn from(e: AgentIdError) -> Self {
        Self {
            kind: ErrorKind::Agent(e),
        }
    }
}

#[cfg(feature = "store")]
impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        Self::new(e.to_string())
    }
}

#[cfg(feature = "host-api")]
impl From<crate::api::NanoApiError> for ToolError {
    fn from(e: crate::api::NanoApiError) -> Self {
        Self::new(e.to_string())
    }
}

impl From<String> for ToolError {
    fn from(e: String) -> Self {
        Self::new(e)
    }
}

impl From<&str> for ToolError {
    fn from(e: &str) -> Self {
        Self::new(e)
    }
}

impl From<crate::env::EnvError> for ToolError {
    fn from(e: crate::env::EnvError) -> Self {
        Self::new(e.to_string())
    }
}
