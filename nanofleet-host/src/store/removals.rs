//! The `removals` table: plugins whose desired state is "gone". A row stays until the removal's
//! cleanup has finished (then the plugin's row goes, and this one with it), so a removal that
//! failed or was interrupted is still known, and finished, by the next reconcile pass.

use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, clip, now};

impl Store {
    /// Records that `plugin` is to be removed (its data volume too when `purge`). Asking again
    /// keeps the first request's time and makes it a purge if either asked for one.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownPlugin`] when no plugin has this name.
    pub async fn mark_removal(&self, plugin: &str, purge: bool) -> Result<(), StoreError> {
        let plugin = plugin.to_owned();
        self.write(move |tx, _| {
            let known = tx
                .prepare_cached("SELECT 1 FROM plugins WHERE name = ?1")?
                .query_row([&plugin], |_| Ok(()))
                .optional()?
                .is_some();
            if !known {
                return Err(StoreError::UnknownPlugin {
                    name: clip(&plugin),
                });
            }
            tx.prepare_cached(
                "INSERT INTO removals (plugin, purge, requested_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (plugin) DO UPDATE SET purge = max(purge, excluded.purge)",
            )?
            .execute(params![plugin, i64::from(purge), now()])?;
            Ok(())
        })
        .await
    }

    /// `Some(purge)` when `plugin` is being removed.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn removal(&self, plugin: &str) -> Result<Option<bool>, StoreError> {
        let plugin = plugin.to_owned();
        self.run(move |conn, _| {
            Ok(conn
                .prepare_cached("SELECT purge FROM removals WHERE plugin = ?1")?
                .query_row([&plugin], |row| row.get::<_, i64>(0))
                .optional()?
                .map(|purge| purge != 0))
        })
        .await
    }

    /// Every plugin being removed, with whether its data goes too: one read for a pass over
    /// the whole fleet.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn removals(&self) -> Result<std::collections::BTreeMap<String, bool>, StoreError> {
        self.run(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT plugin, purge FROM removals")?
                .query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? != 0)))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}
