//! The `agents` and `links` tables.

use std::path::PathBuf;

use rusqlite::{OptionalExtension as _, params};

use super::{AgentRecord, LinkRecord, Store, StoreError, clip, exists, now};

/// The longest agent id accepted, in bytes: it travels in every plugin URL, and every plugin
/// accepts up to this many ([`nanofleet_contracts::agent_id`], the one rule for both).
pub const MAX_AGENT_ID_BYTES: usize = nanofleet_contracts::agent_id::MAX_LEN;

/// The longest agent name accepted, in bytes.
const MAX_AGENT_NAME_BYTES: usize = 1024;

impl Store {
    /// Stores `agent`, replacing any agent with the same id (its links are kept; when its
    /// workspace changes, each gets a new link id).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidAgent`] when the id is empty, longer than
    /// [`MAX_AGENT_ID_BYTES`] or has control characters, the name is over 1 KiB, or the
    /// workspace is not an absolute UTF-8 path.
    pub async fn put_agent(&self, agent: &AgentRecord) -> Result<(), StoreError> {
        let workspace = check_agent(agent)?;
        let (id, name, client) = (agent.id.clone(), agent.name.clone(), agent.client.as_str());
        self.write(move |tx, _| {
            // One `.mcp.json` per agent: two agents on one workspace would overwrite each
            // other's entries while the store said both were linked.
            let sharing: Option<String> = tx
                .prepare_cached(
                    "SELECT id FROM agents
                     WHERE rtrim(workspace_dir, '/') = rtrim(?2, '/') AND id != ?1 LIMIT 1",
                )?
                .query_row(params![id, workspace], |row| row.get(0))
                .optional()?;
            if let Some(other) = sharing {
                return Err(StoreError::InvalidAgent {
                    id: clip(&id),
                    reason: format!(
                        "the workspace {workspace} is agent {:?}'s already: each agent needs a \
                         workspace of its own (its .mcp.json says which plugins it may call)",
                        clip(&other)
                    ),
                });
            }
            // An agent that moves to another workspace, or to another client (another file),
            // gets new link ids: the URLs left in the old file stop working (the plugins check
            // the id).
            tx.prepare_cached(
                "UPDATE links SET link_id = lower(hex(randomblob(16)))
                 WHERE agent_id = ?1 AND EXISTS (
                     SELECT 1 FROM agents
                     WHERE id = ?1
                       AND (rtrim(workspace_dir, '/') != rtrim(?2, '/') OR client != ?3))",
            )?
            .execute(params![id, workspace, client])?;
            tx.prepare_cached(
                "INSERT INTO agents (id, name, workspace_dir, client, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET
                     name = excluded.name, workspace_dir = excluded.workspace_dir,
                     client = excluded.client",
            )?
            .execute(params![id, name, workspace, client, now()])?;
            Ok(())
        })
        .await
    }

