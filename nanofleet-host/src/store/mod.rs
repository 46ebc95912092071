//! The host's desired state: an embedded SQLite database in the data directory.
//!
//! One file, `<data_dir>/nanofleet-host.sqlite3`, holds the installed plugins, the agents,
//! which agent is linked to which plugin, the API keys users set for plugins, and messages
//! plugins sent back to agents. Actual state (what runs) lives in the container engine; the
//! reconciler compares the two.
//!
//! Secrets (each plugin's internal token, API key values) are encrypted at rest with a key
//! kept outside the database: [`SECRET_KEY_ENV`] or `<data_dir>/secret.key` (see
//! [`SecretKey`]). A copy of the database alone reveals no secret, and a store opened with
//! the wrong key fails at [`Store::open`] with [`StoreError::WrongSecretKey`] rather than
//! handing out garbage later.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nanofleet_host::store::StoreError> {
//! use nanofleet_host::store::{AgentRecord, Store};
//!
//! let store = Store::open(std::path::Path::new("/var/lib/nanofleet"))?;
//! store.put_agent(&AgentRecord::new("agent-1", "Ada", "/srv/agents/ada")).await?;
//! for plugin in store.links_of_agent("agent-1").await? {
//!     println!("{plugin}");
//! }
//! # Ok(()) }
//! ```

mod agents;
mod api_keys;
mod config;
mod messages;
mod plugins;
mod policy;
mod records;
mod removals;
mod secret;
mod tokens;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

pub use agents::MAX_AGENT_ID_BYTES;
pub use api_keys::MAX_API_KEY_VALUE_BYTES;
pub use messages::{
    HOST_SENDER, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES_PER_AGENT, MAX_MESSAGES_PER_AGENT,
    MAX_MESSAGES_PER_PAGE,
};
pub use records::{
    AgentRecord, Desired, LinkRecord, MessageRecord, PluginRecord, Status, Timestamp,
};
pub use secret::{SECRET_KEY_ENV, SECRET_KEY_FILE, SECRET_KEY_LEN, SecretKey};
pub use tokens::{AuditEntry, MAX_AUDIT_ENTRIES, Scope, TokenRecord};

use nanofleet_sdk::store::ConnectionThread;
use secret::Sealer;

/// The file name of the database inside the data directory.
pub const STORE_FILE: &str = "nanofleet-host.sqlite3";

