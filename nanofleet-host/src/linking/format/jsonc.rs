//! JSON with comments (VS Code's `.vscode/mcp.json`), edited on `jsonc-parser`'s concrete
//! syntax tree: comments, trailing commas, blank lines and indentation the user wrote stay
//! where they were, and a new entry takes the indentation of its neighbours.

use std::collections::HashSet;

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use super::ServersFile;

/// A JSONC file whose servers sit under one top-level key.
pub(super) struct Document {
    /// The whole file, comments included.
    root: CstRootNode,
    /// The key of the servers' object (`servers`).
    key: &'static str,
    /// Whether the file was empty: a new file gets a trailing newline.
    new: bool,
}

impl Document {
    /// Reads `text` (empty or whitespace for no file), with the servers under `key`.
    pub(super) fn parse(text: &str, key: &'static str) -> Result<Self, String> {
        let new = text.trim().is_empty();
        // VS Code reads comments and trailing commas; it does not read the loose forms
        // (single quotes, bare words, hex numbers), so neither does the host.
        let options = ParseOptions {
            allow_comments: true,
            allow_trailing_commas: true,
            allow_loose_object_property_names: false,
            allow_missing_commas: false,
            allow_single_quoted_strings: false,
            allow_hexadecimal_numbers: false,
            ..ParseOptions::default()
        };
        let root =
            CstRootNode::parse(if new { "" } else { text }, &options).map_err(|e| e.to_string())?;
        if let Some(value) = root.value() {
            let Some(top) = value.as_object() else {
                return Err("the top level must be a JSON object".into());
            };
            unique_keys(&top, "the top level")?;
            if let Some(prop) = top.get(key) {
                let servers = prop
                    .value()
                    .and_then(|v| v.as_object())
                    .ok_or_else(|| format!("`{key}` must be an object"))?;
                unique_keys(&servers, &format!("`{key}`"))?;
            }
        }
        Ok(Self { root, key, new })
    }

    /// The servers' object, if the file has one.
    fn servers(&self) -> Option<CstObject> {
        self.root.object_value()?.object_value(self.key)
    }
}

/// Refuses duplicate keys: parsers differ on which one wins, so the host would not know
/// which entry the client reads.
fn unique_keys(object: &CstObject, what: &str) -> Result<(), String> {
    let mut seen = HashSet::new();
    for prop in object.properties() {
        let name = prop.decoded_name().unwrap_or_default();
        if !seen.insert(name.clone()) {
            return Err(format!("in {what}: duplicate key `{name}`"));
        }
    }
    Ok(())
}

impl ServersFile for Document {
    fn entries(&self) -> Vec<(String, Option<Value>)> {
        self.servers()
            .map(|servers| {
                servers
                    .properties()
                    .into_iter()
                    .filter_map(|prop| {
                        let value = prop.value().and_then(|v| v.to_serde_value());
                        Some((prop.decoded_name()?, value))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn set_entry(&mut self, name: &str, entry: &Value) -> Result<(), String> {
        let servers = self
            .root
            .object_value_or_set()
            .object_value_or_set(self.key);
        match servers.get(name) {
            Some(prop) => prop.set_value(input(entry)),
            None => {
                servers.append(name, input(entry));
            }
        }
        Ok(())
    }

    fn remove_entry(&mut self, name: &str) {
        if let Some(prop) = self.servers().and_then(|servers| servers.get(name)) {
            prop.remove();
        }
    }

    fn render(self: Box<Self>) -> Result<String, String> {
        let mut text = self.root.to_string();
        if self.new && !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }
}

/// `value` as the tree's input.
fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(members) => CstInputValue::Object(
            members
                .iter()
                .map(|(key, value)| (key.clone(), input(value)))
                .collect(),
        ),
    }
}
