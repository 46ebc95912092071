//! The `plugins` table.

use nanofleet_sdk::identity::InternalToken;
use nanofleet_sdk::manifest::{Manifest, Network, Overrides, config::ConfigValues, rules};
use rusqlite::{OptionalExtension as _, Row, params};

use super::{Desired, PluginRecord, Status, Store, StoreError, clip, now};

/// The sealed column: also part of the associated data binding the token to its row.
const TOKEN_COLUMN: &str = "plugins.internal_token";

const SELECT: &str = "SELECT name, manifest, desired, status, status_message, tools, overrides, \
                      allowed_more, require_signature, created_at, updated_at, replicas \
                      FROM plugins";

impl Store {
    /// Stores `record` and its internal token, replacing any plugin of the same name.
    ///
    /// Replacing keeps the plugin's links, its configuration values and its `created_at` (an
    /// upgrade is still the same plugin to the agents linked to it); `updated_at` is set to
    /// now. The timestamps in `record` are ignored.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidPlugin`] when the name breaks the plugin name rules or differs
    /// from `record.manifest.name`.
    pub async fn put_plugin(
        &self,
        record: &PluginRecord,
        token: &InternalToken,
    ) -> Result<(), StoreError> {
        self.put_plugin_inner(record, token, None).await
    }

    /// [`put_plugin`](Self::put_plugin), and in the same transaction the plugin's
    /// configuration values, replacing all earlier ones: an install or upgrade that fails
    /// leaves neither a record without its values nor values without their record.
    ///
    /// # Errors
    ///
    /// As [`put_plugin`](Self::put_plugin), and [`StoreError::InvalidConfig`] for a value
    /// whose key the manifest does not declare.
    pub async fn put_plugin_with_config(
        &self,
        record: &PluginRecord,
        token: &InternalToken,
        config: &ConfigValues,
    ) -> Result<(), StoreError> {
        self.put_plugin_inner(record, token, Some(config)).await
    }

