//! The `messages` table: what plugins send agents through the host's callback API.

use rusqlite::params;

use super::{MessageRecord, Store, StoreError, clip, exists, now};

/// The longest message a plugin may send, from the callback contract.
pub use nanofleet_contracts::callback::MAX_MESSAGE_BYTES;

/// The most messages kept per agent: a newer one pushes the oldest out.
pub const MAX_MESSAGES_PER_AGENT: usize = 1000;

/// The most bytes of message text kept per agent (16 MiB): a plugin sending large messages fast
/// pushes the oldest out rather than filling the host's disk.
pub const MAX_MESSAGE_BYTES_PER_AGENT: usize = 16 * 1024 * 1024;

/// The most messages one page of [`Store::messages_page`] holds.
pub const MAX_MESSAGES_PER_PAGE: usize = 1000;

/// The sender of the messages the host itself sends agents (the fleet's MCP server): a
/// reserved plugin name.
pub const HOST_SENDER: &str = "nanofleet-host";

impl Store {
    /// Records a message from `plugin` (or the host, [`HOST_SENDER`]) to `agent`; returns
    /// its id.
    ///
    /// # Errors
    ///
    /// [`StoreError::MessageTooLarge`] over [`MAX_MESSAGE_BYTES`],
    /// [`StoreError::UnknownAgent`] or [`StoreError::UnknownPlugin`] when either is not in
    /// the store.
    pub async fn record_message(
        &self,
        plugin: &str,
        agent: &str,
        content: &str,
    ) -> Result<i64, StoreError> {
        if content.len() > MAX_MESSAGE_BYTES {
            return Err(StoreError::MessageTooLarge { len: content.len() });
        }
        let (plugin, agent, content) = (plugin.to_owned(), agent.to_owned(), content.to_owned());
        self.write(move |tx, _| {
            if !exists(tx, "agents", "id", &agent)? {
                return Err(StoreError::UnknownAgent { id: clip(&agent) });
            }
            // The host itself (its MCP server's `send_agent_message`) is the one sender that
            // is no plugin; its name is reserved, so no plugin can pass for it.
            if plugin != HOST_SENDER && !exists(tx, "plugins", "name", &plugin)? {
                return Err(StoreError::UnknownPlugin {
                    name: clip(&plugin),
                });
            }
            tx.prepare_cached(
                "INSERT INTO messages (plugin, agent_id, content, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![plugin, agent, content, now()])?;
            let id = tx.last_insert_rowid();
            // Retention: the newest messages within both budgets stay, the rest go, in the
            // same transaction, so no sender can grow an agent's messages without bound.
            tx.prepare_cached(
                "DELETE FROM messages WHERE agent_id = ?1 AND id IN (
                     SELECT id FROM (
                         SELECT id,
                                row_number() OVER (ORDER BY id DESC) AS newer,
                                sum(length(CAST(content AS BLOB))) OVER (ORDER BY id DESC) AS bytes
                         FROM messages WHERE agent_id = ?1
                     ) WHERE newer > ?2 OR bytes > ?3
                 )",
            )?
            .execute(params![
                agent,
                MAX_MESSAGES_PER_AGENT as i64,
                MAX_MESSAGE_BYTES_PER_AGENT as i64
            ])?;
            Ok(id)
        })
        .await
    }

    /// At most `limit` (capped at [`MAX_MESSAGES_PER_PAGE`]) of `agent`'s messages with an id
    /// above `after`, oldest first: pass the last id of a page as `after` to get the next.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn messages_page(
        &self,
        agent: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let agent = agent.to_owned();
        let limit = limit.min(MAX_MESSAGES_PER_PAGE) as i64;
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached(
                    "SELECT id, plugin, agent_id, content, created_at FROM messages
                     WHERE agent_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                )?
                .query_map(params![agent, after, limit], message_from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The messages kept for `agent` (at most [`MAX_MESSAGES_PER_AGENT`]), oldest first.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn messages_for_agent(&self, agent: &str) -> Result<Vec<MessageRecord>, StoreError> {
        let agent = agent.to_owned();
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached(
                    "SELECT id, plugin, agent_id, content, created_at FROM messages
                     WHERE agent_id = ?1 ORDER BY id",
                )?
                .query_map([&agent], message_from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}

fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        id: r.get(0)?,
        plugin: r.get(1)?,
        agent_id: r.get(2)?,
        content: r.get(3)?,
        created_at: r.get(4)?,
    })
}
