//! The embedded SQLite database shared by the API's store and the embedded queue: opening it
//! ([`open`]) and running blocking calls on it from async code ([`Pool`]).
//!
//! Several processes (API instances, workers) open the same file, so every connection uses WAL
//! and waits on a busy database instead of failing at once.

mod pool;

pub use pool::{Connect, Pool, PoolError};

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// How long a connection waits for another process's write lock before `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating it and its folder if needed) the database at `path` in WAL mode.
///
/// # Errors
/// Fails when the folder cannot be created or the database cannot be opened.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot create {}: {e}", dir.display())),
            )
        })?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}
