//! Why a build failed: one sentence each, saying what to do.

use nanofleet_host::runtime::RuntimeError;

/// Why building or inspecting a plugin image failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The build was asked for something that cannot work: a bad tag, binary path or user.
    #[error("{0}")]
    Invalid(String),
    /// Cargo could not find or build the crate (its own diagnostics were shown or are quoted).
    #[error("{0}")]
    Cargo(String),
    /// The binary is not a plugin that can run `FROM scratch`: not static, or its manifest or
    /// tool list is missing or invalid.
    #[error("{0}")]
    Plugin(String),
    /// The image has no NanoFleet labels, or labels that do not parse.
    #[error("{0}")]
    NotAPluginImage(String),
    /// The container engine failed or could not be reached.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}
