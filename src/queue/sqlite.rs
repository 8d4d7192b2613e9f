//! The embedded queue: one table (`queue_jobs`) in the same SQLite file as the API's data, safe
//! for several processes (API instances, workers) through WAL and write transactions that start
//! with `BEGIN IMMEDIATE`, so a take is one atomic `UPDATE … RETURNING` that two workers can never
//! both win.
//!
//! A job's row carries its whole lifecycle: `state` (waiting, delayed, active, completed,
//! failed), `run_at` (when a waiting or delayed job may run; the FIFO order within a priority),
//! the lease (`lock_token`, `lock_until`) and BullMQ's bookkeeping (attempts made and started,
//! stall count, failed reason, return value).
//!
//! # Waking up
//! SQLite has no notifications across processes, so an idle worker polls: every
//! [`DEFAULT_POLL`] it reads `PRAGMA data_version`, which changes when another connection commits
//! and costs no lock and no table read; only then does it try a take. Adds made through the same
//! [`SqliteQueue`] wake waiters at once, and the worker also wakes at the next delayed job's due
//! time (returned by [`Queue::take`]). A new job is therefore picked up within one poll interval.
//!
//! rusqlite is blocking: every call runs on tokio's blocking pool, never on the runtime's threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::Value;
use tokio::sync::Notify;

use super::{
    ActiveJob, Added, EMAIL_QUEUE, Fetch, JobChange, JobCounts, JobOptions, JobRecord, JobState,
    KeepPolicy, LockOutcome, NewJob, Queue, QueueError, Retry, STALLED_TOO_OFTEN, StalledReport,
    Taken, cap_reason,
};
use crate::clock::{millis_i64, now_millis_i64};

/// How often an idle waiter checks the database for changes made by other processes.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

/// The database file's name inside `DATA_DIR`: the API's store's file, which holds the queue's
/// tables too.
pub use crate::store::sqlite::DB_FILE;

/// Failures kept in a job's `stacktrace` (BullMQ's default `stackTraceLimit`).
const STACK_LIMIT: usize = 10;

/// At most this many finished jobs are deleted by one trim (BullMQ's `limit`), so a finish never
/// stalls on a huge backlog; the next finishes continue.
const TRIM_BATCH: i64 = 1000;

const SCHEMA: &str = "
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

const COLUMNS: &str = "id, name, data, opts, state, priority, attempts_made, attempts_started, stalled_count, \
                       timestamp, processed_on, finished_on, failed_reason, returnvalue, stacktrace";

/// The embedded queue. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<Inner>,
    /// How often an idle waiter reads `PRAGMA data_version`.
    poll: Duration,
}

struct Inner {
    conn: Mutex<Connection>,
    queue: String,
    path: PathBuf,
    /// Wakes this process's waiters on its own adds and retries.
    changed: Notify,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.inner.path)
            .field("queue", &self.inner.queue)
            .finish()
    }
}

impl SqliteQueue {
    /// Opens the email queue in `$DATA_DIR/svc.db` (see [`SqliteQueue::open`]).
    ///
    /// # Errors
    /// As [`SqliteQueue::open`].
    pub fn open_in(data_dir: &Path) -> Result<Self, QueueError> {
        Self::open(&data_dir.join(DB_FILE), EMAIL_QUEUE)
    }

