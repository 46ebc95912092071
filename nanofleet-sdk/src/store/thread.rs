//! One SQLite connection on a thread of its own, with group commit for writes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::{Connection, config::DbConfig};

/// The most writes one transaction holds. Enough to take a burst of concurrent callers in one
/// commit; small enough that the first of them is not kept waiting long.
const MAX_BATCH: usize = 256;

/// One SQLite connection owned by a thread of its own, which runs calls in arrival order.
///
/// SQLite serialises writers anyway, so one connection does all of a store's work. Compared
/// with a mutex-guarded connection on Tokio's blocking pool, concurrent callers queue instead
/// of parking pool threads on the lock, and the connection never changes threads
/// (`cargo xtask bench` measures the difference). The plugin store and the host's store both
/// run on it. The thread ends when the last clone is dropped and the queue is empty.
///
/// **Group commit.** Writes sent with [`write`](Self::write) that are queued together run in
/// one transaction, each in a savepoint of its own: a write that fails (or panics) is rolled
/// back alone and answered at once; the others are answered only after the commit that holds
/// them, and a commit that fails fails exactly the writes it held. Under concurrency this
/// turns one commit per call into one per burst, which is where a durable store's time goes.
#[derive(Clone)]
pub struct ConnectionThread {
    jobs: mpsc::Sender<Job>,
}

/// A unit of work for a [`ConnectionThread`].
enum Job {
    /// Runs alone, as it likes (its own transaction, if any).
    Call(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside the batch's transaction, in a savepoint.
    Write(WriteJob),
}

/// A write, type-erased: runs in its savepoint and says whether it stays in the batch.
type WriteJob = Box<dyn FnOnce(&Connection) -> Staged + Send>;

/// A write that ran: either answered already (it failed, and was rolled back), or kept in
/// the batch, to be answered by the commit's outcome.
enum Staged {
    Answered,
    Kept(Box<dyn FnOnce(Result<(), CallError>) + Send>),
}

/// Why a [`ConnectionThread::call`] or [`write`](ConnectionThread::write) produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call panicked. Its open transaction (or, for a write, its savepoint) was rolled
    /// back, and the thread serves the next call.
    #[error("a store call panicked")]
    Panicked,
    /// The thread is gone, so nothing can be run on the connection any more.
    #[error("the store thread has stopped")]
    Stopped,
    /// The transaction holding the write failed to commit: nothing of it was stored.
    #[error("the transaction holding this write failed to commit ({0}); it was not stored")]
    Commit(String),
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
            .spawn(move || serve(&mut conn, &queue))?;
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
        let job = Job::Call(Box::new(move |conn| {
            // A panicking call must not take the thread (and every later call) with it; an
            // open rusqlite transaction rolls back as the panic unwinds through it.
            let outcome =
                catch_unwind(AssertUnwindSafe(|| f(conn))).map_err(|_| CallError::Panicked);
            // The caller may have gone away (its request was cancelled): nothing to tell.
            let _ = reply.send(outcome);
        }));
        self.jobs.send(job).map_err(|_| CallError::Stopped)?;
        answer.await.map_err(|_| CallError::Stopped)?
    }

    /// Runs the write `f` in the transaction of the writes queued with it (see the type's
    /// docs), after every call queued before it. `Ok(Ok(_))` comes only once the transaction
    /// holding the write has committed; `Ok(Err(_))` is `f`'s own error, after its changes
    /// were rolled back.
    ///
    /// `f` runs inside a savepoint: it must not begin, commit or roll back a transaction
    /// itself (which is why it gets a shared reference to the connection).
    ///
    /// # Errors
    ///
    /// [`CallError::Commit`] when the transaction could not commit, [`CallError::Panicked`]
    /// when `f` panicked, [`CallError::Stopped`] when the thread is gone.
    pub async fn write<T, E, F>(&self, f: F) -> Result<Result<T, E>, CallError>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<Result<T, E>, CallError>>();
        let job = Job::Write(Box::new(move |conn| {
            if let Err(e) = conn.execute_batch("SAVEPOINT nanofleet_write") {
                let _ = reply.send(Ok(Err(E::from(e))));
                return Staged::Answered;
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
            let failed = match outcome {
                Ok(Ok(value)) => match conn.execute_batch("RELEASE nanofleet_write") {
                    Ok(()) => {
                        return Staged::Kept(Box::new(move |committed| {
                            let _ = reply.send(committed.map(|()| Ok(value)));
                        }));
                    }
                    Err(e) => Ok(Err(E::from(e))),
                },
                Ok(Err(e)) => Ok(Err(e)),
                Err(_) => Err(CallError::Panicked),
            };
            // Undo this write alone; the batch goes on with the others.
            let _ = conn.execute_batch("ROLLBACK TO nanofleet_write; RELEASE nanofleet_write");
            let _ = reply.send(failed);
            Staged::Answered
        }));
        self.jobs.send(job).map_err(|_| CallError::Stopped)?;
        answer.await.map_err(|_| CallError::Stopped)?
    }
}

/// The thread's loop: calls one by one; writes in batches of those queued together.
fn serve(conn: &mut Connection, queue: &mpsc::Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(mpsc::RecvError) => return,
            },
        };
        match job {
            Job::Call(f) => f(conn),
            Job::Write(first) => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(Job::Write(write)) => batch.push(write),
                        // A call keeps its place: it runs after the batch queued before it.
                        Ok(call) => {
                            next = Some(call);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_batch(conn, batch);
            }
        }
    }
}

