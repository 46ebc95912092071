//! The one error type of the harness: every message says what went wrong and what to do.

use std::time::Duration;

use nanofleet_contracts::labels;

/// Why the harness could not start, reach or use a plugin.
///
/// Each message is a sentence meant for a failing test's output: it names the plugin, image or
/// tool involved and says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Docker engine did not answer.
    #[error(
        "cannot reach the Docker engine at {endpoint} ({message}): is the Docker engine running? \
         Start it, or set DOCKER_HOST to its address (e.g. unix:///var/run/docker.sock)"
    )]
    DockerUnreachable {
        /// Where the engine was looked for: `DOCKER_HOST`, or the default socket.
        endpoint: String,
        /// What the client reported.
        message: String,
    },

    /// The image is not on this machine. The harness never pulls.
    #[error(
        "image {image} is not on this machine: build it first with `nanofleet build` (the test \
         harness never pulls images)"
    )]
    ImageMissing {
        /// The image reference the test asked for.
        image: String,
    },

    /// The image carries no `manifest.json` label, so it was not built as a NanoFleet plugin.
    #[error(
        "image {image} has no {label} label, so it is not a NanoFleet plugin image: build it with \
         `nanofleet build`, which stores the plugin's manifest.json in that label",
        label = labels::IMAGE_MANIFEST
    )]
    NoManifest {
        /// The image reference the test asked for.
        image: String,
    },

    /// The manifest in the image's label does not follow the manifest rules.
    #[error(
        "the manifest in the {label} label of image {image} is invalid: {problems}; fix the \
         plugin's manifest and rebuild the image with `nanofleet build`",
        label = labels::IMAGE_MANIFEST
    )]
    InvalidManifest {
        /// The image reference the test asked for.
        image: String,
        /// Every problem found, joined.
        problems: String,
    },

    /// The manifest lists `requiredEnvVars` the test did not give. Nothing was created.
    #[error(
        "plugin {plugin} requires the environment variable(s) {list} (requiredEnvVars in its \
         manifest), which the test did not give: add .env(\"{first}\", \"…\") to the builder \
         before start(); nothing was started",
        list = .missing.join(", "),
        first = .missing.first().map_or("", String::as_str)
    )]
    MissingEnv {
        /// The plugin's name.
        plugin: String,
        /// The missing variables, in manifest order.
        missing: Vec<String>,
    },

    /// A builder option or argument is unusable. Nothing was created.
    #[error("invalid test setup: {0}")]
    InvalidOption(String),

    /// The engine refused or failed an operation.
    #[error("the Docker engine failed to {operation}: {message}")]
    Docker {
        /// What the harness asked for, e.g. `create volume nanofleet-test-notes-…-data`.
        operation: String,
        /// What the engine said.
        message: String,
    },

    /// The plugin did not answer `tools/list` in time. Its container was removed.
    #[error(
        "plugin {plugin} did not answer tools/list within {timeout:?} (last attempt: \
         {last_error}); if it is only slow to start, raise .startup_timeout(…). Its last log \
         lines:\n{logs}"
    )]
    NotReady {
        /// The plugin's name.
        plugin: String,
        /// The startup timeout that ran out.
        timeout: Duration,
        /// Why the last probe failed.
        last_error: String,
        /// The container's last log lines.
        logs: String,
    },

    /// The plugin's process ended before it answered `tools/list`. Its container was removed.
    #[error(
        "the container of plugin {plugin} stopped ({status}) before it answered tools/list; its \
         last log lines:\n{logs}",
        status = match .exit_code {
            Some(code) => format!("exit code {code}"),
            None => "exit code unknown".to_owned(),
        }
    )]
    Exited {
        /// The plugin's name.
        plugin: String,
        /// The process's exit code, when the engine reported one.
        exit_code: Option<i64>,
        /// The container's last log lines.
        logs: String,
    },

    /// The MCP session could not be opened (`initialize` failed or was refused).
    #[error("cannot connect to plugin {plugin} as {who}: {message}")]
    Connect {
        /// The plugin's name.
        plugin: String,
        /// Who connected, e.g. `agent alice (signed)`.
        who: String,
        /// What the MCP client reported; a refusal reads `HTTP 403 Forbidden: {…}`.
        message: String,
    },

    /// An MCP request failed: a JSON-RPC error, or a transport failure.
    #[error("{method} on plugin {plugin} failed: {message}")]
    Request {
        /// The plugin's name.
        plugin: String,
        /// The MCP method and its subject, e.g. `tools/call add_note`.
        method: String,
        /// What the MCP client reported.
        message: String,
    },

    /// An operation took longer than allowed.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// The operation.
        what: String,
        /// The limit that ran out.
        after: Duration,
    },

    /// The tool ran and reported an error (`isError: true`).
    #[error("tool `{tool}` reported an error: {message}")]
    ToolFailed {
        /// The tool's name.
        tool: String,
        /// The text of the result.
        message: String,
    },

    /// The tool's result has no `structuredContent`.
    #[error(
        "tool `{tool}` returned no structuredContent (its text: {text:?}); use call_text for tools \
         without an output schema"
    )]
    NoStructuredContent {
        /// The tool's name.
        tool: String,
        /// The text of the result.
        text: String,
    },

    /// The `structuredContent` does not deserialize into the type asked for.
    #[error("the structuredContent of tool `{tool}` does not fit the requested type: {message}")]
    Decode {
        /// The tool's name.
        tool: String,
        /// What serde reported, with the path to the offending field.
        message: String,
    },
}

