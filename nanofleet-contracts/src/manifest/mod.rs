//! The plugin manifest (`manifest.json`): the one definition of the format, shared by the SDK,
//! the proc macros and the host.
//!
//! A plugin is a Docker image running an MCP server; its manifest tells the host how to run it
//! and where it appears in the dashboard:
//!
//! ```json
//! {
//!   "name": "kanban",
//!   "version": "0.1.0",
//!   "description": "A task board",
//!   "author": "ACME",
//!   "image": "nanofleet/kanban:0.1.0",
//!   "mcpPort": 8080,
//!   "uiPort": 8081,
//!   "sidebar": { "icon": "layout", "label": "Kanban", "route": "/plugins/kanban/ui" },
//!   "requiredEnvVars": ["OPENAI_API_KEY"],
//!   "permissions": { "network": false, "filesystem": "read-write", "process": { "spawn": false } },
//!   "minHostVersion": ">=0.1",
//!   "icon": "https://example.com/kanban.svg",
//!   "config": { "board_title": { "type": "string", "default": "Tasks" } }
//! }
//! ```
//!
//! [`Manifest::validate`] checks a manifest built in code; [`Manifest::parse_json`] reads one
//! from untrusted text. Both report every problem at once as [`Diagnostics`] rather than stopping
//! at the first, because a plugin author fixing a manifest wants the whole list.
//!
//! ```
//! use nanofleet_contracts::manifest::{Manifest, Sidebar};
//!
//! let manifest = Manifest::new("kanban", "0.1.0", "nanofleet/kanban:0.1.0", 8080)
//!     .with_description("A task board")
//!     .with_ui(8081, Sidebar::new("layout", "Kanban", Manifest::default_sidebar_route("kanban")));
//! assert!(!manifest.validate().has_errors());
//!
//! let parsed = Manifest::parse_json(r#"{"name": "Kanban", "mcpPort": "8080"}"#);
//! assert!(parsed.manifest.is_none());
//! for problem in &parsed.diagnostics {
//!     eprintln!("{problem}"); // e.g. `error at mcpPort: expected an integer from 1024 to 65535, found a string`
//! }
//! ```

pub mod config;
mod diagnostic;
mod parse;
pub mod permissions;
pub mod rules;
mod validate;

use serde::{Deserialize, Serialize};

pub use config::{ConfigSchema, Setting, SettingType};
pub use diagnostic::{Diagnostic, Diagnostics, Level};
pub use parse::ParsedManifest;
pub use permissions::{
    Cpus, Destination, DestinationHost, Filesystem, Memory, Network, Overrides, Permissions,
    Process, ResourceLimits, Resources,
};

/// The environment variables the host injects into every plugin container: the host's API
/// URL, this install's internal token, and the plugin's id on the host.
pub const INJECTED_ENV_VARS: [&str; 3] = crate::env::INJECTED;

/// A plugin's `manifest.json`.
///
/// Deserializing with serde checks only the shape; call [`Manifest::validate`] for the rules,
/// or read untrusted text with [`Manifest::parse_json`], which does both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The plugin's name and id on the host: lowercase letters, digits and `-`, at most 64.
    #[cfg_attr(
        feature = "schemars",
        schemars(pattern(r"^[a-z0-9]+(-+[a-z0-9]+)*$"), length(max = 64))
    )]
    pub name: String,
    /// The plugin's version, a semantic version such as `0.1.0`.
    pub version: String,
    /// One sentence the dashboard shows under the plugin's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Who wrote the plugin.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// The Docker image the host runs, e.g. `ghcr.io/acme/kanban:1.2.3`.
    pub image: String,
    /// The port the MCP server listens on inside the container.
    #[cfg_attr(feature = "schemars", schemars(range(min = 1024)))]
    pub mcp_port: u16,
    /// The port the web UI listens on inside the container, if the plugin has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(range(min = 1024)))]
    pub ui_port: Option<u16>,
    /// The plugin's entry in the dashboard's sidebar; needs a `uiPort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidebar: Option<Sidebar>,
    /// Environment variables the user must set before the plugin can start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_env_vars: Vec<String>,
    /// What the plugin may do besides answering MCP: network, data volume, processes,
    /// resources. Absent means the narrowest: see [`Permissions`].
    #[serde(default, skip_serializing_if = "Permissions::is_default")]
    pub permissions: Permissions,
    /// The host versions the plugin runs on, a semver requirement such as `">=0.4"`; older
    /// hosts refuse to install it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_host_version: Option<String>,
    /// The plugin's icon in listings: an `https://` URL or a `data:image/…` URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The plugin's typed settings, which the host turns into `NANO_CONFIG_*` environment
    /// variables: see [`config`].
    #[serde(default, skip_serializing_if = "ConfigSchema::is_empty")]
    pub config: ConfigSchema,
}

/// A plugin's entry in the dashboard's sidebar, linking to its UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Sidebar {
    /// The icon's name, e.g. `layout`.
    pub icon: String,
    /// The text of the entry, e.g. `Kanban`.
    pub label: String,
    /// Where the entry links to: `/plugins/{name}/ui`.
    pub route: String,
}

impl Sidebar {
    /// A sidebar entry; see [`Manifest::default_sidebar_route`] for the route.
    pub fn new(
        icon: impl Into<String>,
        label: impl Into<String>,
        route: impl Into<String>,
    ) -> Self {
        Self {
            icon: icon.into(),
            label: label.into(),
            route: route.into(),
        }
    }
}

