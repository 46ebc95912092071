//! The rows of the store, as Rust types.

use std::fmt;
use std::path::PathBuf;

use nanofleet_sdk::manifest::{Manifest, Overrides, Permissions};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, as stored in every `created_at` / `updated_at` column.
pub type Timestamp = i64;

/// What the user wants a plugin to be doing; the reconciler makes it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    /// The plugin's container should run.
    Running,
    /// The plugin is installed but its container should not run.
    Stopped,
}

impl Desired {
    /// The word stored in the database and used in the API: `running` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }

    /// The value [`as_str`](Self::as_str) gives, back; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Running, Self::Stopped]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

impl fmt::Display for Desired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the host last observed a plugin doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being installed: image pulled, container created, tools probed.
    Installing,
    /// Running and answering on its MCP port.
    Running,
    /// Not running, as desired.
    Stopped,
    /// Something failed; see the status message.
    Error,
    /// Being replaced by a newer version.
    Upgrading,
}

impl Status {
    const ALL: [Self; 5] = [
        Self::Installing,
        Self::Running,
        Self::Stopped,
        Self::Error,
        Self::Upgrading,
    ];

    /// The word stored in the database and used in the API, e.g. `installing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installing => "installing",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Error => "error",
            Self::Upgrading => "upgrading",
        }
    }

    /// The value [`as_str`](Self::as_str) gives, back; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An installed plugin.
///
/// Its internal token is deliberately not a field: records are listed, logged and sent to the
/// dashboard, and a token must never travel with them (NanoFleet returned tokens in plugin
/// listings). Read it on its own with [`Store::plugin_token`](super::Store::plugin_token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRecord {
    /// The plugin's name, its id on the host; always equal to `manifest.name`.
    pub name: String,
    /// The manifest the plugin was installed from.
    pub manifest: Manifest,
    /// What the user wants.
    pub desired: Desired,
    /// What the host last observed.
    pub status: Status,
    /// Why the status is what it is, e.g. the error of a failed start.
    pub status_message: Option<String>,
    /// The MCP tools the plugin listed, as the JSON objects `tools/list` returned.
    pub tools: Vec<serde_json::Value>,
    /// What the operator changed from the manifest's permissions for this install; the
    /// plugin runs with [`permissions`](Self::permissions).
    pub overrides: Overrides,
    /// The widenings past the manifest (or past the earlier grant, on an upgrade) that the
    /// operator accepted with `--allow-more`, one sentence each, as a record of who asked for
    /// what. Empty when the plugin holds no more than it declared.
    pub allowed_more: Vec<String>,
    /// Whether the plugin must reject agent URLs without a valid `agent_sig`.
    pub require_signature: bool,
    /// How many copies of the plugin run behind its name: 1, or more for a plugin that keeps
    /// no local state on an engine that runs services (Swarm). The operator's choice.
    #[serde(default = "one")]
    pub replicas: u32,
    /// When the plugin was first stored; set by the store.
    pub created_at: Timestamp,
    /// When the row last changed; set by the store.
    pub updated_at: Timestamp,
}

impl PluginRecord {
    /// A record for a new install of `manifest`: desired running, status installing, no
    /// tools yet, the manifest's permissions unchanged, signatures required.
    pub fn new(manifest: Manifest) -> Self {
        Self {
            name: manifest.name.clone(),
            manifest,
            desired: Desired::Running,
            status: Status::Installing,
            status_message: None,
            tools: Vec::new(),
            overrides: Overrides::default(),
            allowed_more: Vec::new(),
            // Every URL the host writes is signed, so requiring signatures costs linked agents
            // nothing and shuts out anything else on the network claiming to be an agent.
            require_signature: true,
            replicas: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// The permissions the plugin runs with: its manifest's, with the operator's overrides.
    pub fn permissions(&self) -> Permissions {
        self.manifest.permissions.with_overrides(&self.overrides)
    }
}

/// An agent the host links plugins to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    /// The agent's id, sent to plugins as `agent_id`.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The agent's workspace, where its client's config file lives (`.mcp.json`, or
    /// nanobot's `config.json`): an absolute path.
    pub workspace_dir: PathBuf,
    /// The MCP client the agent runs, which decides the file the host writes and its shape.
    #[serde(default)]
    pub client: crate::linking::Client,
}

impl AgentRecord {
    /// An agent record.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        workspace_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            workspace_dir: workspace_dir.into(),
            client: crate::linking::Client::default(),
        }
    }

    /// The record with `client` as the agent's MCP client.
    #[must_use]
    pub fn with_client(mut self, client: crate::linking::Client) -> Self {
        self.client = client;
        self
    }

    /// The file in the workspace that lists the agent's plugins.
    pub fn config_path(&self) -> PathBuf {
        self.workspace_dir.join(self.client.file_name())
    }
}

/// An agent linked to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRecord {
    /// The agent.
    pub agent_id: String,
    /// The plugin.
    pub plugin: String,
    /// When the link was made.
    pub created_at: Timestamp,
}

/// A message a plugin sent to an agent through the host's callback API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    /// The message's id, increasing in the order messages were recorded.
    pub id: i64,
    /// The plugin that sent it.
    pub plugin: String,
    /// The agent it is for.
    pub agent_id: String,
    /// The text.
    pub content: String,
    /// When it was recorded.
    pub created_at: Timestamp,
}

fn one() -> u32 {
    1
}
