//! The embedded backend: every repository in one SQLite file, `$DATA_DIR/svc.db`, shared with the
//! embedded queue and with the other API instances (WAL; see [`crate::sqlite::open`]).
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool through a small connection
//! pool ([`crate::sqlite::Pool`]). SQL is built from fixed fragments with bound parameters
//! only; user text never becomes SQL.

mod outbox;
mod products;
mod rate;
mod sessions;
mod totals;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use async_trait::async_trait;
use rusqlite::ErrorCode;

use super::{Health, Probe, StoreError};
/// The shared pool, its closures failing with the store's error.
type Pool = crate::sqlite::Pool<StoreError>;

/// The database file's name inside `DATA_DIR` (the same file the embedded queue uses).
pub const DB_FILE: &str = "svc.db";

/// Tables and indexes; every statement is idempotent, run at each open.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS products (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT,
    price       REAL NOT NULL,
    brand       TEXT,
    category    TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',
    stock       INTEGER NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX IF NOT EXISTS products_created  ON products (created_at, id);
CREATE INDEX IF NOT EXISTS products_updated  ON products (updated_at, id);
CREATE INDEX IF NOT EXISTS products_price    ON products (price, id);
CREATE INDEX IF NOT EXISTS products_title    ON products (title, id);
CREATE INDEX IF NOT EXISTS products_stock    ON products (stock, id);
CREATE INDEX IF NOT EXISTS products_category ON products (category);
CREATE INDEX IF NOT EXISTS products_brand    ON products (brand);
-- The list queries of live products (deleted_at IS NULL: soft-deleted rows stay out of these
-- indexes): one per sort key alone, and per category or brand then sort key, so a filter and
-- its order come from one index walk. Price and stock trail each one, so the numeric filters
-- and the count are answered from the index without reading the rows.
CREATE INDEX IF NOT EXISTS products_live_created ON products (created_at, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_updated ON products (updated_at, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_price ON products (price, id, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_title ON products (title, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_stock ON products (stock, id, price) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_category_created ON products (category, created_at, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_category_updated ON products (category, updated_at, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_category_price ON products (category, price, id, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_category_title ON products (category, title, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_category_stock ON products (category, stock, id, price) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_brand_created ON products (brand, created_at, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_brand_updated ON products (brand, updated_at, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_brand_price ON products (brand, price, id, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_brand_title ON products (brand, title, id, price, stock) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS products_live_brand_stock ON products (brand, stock, id, price) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS product_tags (
    tag        TEXT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    PRIMARY KEY (tag, product_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS product_tags_product ON product_tags (product_id);

CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email);
CREATE INDEX IF NOT EXISTS users_created ON users (created_at, id);

CREATE TABLE IF NOT EXISTS auth_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (user_id);
CREATE TABLE IF NOT EXISTS auth_refresh_tokens (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions (id),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_session ON auth_refresh_tokens (session_id);
CREATE INDEX IF NOT EXISTS auth_refresh_tokens_expiry ON auth_refresh_tokens (expires_at);

CREATE TABLE IF NOT EXISTS api_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    due_at     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS api_outbox_due ON api_outbox (due_at);

CREATE TABLE IF NOT EXISTS api_rate_limits (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
";

/// Every repository of the embedded backend. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
    /// Exact list totals of the current catalogue generation, shared by the pool's connections.
    totals: Arc<totals::Totals>,
    /// The latest rate-limit window seen, so old windows are deleted once per window change.
    rate_window: Arc<AtomicI64>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens `$data_dir/svc.db` (see [`SqliteStore::open`]).
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&data_dir.join(DB_FILE))
    }

    /// Opens (creating it, its folder and the tables if needed) the database at `path`.
    /// Blocking: call it at start-up or from a blocking task.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or the schema not written.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = connect(path).map_err(map_err)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(map_err)?;
        tx.execute_batch(SCHEMA).map_err(map_err)?;
        migrate(&tx).map_err(map_err)?;
        tx.execute_batch(totals::GENERATION).map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        Ok(SqliteStore {
            pool: Arc::new(Pool::new(path, conn, connect)),
            totals: Arc::default(),
            rate_window: Arc::new(AtomicI64::new(0)),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Health for SqliteStore {
    /// Reads both aggregates' tables, so a database that answers but lost its schema is down.
    async fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .read(|conn| {
                for sql in [
                    "SELECT 1 FROM products LIMIT 1",
                    "SELECT 1 FROM users LIMIT 1",
                ] {
                    conn.prepare_cached(sql)
                        .and_then(|mut s| s.exists([]))
                        .map_err(map_err)?;
                }
                Ok(())
            })
            .await
    }

    /// Reads both tables and takes (then drops) the write lock, each waiting at most
    /// [`PROBE_BUSY`]: another process holding the write lock shows as `writes: false` within
    /// that time instead of after the 5 s busy timeout every request would wait.
    async fn probe(&self) -> Probe {
        let probed = self
            .pool
            .read(|conn| {
                conn.busy_timeout(PROBE_BUSY).map_err(map_err)?;
                let reads = [
                    "SELECT 1 FROM products LIMIT 1",
                    "SELECT 1 FROM users LIMIT 1",
                ]
                .into_iter()
                .try_for_each(|sql| {
                    conn.prepare_cached(sql)
                        .and_then(|mut s| s.exists([]))
                        .map(drop)
                });
                // Dropped unfinished: rolled back at once, nothing written.
                let writes = match &reads {
                    Ok(()) => conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map(drop),
                    Err(_) => Ok(()),
                };
                conn.busy_timeout(crate::sqlite::BUSY_TIMEOUT)
                    .map_err(map_err)?;
                Ok(match (reads, writes) {
                    (Ok(()), Ok(())) => Probe::UP,
                    (Ok(()), Err(e)) => Probe {
                        reads: true,
                        ..Probe::down(&map_err(e))
                    },
                    (Err(e), _) => Probe::down(&map_err(e)),
                })
            })
            .await;
        probed.unwrap_or_else(|error| Probe::down(&error))
    }
}

/// The search index: an FTS5 table over `products.search_text` of the live products (external
/// content: it stores only the index, the text stays in `products`; soft-deleted rows are left
/// out, as in the partial indexes), tokenized into trigrams so any substring of three characters
/// or more is found from the index. `case_sensitive 1`: the text is lowercased by us already
/// (Rust's `to_lowercase`, as the search is), so the index keeps exactly the characters stored
/// and no second case folding can disagree with the first. Kept in sync by triggers, in the
/// writing transaction, whatever statement changes a product. The index is keyed by the
/// products' rowid, which SQLite keeps for every row unless a `VACUUM` renumbers a table without
/// an `INTEGER PRIMARY KEY`; after one, drop `products_search` and open the store to rebuild it.
/// The first version of this index (`products_fts`) held deleted rows too: it is replaced.
const SEARCH_INDEX: &str = "
DROP TRIGGER IF EXISTS products_fts_insert;
DROP TRIGGER IF EXISTS products_fts_delete;
DROP TRIGGER IF EXISTS products_fts_update;
DROP TABLE IF EXISTS products_fts;
CREATE VIRTUAL TABLE products_search USING fts5(
    search_text,
    content = 'products',
    content_rowid = 'rowid',
    tokenize = 'trigram case_sensitive 1'
);
CREATE TRIGGER products_search_insert AFTER INSERT ON products
WHEN new.deleted_at IS NULL BEGIN
    INSERT INTO products_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER products_search_delete AFTER DELETE ON products
WHEN old.deleted_at IS NULL BEGIN
    INSERT INTO products_search (products_search, rowid, search_text)
    VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER products_search_update AFTER UPDATE OF search_text, deleted_at ON products
WHEN old.search_text IS NOT new.search_text
    OR (old.deleted_at IS NULL) IS NOT (new.deleted_at IS NULL) BEGIN
    INSERT INTO products_search (products_search, rowid, search_text)
    SELECT 'delete', old.rowid, old.search_text WHERE old.deleted_at IS NULL;
    INSERT INTO products_search (rowid, search_text)
    SELECT new.rowid, new.search_text WHERE new.deleted_at IS NULL;
END;
INSERT INTO products_search (rowid, search_text)
SELECT rowid, search_text FROM products WHERE deleted_at IS NULL;
";

/// Brings a database made by an older svc up to [`SCHEMA`]: columns added since (a `CREATE TABLE
/// IF NOT EXISTS` leaves an existing table as it was), and the search index, made and filled
/// from the products already there the first time.
fn migrate(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let has_role = tx
        .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = 'role'")?
        .exists([])?;
    if !has_role {
        // Users who signed up before roles existed are plain users.
        tx.execute_batch("ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user'")?;
    }
    let has_search_index = tx
        .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'products_search'")?
        .exists([])?;
    if !has_search_index {
        tx.execute_batch(SEARCH_INDEX)?;
    }
    Ok(())
}

/// How long a [`Health::probe`] waits for a lock another process holds.
const PROBE_BUSY: std::time::Duration = std::time::Duration::from_millis(300);

/// Page cache per connection (KiB): the catalogue's hot pages stay in memory instead of being
/// re-read from the OS on every list query (SQLite's default is 2 MiB).
const CACHE_KIB: i64 = 32 * 1024;
/// Memory-mapped reads: no `pread` system call per page on a cache miss.
const MMAP_BYTES: i64 = 256 * 1024 * 1024;

/// Opens one store connection: the shared settings of [`crate::sqlite::open`] (WAL, busy
/// timeout) plus read tuning for list queries.
pub(crate) fn connect(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = crate::sqlite::open(path)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// Sorts a rusqlite error into "try again later" and "our bug".
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied,
        ) => StoreError::Unavailable(e.into()),
        _ => StoreError::Internal(e.into()),
    }
}

impl From<crate::sqlite::PoolError> for StoreError {
    /// The pool's own failures keep the store's messages: busy or closed is "try again later",
    /// a failed task is our bug.
    fn from(error: crate::sqlite::PoolError) -> Self {
        use crate::sqlite::PoolError;
        match error {
            PoolError::Sqlite(e) => map_err(e),
            PoolError::Closed => StoreError::Unavailable("the store is closed".into()),
            PoolError::Abandoned => StoreError::Unavailable("abandoned by the caller".into()),
            PoolError::Task(e) => StoreError::internal("store task failed", e),
        }
    }
}

/// Escapes `%`, `_` and `\` so `text` matches literally inside `LIKE … ESCAPE '\'`.
pub(crate) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reads a stored id; a malformed one is a corrupt row.
pub(crate) fn stored_id(text: &str) -> Result<crate::domain::ObjectId, StoreError> {
    crate::domain::ObjectId::parse(text)
        .map_err(|e| StoreError::internal(format!("corrupt id {text:?} in the store"), e))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}

#[cfg(test)]
mod tests;
