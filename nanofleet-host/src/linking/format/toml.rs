//! TOML (codex's `config.toml`), edited on `toml_edit`'s document: comments, blank lines,
//! key order and the user's own tables stay as written. A new entry is a table of its own,
//! `[mcp_servers.<plugin>]`, the way codex's documentation and `codex mcp add` write them.

use serde_json::{Map, Number, Value};
use toml_edit::{DocumentMut, Item, Table, TableLike};

use super::ServersFile;

/// A TOML file whose servers are the tables under one top-level key.
pub(super) struct Document {
    /// The whole file, comments included.
    doc: DocumentMut,
    /// The key of the servers' table (`mcp_servers`).
    key: &'static str,
}

impl Document {
    /// Reads `text` (empty for no file), with the servers under `key`.
    pub(super) fn parse(text: &str, key: &'static str) -> Result<Self, String> {
        // toml_edit refuses duplicate keys and tables, which is what the host wants: it
        // would not know which one the client reads.
        let doc: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| e.to_string().trim_end().replace('\n', " "))?;
        if let Some(item) = doc.get(key)
            && item.as_table_like().is_none()
        {
            return Err(format!("`{key}` must be a table"));
        }
        Ok(Self { doc, key })
    }

    /// The servers' table, if the file has one.
    fn servers(&self) -> Option<&dyn TableLike> {
        self.doc.get(self.key)?.as_table_like()
    }
}

impl ServersFile for Document {
    fn entries(&self) -> Vec<(String, Option<Value>)> {
        self.servers()
            .map(|servers| {
                servers
                    .iter()
                    .map(|(name, item)| (name.to_owned(), item_to_json(item)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn set_entry(&mut self, name: &str, entry: &Value) -> Result<(), String> {
        let Value::Object(members) = entry else {
            return Err(format!("the entry for `{name}` must be a table"));
        };
        // An inline servers' table (`mcp_servers = { … }`) can only hold inline entries.
        let inline = self.doc.get(self.key).is_some_and(Item::is_inline_table);
        let servers = self.doc.entry(self.key).or_insert_with(|| {
            // `[mcp_servers]` itself stays unwritten: only `[mcp_servers.<name>]` appear.
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        });
        let servers = servers
            .as_table_like_mut()
            .ok_or_else(|| format!("`{}` must be a table", self.key))?;
        let mut values = toml_edit::InlineTable::new();
        for (key, value) in members {
            values.insert(key, json_to_toml(value)?);
        }
        let item = if inline {
            Item::Value(toml_edit::Value::InlineTable(values))
        } else {
            Item::Table(values.into_table())
        };
        match servers.get_mut(name) {
            // Replaced whole, as in every format; its position stays.
            Some(slot) => *slot = item,
            None => {
                servers.insert(name, item);
            }
        }
        Ok(())
    }

    fn remove_entry(&mut self, name: &str) {
        if let Some(servers) = self.doc.get_mut(self.key).and_then(Item::as_table_like_mut) {
            servers.remove(name);
        }
    }

    fn render(self: Box<Self>) -> Result<String, String> {
        Ok(self.doc.to_string())
    }
}

/// `item` as JSON; `None` for what JSON has no form for (dates, arrays of tables).
fn item_to_json(item: &Item) -> Option<Value> {
    match item {
        Item::None | Item::ArrayOfTables(_) => None,
        Item::Value(value) => value_to_json(value),
        Item::Table(table) => table_like_to_json(table),
    }
}

fn table_like_to_json(table: &dyn TableLike) -> Option<Value> {
    let mut map = Map::new();
    for (key, item) in table.iter() {
        map.insert(key.to_owned(), item_to_json(item)?);
    }
    Some(Value::Object(map))
}

fn value_to_json(value: &toml_edit::Value) -> Option<Value> {
    use toml_edit::Value as V;
    Some(match value {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::Number((*i.value()).into()),
        V::Float(f) => Value::Number(Number::from_f64(*f.value())?),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(_) => return None,
        V::Array(items) => Value::Array(items.iter().map(value_to_json).collect::<Option<_>>()?),
        V::InlineTable(table) => return table_like_to_json(table),
    })
}

/// `value` as a TOML value: TOML has no null, so a null cannot be written.
fn json_to_toml(value: &Value) -> Result<toml_edit::Value, String> {
    Ok(match value {
        Value::Null => return Err("TOML has no null".into()),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) => f.into(),
            (None, None) => return Err(format!("{n} does not fit a TOML number")),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(json_to_toml(item)?);
            }
            toml_edit::Value::Array(array)
        }
        Value::Object(members) => {
            let mut table = toml_edit::InlineTable::new();
            for (key, member) in members {
                table.insert(key, json_to_toml(member)?);
            }
            toml_edit::Value::InlineTable(table)
        }
    })
}