    /// Opens (creating the file and the `queue_` tables if needed) the queue named `queue` in
    /// the database at `path`. Blocking: call it at start-up or from a blocking task.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when the database cannot be opened or written.
    pub fn open(path: &Path, queue: &str) -> Result<Self, QueueError> {
        let conn = crate::sqlite::open(path).map_err(|e| unavailable(path, &e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| unavailable(path, &e))?;
        add_missing_columns(&conn).map_err(|e| unavailable(path, &e))?;
        Ok(SqliteQueue {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                queue: queue.to_owned(),
                path: path.to_owned(),
                changed: Notify::new(),
            }),
            poll: DEFAULT_POLL,
        })
    }

    /// Sets how often an idle [`Queue::wait_for_work`] checks for other processes' changes.
    #[must_use]
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll.max(Duration::from_millis(1));
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Wakes this process's idle waiters after a local change. `notify_one` also leaves a permit
    /// when nobody is waiting yet (a waiter between its take and its wait), so no wake-up is lost;
    /// at worst a later wait returns early once.
    fn changed(&self) {
        self.inner.changed.notify_waiters();
        self.inner.changed.notify_one();
    }

    /// SQLite's change counter: it moves when another connection commits.
    async fn data_version(&self) -> Result<i64, QueueError> {
        self.run(|conn, _| Ok(conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))?))
            .await
    }

    /// Runs `f` on the connection in tokio's blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &str) -> Result<T, QueueError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.conn);
            f(&mut conn, &inner.queue)
        })
        .await
        .map_err(|e| QueueError::Unavailable(format!("queue task failed: {e}")))?
    }

    /// Runs `f` inside a `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &str, i64) -> Result<T, QueueError> + Send + 'static,
    {
        self.run(move |conn, queue| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx, queue, now_millis_i64())?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
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

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the connection rolls its transaction back; the connection is fine.
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unavailable(path: &Path, e: &rusqlite::Error) -> QueueError {
    QueueError::Unavailable(format!("{}: {e}", path.display()))
}

impl From<rusqlite::Error> for QueueError {
    fn from(e: rusqlite::Error) -> Self {
        QueueError::Unavailable(format!("sqlite: {e}"))
    }
}

/// A job row as stored, before its JSON columns are parsed.
struct RawJob {
    id: String,
    name: String,
    data: String,
    opts: String,
    state: String,
    priority: i64,
    attempts_made: i64,
    attempts_started: i64,
    stalled_count: i64,
    timestamp: i64,
    processed_on: Option<i64>,
    finished_on: Option<i64>,
    failed_reason: Option<String>,
    returnvalue: Option<String>,
    stacktrace: Option<String>,
}

impl RawJob {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawJob {
            id: row.get(0)?,
            name: row.get(1)?,
            data: row.get(2)?,
            opts: row.get(3)?,
            state: row.get(4)?,
            priority: row.get(5)?,
            attempts_made: row.get(6)?,
            attempts_started: row.get(7)?,
            stalled_count: row.get(8)?,
            timestamp: row.get(9)?,
            processed_on: row.get(10)?,
            finished_on: row.get(11)?,
            failed_reason: row.get(12)?,
            returnvalue: row.get(13)?,
            stacktrace: row.get(14)?,
        })
    }

    fn into_record(self) -> Result<JobRecord, QueueError> {
        let corrupt = |what: &str, e: serde_json::Error| {
            QueueError::Invalid(format!("job {}: stored {what} is not JSON: {e}", self.id))
        };
        let data: Value = serde_json::from_str(&self.data).map_err(|e| corrupt("data", e))?;
        let opts: Value = serde_json::from_str(&self.opts).map_err(|e| corrupt("opts", e))?;
        let returnvalue = match &self.returnvalue {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| corrupt("returnvalue", e))?),
            None => None,
        };
        let state = match (self.state.as_str(), self.priority > 0) {
            ("waiting", false) => JobState::Waiting,
            ("waiting", true) => JobState::Prioritized,
            ("delayed", _) => JobState::Delayed,
            ("active", _) => JobState::Active,
            ("completed", _) => JobState::Completed,
            ("failed", _) => JobState::Failed,
            (other, _) => {
                return Err(QueueError::Invalid(format!(
                    "job {}: unknown state `{other}`",
                    self.id
                )));
            }
        };
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        let time = |t: i64| u64::try_from(t).unwrap_or(0);
        Ok(JobRecord {
            opts: JobOptions::from_bullmq_json(&opts)?,
            id: self.id,
            name: self.name,
            data,
            state,
            attempts_made: count(self.attempts_made),
            attempts_started: count(self.attempts_started),
            stalled_count: count(self.stalled_count),
            timestamp: time(self.timestamp),
            processed_on: self.processed_on.map(time),
            finished_on: self.finished_on.map(time),
            failed_reason: self.failed_reason,
            stacktrace: self
                .stacktrace
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            returnvalue,
        })
    }
}

