//! Per-agent storage: [`AgentStore`], a handle through which code reaches one agent's data only.
//!
//! The agent is fixed when the handle is made (from the request's verified [`AgentId`]) and no
//! method takes an agent id, so a tool cannot read or write another agent's data by mistake or
//! on purpose: isolation holds by construction, not by discipline.
//!
//! Data lives in one SQLite file, `nanofleet-store.sqlite3`, in the plugin's data directory
//! (`/data` in a NanoFleet container, a named volume kept across restarts and upgrades;
//! `NANOFLEET_DATA_DIR` overrides it). Values are stored as JSON, so any `Serialize` type works
//! and the file stays readable with the `sqlite3` shell.

use std::{
    marker::PhantomData,
    path::{Path, PathBuf},
    sync::{Arc, mpsc},
};

use rusqlite::{Connection, OptionalExtension, config::DbConfig, params};
use serde::{Serialize, de::DeserializeOwned};

use crate::agent::AgentId;

/// The file name of the store inside the data directory.
pub const STORE_FILE: &str = "nanofleet-store.sqlite3";

/// The largest value accepted, serialised. Keeps one agent from filling the volume in one call.
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// The longest key or collection name accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE kv (
         agent TEXT NOT NULL,
         key   TEXT NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (agent, key)
     ) WITHOUT ROWID;
     CREATE TABLE docs (
         agent TEXT NOT NULL,
         coll  TEXT NOT NULL,
         id    INTEGER NOT NULL,
         value TEXT NOT NULL,
         PRIMARY KEY (agent, coll, id)
     ) WITHOUT ROWID;
     CREATE TABLE seq (
         agent TEXT NOT NULL,
         coll  TEXT NOT NULL,
         next  INTEGER NOT NULL,
         PRIMARY KEY (agent, coll)
     ) WITHOUT ROWID;"];

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory does not exist and cannot be created: no volume is mounted there.
    #[error(
        "the plugin's data directory {} does not exist and cannot be created ({source}): \
         the NanoFleet host mounts the plugin's volume at /data; outside the host, set \
         NANOFLEET_DATA_DIR to a writable directory",
        dir.display()
    )]
    DataDirMissing {
        /// The data directory.
        dir: PathBuf,
        /// Why it could not be created.
        #[source]
        source: std::io::Error,
    },
    /// The data directory exists but the plugin's user may not write to it.
    #[error("{}", not_writable_message(self))]
    DataDirNotWritable {
        /// The data directory.
        dir: PathBuf,
        /// The user id the plugin runs as.
        uid: u32,
        /// The group id the plugin runs as.
        gid: u32,
        /// The directory's owner.
        owner_uid: u32,
        /// The directory's group.
        owner_gid: u32,
        /// The directory's permission bits, such as `0o755`.
        mode: u32,
        /// Whether the directory is on a read-only file system, which no owner or mode fixes.
        read_only_fs: bool,
    },
    /// The database could not be opened in the data directory.
    #[error(
        "cannot open the plugin store at {}: {source}. Mount a writable volume there \
         (the NanoFleet host mounts one at /data) or set NANOFLEET_DATA_DIR to a writable directory",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file was written by a newer version of the SDK.
    #[error(
        "the plugin store at {} has schema version {found}, newer than this plugin knows \
         ({known}); run the newer plugin version or restore a backup",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: usize,
        /// The latest version this SDK knows.
        known: usize,
    },
    /// A key or collection name is empty or too long.
    #[error("invalid key {key:?}: keys are 1 to {MAX_KEY_BYTES} bytes")]
    InvalidKey {
        /// The key (cut to a readable length).
        key: String,
    },
    /// A value is larger than [`MAX_VALUE_BYTES`] once serialised.
    #[error("value of {len} bytes is larger than the {MAX_VALUE_BYTES}-byte limit")]
    ValueTooLarge {
        /// The serialised size.
        len: usize,
    },
    /// A value could not be serialised, or a stored value does not match the requested type.
    #[error("stored value does not match the requested type: {0}")]
    Serde(#[from] serde_json::Error),
    /// SQLite reported an error.
    #[error("plugin store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store's worker thread failed.
    #[error("plugin store worker failed: {0}")]
    Worker(String),
}

