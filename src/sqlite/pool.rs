//! A small connection pool that runs rusqlite's blocking calls on tokio's blocking threads, shared
//! by the API's store and the embedded queue (both live in one database file).
//!
//! Readers run in parallel (WAL lets them read while a writer writes). Writers inside this
//! process take turns on an async lock first, so they queue on the runtime instead of spinning
//! in SQLite's busy handler; writers in *other* processes are handled by the busy timeout.
//!
//! The pool is generic over its caller's error `E`: the closures it runs return `E`, and its own
//! failures ([`PoolError`]) become `E` through `From`.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

/// Why the pool could not run a closure (the closure's own errors are the caller's type).
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pool's semaphore was closed: nothing runs any more.
    #[error("the database is closed")]
    Closed,
    /// The blocking task running the closure panicked or was cancelled.
    #[error("database task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The caller of [`Pool::write`] gave up before the write lock was had; nothing was written.
    #[error("abandoned by the caller")]
    Abandoned,
    /// Opening a connection, or beginning or committing the transaction, failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Opens one more connection to the pool's database.
pub type Connect = fn(&Path) -> rusqlite::Result<Connection>;

/// Connections open at most at once: two per core the process may use (reads are short, so a
/// second one per core covers a read waiting on I/O).
fn max_connections() -> usize {
    2 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The pool of one database file, its closures failing with `E`.
pub struct Pool<E> {
    path: PathBuf,
    connect: Connect,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    writer: tokio::sync::Mutex<()>,
    error: PhantomData<fn() -> E>,
}

impl<E> Pool<E>
where
    E: From<PoolError> + Send + 'static,
{
    /// A pool for the database at `path`, starting with the open connection `first`; more are
    /// opened with `connect` when every open one is busy.
    pub fn new(path: &Path, first: Connection, connect: Connect) -> Self {
        Pool {
            path: path.to_owned(),
            connect,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(max_connections())),
            writer: tokio::sync::Mutex::new(()),
            error: PhantomData,
        }
    }

    /// Runs `f` on a pooled connection (read-only work, or a single statement).
    ///
    /// # Errors
    /// `f`'s error, or a [`PoolError`] converted to `E`.
    pub async fn read<T, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| E::from(PoolError::Closed))?;
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let (path, connect) = (self.path.clone(), self.connect);
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => match connect(&path) {
                    Ok(conn) => conn,
                    Err(e) => return (None, Err(E::from(PoolError::Sqlite(e)))),
                },
            };
            let result = f(&mut conn);
            (Some(conn), result)
        })
        .await
        .map_err(|e| E::from(PoolError::Task(e)))?;
        if let Some(conn) = conn {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(conn);
        }
        result
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction, committed when `f` returns `Ok`.
    ///
    /// If the caller gives up (drops this future) while the transaction still waits for the
    /// write lock, the blocking task does not run `f` once it gets the lock: it rolls back. So
    /// a request answered 503 (the API's store gate abandons waiting writes) never writes later.
    ///
    /// # Errors
    /// As [`Pool::read`]; [`PoolError::Abandoned`] when the caller gave up first.
    pub async fn write<T, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let _turn = self.writer.lock().await;
        let wanted = Wanted::default();
        let still_wanted = wanted.0.clone();
        self.read(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| E::from(PoolError::Sqlite(e)))?;
            if !still_wanted.load(Ordering::SeqCst) {
                // Dropping `tx` rolls back; nobody waits for this answer.
                return Err(E::from(PoolError::Abandoned));
            }
            let out = f(&tx)?;
            tx.commit().map_err(|e| E::from(PoolError::Sqlite(e)))?;
            Ok(out)
        })
        .await
    }
}

/// Set while the caller of [`Pool::write`] still waits; cleared when its future is dropped.
struct Wanted(Arc<AtomicBool>);

impl Default for Wanted {
    fn default() -> Self {
        Wanted(Arc::new(AtomicBool::new(true)))
    }
}

impl Drop for Wanted {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}
