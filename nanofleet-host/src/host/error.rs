//! The host's errors: one sentence each, saying what to do.

use std::time::Duration;

use nanofleet_sdk::manifest::{Diagnostics, config::ConfigProblems};

use crate::{linking::LinkError, policy::GrantError, runtime::RuntimeError, store::StoreError};

/// Why a host operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The manifest has errors; every one is listed.
    #[error("the manifest is not valid:\n{0}")]
    InvalidManifest(Diagnostics),
    /// A plugin of that name is installed already.
    #[error("plugin `{0}` is already installed: use upgrade to change its version")]
    AlreadyInstalled(String),
    /// No plugin of that name is installed.
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    /// An upgrade was asked for a different plugin name.
    #[error("cannot upgrade `{installed}` with a manifest for `{given}`")]
    NameMismatch {
        /// The installed plugin.
        installed: String,
        /// The manifest's name.
        given: String,
    },
    /// The host's configuration cannot work, e.g. a `NANO_API_URL` plugins could not use.
    #[error("the host's configuration is not valid: {0}")]
    InvalidConfig(String),
    /// The plugin needs API keys the host does not have.
    #[error(
        "plugin `{plugin}` needs API keys that are not set: {}; set them first (nanofleet keys set NAME)",
        missing.join(", ")
    )]
    MissingApiKeys {
        /// The plugin.
        plugin: String,
        /// The keys to set.
        missing: Vec<String>,
    },
    /// The plugin's configuration values are missing or do not fit its settings.
    #[error(
        "plugin `{plugin}` cannot run with this configuration: {problems}; set values with \
         `nanofleet config set {plugin} KEY=VALUE` (`--config KEY=VALUE` when installing)"
    )]
    Config {
        /// The plugin.
        plugin: String,
        /// Every problem: missing required settings, values that do not fit, unknown keys.
        problems: ConfigProblems,
    },
    /// The plugin did not answer `tools/list` in time.
    #[error(
        "plugin `{plugin}` was not ready after {waited:?}: {last_error}{}",
        if logs.is_empty() { String::new() } else { format!("\nits last log lines:\n  {}", logs.join("\n  ")) }
    )]
    NotReady {
        /// The plugin.
        plugin: String,
        /// How long the host waited.
        waited: Duration,
        /// The last probe error.
        last_error: String,
        /// The container's last log lines.
        logs: Vec<String>,
    },
    /// The plugin's container is not running (so it has no address).
    #[error("plugin `{0}` is not running")]
    NotRunning(String),
    /// The agent is not registered.
    #[error("agent `{0}` is not registered")]
    UnknownAgent(String),
    /// A tool call through the host failed.
    #[error("{0}")]
    Call(String),
    /// The container engine failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An agent's `.mcp.json` could not be written.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The plugin's permissions were refused: too old a host, invalid overrides, more than
    /// declared without `--allow-more`, or past the operator's policy.
    #[error(transparent)]
    Grant(#[from] GrantError),
}

impl HostError {
    /// The stable, snake_case identifier of the error, as the API answers it (`code` of its
    /// error body) and as the command line matches on it, in either mode.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidManifest(_) => "invalid_manifest",
            Self::InvalidConfig(_) => "invalid_host_config",
            Self::AlreadyInstalled(_) => "already_installed",
            Self::NotInstalled(_) => "plugin_not_found",
            Self::NameMismatch { .. } => "name_mismatch",
            Self::MissingApiKeys { .. } => "missing_api_keys",
            Self::Config { problems, .. } => {
                if problems.invalid.is_empty() && problems.unknown.is_empty() {
                    "missing_config"
                } else {
                    "invalid_config"
                }
            }
            Self::NotReady { .. } => "plugin_not_ready",
            Self::NotRunning(_) => "plugin_not_running",
            Self::UnknownAgent(_) => "agent_not_found",
            Self::Call(_) => "call_failed",
            Self::Runtime(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Link(_) => "link_failed",
            Self::Grant(e) => match e {
                GrantError::HostTooOld { .. } => "host_too_old",
                GrantError::InvalidOverrides { .. } => "invalid_overrides",
                GrantError::Widening { .. } => "permissions_widened",
                GrantError::Policy { .. } => "refused_by_policy",
            },
        }
    }
}