/// How long a call waits for another process holding the database's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
///
/// Append only: a released entry is never edited, because databases in the field have
/// already run it.
const MIGRATIONS: &[&str] = &["
    -- Facts about the store itself, e.g. the check that the secret key is the right one.
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE plugins (
        name              TEXT PRIMARY KEY,
        manifest          TEXT NOT NULL,
        desired           TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
        status            TEXT NOT NULL
                          CHECK (status IN ('installing', 'running', 'stopped', 'error', 'upgrading')),
        status_message    TEXT,
        tools             TEXT NOT NULL DEFAULT '[]',
        -- The internal token, sealed (see store/secret.rs).
        token_nonce       BLOB NOT NULL,
        internal_token    BLOB NOT NULL,
        egress            INTEGER NOT NULL CHECK (egress IN (0, 1)),
        require_signature INTEGER NOT NULL CHECK (require_signature IN (0, 1)),
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL
    );

    CREATE TABLE agents (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        workspace_dir TEXT NOT NULL,
        created_at    INTEGER NOT NULL
    );

    CREATE TABLE links (
        agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
        plugin     TEXT NOT NULL REFERENCES plugins (name) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (agent_id, plugin)
    ) WITHOUT ROWID;
    CREATE INDEX links_by_plugin ON links (plugin, agent_id);

    CREATE TABLE api_keys (
        name       TEXT PRIMARY KEY,
        nonce      BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- No foreign key to plugins: what a plugin told an agent stays after it is uninstalled.
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin     TEXT NOT NULL,
        agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
        content    TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX messages_by_agent ON messages (agent_id, id);
", "
    -- Plugins being removed: the desired state \"gone\", kept until the cleanup (container,
    -- every agent's entry, the data volume when purging) has finished; an interrupted removal
    -- is finished by the next reconcile pass.
    CREATE TABLE removals (
        plugin       TEXT PRIMARY KEY REFERENCES plugins (name) ON DELETE CASCADE,
        purge        INTEGER NOT NULL CHECK (purge IN (0, 1)),
        requested_at INTEGER NOT NULL
    ) WITHOUT ROWID;
", "
    -- The id of each link, drawn afresh whenever an agent is linked to a plugin (and when the
    -- agent moves to another workspace). The host writes it into the agent's URL and the
    -- plugin checks it against the host's answer, so a URL outlives neither its link nor the
    -- workspace it was written to.
    ALTER TABLE links ADD COLUMN link_id TEXT NOT NULL DEFAULT '';
    UPDATE links SET link_id = lower(hex(randomblob(16)));
", "
    -- What the operator changed from the manifest's permissions for an install (the JSON of
    -- `Overrides`), and the widenings past the manifest it accepted (`--allow-more`), one
    -- sentence each. `egress` stays, written as \"the grant's network is unrestricted\". A
    -- plugin installed with the former `--egress` flag held unrestricted network beyond its
    -- manifest (which could not declare any), and is recorded so.
    ALTER TABLE plugins ADD COLUMN overrides TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE plugins ADD COLUMN allowed_more TEXT NOT NULL DEFAULT '[]';
    UPDATE plugins
       SET overrides = '{\"network\":true}',
           allowed_more = '[\"network unrestricted where none was declared (--egress)\"]'
     WHERE egress = 1;
", "
    -- The values of each plugin's typed settings (its manifest's `config`). A sensitive
    -- setting's value is sealed like an API key (nonce and ciphertext, `value` NULL); any
    -- other is its JSON in `value`. Defaults are not stored: they come from the manifest of
    -- the version that runs.
    CREATE TABLE plugin_config (
        plugin     TEXT NOT NULL REFERENCES plugins (name) ON DELETE CASCADE,
        key        TEXT NOT NULL,
        value      TEXT,
        nonce      BLOB,
        ciphertext BLOB,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (plugin, key),
        CHECK ((value IS NULL) = (ciphertext IS NOT NULL))
    ) WITHOUT ROWID;
", "
    -- The MCP client each agent runs (`claude-code`, `nanobot`, `codex`, `vscode`): it decides which file in
    -- the workspace the host writes the agent's plugins into, and in what shape.
    ALTER TABLE agents ADD COLUMN client TEXT NOT NULL DEFAULT 'claude-code';
", "
    -- Scoped API tokens, kept as the SHA-256 of their value (shown once, at creation).
    CREATE TABLE api_tokens (
        name         TEXT PRIMARY KEY,
        scope        TEXT NOT NULL CHECK (scope IN ('read', 'operate')),
        hash         BLOB NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER
    ) WITHOUT ROWID;

    -- Every mutating call through the API: who, what, when, and the answer's status.
    CREATE TABLE audit_log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        who    TEXT NOT NULL,
        action TEXT NOT NULL,
        status INTEGER NOT NULL
    );
", "
    -- How many copies of each plugin run behind its name (more than one only on Swarm, for
    -- plugins without a data volume).
    ALTER TABLE plugins ADD COLUMN replicas INTEGER NOT NULL DEFAULT 1 CHECK (replicas >= 1);
"];