impl Manifest {
    /// The environment variables the host injects into every plugin container; see
    /// [`INJECTED_ENV_VARS`].
    pub const INJECTED_ENV_VARS: [&str; 3] = INJECTED_ENV_VARS;

    /// A manifest with the required fields set and no description, author, UI or required
    /// environment variables.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        image: impl Into<String>,
        mcp_port: u16,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            author: String::new(),
            image: image.into(),
            mcp_port,
            ui_port: None,
            sidebar: None,
            required_env_vars: Vec::new(),
            permissions: Permissions::default(),
            min_host_version: None,
            icon: None,
            config: ConfigSchema::default(),
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the author.
    #[must_use]
    pub fn with_author(mut self, author: impl Into<String>) -> Self {
        self.author = author.into();
        self
    }

    /// Declares a web UI on `ui_port`, linked from the dashboard's sidebar.
    #[must_use]
    pub fn with_ui(mut self, ui_port: u16, sidebar: Sidebar) -> Self {
        self.ui_port = Some(ui_port);
        self.sidebar = Some(sidebar);
        self
    }

    /// Sets the environment variables the user must provide.
    #[must_use]
    pub fn with_required_env_vars<I, S>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_env_vars = vars.into_iter().map(Into::into).collect();
        self
    }

    /// Sets what the plugin may do; see [`Permissions`].
    #[must_use]
    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = permissions;
        self
    }

    /// Sets the host versions the plugin needs, a semver requirement such as `">=0.4"`.
    #[must_use]
    pub fn with_min_host_version(mut self, requirement: impl Into<String>) -> Self {
        self.min_host_version = Some(requirement.into());
        self
    }

    /// Sets the plugin's icon: an `https://` URL or a `data:image/…` URI.
    #[must_use]
    pub fn with_icon(mut self, icon: impl Into<String>) -> Self {
        self.icon = Some(icon.into());
        self
    }

    /// Sets the plugin's typed settings; see [`config`].
    #[must_use]
    pub fn with_config(mut self, config: ConfigSchema) -> Self {
        self.config = config;
        self
    }

    /// The route the host mounts a plugin's UI at: `/plugins/{name}/ui`.
    pub fn default_sidebar_route(name: &str) -> String {
        rules::default_sidebar_route(name)
    }

    /// The manifest as pretty-printed JSON, the content of `manifest.json`.
    pub fn to_json_pretty(&self) -> String {
        // Serializing fails only for non-string map keys or a failing `Serialize` impl, and this
        // type has neither, so the fallback is unreachable.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Manifest {
        Manifest::new("kanban", "0.1.0", "nanofleet/kanban:0.1.0", 8080)
            .with_description("A task board")
            .with_author("ACME")
            .with_ui(8081, Sidebar::new("layout", "Kanban", "/plugins/kanban/ui"))
            .with_required_env_vars(["OPENAI_API_KEY"])
    }

    const FULL_JSON: &str = r#"{"name":"kanban","version":"0.1.0","description":"A task board","author":"ACME","image":"nanofleet/kanban:0.1.0","mcpPort":8080,"uiPort":8081,"sidebar":{"icon":"layout","label":"Kanban","route":"/plugins/kanban/ui"},"requiredEnvVars":["OPENAI_API_KEY"]}"#;

    #[test]
    fn full_manifest_round_trips_exactly() {
        assert_eq!(
            serde_json::to_string(&full()).ok().as_deref(),
            Some(FULL_JSON)
        );
        let back: Option<Manifest> = serde_json::from_str(FULL_JSON).ok();
        assert_eq!(back, Some(full()));
        let pretty: Option<Manifest> = serde_json::from_str(&full().to_json_pretty()).ok();
        assert_eq!(pretty, Some(full()));
    }

    #[test]
    fn empty_optionals_are_omitted() {
        let minimal = Manifest::new("hello", "0.1.0", "hello:0.1.0", 8080);
        assert_eq!(
            serde_json::to_string(&minimal).ok().as_deref(),
            Some(r#"{"name":"hello","version":"0.1.0","image":"hello:0.1.0","mcpPort":8080}"#)
        );
        let back: Option<Manifest> = serde_json::from_str(&minimal.to_json_pretty()).ok();
        assert_eq!(back, Some(minimal));
    }

    #[test]
    fn full_manifest_is_clean() {
        assert!(full().validate().is_empty(), "{}", full().validate());
    }

    #[test]
    fn pretty_json_uses_camel_case() {
        let pretty = full().to_json_pretty();
        for key in [
            "\"mcpPort\": 8080",
            "\"uiPort\": 8081",
            "\"requiredEnvVars\": [",
        ] {
            assert!(pretty.contains(key), "{pretty}");
        }
    }

    #[test]
    fn default_sidebar_route() {
        assert_eq!(
            Manifest::default_sidebar_route("kanban"),
            "/plugins/kanban/ui"
        );
    }

    #[test]
    fn injected_env_vars() {
        assert_eq!(
            Manifest::INJECTED_ENV_VARS,
            ["NANO_API_URL", "NANO_INTERNAL_TOKEN", "NANO_PLUGIN_ID"]
        );
    }

    #[cfg(feature = "schemars")]
    #[test]
    fn json_schema_uses_camel_case_and_requires_the_required_fields() {
        let schema = serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default();
        let required = schema.get("required").cloned().unwrap_or_default();
        assert_eq!(
            required,
            serde_json::json!(["name", "version", "image", "mcpPort"])
        );
        let properties = schema.get("properties").and_then(|p| p.as_object());
        assert!(properties.is_some_and(|p| p.contains_key("requiredEnvVars")));
    }
}
