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
    sync::Arc,
};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use crate::agent::AgentId;

mod data_dir;
mod migrations;
mod sql;
mod thread;

use data_dir::{check_data_dir, not_writable_message};
pub use migrations::{MigrationError, apply_migrations};
pub use thread::{CallError, ConnectionThread};

/// The file name of the store inside the data directory.
pub const STORE_FILE: &str = "nanofleet-store.sqlite3";

/// The largest value accepted, serialised. Keeps one agent from filling the volume in one call.
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;

/// The longest key or collection name accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

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
    /// The transaction holding a write failed to commit; the write was not stored.
    #[error("plugin store: {0}")]
    Commit(String),
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

    /// Runs the write `f` with group commit (see [`ConnectionThread`]): it answers once the
    /// transaction holding it has committed.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match self.inner.conn.write(f).await {
            Ok(outcome) => outcome,
            Err(CallError::Commit(why)) => Err(StoreError::Commit(why)),
            Err(e) => Err(StoreError::Worker(e.to_string())),
        }
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    apply_migrations(conn, sql::MIGRATIONS).map_err(|e| match e {
        MigrationError::TooNew { found, known } => StoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        },
        MigrationError::Sqlite(e) => StoreError::Sqlite(e),
    })
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
                Ok(c.prepare_cached(sql::KV_GET)?
                    .query_row(params![&*agent, key], |r| r.get(0))
                    .optional()?)
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
            .write(move |c| {
                c.prepare_cached(sql::KV_PUT)?
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
            .write(move |c| {
                Ok(c.prepare_cached(sql::KV_REMOVE)?
                    .execute(params![&*agent, key])?
                    > 0)
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
                let end = sql::prefix_end(&prefix);
                let mut stmt = c.prepare_cached(if end.is_some() {
                    sql::KV_LIST_RANGE
                } else {
                    sql::KV_LIST_FROM
                })?;
                let map = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
                let rows = match end {
                    Some(end) => stmt.query_map(params![&*agent, prefix, end], map)?,
                    None => stmt.query_map(params![&*agent, prefix], map)?,
                }
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
        Ok(self.insert_counted(value).await?.0)
    }

    /// Adds `value` and returns its new id and how many records the collection holds with
    /// it, both from the write itself: one call where [`insert`](Self::insert) then
    /// [`len`](Self::len) take two.
    pub async fn insert_counted(&self, value: &T) -> Result<(u64, u64), StoreError> {
        let text = encode(value)?;
        let (agent, coll) = self.parts()?;
        self.store
            .store
            .write(move |c| {
                let (id, count): (i64, i64) = c
                    .prepare_cached(sql::SEQ_NEXT)?
                    .query_row(params![&*agent, &*coll], |r| Ok((r.get(0)?, r.get(1)?)))?;
                c.prepare_cached(sql::DOC_INSERT)?
                    .execute(params![&*agent, &*coll, id, text])?;
                Ok((
                    u64::try_from(id).unwrap_or_default(),
                    u64::try_from(count).unwrap_or_default(),
                ))
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
                Ok(c.prepare_cached(sql::DOC_GET)?
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
            .write(move |c| {
                Ok(c.prepare_cached(sql::DOC_UPDATE)?
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
            .write(move |c| {
                let removed = c
                    .prepare_cached(sql::DOC_REMOVE)?
                    .execute(params![&*agent, &*coll, id])?
                    > 0;
                if removed {
                    c.prepare_cached(sql::SEQ_UNCOUNT)?
                        .execute(params![&*agent, &*coll])?;
                }
                Ok(removed)
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
                let mut stmt = c.prepare_cached(sql::DOC_LIST)?;
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

    /// How many records there are: kept with the records, so this costs the same for ten
    /// records as for a million.
    pub async fn len(&self) -> Result<u64, StoreError> {
        let (agent, coll) = self.parts()?;
        self.store
            .store
            .run(move |c| {
                let n: Option<i64> = c
                    .prepare_cached(sql::SEQ_COUNT)?
                    .query_row(params![&*agent, &*coll], |r| r.get(0))
                    .optional()?;
                Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or_default())
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
    async fn counts_are_kept_with_the_records() -> Result<(), StoreError> {
        let store = Store::in_memory()?;
        let notes = store.for_agent(agent("a")).collection::<String>("notes");
        assert_eq!(notes.len().await?, 0, "a collection never written to");
        assert_eq!(notes.insert_counted(&"one".into()).await?, (1, 1));
        assert_eq!(notes.insert_counted(&"two".into()).await?, (2, 2));
        assert!(notes.remove(1).await?);
        assert!(!notes.remove(1).await?, "a second removal counts nothing");
        assert!(!notes.remove(99).await?);
        assert_eq!(notes.len().await?, 1);
        assert_eq!(notes.insert_counted(&"three".into()).await?, (3, 2));
        let other = store.for_agent(agent("a")).collection::<String>("other");
        assert_eq!(other.len().await?, 0, "counts are per collection");
        Ok(())
    }

    #[tokio::test]
    async fn a_store_from_before_counts_gets_them_when_opened() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Worker(e.to_string()))?;
        {
            // Schema version 1, as an earlier SDK left it: three records, one removed.
            let mut conn = Connection::open(dir.path().join(STORE_FILE))?;
            apply_migrations(&mut conn, &sql::MIGRATIONS[..1])
                .map_err(|e| StoreError::Worker(e.to_string()))?;
            conn.execute_batch(
                "INSERT INTO seq VALUES ('a', 'notes', 4);
                 INSERT INTO docs VALUES ('a', 'notes', 1, '\"x\"'), ('a', 'notes', 3, '\"y\"');",
            )?;
        }
        let store = Store::open(dir.path())?;
        let notes = store.for_agent(agent("a")).collection::<String>("notes");
        assert_eq!(notes.len().await?, 2);
        assert_eq!(notes.insert_counted(&"z".into()).await?, (4, 3));
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
