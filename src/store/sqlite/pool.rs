//! A small connection pool that runs rusqlite's blocking calls on tokio's blocking threads.
//!
//! Readers run in parallel (WAL lets them read while a writer writes). Writers inside this
//! process take turns on an async lock first, so they queue on the runtime instead of spinning
//! in SQLite's busy handler; writers in *other* processes are handled by the busy timeout.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use super::map_err;
use crate::store::StoreError;

/// Connections open at most at once: two per core the process may use (reads are short, so a
/// second one per core covers a read waiting on I/O).
fn max_connections() -> usize {
    2 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

pub(crate) struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    writer: tokio::sync::Mutex<()>,
}

impl Pool {
    pub(crate) fn new(path: &Path, first: Connection) -> Self {
        Pool {
            path: path.to_owned(),
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(max_connections())),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Runs `f` on a pooled connection (read-only work, or a single statement).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let path = self.path.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => match super::connect(&path) {
                    Ok(conn) => conn,
                    Err(e) => return (None, Err(map_err(e))),
                },
            };
            let result = f(&mut conn);
            (Some(conn), result)
        })
        .await
        .map_err(|e| StoreError::internal("store task failed", e))?;
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
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let _turn = self.writer.lock().await;
        let wanted = Wanted::default();
        let still_wanted = wanted.0.clone();
        self.read(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            if !still_wanted.load(Ordering::SeqCst) {
                // Dropping `tx` rolls back; nobody waits for this answer.
                return Err(StoreError::Unavailable("abandoned by the caller".into()));
            }
            let out = f(&tx)?;
            tx.commit().map_err(map_err)?;
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