/// The shared database behind every [`AgentStore`] of a plugin.
///
/// Cheap to clone. Open it once per process with [`Store::open`]; hand out agent handles
/// with [`Store::for_agent`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    conn: ConnectionThread,
}

/// One SQLite connection owned by a thread of its own, which runs calls in arrival order.
///
/// SQLite serialises writers anyway, so one connection does all of a store's work. Compared
/// with a mutex-guarded connection on Tokio's blocking pool, concurrent callers queue instead
/// of parking pool threads on the lock, and the connection never changes threads
/// (`cargo xtask bench` measures the difference). The plugin store and the host's store both
/// run on it. The thread ends when the last clone is dropped and the queue is empty.
#[derive(Clone)]
pub struct ConnectionThread {
    jobs: mpsc::Sender<Job>,
}

/// A unit of work for a [`ConnectionThread`].
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Why a [`ConnectionThread::call`] produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call panicked. Its open transaction, if any, was rolled back, and the thread
    /// serves the next call.
    #[error("a store call panicked")]
    Panicked,
    /// The thread is gone, so nothing can be run on the connection any more.
    #[error("the store thread has stopped")]
    Stopped,
}

impl ConnectionThread {
    /// Moves `conn` to a new thread called `name`.
    ///
    /// It also turns on SQLite's query planner stability guarantee on `conn`: the bundled
    /// SQLite is built with `STAT4`, under which a cached statement whose parameter meets an
    /// index is prepared again at every new binding, which callgrind showed as 11% of a
    /// tool call's instructions. Store queries are simple key lookups whose plan does not
    /// depend on the values.
    ///
    /// # Errors
    ///
    /// When SQLite refuses the setting or the operating system refuses a thread.
    pub fn spawn(name: &str, mut conn: Connection) -> std::io::Result<Self> {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(std::io::Error::other)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    job(&mut conn);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the connection, after every call queued before it, and returns its value.
    ///
    /// # Errors
    ///
    /// [`CallError::Panicked`] when `f` panicked, [`CallError::Stopped`] when the thread is gone.
    pub async fn call<T, F>(&self, f: F) -> Result<T, CallError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A panicking call must not take the thread (and every later call) with it; an
            // open rusqlite transaction rolls back as the panic unwinds through it.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
                .map_err(|_| CallError::Panicked);
            // The caller may have gone away (its request was cancelled): nothing to tell.
            let _ = reply.send(outcome);
        });
        self.jobs.send(job).map_err(|_| CallError::Stopped)?;
        answer.await.map_err(|_| CallError::Stopped)?
    }
}

