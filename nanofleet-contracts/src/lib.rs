//! # nanofleet-contracts
//!
//! Every format that crosses a process boundary in a NanoFleet deployment, defined once and
//! used by the SDK (inside the plugin), the `#[plugin]` macro (at compile time), the host and
//! the `nanofleet` command:
//!
//! | module | what it holds |
//! |---|---|
//! | [`agent_id`] | the agent-id rule: length, control, white-space and invisible characters |
//! | [`manifest`] | `manifest.json`: the type, its rules, diagnostics that list every problem |
//! | [`env`](mod@env) | the environment variables the host injects and the SDK reads; the `NANO_API_URL` rule |
//! | [`names`] | container, network, volume and staging names; the URL an agent reaches a plugin at |
//! | [`labels`] | labels on containers, volumes, networks and plugin images |
//! | [`image`] | image references: parse, repository, tag, digest, the `:dev` tag |
//! | [`callback`] | the internal callback API (`/internal/agents…`): paths and bodies |
//! | [`bearer`] | `Authorization: Bearer` parsing |
//! | [`uri_template`] | resource URI templates (`notes://{id}`), parsed the same by the SDK and the macro |
//!
//! It depends on `std`, `serde`, `serde_json` and `semver` only (and `schemars` behind the
//! `schemars` feature), so that the proc macro can apply at compile time exactly the rules the
//! host applies at install time.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent_id;
pub mod bearer;
pub mod callback;
pub mod env;
pub mod image;
pub mod labels;
pub mod manifest;
pub mod names;
pub mod uri_template;

pub use image::ImageRef;
pub use manifest::Manifest;
