//! The operator's [`Policy`], one JSON row of `meta`: kept with the plugins it governs, so the
//! command line and `nanofleet serve` apply the same one.

use rusqlite::OptionalExtension as _;

use super::{Store, StoreError};
use crate::policy::Policy;

/// The `meta` key of the policy.
const POLICY_KEY: &str = "policy";

impl Store {
    /// The operator's policy; the default (no maxima, nothing forbidden) until one is set.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when the stored policy cannot be read back.
    pub async fn policy(&self) -> Result<Policy, StoreError> {
        self.run(|conn, _| {
            let raw: Option<Vec<u8>> = conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([POLICY_KEY], |row| row.get(0))
                .optional()?;
            raw.map_or(Ok(Policy::default()), |raw| {
                serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                    what: "the operator's policy".into(),
                    reason: e.to_string(),
                })
            })
        })
        .await
    }

    /// Replaces the operator's policy.
    ///
    /// # Errors
    ///
    /// When the store cannot be written.
    pub async fn set_policy(&self, policy: &Policy) -> Result<(), StoreError> {
        // Serializing a struct of numbers and flags cannot fail.
        let raw = serde_json::to_vec(policy).unwrap_or_default();
        self.write(move |tx, _| {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(rusqlite::params![POLICY_KEY, raw])?;
            Ok(())
        })
        .await
    }
}
