//! The `plugin_config` table: the values of each plugin's typed settings, sensitive ones
//! sealed like API keys.

use nanofleet_sdk::manifest::config::{ConfigSchema, ConfigValues};
use rusqlite::{Transaction, params};

use super::secret::Sealer;
use super::{Store, StoreError, clip, now};

/// The sealed column: also part of the associated data binding a value to its plugin and key.
const VALUE_COLUMN: &str = "plugin_config.ciphertext";

impl Store {
    /// The configuration values set for `plugin`, sensitive ones decrypted: what its container
    /// gets. Defaults are not included (see [`ConfigSchema::resolve`]). Empty for a plugin that
    /// is not installed.
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongSecretKey`] when a sealed value does not decrypt,
    /// [`StoreError::Corrupt`] when a stored value is not JSON.
    pub async fn plugin_config(&self, plugin: &str) -> Result<ConfigValues, StoreError> {
        let plugin = plugin.to_owned();
        self.run(move |conn, sealer| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, value, nonce, ciphertext FROM plugin_config WHERE plugin = ?1
                 ORDER BY key",
            )?;
            let rows = stmt
                .query_map([&plugin], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut values = ConfigValues::new();
            for (key, value, nonce, ciphertext) in rows {
                let corrupt = |reason: String| StoreError::Corrupt {
                    what: format!("setting {} of plugin {}", clip(&key), clip(&plugin)),
                    reason,
                };
                let text = match (value, nonce, ciphertext) {
                    (Some(text), _, None) => text,
                    (None, Some(nonce), Some(ciphertext)) => {
                        let plain =
                            sealer.open(VALUE_COLUMN, &row(&plugin, &key), &nonce, &ciphertext)?;
                        String::from_utf8(plain).map_err(|_| corrupt("it is not UTF-8".into()))?
                    }
                    _ => return Err(corrupt("it has neither a value nor a sealed one".into())),
                };
                let value = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
                values.insert(key, value);
            }
            Ok(values)
        })
        .await
    }

    /// Replaces every configuration value of `plugin` with `values`, sealing those of the
    /// settings its stored manifest marks sensitive.
    ///
    /// # Errors
    ///
    /// [`StoreError::UnknownPlugin`] when no plugin has this name;
    /// [`StoreError::InvalidConfig`] for a key its manifest does not declare or a value that
    /// does not fit its setting.
    pub async fn set_plugin_config(
        &self,
        plugin: &str,
        values: ConfigValues,
    ) -> Result<(), StoreError> {
        let plugin = plugin.to_owned();
        self.write(move |tx, sealer| {
            let manifest: Option<String> = tx
                .prepare_cached("SELECT manifest FROM plugins WHERE name = ?1")?
                .query_row([&plugin], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let Some(manifest) = manifest else {
                return Err(StoreError::UnknownPlugin {
                    name: clip(&plugin),
                });
            };
            let manifest: nanofleet_sdk::manifest::Manifest = serde_json::from_str(&manifest)
                .map_err(|e| StoreError::Corrupt {
                    what: format!("manifest of plugin {:?}", clip(&plugin)),
                    reason: e.to_string(),
                })?;
            replace(tx, sealer, &plugin, &manifest.config, &values)
        })
        .await
    }
}

/// The row part of a sealed value's associated data. Plugin names and keys hold no `/`, so
/// no two cells share it.
fn row(plugin: &str, key: &str) -> String {
    format!("{plugin}/{key}")
}

/// Replaces the values of `plugin` inside the transaction `tx`.
pub(super) fn replace(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    plugin: &str,
    schema: &ConfigSchema,
    values: &ConfigValues,
) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidConfig {
        plugin: clip(plugin),
        reason,
    };
    tx.prepare_cached("DELETE FROM plugin_config WHERE plugin = ?1")?
        .execute([plugin])?;
    let now = now();
    for (key, value) in values {
        let Some(setting) = schema.get(key) else {
            return Err(invalid(format!(
                "the manifest declares no setting {}",
                clip(key)
            )));
        };
        // The manifest's rule, once more: nothing that could not reach the plugin is stored.
        setting
            .check(value)
            .map_err(|reason| invalid(format!("setting {}: {reason}", clip(key))))?;
        let text = value.to_string();
        if setting.sensitive {
            let sealed = sealer.seal(VALUE_COLUMN, &row(plugin, key), text.as_bytes())?;
            tx.prepare_cached(
                "INSERT INTO plugin_config (plugin, key, value, nonce, ciphertext, updated_at)
                 VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
            )?
            .execute(params![plugin, key, sealed.nonce, sealed.ciphertext, now])?;
        } else {
            tx.prepare_cached(
                "INSERT INTO plugin_config (plugin, key, value, nonce, ciphertext, updated_at)
                 VALUES (?1, ?2, ?3, NULL, NULL, ?4)",
            )?
            .execute(params![plugin, key, text, now])?;
        }
    }
    Ok(())
}
