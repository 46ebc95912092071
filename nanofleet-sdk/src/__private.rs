//! What `nanofleet-macros` expands to. Not a public API: names here may change in any release.

#[cfg(feature = "store")]
pub use crate::AgentStore;
#[cfg(feature = "host-api")]
pub use crate::NanoApi;
pub use crate::cli::run;
pub use crate::param::{
    ArgumentParam, InjectedParam, MaybeSerialize, NotSerialize, Param, Spec, expecting,
    object_schema,
};
pub use crate::requirements::Requirements;
pub use crate::{
    AgentId, Context, Error, Plugin,
    manifest::{Manifest, Sidebar},
    plugin::PluginBuilder,
    prompt::Prompt,
    resource::{Resource, ResourceTemplate},
    tool::{FromToolCall, IntoToolResult, Json, NoArgs, State, Tool, ToolCall, ToolError},
};
pub use rmcp;
pub use schemars;
pub use serde;
pub use serde_json;
pub use std::borrow::Cow;
pub use tokio;
