//! What an upgrade would change, known before anything starts: the new image's tool list comes
//! from its [`labels::IMAGE_TOOLS`] label (written by `nanofleet build`), the old one from the
//! store, so an operator sees which tools appear or disappear for the agents linked to the
//! plugin before the new version runs.

use rmcp::model::Tool;
use serde::Serialize;
use serde_json::Value;

use super::{Host, HostError};
use crate::{labels, manifest::Manifest};

/// What an upgrade from `old` tools to `new` ones changes, by tool name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ToolChanges {
    /// Tools only the new version has.
    pub added: Vec<String>,
    /// Tools only the old version has: agents calling them will get errors.
    pub removed: Vec<String>,
    /// Tools both have, with another description, input schema, output schema or annotations.
    pub changed: Vec<String>,
}

impl ToolChanges {
    /// Compares two tool lists.
    pub fn between(old: &[Tool], new: &[Tool]) -> Self {
        let values = |tools: &[Tool]| -> Vec<Value> {
            tools
                .iter()
                .filter_map(|t| serde_json::to_value(t).ok())
                .collect()
        };
        Self::between_json(&values(old), &values(new))
    }

    /// Compares two tool lists as the JSON objects `tools/list` returns (as the store keeps
    /// them). Entries without a string `name` are ignored.
    pub fn between_json(old: &[Value], new: &[Value]) -> Self {
        let name = |tool: &Value| tool.get("name").and_then(Value::as_str).map(str::to_owned);
        let find = |list: &[Value], wanted: &str| {
            list.iter()
                .find(|t| name(t).as_deref() == Some(wanted))
                .cloned()
        };
        let mut changes = Self::default();
        for tool in new {
            let Some(tool_name) = name(tool) else {
                continue;
            };
            match find(old, &tool_name) {
                None => changes.added.push(tool_name),
                Some(before) if before != *tool => changes.changed.push(tool_name),
                Some(_) => {}
            }
        }
        changes.removed = old
            .iter()
            .filter_map(name)
            .filter(|n| find(new, n).is_none())
            .collect();
        changes
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl std::fmt::Display for ToolChanges {
    /// `tools added a, b; removed c; changed d`, or `tools unchanged`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("tools unchanged");
        }
        let parts: Vec<String> = [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what} {}", names.join(", ")))
        .collect();
        write!(f, "tools {}", parts.join("; "))
    }
}

/// What [`Host::plan_upgrade`] found: the versions and, when the new image says, the tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpgradePlan {
    /// The plugin.
    pub plugin: String,
    /// The version installed now.
    pub from_version: String,
    /// The version the upgrade installs.
    pub to_version: String,
    /// The image the upgrade runs.
    pub image: String,
    /// How the tool list changes; `None` when the image carries no tool list (built without
    /// `nanofleet build`) or an unreadable one: the change is known only once it runs.
    pub tools: Option<ToolChanges>,
}

impl Host {
    /// What upgrading to `manifest` would change, from the store and the new image's labels
    /// alone: nothing is started, stopped or pulled.
    ///
    /// # Errors
    ///
    /// [`HostError::NotInstalled`] when the plugin is not installed; a runtime error when the
    /// image is not on this machine or the engine fails.
    pub async fn plan_upgrade(&self, manifest: &Manifest) -> Result<UpgradePlan, HostError> {
        let old = self.plugin(&manifest.name).await?;
        let label = self
            .runtime()
            .image_label(&manifest.image, labels::IMAGE_TOOLS)
            .await?;
        // A label that is not a list of tools is treated as absent: it cannot stop an upgrade
        // that does not depend on it.
        let new: Option<Vec<Value>> = label.and_then(|text| serde_json::from_str(&text).ok());
        Ok(UpgradePlan {
            plugin: manifest.name.clone(),
            from_version: old.manifest.version.clone(),
            to_version: manifest.version.clone(),
            image: manifest.image.clone(),
            tools: new.map(|new| ToolChanges::between_json(&old.tools, &new)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, description: &str) -> Value {
        json!({"name": name, "description": description, "inputSchema": {"type": "object"}})
    }

    #[test]
    fn added_removed_and_changed_are_told_apart() {
        let old = [
            tool("keep", "same"),
            tool("edit", "before"),
            tool("drop", "x"),
        ];
        let new = [
            tool("keep", "same"),
            tool("edit", "after"),
            tool("new", "y"),
        ];
        let changes = ToolChanges::between_json(&old, &new);
        assert_eq!(changes.added, ["new"]);
        assert_eq!(changes.removed, ["drop"]);
        assert_eq!(changes.changed, ["edit"]);
        assert_eq!(
            changes.to_string(),
            "tools added new; removed drop; changed edit"
        );
    }

    #[test]
    fn identical_lists_change_nothing() {
        let list = [tool("a", "1"), tool("b", "2")];
        let changes = ToolChanges::between_json(&list, &list);
        assert!(changes.is_empty());
        assert_eq!(changes.to_string(), "tools unchanged");
    }

    #[test]
    fn nameless_entries_are_ignored() {
        let changes = ToolChanges::between_json(&[json!({"x": 1})], &[json!(42), tool("a", "")]);
        assert_eq!(changes.added, ["a"]);
        assert!(changes.removed.is_empty() && changes.changed.is_empty());
    }
}