/// The `meta` row holding a sealed known value, to recognise a wrong key at open.
const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"nanofleet-host secret key check";

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created or the database not opened.
    #[error(
        "cannot open the host store at {}: {source}; check that the data directory exists \
         and is writable by the host",
        path.display()
    )]
    Open {
        /// The database file or data directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database is missing or empty while the data directory holds the secret key of an
    /// earlier one: the store was lost or truncated, which is damage, not a fresh start (a new
    /// store would take every plugin's container for an orphan and remove it).
    #[error(
        "the host store at {} is missing or empty, but the data directory holds the secret key \
         of an earlier store ({SECRET_KEY_FILE}): the database was lost or truncated. Nothing \
         was changed. Restore it from a backup; to start afresh on purpose, move {SECRET_KEY_FILE} \
         away as well",
        path.display()
    )]
    Lost {
        /// The database file.
        path: PathBuf,
    },
    /// The file was written by a newer version of the host.
    #[error(
        "the host store at {} has schema version {found}, newer than this host knows \
         ({known}); run the newer nanofleet-host version or restore a backup",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: usize,
        /// The latest version this host knows.
        known: usize,
    },
    /// The secret key in the environment or key file is malformed.
    #[error(
        "{origin} is not a valid secret key: {reason}; it must be exactly 32 bytes in \
         base64, e.g. the output of `openssl rand -base64 32`"
    )]
    InvalidSecretKey {
        /// Where the key came from: the environment variable or the file.
        origin: String,
        /// What is wrong with it (never the key itself).
        reason: String,
    },
    /// The key file is readable or writable by users other than its owner.
    #[error(
        "the secret key file {} has mode {mode:03o}, which lets other users read or replace \
         it; run `chmod 600 {}` (and consider the key exposed if others could read it)",
        path.display(),
        path.display()
    )]
    SecretKeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file could not be read or created.
    #[error("cannot read or create the secret key file {}: {source}", path.display())]
    SecretKeyFile {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A secret did not decrypt: the key is not the one the store was written with.
    #[error(
        "cannot decrypt {what}: the secret key does not match the one the store was written \
         with; start the host with the original key ({SECRET_KEY_ENV} or {SECRET_KEY_FILE} \
         in the data directory) or restore a backup"
    )]
    WrongSecretKey {
        /// What could not be decrypted.
        what: String,
    },
    /// No plugin has this name.
    #[error("no plugin named {name:?} is installed")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
    },
    /// No agent has this id.
    #[error("no agent with id {id:?} is registered; register it before linking or messaging it")]
    UnknownAgent {
        /// The id asked for.
        id: String,
    },
    /// A plugin record cannot be stored as given.
    #[error("cannot store plugin {name:?}: {reason}")]
    InvalidPlugin {
        /// The record's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An agent record cannot be stored as given.
    #[error("cannot store agent {id:?}: {reason}")]
    InvalidAgent {
        /// The record's id (cut to a readable length).
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// An API key name is not a usable environment variable name.
    #[error("invalid API key name: {reason}")]
    InvalidApiKeyName {
        /// The name (cut to a readable length).
        name: String,
        /// What is wrong, with a hint.
        reason: String,
    },
    /// An API key value cannot be passed as an environment variable.
    #[error("invalid value for API key {name}: {reason}")]
    InvalidApiKeyValue {
        /// The key's name; the value is never included.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A scoped token cannot be created as asked.
    #[error("cannot create token {name:?}: {reason}")]
    InvalidToken {
        /// The name asked for.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A plugin's configuration values cannot be stored as given.
    #[error("cannot store the configuration of plugin {plugin:?}: {reason}")]
    InvalidConfig {
        /// The plugin.
        plugin: String,
        /// What is wrong; never a value.
        reason: String,
    },
    /// A message is larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {len} bytes is larger than the {MAX_MESSAGE_BYTES}-byte limit")]
    MessageTooLarge {
        /// Its size.
        len: usize,
    },
    /// A stored row cannot be read back.
    #[error(
        "the host store holds an unreadable {what}: {reason}; it was changed outside the \
         host or by a newer version"
    )]
    Corrupt {
        /// What was being read.
        what: String,
        /// Why it cannot be read.
        reason: String,
    },
    /// SQLite reported an error. When the disk is full or failing, the message says so and
    /// that the change was not made (the transaction rolled back).
    #[error("host store error: {0}{hint}", hint = sqlite_hint(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// The store's worker thread failed.
    #[error("host store worker failed: {0}")]
    Worker(String),
}

impl StoreError {
    /// The stable, snake_case identifier of the error, as the API answers it:
    /// `internal_error` for the store's own failures, which are the host's, not the caller's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPlugin { .. } => "plugin_not_found",
            Self::UnknownAgent { .. } => "agent_not_found",
            Self::InvalidPlugin { .. } => "invalid_plugin",
            Self::InvalidAgent { .. } => "invalid_agent",
            Self::InvalidApiKeyName { .. } => "invalid_api_key_name",
            Self::InvalidApiKeyValue { .. } => "invalid_api_key_value",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::InvalidToken { .. } => "invalid_token",
            Self::MessageTooLarge { .. } => "message_too_large",
            _ => "internal_error",
        }
    }
}

