//! The `api_keys` table: values for plugins' `requiredEnvVars`, encrypted at rest.

use std::collections::BTreeMap;

use nanofleet_sdk::manifest::rules;
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, clip, now};

/// The sealed column: also part of the associated data binding a value to its name.
const VALUE_COLUMN: &str = "api_keys.ciphertext";

/// The largest value accepted, in bytes; environment variables are not meant for more.
pub const MAX_API_KEY_VALUE_BYTES: usize = 64 * 1024;

impl Store {
    /// Sets the API key `name` (an environment variable name) to `value`.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidApiKeyName`] when `name` is not a portable environment variable
    /// name or is in the host's reserved `NANO_` namespace;
    /// [`StoreError::InvalidApiKeyValue`] when `value` is empty, contains a NUL byte (an
    /// environment variable cannot) or is over [`MAX_API_KEY_VALUE_BYTES`].
    pub async fn set_api_key(&self, name: &str, value: &str) -> Result<(), StoreError> {
        check_name(name)?;
        let invalid_value = |reason: &str| StoreError::InvalidApiKeyValue {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(invalid_value(
                "it is empty; delete the key instead if it is no longer needed",
            ));
        }
        if value.contains('\0') {
            return Err(invalid_value(
                "it contains a NUL byte, which an environment variable cannot hold",
            ));
        }
        if value.len() > MAX_API_KEY_VALUE_BYTES {
            return Err(invalid_value(&format!(
                "it is longer than {MAX_API_KEY_VALUE_BYTES} bytes"
            )));
        }
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write(move |tx, sealer| {
            let sealed = sealer.seal(VALUE_COLUMN, &name, value.as_bytes())?;
            tx.prepare_cached(
                "INSERT INTO api_keys (name, nonce, ciphertext, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET
                     nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext,
                     updated_at = excluded.updated_at",
            )?
            .execute(params![name, sealed.nonce, sealed.ciphertext, now()])?;
            Ok(())
        })
        .await
    }

    /// The names of the stored API keys, sorted; never their values.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn api_key_names(&self) -> Result<Vec<String>, StoreError> {
        self.run(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT name FROM api_keys ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The values of the keys in `names` that are stored, decrypted, for a plugin
    /// container's environment. Names not stored are left out: see
    /// [`missing_api_keys`](Self::missing_api_keys).
    ///
    /// # Errors
    ///
    /// [`StoreError::WrongSecretKey`] when a value does not decrypt.
    pub async fn api_key_values(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let names = names.to_vec();
        self.run(move |conn, sealer| {
            let mut stmt =
                conn.prepare_cached("SELECT nonce, ciphertext FROM api_keys WHERE name = ?1")?;
            let mut values = BTreeMap::new();
            for name in names {
                let sealed: Option<(Vec<u8>, Vec<u8>)> = stmt
                    .query_row([&name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let Some((nonce, ciphertext)) = sealed else {
                    continue;
                };
                let plain = sealer.open(VALUE_COLUMN, &name, &nonce, &ciphertext)?;
                let value = String::from_utf8(plain).map_err(|_| StoreError::Corrupt {
                    what: format!("value of API key {}", clip(&name)),
                    reason: "it is not UTF-8".into(),
                })?;
                values.insert(name, value);
            }
            Ok(values)
        })
        .await
    }

    /// Removes the API key `name`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |tx, _| {
            let deleted = tx
                .prepare_cached("DELETE FROM api_keys WHERE name = ?1")?
                .execute([&name])?;
            Ok(deleted > 0)
        })
        .await
    }

    /// The names in `names` that have no stored value, in the order given, each once: what
    /// the user must set before a plugin requiring them can start.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn missing_api_keys(&self, names: &[String]) -> Result<Vec<String>, StoreError> {
        let names = names.to_vec();
        self.run(move |conn, _| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM api_keys WHERE name = ?1")?;
            let mut missing: Vec<String> = Vec::new();
            for name in names {
                let stored = stmt.query_row([&name], |_| Ok(())).optional()?.is_some();
                if !stored && !missing.contains(&name) {
                    missing.push(name);
                }
            }
            Ok(missing)
        })
        .await
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    rules::check_env_var_name(name)
        .and_then(|()| rules::check_env_var_not_reserved(name))
        .map_err(|violation| StoreError::InvalidApiKeyName {
            name: clip(name),
            reason: violation.to_string(),
        })
}
