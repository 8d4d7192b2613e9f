//! The queue's tables in the shared database file: created at open, and brought up to date when
//! an older release made them.

use rusqlite::{Connection, params};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    queue            TEXT NOT NULL,
    id               TEXT NOT NULL,
    name             TEXT NOT NULL,
    data             TEXT NOT NULL,
    opts             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('waiting', 'delayed', 'active', 'completed', 'failed')),
    priority         INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL,
    timestamp        INTEGER NOT NULL,
    attempts_made    INTEGER NOT NULL DEFAULT 0,
    attempts_started INTEGER NOT NULL DEFAULT 0,
    stalled_count    INTEGER NOT NULL DEFAULT 0,
    lock_token       TEXT,
    lock_until       INTEGER,
    processed_on     INTEGER,
    finished_on      INTEGER,
    failed_reason    TEXT,
    returnvalue      TEXT,
    UNIQUE (queue, id)
);
CREATE INDEX IF NOT EXISTS queue_jobs_ready ON queue_jobs (queue, state, priority, run_at, seq);
CREATE INDEX IF NOT EXISTS queue_jobs_due ON queue_jobs (queue, state, run_at);
CREATE INDEX IF NOT EXISTS queue_jobs_finished ON queue_jobs (queue, state, finished_on, seq);
CREATE TABLE IF NOT EXISTS queue_meta (
    queue  TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0
);
";

/// Columns added after the first release, with their definition: added at open when missing.
const ADDED_COLUMNS: [(&str, &str); 1] = [("stacktrace", "TEXT")];

/// Creates the queue's tables if needed and adds the columns an older table lacks.
pub(super) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    add_missing_columns(conn)
}

/// Brings an older `queue_jobs` table up to date, in one write transaction so that two processes
/// opening it at once cannot both add a column.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        for (column, definition) in ADDED_COLUMNS {
            let present: i64 = conn.query_row(
                "SELECT COUNT(*) FROM pragma_table_info('queue_jobs') WHERE name = ?1",
                params![column],
                |r| r.get(0),
            )?;
            if present == 0 {
                conn.execute_batch(&format!(
                    "ALTER TABLE queue_jobs ADD COLUMN {column} {definition}"
                ))?;
            }
        }
        Ok(())
    })();
    conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
    result
}
