//! The command's error: one sentence for the user, optional detail lines, and an exit code.

use std::fmt;
use std::io;

use nanofleet_host::{HostError, runtime::RuntimeError, store::StoreError};

/// Exit status of a failed command.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a command used wrongly (bad arguments).
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed, printed by `main` as `error: <message>` then the details.
#[derive(Debug)]
pub struct CliError {
    /// One sentence saying what went wrong and, where possible, what to do.
    pub message: String,
    /// Lines printed after the message, e.g. every diagnostic of a manifest.
    pub details: Vec<String>,
    /// The exit status.
    pub code: u8,
    /// Print nothing: stdout was closed by its reader (e.g. `nanofleet ls | head -1`).
    pub quiet: bool,
}

impl CliError {
    /// A failure (exit status 1).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details: Vec::new(),
            code: EXIT_FAILURE,
            quiet: false,
        }
    }

    /// A usage error (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            ..Self::new(message)
        }
    }

    /// Adds lines printed after the message.
    #[must_use]
    pub fn with_details(mut self, details: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(details);
        self
    }

    /// Changes the exit status.
    #[must_use]
    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }

    /// Writing the command's output to stdout failed.
    pub fn output(err: &io::Error) -> Self {
        Self {
            quiet: err.kind() == io::ErrorKind::BrokenPipe,
            ..Self::new(format!("cannot write the output: {err}"))
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<HostError> for CliError {
    fn from(err: HostError) -> Self {
        match err {
            HostError::MissingApiKeys { plugin, missing } => {
                let details = missing
                    .iter()
                    .map(|name| {
                        format!("  nanofleet keys set {name}   (the value is read from stdin)")
                    })
                    .collect::<Vec<_>>();
                Self::new(format!(
                    "plugin `{plugin}` needs {} that {} not set: {}; set {} first:",
                    if missing.len() == 1 {
                        "an API key"
                    } else {
                        "API keys"
                    },
                    if missing.len() == 1 { "is" } else { "are" },
                    missing.join(", "),
                    if missing.len() == 1 { "it" } else { "them" },
                ))
                .with_details(details)
            }
            HostError::InvalidManifest(diagnostics) => {
                Self::new("the manifest is not valid; nothing was changed:")
                    .with_details(diagnostics.iter().map(|d| format!("  {d}")))
            }
            other => Self::new(other.to_string()),
        }
    }
}

impl From<nanofleet_build::BuildError> for CliError {
    fn from(err: nanofleet_build::BuildError) -> Self {
        Self::new(err.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        Self::new(err.to_string())
    }
}

impl From<RuntimeError> for CliError {
    fn from(err: RuntimeError) -> Self {
        Self::new(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_name_each_key_and_the_command() {
        let err = CliError::from(HostError::MissingApiKeys {
            plugin: "notes".into(),
            missing: vec!["A_KEY".into(), "B_KEY".into()],
        });
        assert!(err.message.contains("A_KEY, B_KEY"), "{}", err.message);
        assert_eq!(err.details.len(), 2);
        assert!(err.details[1].contains("nanofleet keys set B_KEY"));
        assert_eq!(err.code, EXIT_FAILURE);
    }

    #[test]
    fn a_closed_stdout_is_quiet() {
        let err = CliError::output(&io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(err.quiet);
        assert!(!CliError::output(&io::Error::other("disk full")).quiet);
    }
}
