//! # nanofleet-host
//!
//! What an application embeds to run NanoFleet plugins, and what the `nanofleet` command runs:
//!
//! - [`discovery`]: find manifests (files, directory trees, URLs, image labels) and report every
//!   problem with each;
//! - [`store`]: desired state in SQLite (plugins, agents, links, API keys and tokens encrypted
//!   at rest);
//! - [`runtime`]: the container engine behind a trait, with the Docker backend on bollard
//!   (hardened containers, images `FROM scratch`);
//! - [`host`]: install, uninstall, restart, upgrade and the reconciler, each converging actual
//!   state to desired state and leaving nothing half-done;
//! - [`linking`]: each agent's `.mcp.json`, written atomically;
//! - [`api`]: the axum router (plugin management, UI proxy, internal callbacks, OpenAPI).
//!
//! The host never re-implements a format the SDK defines: manifests, internal tokens, agent
//! signatures and UI tokens all come from [`nanofleet_sdk`].

pub mod api;
pub mod discovery;
pub mod egress;
pub mod faults;
pub mod host;
pub mod linking;
pub mod policy;
pub mod runtime;
pub mod store;

pub use host::{Host, HostConfig, HostError, HostEvent, INSTALL_STEP_SPAN, InstallOptions};
pub use nanofleet_contracts::{labels, manifest, names};