/// Runs the writes of `batch` in one transaction and answers each.
fn commit_batch(conn: &Connection, batch: Vec<WriteJob>) {
    // IMMEDIATE: take the write lock now, so that the commit cannot fail for a lock that
    // another process took meanwhile. Should it fail (another process holds the lock past the
    // busy timeout), each write's savepoint is a transaction of its own, committed when it is
    // released: the writes are then answered one by one, as before group commit.
    let in_transaction = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
    let kept: Vec<_> = batch
        .into_iter()
        .filter_map(|write| match write(conn) {
            Staged::Answered => None,
            Staged::Kept(answer) => Some(answer),
        })
        .collect();
    let committed = if in_transaction {
        conn.execute_batch("COMMIT").map_err(|e| {
            // A failed COMMIT may leave the transaction open: end it, so the next batch can
            // begin.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            CallError::Commit(e.to_string())
        })
    } else {
        Ok(())
    };
    for answer in kept {
        answer(committed.clone());
    }
}

impl std::fmt::Debug for ConnectionThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionThread").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A thread whose connection has a table `t (n INTEGER PRIMARY KEY)` and counts commits.
    async fn thread() -> (ConnectionThread, Arc<Mutex<usize>>) {
        let mut conn = Connection::open_in_memory().expect("sqlite");
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .expect("table");
        let commits = Arc::new(Mutex::new(0));
        let counted = Arc::clone(&commits);
        conn.commit_hook(Some(move || {
            *counted.lock().expect("lock") += 1;
            false
        }))
        .expect("hook");
        (
            ConnectionThread::spawn("test-store", conn).expect("thread"),
            commits,
        )
    }

    /// Holds the thread until the returned sender is dropped, so that what is sent meanwhile
    /// queues up behind it.
    fn hold(thread: &ConnectionThread) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let thread = thread.clone();
        tokio::spawn(async move {
            thread
                .call(move |_| {
                    let _ = held.recv();
                })
                .await
        });
        release
    }

    async fn rows(thread: &ConnectionThread) -> Vec<i64> {
        thread
            .call(|c| {
                let mut stmt = c.prepare("SELECT n FROM t ORDER BY n").expect("select");
                stmt.query_map([], |r| r.get(0))
                    .expect("rows")
                    .collect::<Result<Vec<i64>, _>>()
                    .expect("rows")
            })
            .await
            .expect("call")
    }

    fn insert(n: i64) -> impl FnOnce(&Connection) -> Result<i64, rusqlite::Error> + Send {
        move |c| {
            c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
            Ok(n)
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn queued_writes_share_one_commit_and_answer_after_it() {
        let (thread, commits) = thread().await;
        let release = hold(&thread);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let writes: Vec<_> = (1..=64)
            .map(|n| {
                let thread = thread.clone();
                tokio::spawn(async move { thread.write(insert(n)).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(release);
        for (n, write) in (1..=64).zip(writes) {
            assert_eq!(write.await.expect("join"), Ok(Ok(n)));
        }
        assert_eq!(
            *commits.lock().expect("lock"),
            1,
            "one commit for the burst"
        );
        assert_eq!(rows(&thread).await, (1..=64).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_or_panicking_write_is_rolled_back_alone() {
        let (thread, _) = thread().await;
        let release = hold(&thread);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let spawn = |n: i64| {
            let thread = thread.clone();
            tokio::spawn(async move {
                thread
                    .write(move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        match n % 3 {
                            1 => Err(rusqlite::Error::InvalidQuery),
                            2 => panic!("a bug in write {n}"),
                            _ => Ok(n),
                        }
                    })
                    .await
            })
        };
        let writes: Vec<_> = (0..12).map(spawn).collect();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(release);
        for (n, write) in (0..12).zip(writes) {
            let outcome = write.await.expect("join");
            match n % 3 {
                1 => assert!(matches!(outcome, Ok(Err(_))), "{n}: {outcome:?}"),
                2 => assert_eq!(outcome, Err(CallError::Panicked), "{n}"),
                _ => assert_eq!(outcome, Ok(Ok(n)), "{n}"),
            }
        }
        assert_eq!(rows(&thread).await, vec![0, 3, 6, 9]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_commit_fails_exactly_the_writes_it_held() {
        let (thread, _) = thread().await;
        thread.write(insert(1)).await.expect("call").expect("write");
        // Every commit is refused from here: SQLite turns the COMMIT into a rollback.
        thread
            .call(|c| c.commit_hook(Some(|| true)).expect("hook"))
            .await
            .expect("call");
        let release = hold(&thread);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let writes: Vec<_> = (2..=9)
            .map(|n| {
                let thread = thread.clone();
                tokio::spawn(async move { thread.write(insert(n)).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // Queued behind the batch: commits are accepted again for what follows it.
        let accept = {
            let thread = thread.clone();
            tokio::spawn(async move {
                thread
                    .call(|c| c.commit_hook(None::<fn() -> bool>).expect("hook"))
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(release);
        for write in writes {
            let outcome = write.await.expect("join");
            assert!(matches!(outcome, Err(CallError::Commit(_))), "{outcome:?}");
        }
        accept.await.expect("join").expect("call");
        assert_eq!(thread.write(insert(10)).await, Ok(Ok(10)));
        assert_eq!(
            rows(&thread).await,
            vec![1, 10],
            "nothing of the failed batch"
        );
    }
}