impl std::fmt::Debug for ConnectionThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionThread").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating when needed) the store in `data_dir` and applies pending migrations.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = data_dir.as_ref();
        let path = dir.join(STORE_FILE);
        let open_err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.clone(),
            source: e,
        };
        check_data_dir(dir)?;
        let mut conn = Connection::open(&path).map_err(|e| open_err(Box::new(e)))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(Box::new(e)))?;
        // WAL + NORMAL survives a process crash; only an OS crash can lose the last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn, &path)?;
        Self::start(path, conn)
    }

    /// Opens a store in memory, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn, &path)?;
        Self::start(path, conn)
    }

    /// Hands the migrated connection to the store's thread.
    fn start(path: PathBuf, conn: Connection) -> Result<Self, StoreError> {
        let conn =
            ConnectionThread::spawn("nanofleet-store", conn).map_err(|e| StoreError::Open {
                path: path.clone(),
                source: Box::new(e),
            })?;
        Ok(Self {
            inner: Arc::new(StoreInner { path, conn }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A handle on `agent`'s data and nothing else.
    pub fn for_agent(&self, agent: AgentId) -> AgentStore {
        AgentStore {
            bucket: Bucket {
                store: self.clone(),
                scope: Arc::from(agent.as_str()),
            },
            agent,
        }
    }

    /// A handle on the plugin-wide data, which no agent handle can reach.
    pub fn shared(&self) -> SharedStore {
        SharedStore {
            bucket: Bucket {
                store: self.clone(),
                scope: Arc::from(""),
            },
        }
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner
            .conn
            .call(f)
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

/// Makes sure `dir` exists and the plugin may write to it, telling a directory that is missing
/// (no volume mounted) from one the plugin's user may not write to (a volume owned by another
/// user), since the two have different fixes.
fn check_data_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDirMissing {
                dir: dir.to_owned(),
                source,
            });
        }
        // Not a directory, or not reachable: opening the database reports it.
        Err(_) => return Ok(()),
        Ok(meta) if !meta.is_dir() => return Ok(()),
        Ok(_) => {}
    }
    check_writable(dir)
}

#[cfg(not(unix))]
fn check_writable(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Asks the kernel whether the plugin's user may create files in `dir`.
#[cfg(unix)]
fn check_writable(dir: &Path) -> Result<(), StoreError> {
    let refused = match rustix::fs::access(
        dir,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    ) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if ![
        rustix::io::Errno::ACCESS,
        rustix::io::Errno::PERM,
        rustix::io::Errno::ROFS,
    ]
    .contains(&refused)
    {
        return Ok(());
    }
    Err(not_writable(dir, refused == rustix::io::Errno::ROFS))
}

#[cfg(unix)]
fn not_writable(dir: &Path, read_only_fs: bool) -> StoreError {
    use std::os::unix::fs::MetadataExt;
    let (owner_uid, owner_gid, mode) = std::fs::metadata(dir)
        .map(|m| (m.uid(), m.gid(), m.mode() & 0o7777))
        .unwrap_or_default();
    StoreError::DataDirNotWritable {
        dir: dir.to_owned(),
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        owner_uid,
        owner_gid,
        mode,
        read_only_fs,
    }
}

fn not_writable_message(err: &StoreError) -> String {
    let StoreError::DataDirNotWritable {
        dir,
        uid,
        gid,
        owner_uid,
        owner_gid,
        mode,
        read_only_fs,
    } = err
    else {
        return String::new();
    };
    let dir = dir.display();
    if *read_only_fs {
        return format!(
            "the plugin's data directory {dir} exists but is on a read-only file system: mount \
             a writable volume there (the NanoFleet host mounts one at /data) or set \
             NANOFLEET_DATA_DIR to a writable directory"
        );
    }
    format!(
        "the plugin's data directory {dir} exists but is not writable by the plugin, which runs \
         as uid {uid}, gid {gid}; the directory is owned by uid {owner_uid}, gid {owner_gid}, \
         with mode {mode:04o}. A volume created for an image that does not own /data is \
         root's: build the image with `nanofleet build`, which makes /data owned by the \
         plugin's user, or give the volume to that user (`chown -R {uid}:{gid}` on it)"
    )
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    apply_migrations(conn, MIGRATIONS).map_err(|e| match e {
        MigrationError::TooNew { found, known } => StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        },
        MigrationError::Sqlite(e) => StoreError::Sqlite(e),
    })
}

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

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(StoreError::InvalidKey {
            key: key.chars().take(64).collect(),
        });
    }
    Ok(())
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    let text = serde_json::to_string(value)?;
    if text.len() > MAX_VALUE_BYTES {
        return Err(StoreError::ValueTooLarge { len: text.len() });
    }
    Ok(text)
}

/// A key-value map and named collections of records, scoped to one agent
/// ([`AgentStore`]) or to the whole plugin ([`SharedStore`]). Every method reaches its own
/// scope only; the scope is fixed when the handle is made.
#[derive(Clone, Debug)]
pub struct Bucket {
    store: Store,
    // The agent id, or "" for the plugin-wide scope: no valid `AgentId` is empty, so the two
    // can never meet.
    scope: Arc<str>,
}

/// One agent's data. Obtained from a tool's [`ToolCall`](crate::ToolCall) (or as an injected
/// argument with the macros); the agent is the one the request was made for. Its methods are
/// [`Bucket`]'s.
#[derive(Clone, Debug)]
pub struct AgentStore {
    bucket: Bucket,
    agent: AgentId,
}

