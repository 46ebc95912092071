//! `.mcp.json` read and written without disturbing what the host does not own.
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

/// A member's value: as read, or set by the host.
#[derive(Debug)]
pub(super) enum Member {
    /// Exactly the text read from the file.
    Raw(Box<RawValue>),
    /// A value the host set.
    Value(Value),
    /// An object the host edited, its members kept as they were.
    Object(Object),
}

impl Member {
    /// The value, parsed.
    pub(super) fn to_value(&self) -> Option<Value> {
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
pub(super) struct Object(pub(super) Vec<(String, Member)>);

impl Object {
    /// Reads an object; `what` names it in errors (e.g. "the file", "`mcpServers`").
    pub(super) fn parse(text: &str, what: &str) -> Result<Self, String> {
        // Two passes: the first tells malformed JSON (with its position) from valid JSON of
        // the wrong shape, which deserves a different message.
        let raw: Box<RawValue> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(format!("{what} must be a JSON object"));
        }
        serde_json::from_str(raw.get()).map_err(|e| format!("in {what}: {e}"))
    }

    /// The position of `key`.
    pub(super) fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// Pretty-printed with two-space indents and a trailing newline.
    pub(super) fn to_pretty(&self) -> Result<String, serde_json::Error> {
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