    /// The agent with this id, if registered.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn get_agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let id = id.to_owned();
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached("SELECT id, name, workspace_dir, client FROM agents WHERE id = ?1")?
                .query_row([&id], agent_from_row)
                .optional()?)
        })
        .await
    }

    /// Every registered agent, by id.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        self.run(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT id, name, workspace_dir, client FROM agents ORDER BY id")?
                .query_map([], agent_from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Removes the agent, its links and its messages, in one transaction; returns whether
    /// it existed.
    ///
    /// The agent's `.mcp.json` is not touched: unlink it with
    /// [`sync_mcp_json`](crate::linking::sync_mcp_json) first if its workspace stays.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn delete_agent(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |tx, _| {
            // The foreign keys cascade too; explicit deletes keep this correct regardless.
            tx.prepare_cached("DELETE FROM links WHERE agent_id = ?1")?
                .execute([&id])?;
            tx.prepare_cached("DELETE FROM messages WHERE agent_id = ?1")?
                .execute([&id])?;
            let deleted = tx
                .prepare_cached("DELETE FROM agents WHERE id = ?1")?
                .execute([&id])?;
            Ok(deleted > 0)
        })
        .await
    }

    /// Links `agent` to `plugin`; returns whether the link is new (linking twice is fine).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownAgent`] or [`StoreError::UnknownPlugin`] when either is not in
    /// the store.
    pub async fn link(&self, agent: &str, plugin: &str) -> Result<bool, StoreError> {
        let (agent, plugin) = (agent.to_owned(), plugin.to_owned());
        self.write(move |tx, _| {
            // Checked by hand rather than left to the foreign key, whose error does not say
            // which side is missing.
            if !exists(tx, "agents", "id", &agent)? {
                return Err(StoreError::UnknownAgent { id: clip(&agent) });
            }
            if !exists(tx, "plugins", "name", &plugin)? {
                return Err(StoreError::UnknownPlugin {
                    name: clip(&plugin),
                });
            }
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO links (agent_id, plugin, created_at, link_id)
                     VALUES (?1, ?2, ?3, lower(hex(randomblob(16))))
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![agent, plugin, now()])?;
            Ok(inserted > 0)
        })
        .await
    }

    /// Removes the link between `agent` and `plugin`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn unlink(&self, agent: &str, plugin: &str) -> Result<bool, StoreError> {
        let (agent, plugin) = (agent.to_owned(), plugin.to_owned());
        self.write(move |tx, _| {
            let deleted = tx
                .prepare_cached("DELETE FROM links WHERE agent_id = ?1 AND plugin = ?2")?
                .execute([&agent, &plugin])?;
            Ok(deleted > 0)
        })
        .await
    }

    /// The plugins `agent` is linked to, by name.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn links_of_agent(&self, agent: &str) -> Result<Vec<String>, StoreError> {
        let agent = agent.to_owned();
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached("SELECT plugin FROM links WHERE agent_id = ?1 ORDER BY plugin")?
                .query_map([&agent], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The id of the link between `agent` and `plugin`, when they are linked: the value of
    /// the URL's [`AGENT_LINK_PARAM`](nanofleet_contracts::names::AGENT_LINK_PARAM), 32 hex
    /// digits drawn when the link was made.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn link_id(&self, agent: &str, plugin: &str) -> Result<Option<String>, StoreError> {
        let (agent, plugin) = (agent.to_owned(), plugin.to_owned());
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached("SELECT link_id FROM links WHERE agent_id = ?1 AND plugin = ?2")?
                .query_row([&agent, &plugin], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// The agents linked to `plugin`, by id.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn agents_of_plugin(&self, plugin: &str) -> Result<Vec<String>, StoreError> {
        let plugin = plugin.to_owned();
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached("SELECT agent_id FROM links WHERE plugin = ?1 ORDER BY agent_id")?
                .query_map([&plugin], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every link, by agent then plugin.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn list_links(&self) -> Result<Vec<LinkRecord>, StoreError> {
        self.run(|conn, _| {
            Ok(conn
                .prepare_cached(
                    "SELECT agent_id, plugin, created_at FROM links ORDER BY agent_id, plugin",
                )?
                .query_map([], |r| {
                    Ok(LinkRecord {
                        agent_id: r.get(0)?,
                        plugin: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every link with its id, by agent then plugin: what the agents' URLs are made from,
    /// in one read for a pass over the whole fleet. Crate-internal, as the ids are parts of
    /// the agents' URLs.
    pub(crate) async fn links_with_ids(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.run(|conn, _| {
            Ok(conn
                .prepare_cached(
                    "SELECT agent_id, plugin, link_id FROM links ORDER BY agent_id, plugin",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}

fn agent_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let client: String = row.get(3)?;
    let client = crate::linking::Client::parse(&client).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown MCP client {client:?}").into(),
        )
    })?;
    Ok(AgentRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        workspace_dir: PathBuf::from(row.get::<_, String>(2)?),
        client,
    })
}

/// Checks `agent` and returns its workspace as text.
fn check_agent(agent: &AgentRecord) -> Result<String, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidAgent {
        id: clip(&agent.id),
        reason: reason.to_owned(),
    };
    // The plugins' rule: an id stored here is one every plugin accepts in its URL.
    if let Err(why) = nanofleet_contracts::agent_id::check(&agent.id) {
        return Err(invalid(&why.to_string()));
    }
    if agent.name.len() > MAX_AGENT_NAME_BYTES {
        return Err(invalid(&format!(
            "the name is longer than {MAX_AGENT_NAME_BYTES} bytes"
        )));
    }
    if !agent.workspace_dir.is_absolute() {
        return Err(invalid(&format!(
            "the workspace {} is not an absolute path",
            agent.workspace_dir.display()
        )));
    }
    agent
        .workspace_dir
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid("the workspace path is not valid UTF-8"))
}