/// What to add to a SQLite error for an operator: a failed write to the disk is theirs to fix.
fn sqlite_hint(error: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, ReadOnly, SystemIoFailure};
    match error.sqlite_error_code() {
        Some(DiskFull | SystemIoFailure | ReadOnly | CannotOpen) => {
            "; nothing was changed: check that the disk holding the data directory has room \
             and is writable, then try again"
        }
        _ => "",
    }
}

/// What [`Store::change_mark`] returns: compare two for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMark(i64, u64);

/// The host's desired state.
///
/// Cheap to clone: clones share one connection, owned by a thread of its own that runs every
/// method's SQL, so they are safe to await from async code. Open it once per process.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    sealer: Sealer,
    // One connection on a thread of its own (SQLite serialises writers anyway), shared with
    // the plugin store's design.
    conn: ConnectionThread,
}

// Written by hand so that no secret can reach a log through `{:?}`.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating when needed) the store in `data_dir`, with the secret key from
    /// [`SECRET_KEY_ENV`] or `<data_dir>/secret.key` (created on first start).
    ///
    /// Blocks on file I/O; from async code, call it before serving or in `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// When the directory or database cannot be opened, the schema is newer than this
    /// host, the secret key is missing, malformed, too widely readable or not the one
    /// the store was written with, or the database is missing or empty beside the key file
    /// of an earlier one ([`StoreError::Lost`]).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_data_dir(data_dir)?;
        // Looked at before anything is created: a key file beside no database is a lost store.
        let path = data_dir.join(STORE_FILE);
        let had_key = data_dir.join(SECRET_KEY_FILE).exists();
        // In WAL mode a store killed before its first checkpoint has an empty main file and
        // its data in `-wal`: that is a store.
        let non_empty = |p: &Path| fs::metadata(p).is_ok_and(|m| m.len() > 0);
        let has_database =
            non_empty(&path) || non_empty(&data_dir.join(format!("{STORE_FILE}-wal")));
        if had_key && !has_database {
            return Err(StoreError::Lost { path });
        }
        let key = SecretKey::from_env_or_file(data_dir)?;
        Self::open_with_key(data_dir, &key)
    }

    /// Opens the store in `data_dir` with a given key, ignoring the environment and the
    /// key file.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), apart from reading the key.
    pub fn open_with_key(data_dir: &Path, key: &SecretKey) -> Result<Self, StoreError> {
        create_data_dir(data_dir)?;
        let path = data_dir.join(STORE_FILE);
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.clone(),
            source: Box::new(e),
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // WAL + NORMAL survives a process crash; only an OS crash can lose the last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::finish_open(conn, path, key)
    }

    /// A store in memory with a random key, for tests.
    ///
    /// # Errors
    ///
    /// Only if SQLite itself fails.
    pub fn open_in_memory_for_tests() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::finish_open(conn, PathBuf::from(":memory:"), &SecretKey::generate())
    }

    fn finish_open(
        mut conn: Connection,
        path: PathBuf,
        key: &SecretKey,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Off by default in SQLite, per connection: links and messages rely on it.
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate(&mut conn, &path)?;
        let sealer = Sealer::new(key);
        check_key(&mut conn, &sealer)?;
        let conn = ConnectionThread::spawn("nanofleet-host-store", conn).map_err(|e| {
            StoreError::Open {
                path: path.clone(),
                source: Box::new(e),
            }
        })?;
        Ok(Self {
            inner: Arc::new(StoreInner { path, sealer, conn }),
        })
    }

    /// The database file (`:memory:` for a test store).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` with the connection on the store's thread.
    /// A mark that moves whenever anything in the store changed: a write through this store
    /// (SQLite's count of changed rows on its connection) or a commit by another process
    /// (`PRAGMA data_version`). Two equal marks mean that what was read between them is
    /// still current.
    ///
    /// # Errors
    ///
    /// Only on database failure.
    pub async fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        self.run(|conn, _| {
            let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
            Ok(ChangeMark(version, conn.total_changes()))
        })
        .await
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Sealer) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.inner
            .conn
            .call(move |conn| f(conn, &inner.sealer))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    /// Runs `f` in an IMMEDIATE transaction, committed when `f` succeeds.
    ///
    /// IMMEDIATE takes the write lock up front: a DEFERRED transaction that reads and then
    /// writes can fail with `SQLITE_BUSY` at once (no busy wait) when another process wrote
    /// in between, which would lose a write under concurrency.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &Sealer) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |conn, sealer| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx, sealer)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

