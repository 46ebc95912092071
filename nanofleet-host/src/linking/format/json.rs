//! Strict JSON files (`.mcp.json`, nanobot's `config.json`) read and written without
//! disturbing what the host does not own.
//!
//! JSON objects are kept as ordered lists of members whose values stay raw text until the
//! host needs to look inside. Written back, a member the host did not change comes out
//! byte for byte as it went in, and keys keep their order: the user's own servers and
//! settings survive the host's edits exactly.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap as _, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ServersFile;

/// A client's JSON file: the top level, the objects down to the servers' one, and that one,
/// each taken apart only as far as the path to the servers needs.
pub(super) struct Document {
    /// The top-level object.
    root: Object,
    /// The objects between the top level and the servers' object, outermost first.
    chain: Vec<Object>,
    /// The servers' object.
    servers: Object,
    /// The keys from the top level to the servers' object.
    keys: &'static [&'static str],
    /// Whether the object holding the servers also holds nanobot's `ssrfWhitelist`.
    whitelist: bool,
}

impl Document {
    /// Reads `text` (empty or whitespace for no file), with the servers at `keys`.
    pub(super) fn parse(
        text: &str,
        keys: &'static [&'static str],
        whitelist: bool,
    ) -> Result<Self, String> {
        let root = if text.trim().is_empty() {
            Object::default()
        } else {
            Object::parse(text, "the top level")?
        };
        let mut chain: Vec<Object> = Vec::with_capacity(keys.len());
        let mut what = String::new();
        for key in keys {
            what = if what.is_empty() {
                format!("`{key}`")
            } else {
                format!("{}.{key}`", what.trim_end_matches('`'))
            };
            let parent = chain.last().unwrap_or(&root);
            chain.push(child_object(parent, key, &what)?);
        }
        let servers = chain
            .pop()
            .ok_or_else(|| "the client names no servers' object".to_owned())?;
        Ok(Self {
            root,
            chain,
            servers,
            keys,
            whitelist,
        })
    }
}

impl ServersFile for Document {
    fn entries(&self) -> Vec<(String, Option<Value>)> {
        self.servers
            .0
            .iter()
            .map(|(name, member)| (name.clone(), member.to_value()))
            .collect()
    }

    fn set_entry(&mut self, name: &str, entry: &Value) -> Result<(), String> {
        set_member(&mut self.servers, name, Member::Value(entry.clone()));
        Ok(())
    }

    fn remove_entry(&mut self, name: &str) {
        self.servers.0.retain(|(key, _)| key != name);
    }

    fn allow_range(&mut self, range: &str, wanted: bool) -> Result<bool, String> {
        // nanobot's whitelist sits beside its servers, in `tools`.
        match (self.whitelist, self.chain.last_mut()) {
            (true, Some(tools)) => update_whitelist(tools, range, wanted),
            _ => Ok(false),
        }
    }

    fn render(self: Box<Self>) -> Result<String, String> {
        let Self {
            mut root,
            mut chain,
            servers,
            keys,
            ..
        } = *self;
        // Each object goes back into its parent, from the servers up.
        let mut child = servers;
        for (depth, key) in keys.iter().enumerate().rev() {
            let parent = if depth == 0 {
                &mut root
            } else {
                &mut chain[depth - 1]
            };
            set_member(parent, key, Member::Object(child));
            if depth == 0 {
                break;
            }
            child = chain.pop().unwrap_or_default();
        }
        root.to_pretty().map_err(|e| e.to_string())
    }
}

/// The object at `key` in `parent`, parsed; an empty one when there is none.
fn child_object(parent: &Object, key: &str, what: &str) -> Result<Object, String> {
    match parent.position(key) {
        Some(index) => match &parent.0[index].1 {
            Member::Raw(raw) => Object::parse(raw.get(), what),
            Member::Value(value) => Object::parse(&value.to_string(), what),
            Member::Object(_) => Err(format!("{what} was read twice")),
        },
        None => Ok(Object::default()),
    }
}

/// Sets `key` of `object` to `member`, in place or at the end.
fn set_member(object: &mut Object, key: &str, member: Member) {
    match object.position(key) {
        Some(index) => object.0[index].1 = member,
        None => object.0.push((key.to_owned(), member)),
    }
}

/// Keeps `reach` in nanobot's `ssrfWhitelist` (or `ssrf_whitelist`, if the user spelled it
/// so) while the file holds host entries, and takes it out with the last of them. Returns
/// whether the list changed.
fn update_whitelist(tools: &mut Object, reach: &str, wanted: bool) -> Result<bool, String> {
    let key = ["ssrfWhitelist", "ssrf_whitelist"]
        .into_iter()
        .find(|k| tools.position(k).is_some())
        .unwrap_or("ssrfWhitelist");
    let mut list: Vec<Value> = match tools.position(key).and_then(|i| tools.0[i].1.to_value()) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(format!("`tools.{key}` must be a list of address ranges")),
    };
    let present = list.iter().any(|v| v.as_str() == Some(reach));
    match (wanted, present) {
        (true, false) => list.push(Value::String(reach.to_owned())),
        (false, true) => list.retain(|v| v.as_str() != Some(reach)),
        _ => return Ok(false),
    }
    if list.is_empty() && !wanted {
        tools.0.retain(|(k, _)| k != key);
    } else {
        set_member(tools, key, Member::Value(Value::Array(list)));
    }
    Ok(true)
}

/// A member's value: as read, or set by the host.
#[derive(Debug)]
enum Member {
    /// Exactly the text read from the file.
    Raw(Box<RawValue>),
    /// A value the host set.
    Value(Value),
    /// An object the host edited, its members kept as they were.
    Object(Object),
}

impl Member {
    /// The value, parsed.
    fn to_value(&self) -> Option<Value> {
        match self {
            Self::Raw(raw) => serde_json::from_str(raw.get()).ok(),
            Self::Value(value) => Some(value.clone()),
            Self::Object(object) => serde_json::to_value(object).ok(),
        }
    }
}

impl Serialize for Member {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Raw(raw) => raw.serialize(serializer),
            Self::Value(value) => value.serialize(serializer),
            Self::Object(object) => object.serialize(serializer),
        }
    }
}

/// A JSON object's members, in file order, keys unique.
#[derive(Debug, Default)]
struct Object(Vec<(String, Member)>);

impl Object {
    /// Reads an object; `what` names it in errors (e.g. "the file", "`mcpServers`").
    fn parse(text: &str, what: &str) -> Result<Self, String> {
        // Two passes: the first tells malformed JSON (with its position) from valid JSON of
        // the wrong shape, which deserves a different message.
        let raw: Box<RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(format!("{what} must be a JSON object"));
        }
        serde_json::from_str(raw.get()).map_err(|e| format!("in {what}: {e}"))
    }

    /// The position of `key`.
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// Pretty-printed with two-space indents and a trailing newline.
    fn to_pretty(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Object, A::Error> {
                let mut members = Vec::new();
                let mut seen = HashSet::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Box<RawValue> = access.next_value()?;
                    // Most parsers keep the last of duplicate keys, some the first: rather
                    // than guess which one the agent reads, refuse to edit such a file.
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    members.push((key, Member::Raw(value)));
                }
                Ok(Object(members))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}