    async fn put_plugin_inner(
        &self,
        record: &PluginRecord,
        token: &InternalToken,
        config: Option<&ConfigValues>,
    ) -> Result<(), StoreError> {
        let invalid = |reason: String| StoreError::InvalidPlugin {
            name: clip(&record.name),
            reason,
        };
        rules::check_plugin_name(&record.name).map_err(|v| invalid(v.to_string()))?;
        if record.name != record.manifest.name {
            return Err(invalid(format!(
                "the record's name differs from its manifest's name {:?}",
                clip(&record.manifest.name)
            )));
        }
        let manifest = serde_json::to_string(&record.manifest)
            .map_err(|e| invalid(format!("the manifest does not serialize: {e}")))?;
        let tools = serde_json::to_string(&record.tools)
            .map_err(|e| invalid(format!("the tools do not serialize: {e}")))?;
        let overrides = serde_json::to_string(&record.overrides)
            .map_err(|e| invalid(format!("the overrides do not serialize: {e}")))?;
        let allowed_more = serde_json::to_string(&record.allowed_more)
            .map_err(|e| invalid(format!("the accepted widenings do not serialize: {e}")))?;
        // Kept for a host of an earlier version reading this store: whether the plugin may
        // reach anywhere.
        let egress = record.permissions().network == Network::Unrestricted;
        let record = record.clone();
        let token = token.clone();
        let config = config.cloned();
        self.write(move |tx, sealer| {
            let sealed =
                sealer.seal(TOKEN_COLUMN, &record.name, token.expose_secret().as_bytes())?;
            let now = now();
            // An upsert, not INSERT OR REPLACE: REPLACE deletes the old row first, and the
            // cascade would silently drop every link to the plugin.
            tx.prepare_cached(
                "INSERT INTO plugins (name, manifest, desired, status, status_message, tools,
                     token_nonce, internal_token, egress, require_signature, overrides,
                     allowed_more, created_at, updated_at, replicas)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)
                 ON CONFLICT (name) DO UPDATE SET
                     manifest = excluded.manifest,
                     desired = excluded.desired,
                     status = excluded.status,
                     status_message = excluded.status_message,
                     tools = excluded.tools,
                     token_nonce = excluded.token_nonce,
                     internal_token = excluded.internal_token,
                     egress = excluded.egress,
                     require_signature = excluded.require_signature,
                     overrides = excluded.overrides,
                     allowed_more = excluded.allowed_more,
                     replicas = excluded.replicas,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![
                record.name,
                manifest,
                record.desired.as_str(),
                record.status.as_str(),
                record.status_message,
                tools,
                sealed.nonce,
                sealed.ciphertext,
                egress,
                record.require_signature,
                overrides,
                allowed_more,
                now,
                record.replicas,
            ])?;
            if let Some(config) = &config {
                super::config::replace(tx, sealer, &record.name, &record.manifest.config, config)?;
            }
            Ok(())
        })
        .await
    }

    /// The plugin named `name`, if installed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the row cannot be read back.
    pub async fn get_plugin(&self, name: &str) -> Result<Option<PluginRecord>, StoreError> {
        let name = name.to_owned();
        self.run(move |conn, _| {
            let raw = conn
                .prepare_cached(&format!("{SELECT} WHERE name = ?1"))?
                .query_row([&name], RawPlugin::from_row)
                .optional()?;
            raw.map(RawPlugin::into_record).transpose()
        })
        .await
    }

    /// Every installed plugin, by name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when a row cannot be read back.
    pub async fn list_plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        self.run(|conn, _| {
            let raws = conn
                .prepare_cached(&format!("{SELECT} ORDER BY name"))?
                .query_map([], RawPlugin::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawPlugin::into_record).collect()
        })
        .await
    }

    /// The names of every installed plugin, sorted: what [`list_plugins`](Self::list_plugins)
    /// lists, without reading (and parsing) each manifest.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn plugin_names(&self) -> Result<Vec<String>, StoreError> {
        self.run(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT name FROM plugins ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The internal token of the plugin named `name`, if installed.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongSecretKey`] when the token does not decrypt.
    pub async fn plugin_token(&self, name: &str) -> Result<Option<InternalToken>, StoreError> {
        let name = name.to_owned();
        self.run(move |conn, sealer| {
            let sealed: Option<(Vec<u8>, Vec<u8>)> = conn
                .prepare_cached("SELECT token_nonce, internal_token FROM plugins WHERE name = ?1")?
                .query_row([&name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((nonce, ciphertext)) = sealed else {
                return Ok(None);
            };
            let plain = sealer.open(TOKEN_COLUMN, &name, &nonce, &ciphertext)?;
            let corrupt = |reason: &str| StoreError::Corrupt {
                what: format!("internal token of plugin {name:?}"),
                reason: reason.to_owned(),
            };
            let text = String::from_utf8(plain).map_err(|_| corrupt("it is not UTF-8"))?;
            InternalToken::new(text)
                .map(Some)
                .map_err(|_| corrupt("it is not a valid token"))
        })
        .await
    }

    /// Records what the host observed; `message` replaces the previous one (`None` clears it).
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownPlugin`] when no plugin has this name.
    pub async fn set_status(
        &self,
        name: &str,
        status: Status,
        message: Option<&str>,
    ) -> Result<(), StoreError> {
        let (name, message) = (name.to_owned(), message.map(str::to_owned));
        self.write(move |tx, _| {
            let changed = tx
                .prepare_cached(
                    "UPDATE plugins SET status = ?2, status_message = ?3, updated_at = ?4
                     WHERE name = ?1",
                )?
                .execute(params![name, status.as_str(), message, now()])?;
            found(changed, &name)
        })
        .await
    }

    /// Records what the user wants.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownPlugin`] when no plugin has this name.
    pub async fn set_desired(&self, name: &str, desired: Desired) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(move |tx, _| {
            let changed = tx
                .prepare_cached("UPDATE plugins SET desired = ?2, updated_at = ?3 WHERE name = ?1")?
                .execute(params![name, desired.as_str(), now()])?;
            found(changed, &name)
        })
        .await
    }

    /// Records the tools the plugin listed.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownPlugin`] when no plugin has this name.
    pub async fn set_tools(
        &self,
        name: &str,
        tools: Vec<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let tools = serde_json::to_string(&tools).map_err(|e| StoreError::InvalidPlugin {
            name: clip(name),
            reason: format!("the tools do not serialize: {e}"),
        })?;
        let name = name.to_owned();
        self.write(move |tx, _| {
            let changed = tx
                .prepare_cached("UPDATE plugins SET tools = ?2, updated_at = ?3 WHERE name = ?1")?
                .execute(params![name, tools, now()])?;
            found(changed, &name)
        })
        .await
    }

    /// Removes the plugin and every link to it, in one transaction; returns whether it
    /// existed.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn delete_plugin(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |tx, _| {
            // The foreign key cascades too; deleting explicitly keeps this correct even on a
            // connection where someone turned foreign keys off.
            tx.prepare_cached("DELETE FROM links WHERE plugin = ?1")?
                .execute([&name])?;
            tx.prepare_cached("DELETE FROM removals WHERE plugin = ?1")?
                .execute([&name])?;
            tx.prepare_cached("DELETE FROM plugin_config WHERE plugin = ?1")?
                .execute([&name])?;
            let deleted = tx
                .prepare_cached("DELETE FROM plugins WHERE name = ?1")?
                .execute([&name])?;
            Ok(deleted > 0)
        })
        .await
    }
}