impl AgentStore {
    /// The agent whose data this handle reaches.
    pub fn agent(&self) -> &AgentId {
        &self.agent
    }
}

impl std::ops::Deref for AgentStore {
    type Target = Bucket;
    fn deref(&self) -> &Bucket {
        &self.bucket
    }
}

/// Data the whole plugin shares, across agents: a task board, a cache, settings. Obtained
/// from a [`ToolCall`](crate::ToolCall) or a UI's [`UiContext`](crate::ui::UiContext). What an
/// agent may see of it is the plugin's decision; prefer [`AgentStore`] for anything that
/// belongs to one agent. Its methods are [`Bucket`]'s.
#[derive(Clone, Debug)]
pub struct SharedStore {
    bucket: Bucket,
}

impl std::ops::Deref for SharedStore {
    type Target = Bucket;
    fn deref(&self) -> &Bucket {
        &self.bucket
    }
}

impl Bucket {
    /// Reads the value under `key`, if any.
    pub async fn get<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        check_key(key)?;
        let (agent, key) = (Arc::clone(&self.scope), key.to_owned());
        let text: Option<String> = self
            .store
            .run(move |c| {
                Ok(
                    c.prepare_cached("SELECT value FROM kv WHERE agent = ?1 AND key = ?2")?
                        .query_row(params![&*agent, key], |r| r.get(0))
                        .optional()?,
                )
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::from))
            .transpose()
    }

    /// Writes `value` under `key`, replacing what was there.
    pub async fn put<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        check_key(key)?;
        let text = encode(value)?;
        let (agent, key) = (Arc::clone(&self.scope), key.to_owned());
        self.store
            .run(move |c| {
                c.prepare_cached(
                    "INSERT INTO kv (agent, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (agent, key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![&*agent, key, text])?;
                Ok(())
            })
            .await
    }

    /// Removes `key`; returns whether it existed.
    pub async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        check_key(key)?;
        let (agent, key) = (Arc::clone(&self.scope), key.to_owned());
        self.store
            .run(move |c| {
                Ok(
                    c.prepare_cached("DELETE FROM kv WHERE agent = ?1 AND key = ?2")?
                        .execute(params![&*agent, key])?
                        > 0,
                )
            })
            .await
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let (agent, prefix) = (Arc::clone(&self.scope), prefix.to_owned());
        let rows: Vec<(String, String)> = self
            .store
            .run(move |c| {
                // substr() rather than LIKE: keys may contain `%` and `_`.
                let mut stmt = c.prepare_cached(
                    "SELECT key, value FROM kv WHERE agent = ?1
                     AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
                )?;
                let rows = stmt
                    .query_map(params![&*agent, prefix], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_str(&v)?)))
            .collect()
    }

    /// A named collection of records of type `T`, with ids this store assigns.
    pub fn collection<T>(&self, name: &str) -> Collection<T> {
        Collection {
            store: self.clone(),
            name: Arc::from(name),
            _marker: PhantomData,
        }
    }
}