impl Error {
    /// Whether the plugin refused the request with `403 Forbidden`: a missing, forged or
    /// mismatched agent signature, or a request from a browser.
    pub fn is_refused(&self) -> bool {
        match self {
            Self::Connect { message, .. } | Self::Request { message, .. } => {
                message.contains("HTTP 403")
            }
            _ => false,
        }
    }

    /// An engine failure, with the error's causes.
    pub(crate) fn docker(
        operation: impl Into<String>,
        err: &(dyn std::error::Error + 'static),
    ) -> Self {
        Self::Docker {
            operation: operation.into(),
            message: describe(err),
        }
    }

    /// An engine failure the harness itself noticed.
    pub(crate) fn docker_says(operation: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Docker {
            operation: operation.into(),
            message: message.into(),
        }
    }
}

/// An error and its causes on one line, each cause once.
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_env_names_every_variable_and_the_fix() {
        let err = Error::MissingEnv {
            plugin: "weather".into(),
            missing: vec!["WEATHER_API_KEY".into(), "WEATHER_REGION".into()],
        };
        let text = err.to_string();
        assert!(text.contains("WEATHER_API_KEY, WEATHER_REGION"), "{text}");
        assert!(text.contains(".env(\"WEATHER_API_KEY\""), "{text}");
        assert!(text.contains("nothing was started"), "{text}");
    }

    #[test]
    fn refusals_are_recognised_by_their_status() {
        let refused = Error::Connect {
            plugin: "notes".into(),
            who: "agent alice (unsigned)".into(),
            message: "HTTP 403 Forbidden: {\"error\":\"agent_signature_required\"}".into(),
        };
        assert!(refused.is_refused());
        let other = Error::Connect {
            plugin: "notes".into(),
            who: "agent alice (signed)".into(),
            message: "connection refused".into(),
        };
        assert!(!other.is_refused());
        assert!(!Error::InvalidOption("x".into()).is_refused());
    }

    #[test]
    fn engine_messages_say_what_to_do() {
        let text = Error::DockerUnreachable {
            endpoint: "unix:///var/run/docker.sock".into(),
            message: "no such file".into(),
        }
        .to_string();
        assert!(text.contains("is the Docker engine running?"), "{text}");
        assert!(text.contains("DOCKER_HOST"), "{text}");
        let text = Error::ImageMissing {
            image: "acme/notes:0.1.0".into(),
        }
        .to_string();
        assert!(text.contains("nanofleet build"), "{text}");
        let text = Error::Exited {
            plugin: "notes".into(),
            exit_code: Some(101),
            logs: "boom".into(),
        }
        .to_string();
        assert!(
            text.contains("exit code 101") && text.ends_with("boom"),
            "{text}"
        );
    }
}