/// Deletes the finished jobs in `state` beyond `keep` (newest first by finish time).
fn trim(
    tx: &rusqlite::Transaction<'_>,
    queue: &str,
    state: &str,
    keep: KeepPolicy,
    now: i64,
) -> rusqlite::Result<()> {
    if let Some(count) = keep.count {
        let offset = i64::try_from(count).unwrap_or(i64::MAX);
        tx.prepare_cached(
            "DELETE FROM queue_jobs WHERE seq IN (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = ?2 \
             ORDER BY finished_on DESC, seq DESC LIMIT ?3 OFFSET ?4)",
        )?
        .execute(params![queue, state, TRIM_BATCH, offset])?;
    }
    if let Some(age) = keep.age {
        tx.prepare_cached(
            "DELETE FROM queue_jobs WHERE seq IN (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = ?2 \
             AND finished_on < ?3 ORDER BY finished_on LIMIT ?4)",
        )?
        .execute(params![queue, state, now.saturating_sub(millis_i64(age)), TRIM_BATCH])?;
    }
    Ok(())
}

/// Moves delayed jobs whose time has come to waiting.
fn promote_due(tx: &rusqlite::Transaction<'_>, queue: &str, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE queue_jobs SET state = 'waiting' WHERE queue = ?1 AND state = 'delayed' AND run_at <= ?2")?
        .execute(params![queue, now])?;
    Ok(())
}

/// When the earliest delayed job becomes ready.
fn next_due(tx: &rusqlite::Transaction<'_>, queue: &str) -> rusqlite::Result<Option<SystemTime>> {
    let next: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(run_at) FROM queue_jobs WHERE queue = ?1 AND state = 'delayed'",
        )?
        .query_row(params![queue], |r| r.get(0))?;
    Ok(next.map(|t| UNIX_EPOCH + Duration::from_millis(u64::try_from(t).unwrap_or(0))))
}

/// Whether the queue is paused (`svc queue pause`).
fn paused(conn: &Connection, queue: &str) -> rusqlite::Result<bool> {
    let paused: Option<i64> = conn
        .prepare_cached("SELECT paused FROM queue_meta WHERE queue = ?1")?
        .query_row(params![queue], |r| r.get(0))
        .optional()?;
    Ok(paused.unwrap_or(0) != 0)
}

/// The job's `stacktrace` with one more failure, as JSON: `Error: <reason>`, the shape of the
/// first line of a Node stack (what the Redis backend stores too), the newest
/// [`STACK_LIMIT`] kept.
fn stack_with(
    tx: &rusqlite::Transaction<'_>,
    queue: &str,
    id: &str,
    reason: &str,
) -> Result<String, QueueError> {
    let stored: Option<Option<String>> = tx
        .prepare_cached("SELECT stacktrace FROM queue_jobs WHERE queue = ?1 AND id = ?2")?
        .query_row(params![queue, id], |r| r.get(0))
        .optional()?;
    let mut stack: Vec<String> = stored
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    stack.push(format!("Error: {reason}"));
    let excess = stack.len().saturating_sub(STACK_LIMIT);
    stack.drain(..excess);
    serde_json::to_string(&stack).map_err(|e| QueueError::Invalid(e.to_string()))
}

