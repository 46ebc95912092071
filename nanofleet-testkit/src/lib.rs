//! # nanofleet-testkit
//!
//! End-to-end tests for [NanoFleet](https://github.com/nanofleet) MCP plugins: start the
//! plugin's image the way the NanoFleet host runs it, then call its tools as signed agents.
//!
//! ```no_run
//! use serde_json::json;
//!
//! # async fn example() -> Result<(), nanofleet_testkit::Error> {
//! // Reads the manifest from the image's `com.nanofleet.manifest` label.
//! let plugin = nanofleet_testkit::PluginContainer::start("acme/notes:0.1.0").await?;
//! // An MCP client (rmcp, Streamable HTTP) bound to agent alice, with the host's signature.
//! let alice = plugin.client_as("alice").await?;
//! let tools = alice.list_tools().await?;
//! // The tool's structuredContent; a tool error (`isError`) is an `Err` carrying its text.
//! let out: serde_json::Value = alice.call_json("add_note", json!({"text": "hi"})).await?;
//! let text = alice.call_text("list_notes", json!({})).await?;
//! // resources/read, for plugins that serve resources.
//! let res = alice.read_resource("notes://1").await?;
//! // The container's output, for failure messages.
//! let logs = plugin.logs().await?;
//! // Or drop it: the container, its volume and its network go either way.
//! plugin.stop().await?;
//! # Ok(()) }
//! ```
//!
//! ## What runs
//!
//! [`PluginContainer::start`] inspects the image (it never pulls: build it first with
//! `nanofleet build`), reads its manifest, checks that the test gave every `requiredEnvVars`
//! entry with [`PluginBuilder::env`], and only then creates:
//!
//! - a container hardened exactly as the host's Docker runtime does it: numeric non-root user
//!   [`PLUGIN_USER`], read-only root filesystem with a `noexec` tmpfs at `/tmp`, every capability
//!   dropped, `no-new-privileges`, memory/CPU/pids [`Limits`] (the host's defaults);
//! - a fresh named volume at `/data`, which Docker fills with the image's `/data` and its owner,
//!   so the non-root plugin can write it;
//! - the environment the host injects: `NANO_API_URL` ([`PluginBuilder::api_url`]),
//!   `NANO_INTERNAL_TOKEN` (fresh, 256 random bits), `NANO_PLUGIN_ID`, and
//!   `NANOFLEET_REQUIRE_AGENT_SIGNATURE=1` ([`PluginBuilder::signatures`]);
//! - a network of its own with no route out, from which the MCP port is published on
//!   `127.0.0.1` only. The test reaches the plugin there; the plugin accepts `127.0.0.1` as a
//!   `Host`. No helper image is needed.
//!
//! Start returns once the plugin answers `tools/list` (not merely once the port is open), or
//! fails after [`PluginBuilder::startup_timeout`] with the container's last log lines.
//!
//! Every container, volume and network carries the label
//! `com.nanofleet.managed-by=nanofleet-rs-tests` ([`MANAGED_BY_VALUE`]), so CI can find
//! leftovers of a killed test run:
//!
//! ```sh
//! docker ps -aq --filter label=com.nanofleet.managed-by=nanofleet-rs-tests | xargs -r docker rm -f
//! docker volume ls -q --filter label=com.nanofleet.managed-by=nanofleet-rs-tests | xargs -r docker volume rm
//! docker network ls -q --filter label=com.nanofleet.managed-by=nanofleet-rs-tests | xargs -r docker network rm
//! ```
//!
//! ## Testing refusal
//!
//! [`PluginContainer::client_unsigned`] and [`PluginContainer::client_forged`] connect without
//! a signature and with a wrong one; a plugin that requires signatures refuses both with
//! `403`, which [`Error::is_refused`] recognises:
//!
//! ```no_run
//! # async fn example(plugin: &nanofleet_testkit::PluginContainer) {
//! let err = plugin.client_forged("alice").await.expect_err("a forged signature is refused");
//! assert!(err.is_refused(), "{err}");
//! # }
//! ```
//!
//! ## Requirements
//!
//! A Docker engine on this machine (`DOCKER_HOST`, or the default socket): the published port is
//! on the engine's loopback, so a remote engine will not do. Tests run on any tokio runtime; a
//! [`PluginContainer`] dropped without [`stop`](PluginContainer::stop) blocks the dropping
//! thread until its objects are removed.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod container;
mod engine;
mod error;

pub use client::{AgentClient, DEFAULT_REQUEST_TIMEOUT, result_text};
pub use container::{
    DEFAULT_STARTUP_TIMEOUT, Limits, MANAGED_BY_VALUE, PLUGIN_USER, PluginBuilder, PluginContainer,
    TMPFS_OPTIONS,
};
pub use error::Error;

/// The exact rmcp release the clients are built on: its model types (`Tool`,
/// `CallToolResult`…) appear in [`AgentClient`]'s API.
pub use rmcp;
/// The testcontainers release the harness runs on, with its re-exported `bollard`, for
/// [`PluginContainer::container`] and [`PluginContainer::docker`].
pub use testcontainers;