/// A named, ordered collection of one agent's records, each with an id assigned on insert.
/// Ids start at 1, grow by one and are never reused, even after removals.
pub struct Collection<T> {
    store: Bucket,
    name: Arc<str>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            name: Arc::clone(&self.name),
            _marker: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("scope", &self.store.scope)
            .field("name", &self.name)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Collection<T> {
    fn parts(&self) -> Result<(Arc<str>, Arc<str>), StoreError> {
        check_key(&self.name)?;
        Ok((Arc::clone(&self.store.scope), Arc::clone(&self.name)))
    }

    /// Adds `value` and returns its new id.
    pub async fn insert(&self, value: &T) -> Result<u64, StoreError> {
        let text = encode(value)?;
        let (agent, coll) = self.parts()?;
        self.store
            .store
            .run(move |c| {
                let tx = c.transaction()?;
                let id: i64 = tx
                    .prepare_cached(
                        "INSERT INTO seq (agent, coll, next) VALUES (?1, ?2, 2)
                         ON CONFLICT (agent, coll) DO UPDATE SET next = next + 1
                         RETURNING next - 1",
                    )?
                    .query_row(params![&*agent, &*coll], |r| r.get(0))?;
                tx.prepare_cached(
                    "INSERT INTO docs (agent, coll, id, value) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![&*agent, &*coll, id, text])?;
                tx.commit()?;
                Ok(u64::try_from(id).unwrap_or_default())
            })
            .await
    }

    /// The record with `id`, if it exists.
    pub async fn get(&self, id: u64) -> Result<Option<T>, StoreError> {
        let (agent, coll) = self.parts()?;
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let text: Option<String> = self
            .store
            .store
            .run(move |c| {
                Ok(c.prepare_cached(
                    "SELECT value FROM docs WHERE agent = ?1 AND coll = ?2 AND id = ?3",
                )?
                .query_row(params![&*agent, &*coll, id], |r| r.get(0))
                .optional()?)
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::from))
            .transpose()
    }

    /// Replaces the record with `id`; returns whether it existed (nothing is created otherwise).
    pub async fn update(&self, id: u64, value: &T) -> Result<bool, StoreError> {
        let text = encode(value)?;
        let (agent, coll) = self.parts()?;
        let Ok(id) = i64::try_from(id) else {
            return Ok(false);
        };
        self.store
            .store
            .run(move |c| {
                Ok(c.prepare_cached(
                    "UPDATE docs SET value = ?4 WHERE agent = ?1 AND coll = ?2 AND id = ?3",
                )?
                .execute(params![&*agent, &*coll, id, text])?
                    > 0)
            })
            .await
    }

    /// Removes the record with `id`; returns whether it existed.
    pub async fn remove(&self, id: u64) -> Result<bool, StoreError> {
        let (agent, coll) = self.parts()?;
        let Ok(id) = i64::try_from(id) else {
            return Ok(false);
        };
        self.store
            .store
            .run(move |c| {
                Ok(
                    c.prepare_cached(
                        "DELETE FROM docs WHERE agent = ?1 AND coll = ?2 AND id = ?3",
                    )?
                    .execute(params![&*agent, &*coll, id])?
                        > 0,
                )
            })
            .await
    }

    /// Every record, in id order.
    pub async fn list(&self) -> Result<Vec<(u64, T)>, StoreError> {
        let (agent, coll) = self.parts()?;
        let rows: Vec<(i64, String)> = self
            .store
            .store
            .run(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, value FROM docs WHERE agent = ?1 AND coll = ?2 ORDER BY id",
                )?;
                let rows = stmt
                    .query_map(params![&*agent, &*coll], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(id, v)| {
                Ok((
                    u64::try_from(id).unwrap_or_default(),
                    serde_json::from_str(&v)?,
                ))
            })
            .collect()
    }

    /// How many records there are.
    pub async fn len(&self) -> Result<u64, StoreError> {
        let (agent, coll) = self.parts()?;
        self.store
            .store
            .run(move |c| {
                let n: i64 = c
                    .prepare_cached("SELECT count(*) FROM docs WHERE agent = ?1 AND coll = ?2")?
                    .query_row(params![&*agent, &*coll], |r| r.get(0))?;
                Ok(u64::try_from(n).unwrap_or_default())
            })
            .await
    }

    /// Whether the collection has no records.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len().await? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str) -> AgentId {
        AgentId::new(id).expect("valid id")
    }

    #[tokio::test]
    async fn agents_never_see_each_others_data() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let (a, b) = (store.for_agent(agent("a")), store.for_agent(agent("b")));
        a.put("k", "from a").await?;
        assert_eq!(b.get::<String>("k").await?, None);
        b.put("k", "from b").await?;
        assert_eq!(a.get::<String>("k").await?.as_deref(), Some("from a"));
        let (na, nb) = (
            a.collection::<String>("notes"),
            b.collection::<String>("notes"),
        );
        na.insert(&"a1".into()).await?;
        assert!(nb.list().await?.is_empty());
        assert_eq!(nb.get(1).await?, None);
        assert!(!nb.remove(1).await?);
        assert_eq!(na.len().await?, 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_panicking_call_fails_alone_and_the_store_keeps_serving() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let a = store.for_agent(agent("a"));
        a.put("k", "kept").await?;
        let err = store
            .run(|conn| -> Result<(), StoreError> {
                let tx = conn.transaction()?;
                tx.execute("DELETE FROM kv", [])?;
                panic!("a bug in a store call");
            })
            .await
            .expect_err("the panic is reported");
        assert!(matches!(err, StoreError::Worker(_)), "{err:?}");
        // The transaction the panic interrupted was rolled back, and the thread is alive.
        assert_eq!(a.get::<String>("k").await?.as_deref(), Some("kept"));
        Ok(())
    }

    #[tokio::test]
    async fn concurrent_calls_all_complete_in_one_store() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let calls = (0..64).map(|i| {
            let notes = store
                .for_agent(agent(&format!("agent-{}", i % 4)))
                .collection::<u32>("n");
            async move { notes.insert(&i).await }
        });
        let ids = futures::future::try_join_all(calls).await?;
        assert_eq!(ids.len(), 64);
        for i in 0..4 {
            let notes = store
                .for_agent(agent(&format!("agent-{i}")))
                .collection::<u32>("n");
            assert_eq!(notes.len().await?, 16);
        }
        Ok(())
    }

