//! # nanofleet-sdk
//!
//! Everything a [NanoFleet](https://github.com/nanofleet) plugin needs at run time: the
//! [`Manifest`] and its validation, an MCP server on rmcp's Streamable HTTP transport that the
//! NanoFleet host's install probe and ordinary MCP clients both accept ([`serve`]), per-request
//! agent identity ([`AgentId`]) with optional signatures, a per-agent store ([`AgentStore`]), the
//! internal-token guard for callback routes ([`auth`]), the [`NanoApi`] client and an in-process
//! test client ([`testing`]).
//!
//! The `#[plugin]` / `#[tool]` macros of `nanofleet-macros` are sugar over the programmatic API
//! in [`mod@plugin`] and [`mod@tool`], the way `serde_derive` is sugar over `serde`.
//!
//! ```no_run
//! use nanofleet_sdk::{Manifest, Plugin, tool::{Tool, ToolCall, ToolError}};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Greet {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! # async fn run() -> Result<(), nanofleet_sdk::Error> {
//! let manifest = Manifest::new("hello", "0.1.0", "hello:0.1.0", 8080);
//! let plugin = Plugin::builder(manifest)
//!     .tool(Tool::new("greet", "Greets someone.").input::<Greet>().handler(
//!         |args: Greet, _call: ToolCall| async move {
//!             Ok::<_, ToolError>(format!("Hello, {}!", args.name))
//!         },
//!     ))
//!     .build()?;
//! nanofleet_sdk::serve(plugin).await
//! # }
//! ```

//!
//! # Cargo features
//!
//! | Feature | Default | What it adds |
//! |---|---|---|
//! | `store` | on | [`AgentStore`] and [`SharedStore`] (SQLite, compiled in: the largest part) |
//! | `ui` | on | [`ui`]: a web UI served on the manifest's `uiPort` |
//! | `host-api` | on | [`NanoApi`], the client for the host's callback API (implies `http-client`) |
//! | `http-client` | on, through `host-api` | [`http`]: the SDK's HTTP client for a plugin's own calls |
//! | `testing` | on | [`testing`]: the in-process test client |
//! | `tls` | off | HTTPS for the HTTP client, with the root certificates compiled in, so a `FROM scratch` image can call `https://` APIs (see [`http`]) |
//!
//! A plugin that uses less turns the defaults off and names what it uses:
//! `nanofleet-sdk = { version = "0.1", default-features = false, features = ["store"] }`, with
//! `testing` in its dev-dependencies. The code `#[plugin]` generates needs none of them unless a
//! tool takes a type they provide (`AgentStore` needs `store`, `NanoApi` needs `host-api`, a
//! `ui = ...` needs `ui`).

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent;
#[cfg(feature = "host-api")]
#[cfg_attr(docsrs, doc(cfg(feature = "host-api")))]
pub mod api;
pub mod app;
pub mod ask;
pub mod auth;
mod caller;
pub mod cli;
pub mod completion;
pub mod config;
pub mod connections;
pub mod content;
pub mod env;
mod error;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub mod http;
pub mod identity;
mod links;
pub mod logging;
mod paging;
mod param;
/// The plugin manifest (`manifest.json`), from [`nanofleet_contracts`]: one definition shared
/// with the macros and the host.
pub use nanofleet_contracts::manifest;
pub mod plugin;
pub mod prompt;
pub mod requirements;
pub mod resource;
pub mod server;
pub mod stdio;
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub mod store;
pub mod subscription;
pub mod task;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub mod tool;
#[cfg(feature = "ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "ui")))]
pub mod ui;

#[doc(hidden)]
pub mod __private;

pub use agent::AgentId;
#[cfg(feature = "host-api")]
#[cfg_attr(docsrs, doc(cfg(feature = "host-api")))]
pub use api::NanoApi;
pub use config::{Config, Secret};
pub use error::Error;
pub use manifest::Manifest;
/// `#[plugin(...)]` on an impl block, with `#[tool]`, `#[resource(...)]` and `#[prompt]` on its
/// methods: see [`macro@plugin`].
/// `#[data]` on a struct or enum derives serde's and schemars' traits through this crate: see
/// [`macro@data`].
pub use nanofleet_macros::{data, plugin, prompt, resource, tool};
pub use plugin::Plugin;
pub use server::serve;
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use store::{AgentStore, SharedStore};
pub use tool::{Context, LogLevel, Tool, ToolCall, ToolError};

/// Makes sure HTTP clients can be built in this process.
///
/// With the `tls` feature, reqwest is compiled with its rustls backend and no built-in crypto
/// provider (rustls on ring keeps static builds simple), and reqwest then panics when a client
/// is built before a process-wide provider is installed. Cargo unifies features: a binary that
/// links this SDK with `tls` (an application that embeds both a plugin and the host, a
/// workspace built at once) gets that reqwest everywhere, including in clients the SDK does
/// not build. This installs rustls's ring provider as the process default unless one is
/// installed already; without the `tls` feature it does nothing. It is cheap and idempotent:
/// the host, the `nanofleet` command and the test kit call it before building a client.
pub fn ensure_crypto_provider() {
    #[cfg(feature = "tls")]
    {
        // An error means a provider is installed already, which is all that is needed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The formats shared with the host: env names, container names, image references, the
/// callback API.
pub use nanofleet_contracts as contracts;
/// The exact rmcp release this SDK is built on, re-exported so plugins never mix versions.
pub use rmcp;
/// The schemars release the input and output schemas are generated with.
pub use schemars;
/// The serde release the SDK is built on.
///
/// A plugin crate without a serde dependency of its own cannot use `#[derive(Serialize,
/// Deserialize)]` from here directly: the derives emit `::serde` paths, which only resolve in a
/// crate that depends on serde. Use [`#[data]`](macro@data) instead, which derives
/// `Serialize`, `Deserialize` and `JsonSchema` through these re-exports, or add serde (and
/// schemars) to the crate's own dependencies.
pub use serde;
/// serde_json, for building and reading JSON values in tools.
pub use serde_json;
