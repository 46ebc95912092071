//! The `messages` table: what plugins send agents through the host's callback API.

use rusqlite::params;

use super::{MessageRecord, Store, StoreError, clip, exists, now};

/// The longest message a plugin may send, from the callback contract.
pub use nanofleet_contracts::callback::MAX_MESSAGE_BYTES;

impl Store {
    /// Records a message from `plugin` to `agent`; returns its id.
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
            if !exists(tx, "plugins", "name", &plugin)? {
                return Err(StoreError::UnknownPlugin {
                    name: clip(&plugin),
                });
            }
            tx.prepare_cached(
                "INSERT INTO messages (plugin, agent_id, content, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![plugin, agent, content, now()])?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    /// The messages recorded for `agent`, oldest first.
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
                .query_map([&agent], |r| {
                    Ok(MessageRecord {
                        id: r.get(0)?,
                        plugin: r.get(1)?,
                        agent_id: r.get(2)?,
                        content: r.get(3)?,
                        created_at: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}
