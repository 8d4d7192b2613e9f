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
//! [`DEFAULT_POLL`] it reads `PRAGMA data_version` on its own watching connection, which changes
//! when any other connection commits (another process's, or one of this pool's) and costs no
//! lock and no table read; only then does it try a take. Adds made through the same
//! [`SqliteQueue`] wake waiters at once, and the worker also wakes at the next delayed job's due
//! time (returned by [`Queue::take`]). A new job is therefore picked up within one poll interval.
//!
//! rusqlite is blocking: every call runs on tokio's blocking pool, never on the runtime's threads,
//! through the connection pool the API's store uses too ([`crate::sqlite::Pool`]): reads run in
//! parallel, writes take turns, and a write whose caller gave up is rolled back.

mod add;
mod admin;
mod finish;
mod keep;
mod listing;
mod row;
mod schema;
mod stalled;
mod take;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::Notify;

use super::{
    ActiveJob, Added, EMAIL_QUEUE, Fetch, InvalidReason, JobChange, JobCounts, JobRecord, JobState,
    KeepPolicy, LockOutcome, NewJob, Queue, QueueError, Retry, StalledReport, Taken,
    UnavailableCause, cap_reason,
};
use crate::clock::now_millis_i64;
use crate::sqlite::Pool;

/// How often an idle waiter checks the database for changes made by other processes.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

/// The database file's name inside `DATA_DIR`: the API's store's file, which holds the queue's
/// tables too.
pub use crate::store::sqlite::DB_FILE;

/// The embedded queue. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<Inner>,
    /// How often an idle waiter reads `PRAGMA data_version`.
    poll: Duration,
}

struct Inner {
    pool: Pool<QueueError>,
    /// The connection an idle waiter reads `PRAGMA data_version` on: the counter is per
    /// connection, so it is always read on this one.
    watch: Mutex<Connection>,
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
        let conn = crate::sqlite::open(path).map_err(|e| unavailable(path, e))?;
        schema::create(&conn).map_err(|e| unavailable(path, e))?;
        let watch = crate::sqlite::open(path).map_err(|e| unavailable(path, e))?;
        Ok(SqliteQueue {
            inner: Arc::new(Inner {
                pool: Pool::new(path, conn, crate::sqlite::open),
                watch: Mutex::new(watch),
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

    /// SQLite's change counter on the watching connection: it moves when any other connection
    /// commits.
    async fn data_version(&self) -> Result<i64, QueueError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the connection left it usable: it only reads a pragma.
            let conn = inner
                .watch
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Ok(conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0))?)
        })
        .await
        .map_err(QueueError::from)?
    }

    /// Runs `f` on a pooled connection in tokio's blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &str) -> Result<T, QueueError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.inner
            .pool
            .read(move |conn| f(conn, &inner.queue))
            .await
    }

    /// Runs `f` inside a `BEGIN IMMEDIATE` transaction, committed when it returns `Ok` and
    /// rolled back when the caller gave up before it began.
    async fn write<T, F>(&self, f: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &str, i64) -> Result<T, QueueError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.inner
            .pool
            .write(move |tx| f(tx, &inner.queue, now_millis_i64()))
            .await
    }
}

/// The database at `path` could not be opened or its tables made.
fn unavailable(path: &Path, source: rusqlite::Error) -> QueueError {
    UnavailableCause::Open {
        path: path.to_owned(),
        source,
    }
    .into()
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn add(&self, job: NewJob) -> Result<Added, QueueError> {
        super::validate(&job)?;
        let data = serde_json::to_string(&job.data).map_err(InvalidReason::Json)?;
        let opts = job.opts.to_bullmq_json().to_string();
        let added = self
            .write(move |tx, queue, now| add::insert(tx, queue, now, &job, (&data, &opts)))
            .await?;
        if matches!(added, Added::New(_)) {
            self.changed();
        }
        Ok(added)
    }

    async fn counts(&self) -> Result<JobCounts, QueueError> {
        self.run(|conn, queue| listing::counts(conn, queue)).await
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
        self.write(move |tx, queue, now| take::one(tx, queue, now, token, lock))
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
        self.write(move |tx, queue, now| take::many(tx, queue, now, &prefix, max, lock))
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
        self.write(move |tx, queue, now| finish::extend_lock(tx, queue, now, (&id, &token), lock))
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
            finish::complete(tx, queue, now, (&id, &token), &returnvalue, keep)
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
                finish::fail(tx, queue, now, (&id, &token), &reason, retry, keep)
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
            .write(move |tx, queue, _| finish::release(tx, queue, (&id, &token)))
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
            .write(move |tx, queue, now| stalled::recover(tx, queue, now, max_stalled, keep_failed))
            .await?;
        if !report.recovered.is_empty() {
            self.changed();
        }
        Ok(report)
    }

    async fn retry_failed(&self) -> Result<u64, QueueError> {
        let moved = self.write(admin::retry_failed).await?;
        if moved > 0 {
            self.changed();
        }
        Ok(moved)
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let id = id.to_owned();
        self.run(move |conn, queue| listing::job(conn, queue, &id))
            .await
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn, queue| listing::list(conn, queue, state, limit))
            .await
    }

    async fn retry_job(&self, id: &str) -> Result<JobChange, QueueError> {
        let id = id.to_owned();
        let change = self
            .write(move |tx, queue, now| admin::retry_job(tx, queue, now, &id))
            .await?;
        if change == JobChange::Done {
            self.changed();
        }
        Ok(change)
    }

    async fn remove(&self, id: &str) -> Result<JobChange, QueueError> {
        let id = id.to_owned();
        self.write(move |tx, queue, _| admin::remove(tx, queue, &id))
            .await
    }

    async fn clean(&self, state: JobState, older_than: Duration) -> Result<u64, QueueError> {
        if state == JobState::Active {
            return Err(InvalidReason::CleanActive.into());
        }
        self.write(move |tx, queue, now| admin::clean(tx, queue, now, state, older_than))
            .await
    }

    async fn set_paused(&self, paused: bool) -> Result<(), QueueError> {
        self.write(move |tx, queue, _| admin::set_paused(tx, queue, paused))
            .await?;
        // Resumed: this process's idle waiters take again (others see the commit).
        self.changed();
        Ok(())
    }

    async fn is_paused(&self) -> Result<bool, QueueError> {
        self.run(|conn, queue| Ok(take::paused(conn, queue)?)).await
    }

    fn describe(&self) -> String {
        format!("sqlite {} {}", self.inner.path.display(), self.inner.queue)
    }
}

#[cfg(test)]
mod tests;
