//! Schema migrations for every SQLite store of the project: the plugin's and the host's.

use rusqlite::Connection;

/// Why [`apply_migrations`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The database was written by a newer version: it has more migrations than are known.
    #[error("the database has schema version {found}, newer than the {known} known here")]
    TooNew {
        /// The version in the file.
        found: usize,
        /// How many migrations this build knows.
        known: usize,
    },
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings a SQLite database to the latest of `migrations` (applied in order; `PRAGMA
/// user_version` records how many ran). One definition for every store of the project: the
/// plugin's and `nanofleet-host`'s.
///
/// It runs in one IMMEDIATE transaction, which takes the write lock before reading the
/// version, so two processes opening the same file at once cannot both apply a migration.
pub fn apply_migrations(conn: &mut Connection, migrations: &[&str]) -> Result<(), MigrationError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // A negative or huge user_version is not ours: treat it as "newer than known".
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > migrations.len() {
        return Err(MigrationError::TooNew {
            found: version,
            known: migrations.len(),
        });
    }
    for sql in &migrations[version..] {
        tx.execute_batch(sql)?;
    }
    let latest = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    tx.pragma_update(None, "user_version", latest)?;
    tx.commit()?;
    Ok(())
}