/// The state of a job as its row says (`waiting` with a priority is prioritized).
fn state_of(
    tx: &rusqlite::Transaction<'_>,
    queue: &str,
    id: &str,
) -> rusqlite::Result<Option<JobState>> {
    let row: Option<(String, i64)> = tx
        .prepare_cached("SELECT state, priority FROM queue_jobs WHERE queue = ?1 AND id = ?2")?
        .query_row(params![queue, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(
        row.and_then(|(state, priority)| match (state.as_str(), priority > 0) {
            ("waiting", false) => Some(JobState::Waiting),
            ("waiting", true) => Some(JobState::Prioritized),
            (other, _) => other.parse().ok(),
        }),
    )
}

/// The rows of a state (the `WHERE` after `queue = ?1`) and their order, for [`Queue::list`].
fn listing(state: JobState) -> (&'static str, &'static str) {
    match state {
        JobState::Waiting => ("state = 'waiting' AND priority = 0", "run_at, seq"),
        JobState::Prioritized => (
            "state = 'waiting' AND priority > 0",
            "priority, run_at, seq",
        ),
        JobState::Delayed => ("state = 'delayed'", "run_at, seq"),
        JobState::Active => ("state = 'active'", "processed_on DESC, seq DESC"),
        JobState::Completed => ("state = 'completed'", "finished_on DESC, seq DESC"),
        JobState::Failed => ("state = 'failed'", "finished_on DESC, seq DESC"),
    }
}

/// The `WHERE` of every change to a leased job: the job is active under this token.
const LEASED: &str = "queue = ?1 AND id = ?2 AND state = 'active' AND lock_token = ?3";

fn held(changed: usize) -> LockOutcome {
    if changed == 1 {
        LockOutcome::Held
    } else {
        LockOutcome::Lost
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn add(&self, job: NewJob) -> Result<Added, QueueError> {
        super::validate(&job)?;
        let data =
            serde_json::to_string(&job.data).map_err(|e| QueueError::Invalid(e.to_string()))?;
        let opts = job.opts.to_bullmq_json().to_string();
        let added = self
            .write(move |tx, queue, now| {
                let delayed = !job.opts.delay.is_zero();
                let state = if delayed { "delayed" } else { "waiting" };
                let run_at = now.saturating_add(millis_i64(job.opts.delay));
                let id = job.opts.job_id.clone().unwrap_or_else(|| format!("new-{}", uuid::Uuid::new_v4()));
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO queue_jobs (queue, id, name, data, opts, state, priority, run_at, timestamp) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (queue, id) DO NOTHING",
                    )?
                    .execute(params![queue, id, job.name, data, opts, state, job.opts.priority, run_at, now])?;
                if inserted == 0 {
                    return Ok(Added::Duplicate(id));
                }
                if job.opts.job_id.is_some() {
                    return Ok(Added::New(id));
                }
                // Generated ids are the row's sequence number, like BullMQ's `INCR id`; custom ids
                // can never be integers, so the two never collide.
                let seq = tx.last_insert_rowid();
                tx.prepare_cached("UPDATE queue_jobs SET id = ?1 WHERE seq = ?2")?
                    .execute(params![seq.to_string(), seq])?;
                Ok(Added::New(seq.to_string()))
            })
            .await?;
        if matches!(added, Added::New(_)) {
            self.changed();
        }
        Ok(added)
    }

    async fn counts(&self) -> Result<JobCounts, QueueError> {
        self.run(|conn, queue| {
            let mut counts = JobCounts::default();
            let mut stmt = conn.prepare_cached(
                "SELECT state, priority > 0, COUNT(*) FROM queue_jobs WHERE queue = ?1 GROUP BY state, priority > 0",
            )?;
            let mut rows = stmt.query(params![queue])?;
            while let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                let prioritized: bool = row.get(1)?;
                let n = u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0);
                match (state.as_str(), prioritized) {
                    ("waiting", false) => counts.waiting += n,
                    ("waiting", true) => counts.prioritized += n,
                    ("delayed", _) => counts.delayed += n,
                    ("active", _) => counts.active += n,
                    ("completed", _) => counts.completed += n,
                    ("failed", _) => counts.failed += n,
                    _ => {}
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.run(|conn, _| {
            conn.prepare_cached("SELECT 1 FROM queue_jobs LIMIT 1")?
                .query_row([], |_| Ok(()))
                .optional()?;
            Ok(())
        })
        .await
    }

    async fn take(&self, token: &str, lock: Duration) -> Result<Fetch, QueueError> {
        let token = token.to_owned();
        self.write(move |tx, queue, now| {
            promote_due(tx, queue, now)?;
            if paused(tx, queue)? {
                return Ok(Fetch::Empty { next_due: next_due(tx, queue)? });
            }
            let taken = tx
                .prepare_cached(&format!(
                    "UPDATE queue_jobs SET state = 'active', lock_token = ?2, lock_until = ?3, processed_on = ?4, \
                     attempts_started = attempts_started + 1 \
                     WHERE seq = (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = 'waiting' \
                                  ORDER BY priority, run_at, seq LIMIT 1) \
                     RETURNING {COLUMNS}"
                ))?
                .query_row(params![queue, token, now.saturating_add(millis_i64(lock)), now], RawJob::from_row)
                .optional()?;
            match taken {
                Some(raw) => Ok(Fetch::Job(Box::new(ActiveJob { job: raw.into_record()?, token }))),
                None => Ok(Fetch::Empty { next_due: next_due(tx, queue)? }),
            }
        })
        .await
    }

    async fn take_many(
        &self,
        token_prefix: &str,
        max: usize,
        lock: Duration,
    ) -> Result<Taken, QueueError> {
        let prefix = format!("{token_prefix}:");
        let max = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
        self.write(move |tx, queue, now| {
            promote_due(tx, queue, now)?;
            if paused(tx, queue)? {
                return Ok(Taken { jobs: Vec::new(), next_due: next_due(tx, queue)? });
            }
            // Each job's token is the prefix plus its row number: unique, and made in the update.
            let mut stmt = tx.prepare_cached(&format!(
                "UPDATE queue_jobs SET state = 'active', lock_token = ?2 || seq, lock_until = ?3, processed_on = ?4, \
                 attempts_started = attempts_started + 1 \
                 WHERE seq IN (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = 'waiting' \
                               ORDER BY priority, run_at, seq LIMIT ?5) \
                 RETURNING {COLUMNS}, lock_token, seq"
            ))?;
            let rows = stmt
                .query_map(params![queue, prefix, now.saturating_add(millis_i64(lock)), now, max], |row| {
                    Ok((RawJob::from_row(row)?, row.get::<_, String>(15)?, row.get::<_, i64>(16)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut taken = Vec::with_capacity(rows.len());
            for (raw, token, seq) in rows {
                taken.push((seq, ActiveJob { job: raw.into_record()?, token }));
            }
            // RETURNING has no defined order: hand the jobs out in queue order.
            taken.sort_by_key(|(seq, job)| (job.job.opts.priority, *seq));
            let jobs: Vec<ActiveJob> = taken.into_iter().map(|(_, job)| job).collect();
            let next_due = if jobs.is_empty() { next_due(tx, queue)? } else { None };
            Ok(Taken { jobs, next_due })
        })
        .await
    }

    async fn wait_for_work(&self, timeout: Duration) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let notified = self.inner.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let start = self.data_version().await?;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let nap = self.poll.min(deadline - now);
            tokio::select! {
                () = &mut notified => return Ok(()),
                () = tokio::time::sleep(nap) => {}
            }
            if self.data_version().await? != start {
                return Ok(());
            }
        }
    }

    async fn extend_lock(
        &self,
        job_id: &str,
        token: &str,
        lock: Duration,
    ) -> Result<LockOutcome, QueueError> {
        let (id, token) = (job_id.to_owned(), token.to_owned());
        self.write(move |tx, queue, now| {
            let n = tx
                .prepare_cached(&format!(
                    "UPDATE queue_jobs SET lock_until = ?4 WHERE {LEASED}"
                ))?
                .execute(params![
                    queue,
                    id,
                    token,
                    now.saturating_add(millis_i64(lock))
                ])?;
            Ok(held(n))
        })
        .await
    }

    async fn complete(
        &self,
        job: &ActiveJob,
        returnvalue: Value,
        keep: KeepPolicy,
    ) -> Result<LockOutcome, QueueError> {
        let (id, token) = (job.job.id.clone(), job.token.clone());
        let returnvalue = returnvalue.to_string();
        self.write(move |tx, queue, now| {
            let n = tx
                .prepare_cached(&format!(
                    "UPDATE queue_jobs SET state = 'completed', lock_token = NULL, lock_until = NULL, \
                     finished_on = ?4, attempts_made = attempts_made + 1, returnvalue = ?5 WHERE {LEASED}"
                ))?
                .execute(params![queue, id, token, now, returnvalue])?;
            if n == 1 {
                trim(tx, queue, "completed", keep, now)?;
            }
            Ok(held(n))
        })
        .await
    }

    async fn fail(
        &self,
        job: &ActiveJob,
        reason: &str,
        retry: Retry,
        keep: KeepPolicy,
    ) -> Result<LockOutcome, QueueError> {
        let (id, token, reason) = (job.job.id.clone(), job.token.clone(), cap_reason(reason));
        let outcome = self
            .write(move |tx, queue, now| {
                let stack = stack_with(tx, queue, &id, &reason)?;
                let n = match retry {
                    Retry::After(delay) => {
                        let state = if delay.is_zero() { "waiting" } else { "delayed" };
                        tx.prepare_cached(&format!(
                            "UPDATE queue_jobs SET state = ?4, run_at = ?5, lock_token = NULL, lock_until = NULL, \
                             attempts_made = attempts_made + 1, failed_reason = ?6, stacktrace = ?7 WHERE {LEASED}"
                        ))?
                        .execute(params![queue, id, token, state, now.saturating_add(millis_i64(delay)), reason, stack])?
                    }
                    Retry::Never => {
                        let n = tx
                            .prepare_cached(&format!(
                                "UPDATE queue_jobs SET state = 'failed', finished_on = ?4, lock_token = NULL, \
                                 lock_until = NULL, attempts_made = attempts_made + 1, failed_reason = ?5, \
                                 stacktrace = ?6 WHERE {LEASED}"
                            ))?
                            .execute(params![queue, id, token, now, reason, stack])?;
                        if n == 1 {
                            trim(tx, queue, "failed", keep, now)?;
                        }
                        n
                    }
                };
                Ok(held(n))
            })
            .await?;
        if outcome == LockOutcome::Held && retry != Retry::Never {
            // Idle waiters re-take: the job is ready now, or they learn its new due time.
            self.changed();
        }
        Ok(outcome)
    }

    async fn release(&self, job: &ActiveJob) -> Result<LockOutcome, QueueError> {
        let (id, token) = (job.job.id.clone(), job.token.clone());
        let outcome = self
            .write(move |tx, queue, _| {
                let n = tx
                    .prepare_cached(&format!(
                        "UPDATE queue_jobs SET state = 'waiting', lock_token = NULL, lock_until = NULL WHERE {LEASED}"
                    ))?
                    .execute(params![queue, id, token])?;
                Ok(held(n))
            })
            .await?;
        self.changed();
        Ok(outcome)
    }

    async fn recover_stalled(
        &self,
        max_stalled: u32,
        keep_failed: KeepPolicy,
    ) -> Result<StalledReport, QueueError> {
        let report = self
            .write(move |tx, queue, now| {
                let expired: Vec<(String, i64)> = tx
                    .prepare_cached(
                        "SELECT id, stalled_count FROM queue_jobs WHERE queue = ?1 AND state = 'active' \
                         AND lock_until < ?2",
                    )?
                    .query_map(params![queue, now], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut report = StalledReport::default();
                for (id, stalls) in expired {
                    if stalls + 1 > i64::from(max_stalled) {
                        let stack = stack_with(tx, queue, &id, STALLED_TOO_OFTEN)?;
                        tx.prepare_cached(
                            "UPDATE queue_jobs SET state = 'failed', stalled_count = stalled_count + 1, \
                             lock_token = NULL, lock_until = NULL, finished_on = ?3, \
                             attempts_made = attempts_made + 1, failed_reason = ?4, stacktrace = ?5 \
                             WHERE queue = ?1 AND id = ?2",
                        )?
                        .execute(params![queue, id, now, STALLED_TOO_OFTEN, stack])?;
                        report.failed.push(id);
                    } else {
                        tx.prepare_cached(
                            "UPDATE queue_jobs SET state = 'waiting', stalled_count = stalled_count + 1, \
                             lock_token = NULL, lock_until = NULL WHERE queue = ?1 AND id = ?2",
                        )?
                        .execute(params![queue, id])?;
                        report.recovered.push(id);
                    }
                }
                if !report.failed.is_empty() {
                    trim(tx, queue, "failed", keep_failed, now)?;
                }
                Ok(report)
            })
            .await?;
        if !report.recovered.is_empty() {
            self.changed();
        }
        Ok(report)
    }

    async fn retry_failed(&self) -> Result<u64, QueueError> {
        let moved = self
            .write(|tx, queue, now| {
                let n = tx
                    .prepare_cached(
                        "UPDATE queue_jobs SET state = 'waiting', run_at = ?2, attempts_made = 0, stalled_count = 0, \
                         finished_on = NULL, returnvalue = NULL WHERE queue = ?1 AND state = 'failed'",
                    )?
                    .execute(params![queue, now])?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await?;
        if moved > 0 {
            self.changed();
        }
        Ok(moved)
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let id = id.to_owned();
        self.run(move |conn, queue| {
            let raw = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM queue_jobs WHERE queue = ?1 AND id = ?2"
                ))?
                .query_row(params![queue, id], RawJob::from_row)
                .optional()?;
            raw.map(RawJob::into_record).transpose()
        })
        .await
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn, queue| {
            let (filter, order) = listing(state);
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM queue_jobs WHERE queue = ?1 AND {filter} ORDER BY {order} LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![queue, limit], RawJob::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(RawJob::into_record).collect()
        })
        .await
    }

    async fn retry_job(&self, id: &str) -> Result<JobChange, QueueError> {
        let id = id.to_owned();
        let change = self
            .write(move |tx, queue, now| match state_of(tx, queue, &id)? {
                None => Ok(JobChange::NotFound),
                Some(JobState::Failed | JobState::Completed) => {
                    tx.prepare_cached(
                        "UPDATE queue_jobs SET state = 'waiting', run_at = ?3, attempts_made = 0, stalled_count = 0, \
                         finished_on = NULL, returnvalue = NULL WHERE queue = ?1 AND id = ?2",
                    )?
                    .execute(params![queue, id, now])?;
                    Ok(JobChange::Done)
                }
                Some(other) => Ok(JobChange::Refused(other)),
            })
            .await?;
        if change == JobChange::Done {
            self.changed();
        }
        Ok(change)
    }

    async fn remove(&self, id: &str) -> Result<JobChange, QueueError> {
        let id = id.to_owned();
        self.write(move |tx, queue, _| match state_of(tx, queue, &id)? {
            None => Ok(JobChange::NotFound),
            Some(JobState::Active) => Ok(JobChange::Refused(JobState::Active)),
            Some(_) => {
                tx.prepare_cached("DELETE FROM queue_jobs WHERE queue = ?1 AND id = ?2")?
                    .execute(params![queue, id])?;
                Ok(JobChange::Done)
            }
        })
        .await
    }

    async fn clean(&self, state: JobState, older_than: Duration) -> Result<u64, QueueError> {
        if state == JobState::Active {
            return Err(QueueError::Invalid(
                "active jobs are held by workers and cannot be cleaned".into(),
            ));
        }
        self.write(move |tx, queue, now| {
            let (filter, _) = listing(state);
            let age = if state.is_finished() {
                "finished_on"
            } else {
                "timestamp"
            };
            let n = tx
                .prepare_cached(&format!(
                    "DELETE FROM queue_jobs WHERE queue = ?1 AND {filter} AND {age} < ?2"
                ))?
                .execute(params![queue, now.saturating_sub(millis_i64(older_than))])?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn set_paused(&self, paused: bool) -> Result<(), QueueError> {
        self.write(move |tx, queue, _| {
            tx.prepare_cached(
                "INSERT INTO queue_meta (queue, paused) VALUES (?1, ?2) \
                 ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused",
            )?
            .execute(params![queue, i64::from(paused)])?;
            Ok(())
        })
        .await?;
        // Resumed: this process's idle waiters take again (others see the commit).
        self.changed();
        Ok(())
    }

    async fn is_paused(&self) -> Result<bool, QueueError> {
        self.run(|conn, queue| Ok(paused(conn, queue)?)).await
    }

    fn describe(&self) -> String {
        format!("sqlite {} {}", self.inner.path.display(), self.inner.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Backoff, JobOptions};
    use serde_json::json;

    fn queue(dir: &tempfile::TempDir) -> SqliteQueue {
        SqliteQueue::open_in(dir.path()).unwrap()
    }

    fn welcome(id: Option<&str>) -> NewJob {
        NewJob {
            name: "welcome-email".into(),
            data: json!({"userId": "1", "email": "a@example.com", "name": "A"}),
            opts: JobOptions {
                job_id: id.map(Into::into),
                attempts: 3,
                backoff: Backoff::exponential(Duration::from_secs(1)),
                ..JobOptions::default()
            },
        }
    }

    #[tokio::test]
    async fn add_is_idempotent_for_a_custom_id() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir);
        assert_eq!(
            q.add(welcome(Some("welcome-1"))).await.unwrap(),
            Added::New("welcome-1".into())
        );
        assert_eq!(
            q.add(welcome(Some("welcome-1"))).await.unwrap(),
            Added::Duplicate("welcome-1".into())
        );
        assert_eq!(q.counts().await.unwrap().waiting, 1);
    }

    #[tokio::test]
    async fn generated_ids_are_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir);
        let Added::New(a) = q.add(welcome(None)).await.unwrap() else {
            panic!("not new")
        };
        let Added::New(b) = q.add(welcome(None)).await.unwrap() else {
            panic!("not new")
        };
        assert!(a.parse::<u64>().unwrap() < b.parse::<u64>().unwrap());
        assert_eq!(q.job(&b).await.unwrap().unwrap().state, JobState::Waiting);
    }

    #[tokio::test]
    async fn counts_split_by_state() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir);
        q.add(welcome(None)).await.unwrap();
        let mut delayed = welcome(None);
        delayed.opts.delay = Duration::from_secs(60);
        q.add(delayed).await.unwrap();
        let mut prio = welcome(None);
        prio.opts.priority = 3;
        q.add(prio).await.unwrap();
        let counts = q.counts().await.unwrap();
        assert_eq!(
            counts,
            JobCounts {
                waiting: 1,
                delayed: 1,
                prioritized: 1,
                ..JobCounts::default()
            }
        );
    }

    #[tokio::test]
    async fn ping_answers_and_invalid_jobs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir);
        q.ping().await.unwrap();
        let mut bad = welcome(Some("12"));
        assert!(matches!(
            q.add(bad.clone()).await,
            Err(QueueError::Invalid(_))
        ));
        bad.opts.job_id = None;
        bad.name = String::new();
        assert!(matches!(q.add(bad).await, Err(QueueError::Invalid(_))));
    }

    #[tokio::test]
    async fn two_handles_on_one_file_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (queue(&dir), queue(&dir));
        a.add(welcome(Some("welcome-2"))).await.unwrap();
        assert_eq!(
            b.add(welcome(Some("welcome-2"))).await.unwrap(),
            Added::Duplicate("welcome-2".into())
        );
        assert_eq!(b.counts().await.unwrap().waiting, 1);
    }

    #[tokio::test]
    async fn a_table_from_before_the_stack_of_failures_gets_its_column_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            // SCHEMA is the first release's table; the stack's column comes from ADDED_COLUMNS.
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO queue_jobs (queue, id, name, data, opts, state, run_at, timestamp) \
                 VALUES ('email-queue', 'old-1', 'welcome-email', '{}', '{}', 'waiting', 0, 0)",
                [],
            )
            .unwrap();
            let has: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM pragma_table_info('queue_jobs') WHERE name = 'stacktrace'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(has, 0, "the old table has no stacktrace column");
        }
        let q = queue(&dir);
        assert!(q.job("old-1").await.unwrap().unwrap().stacktrace.is_empty());
        let Fetch::Job(job) = q.take("t", Duration::from_secs(30)).await.unwrap() else {
            panic!("no job")
        };
        q.fail(&job, "boom", Retry::Never, KeepPolicy::ALL)
            .await
            .unwrap();
        assert_eq!(
            q.job("old-1").await.unwrap().unwrap().stacktrace,
            ["Error: boom"]
        );
        // A second open finds the column there.
        queue(&dir);
    }

    #[test]
    fn the_stack_keeps_the_newest_failures() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(&dir);
        let mut conn = lock(&q.inner.conn);
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO queue_jobs (queue, id, name, data, opts, state, run_at, timestamp) \
             VALUES ('email-queue', 'j', 'n', '{}', '{}', 'waiting', 0, 0)",
            [],
        )
        .unwrap();
        for n in 0..12 {
            let stack = stack_with(&tx, EMAIL_QUEUE, "j", &format!("r{n}")).unwrap();
            tx.execute(
                "UPDATE queue_jobs SET stacktrace = ?1 WHERE id = 'j'",
                params![stack],
            )
            .unwrap();
        }
        let stack: String = tx
            .query_row(
                "SELECT stacktrace FROM queue_jobs WHERE id = 'j'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let stack: Vec<String> = serde_json::from_str(&stack).unwrap();
        assert_eq!(stack.len(), STACK_LIMIT);
        assert_eq!(
            (stack[0].as_str(), stack[9].as_str()),
            ("Error: r2", "Error: r11")
        );
    }

    #[test]
    fn an_unopenable_path_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = SqliteQueue::open_in(&file).unwrap_err();
        assert!(matches!(err, QueueError::Unavailable(_)), "{err}");
    }
}
