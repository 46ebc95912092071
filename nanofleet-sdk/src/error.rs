//! The SDK's top-level error, for building and serving a plugin.

use std::fmt;

/// One problem found while building a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProblem(String);

impl BuildProblem {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }

    /// The problem, as a sentence.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BuildProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a plugin could not be built or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plugin's declaration is inconsistent; every problem is listed.
    #[error("the plugin is not valid:\n{}", list(.0))]
    InvalidPlugin(Vec<BuildProblem>),
    /// The environment is incomplete or malformed.
    #[error("{0}")]
    Env(#[from] crate::env::EnvError),
    /// A setting does not make sense.
    #[error("{0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
}

fn list(problems: &[BuildProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