fn create_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    secret::create_private_dir(data_dir).map_err(|e| StoreError::Open {
        path: data_dir.to_owned(),
        source: Box::new(e),
    })
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    use nanofleet_sdk::store::{MigrationError, apply_migrations};
    apply_migrations(conn, MIGRATIONS).map_err(|e| match e {
        MigrationError::TooNew { found, known } => StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        },
        MigrationError::Sqlite(e) => StoreError::Sqlite(e),
        other => StoreError::Worker(other.to_string()),
    })
}

/// Checks the key against the value sealed on first open, or seals one on first open.
///
/// Without this, a wrong key would surface only when a secret is first read (an install,
/// a restart), far from its cause.
fn check_key(conn: &mut Connection, sealer: &Sealer) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored: Option<Vec<u8>> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [KEY_CHECK], |r| {
            r.get(0)
        })
        .optional()?;
    match stored {
        Some(blob) => {
            let (nonce, ciphertext) = blob.split_at(blob.len().min(secret::NONCE_LEN));
            let plain = sealer
                .open("meta.value", KEY_CHECK, nonce, ciphertext)
                .map_err(|e| match e {
                    StoreError::WrongSecretKey { .. } => StoreError::WrongSecretKey {
                        what: "the store's key check".into(),
                    },
                    other => other,
                })?;
            if plain != KEY_CHECK_PLAINTEXT {
                return Err(StoreError::Corrupt {
                    what: "key check".into(),
                    reason: "it decrypts to an unexpected value".into(),
                });
            }
        }
        None => {
            let sealed = sealer.seal("meta.value", KEY_CHECK, KEY_CHECK_PLAINTEXT)?;
            let mut blob = sealed.nonce;
            blob.extend_from_slice(&sealed.ciphertext);
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![KEY_CHECK, blob],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The current time as a [`Timestamp`].
fn now() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        // A clock before 1970 is broken; 0 sorts first and is obviously wrong in a listing.
        .unwrap_or(0)
}

/// `text` cut to a length fit for an error message.
fn clip(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(MAX_CHARS).collect();
    clipped.push('…');
    clipped
}

/// Whether a row with `key` exists in `table` (`table` and `column` are our constants).
fn exists(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    column: &str,
    key: &str,
) -> Result<bool, StoreError> {
    let sql = format!("SELECT 1 FROM {table} WHERE {column} = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([key], |_| Ok(()))
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_shows_no_secret() {
        let store = Store::open_in_memory_for_tests().expect("store");
        let debug = format!("{store:?}");
        assert!(debug.contains(":memory:"), "{debug}");
        assert!(!debug.to_lowercase().contains("key"), "{debug}");
    }

    #[test]
    fn clip_cuts_long_text() {
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(100)).chars().count(), 65);
    }
}