    #[tokio::test]
    async fn shared_data_is_apart_from_every_agent() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let (shared, a) = (store.shared(), store.for_agent(agent("a")));
        shared.put("k", "board").await?;
        assert_eq!(a.get::<String>("k").await?, None);
        a.put("k", "mine").await?;
        assert_eq!(shared.get::<String>("k").await?.as_deref(), Some("board"));
        shared.collection::<u8>("tasks").insert(&1).await?;
        assert!(a.collection::<u8>("tasks").list().await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn collection_ids_grow_and_are_not_reused() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let notes = store.for_agent(agent("a")).collection::<String>("notes");
        assert_eq!(notes.insert(&"one".into()).await?, 1);
        assert_eq!(notes.insert(&"two".into()).await?, 2);
        assert!(notes.remove(2).await?);
        assert_eq!(notes.insert(&"three".into()).await?, 3);
        assert!(notes.update(1, &"uno".into()).await?);
        assert!(!notes.update(2, &"gone".into()).await?);
        let all = notes.list().await?;
        assert_eq!(all, vec![(1, "uno".to_owned()), (3, "three".to_owned())]);
        Ok(())
    }

    #[tokio::test]
    async fn list_by_prefix_treats_like_wildcards_literally() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let s = store.for_agent(agent("a"));
        s.put("a%1", &1).await?;
        s.put("ab", &2).await?;
        s.put("a%2", &3).await?;
        let got: Vec<(String, i32)> = s.list("a%").await?;
        assert_eq!(got, vec![("a%1".into(), 1), ("a%2".into(), 3)]);
        assert!(s.remove("ab").await?);
        assert!(!s.remove("ab").await?);
        Ok(())
    }

    #[tokio::test]
    async fn bad_keys_wrong_types_and_huge_values_are_errors() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let s = store.for_agent(agent("a"));
        assert!(matches!(
            s.put("", &1).await,
            Err(StoreError::InvalidKey { .. })
        ));
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            s.get::<i32>(&long).await,
            Err(StoreError::InvalidKey { .. })
        ));
        s.put("n", &"text").await?;
        assert!(matches!(s.get::<i32>("n").await, Err(StoreError::Serde(_))));
        let big = "x".repeat(MAX_VALUE_BYTES);
        assert!(matches!(
            s.put("big", &big).await,
            Err(StoreError::ValueTooLarge { .. })
        ));
        Ok(())
    }

    #[tokio::test]
    async fn data_survives_reopening_the_file() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Worker(e.to_string()))?;
        {
            let store = Store::open(dir.path())?;
            store
                .for_agent(agent("a"))
                .collection::<String>("n")
                .insert(&"kept".into())
                .await?;
        }
        let store = Store::open(dir.path())?;
        let notes = store.for_agent(agent("a")).collection::<String>("n");
        assert_eq!(notes.list().await?, vec![(1, "kept".to_owned())]);
        assert_eq!(notes.insert(&"next".into()).await?, 2);
        Ok(())
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_error() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Worker(e.to_string()))?;
        drop(Store::open(dir.path())?);
        let conn = Connection::open(dir.path().join(STORE_FILE))?;
        conn.pragma_update(None, "user_version", 99)?;
        drop(conn);
        let err = Store::open(dir.path()).expect_err("must refuse");
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
        Ok(())
    }

    #[test]
    fn a_missing_data_dir_that_cannot_be_created_is_told_apart() {
        let err = Store::open("/proc/nanofleet-cannot-write-here").expect_err("must fail");
        assert!(matches!(err, StoreError::DataDirMissing { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("/proc/nanofleet-cannot-write-here"), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
        assert!(msg.contains("NANOFLEET_DATA_DIR"), "{msg}");
    }

    #[test]
    fn a_missing_data_dir_is_created() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Worker(e.to_string()))?;
        let nested = dir.path().join("a/b");
        let store = Store::open(&nested)?;
        assert_eq!(store.path(), nested.join(STORE_FILE));
        Ok(())
    }

    /// A read-only data directory, opened by a user other than its owner, the way a plugin
    /// image running as `USER 65532` meets a root-owned volume. Root may write anywhere, so
    /// when the tests run as root the opening thread drops to uid and gid 65532 first.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_data_dir_the_plugin_cannot_write_names_both_users_mode_and_fix() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};

        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555))
            .expect("chmod");
        let meta = std::fs::metadata(dir.path()).expect("metadata");
        let path = dir.path().to_owned();
        let (err, uid, gid) = std::thread::spawn(move || {
            if rustix::process::geteuid().is_root() {
                // Credentials are per thread in the kernel: only this thread changes user.
                let (uid, gid) = (65532, 65532);
                rustix::thread::set_thread_groups(&[]).expect("drop groups");
                rustix::thread::set_thread_gid(rustix::process::Gid::from_raw(gid))
                    .expect("setgid");
                rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(uid))
                    .expect("setuid");
            }
            let uid = rustix::process::geteuid().as_raw();
            let gid = rustix::process::getegid().as_raw();
            (Store::open(&path).expect_err("must refuse"), uid, gid)
        })
        .join()
        .expect("thread");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod back");

        let StoreError::DataDirNotWritable {
            uid: seen_uid,
            gid: seen_gid,
            owner_uid,
            owner_gid,
            mode,
            read_only_fs,
            ..
        } = &err
        else {
            panic!("expected DataDirNotWritable, got {err:?}");
        };
        assert_eq!((*seen_uid, *seen_gid), (uid, gid));
        assert_eq!((*owner_uid, *owner_gid), (meta.uid(), meta.gid()));
        assert_eq!((*mode, *read_only_fs), (0o555, false));
        let msg = err.to_string();
        for part in [
            dir.path().display().to_string(),
            "exists but is not writable".to_owned(),
            format!("uid {uid}, gid {gid}"),
            format!("owned by uid {}, gid {}", meta.uid(), meta.gid()),
            "mode 0555".to_owned(),
            "nanofleet build".to_owned(),
            format!("chown -R {uid}:{gid}"),
        ] {
            assert!(msg.contains(&part), "{part:?} missing from: {msg}");
        }
        assert!(!msg.contains("does not exist"), "{msg}");
    }

    #[test]
    fn a_read_only_file_system_has_its_own_message() {
        let err = StoreError::DataDirNotWritable {
            dir: PathBuf::from("/data"),
            uid: 65532,
            gid: 65532,
            owner_uid: 65532,
            owner_gid: 65532,
            mode: 0o755,
            read_only_fs: true,
        };
        let msg = err.to_string();
        assert!(msg.contains("read-only file system"), "{msg}");
        assert!(msg.contains("mount a writable volume"), "{msg}");
    }
}