/// `Ok` when an UPDATE changed a row, else [`StoreError::UnknownPlugin`].
fn found(changed: usize, name: &str) -> Result<(), StoreError> {
    if changed == 0 {
        return Err(StoreError::UnknownPlugin { name: clip(name) });
    }
    Ok(())
}

/// A `plugins` row as SQLite returns it, before the JSON and enum columns are checked.
struct RawPlugin {
    name: String,
    manifest: String,
    desired: String,
    status: String,
    status_message: Option<String>,
    tools: String,
    overrides: String,
    allowed_more: String,
    require_signature: bool,
    created_at: i64,
    updated_at: i64,
    replicas: u32,
}

impl RawPlugin {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            manifest: row.get(1)?,
            desired: row.get(2)?,
            status: row.get(3)?,
            status_message: row.get(4)?,
            tools: row.get(5)?,
            overrides: row.get(6)?,
            allowed_more: row.get(7)?,
            require_signature: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
            replicas: row.get(11)?,
        })
    }

    fn into_record(self) -> Result<PluginRecord, StoreError> {
        let corrupt = |column: &str, reason: String| StoreError::Corrupt {
            what: format!("{column} of plugin {:?}", clip(&self.name)),
            reason,
        };
        let manifest: Manifest =
            serde_json::from_str(&self.manifest).map_err(|e| corrupt("manifest", e.to_string()))?;
        let tools: Vec<serde_json::Value> =
            serde_json::from_str(&self.tools).map_err(|e| corrupt("tools", e.to_string()))?;
        let overrides: Overrides = serde_json::from_str(&self.overrides)
            .map_err(|e| corrupt("permission overrides", e.to_string()))?;
        let allowed_more: Vec<String> = serde_json::from_str(&self.allowed_more)
            .map_err(|e| corrupt("accepted widenings", e.to_string()))?;
        let desired = Desired::parse(&self.desired)
            .ok_or_else(|| corrupt("desired state", format!("unknown value {:?}", self.desired)))?;
        let status = Status::parse(&self.status)
            .ok_or_else(|| corrupt("status", format!("unknown value {:?}", self.status)))?;
        Ok(PluginRecord {
            name: self.name,
            manifest,
            desired,
            status,
            status_message: self.status_message,
            tools,
            overrides,
            allowed_more,
            require_signature: self.require_signature,
            created_at: self.created_at,
            updated_at: self.updated_at,
            replicas: self.replicas,
        })
    }
}
