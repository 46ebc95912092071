//! # nanofleet-build
//!
//! Turns a NanoFleet plugin crate (a workspace member or a crate of its own) into a
//! `FROM scratch` image through the engine's API, and reads such an image back from its
//! labels. This is what `nanofleet build`, `nanofleet dev`, `nanofleet inspect` and this
//! repository's `cargo xtask image` run.
//!
//! ```no_run
//! use nanofleet_build::{CargoBuild, PluginBuild, build_plugin, inspect_image};
//! use nanofleet_host::runtime::DockerRuntime;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let docker = DockerRuntime::connect()?;
//! let image = build_plugin(&docker, &PluginBuild::new(CargoBuild::new("."))).await?;
//! println!("{} ({} bytes, {} tools)", image.tag, image.size_bytes, image.tools.len());
//! let info = inspect_image(&docker, &image.tag).await?;
//! assert_eq!(info.manifest, image.manifest);
//! # Ok(())
//! # }
//! ```
//!
//! What an image holds: the static binary at `/plugin` (its entrypoint), `/etc/passwd` and
//! `/etc/group` naming the non-root plugin user, `/data` owned by that user (so a fresh data
//! volume is too), `/tmp`; labels with the manifest, the tool list, the version and the
//! binary's SHA-256 (an unchanged binary is not built into a new image); the plugin's ports
//! exposed. No shell, no libc, nothing pulled.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cargo;
mod error;
pub mod image;
pub mod inspect;
pub mod layout;
pub mod plugin;

pub use cargo::{BuiltBinary, CargoBuild, CargoOutput, PluginCrate, Profile, build_static};
pub use error::BuildError;
pub use image::{ImageBuild, ImageId, build_image};
pub use inspect::{ImageInfo, inspect_image};
/// What an upgrade changes in a plugin's tools (defined by the host, which shows it before an
/// upgrade starts).
pub use nanofleet_host::host::ToolChanges;
pub use plugin::{BuildStage, PluginBuild, PluginImage, build_plugin, build_plugin_with};
/// A tool as `tools/list` describes it (rmcp's type).
pub use rmcp::model::Tool;
