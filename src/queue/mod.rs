//! The job queue behind one trait: the embedded SQLite backend ([`sqlite`]) and a
//! BullMQ-compatible Redis backend ([`redis`], see `docs/QUEUE-REDIS.md`), chosen from the
//! environment by [`open_from_env`]. The producer side (the API, `svc queue add`) and the
//! consumer side (the worker) both speak only [`Queue`].
//!
//! # Semantics every backend shares (BullMQ's)
//! - At-least-once delivery: a job is handed out under a *lease* (a lock token with an expiry).
//!   The holder renews it while the job runs ([`Queue::extend_lock`]); a lease that expires (the
//!   worker died) is recovered by [`Queue::recover_stalled`] and the job runs again. A job that
//!   stalls more than `max_stalled` times fails with [`STALLED_TOO_OFTEN`].
//! - Every state change on a leased job names its token; a stale token gets
//!   [`LockOutcome::Lost`] and changes nothing, so a worker whose lease was taken over cannot
//!   complete or fail someone else's run.
//! - `attempts` with fixed or exponential backoff ([`JobOptions::retry_delay`]): the worker decides
//!   whether a failure is retried ([`Retry`]), the backend moves the job to `delayed`/`waiting`.
//! - Delayed jobs, priorities (0 = none and runs first, then 1, 2, ...: BullMQ's order), custom job
//!   ids idempotent in any state (until the job is removed by a keep policy).
//! - Completed and failed jobs are kept up to a [`KeepPolicy`] (count and age), never unbounded.
//! - A paused queue ([`Queue::set_paused`], BullMQ's `paused` flag, shared with Node workers)
//!   hands out no job; jobs in hand finish, and jobs added meanwhile wait.
//! - The repairs an operator makes (`svc queue retry | remove | clean`) never touch a job a worker
//!   holds: [`Queue::remove`] refuses an active job and [`Queue::clean`] the active state.
//!
//! `jobs` holds the payloads of the jobs svc knows (the welcome email).

mod backend;
mod backoff;
mod error;
mod job;
pub mod jobs;
mod options;
pub mod redis;
pub mod sqlite;
mod state;
mod validate;

pub use backend::{Backend, open, open_from_env};
pub use backoff::{Backoff, Strategy};
pub use error::{ConfigCause, InvalidReason, QueueError, StoredField, UnavailableCause};

use error::stored_json;
pub use job::{
    ActiveJob, Added, Fetch, JobChange, JobRecord, LockOutcome, NewJob, Retry, StalledReport, Taken,
};
pub use options::{JobOptions, KeepPolicy};
pub use state::{JobCounts, JobState};
pub use validate::validate;

use validate::cap_reason;

use std::time::Duration;

use serde_json::Value;

/// The queue the API feeds and the worker drains.
pub const EMAIL_QUEUE: &str = "email-queue";

/// The failure reason of a job that stalled more often than allowed (BullMQ's text).
pub const STALLED_TOO_OFTEN: &str = "job stalled more than allowable limit";

/// Longest failure reason a backend stores, in bytes.
pub const MAX_REASON: usize = 4000;

/// Largest accepted `data` payload, serialized.
pub const MAX_DATA_BYTES: usize = 512 * 1024;

/// Largest priority (BullMQ's limit: 2^21, so that priority · 2^32 stays exact in a double).
pub const MAX_PRIORITY: u32 = 2_097_152;

/// A job queue. Implementations: embedded SQLite (`queue::sqlite`), Redis with BullMQ's layout.
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Adds a job; idempotent for a custom `job_id`.
    async fn add(&self, job: NewJob) -> Result<Added, QueueError>;
    /// Counts per state.
    async fn counts(&self) -> Result<JobCounts, QueueError>;
    /// Whether the backing store answers (for `/ready`).
    async fn ping(&self) -> Result<(), QueueError>;

    /// Takes the next ready job (promoting due delayed jobs first) under a lease of `lock` held
    /// by `token`, which must be unique per take.
    async fn take(&self, token: &str, lock: Duration) -> Result<Fetch, QueueError>;
    /// Takes up to `max` ready jobs in one go (a worker with several free slots), each under its
    /// own lease whose token starts with `token_prefix` (unique per call). The default takes
    /// them one by one; a backend that can do it in one round trip overrides it.
    async fn take_many(
        &self,
        token_prefix: &str,
        max: usize,
        lock: Duration,
    ) -> Result<Taken, QueueError> {
        let mut jobs = Vec::new();
        for n in 0..max.max(1) {
            match self.take(&format!("{token_prefix}:{n}"), lock).await {
                Ok(Fetch::Job(job)) => jobs.push(*job),
                Ok(Fetch::Empty { next_due }) => return Ok(Taken { jobs, next_due }),
                // Jobs already leased are handed out rather than left to expire.
                Err(_) if !jobs.is_empty() => break,
                Err(error) => return Err(error),
            }
        }
        Ok(Taken {
            jobs,
            next_due: None,
        })
    }
    /// Waits until new work may be there (a change by anyone, or another process) or `timeout`
    /// passes; a hint only, callers call [`Queue::take`] afterwards either way.
    async fn wait_for_work(&self, timeout: Duration) -> Result<(), QueueError>;
    /// Renews a lease for another `lock`.
    async fn extend_lock(
        &self,
        job_id: &str,
        token: &str,
        lock: Duration,
    ) -> Result<LockOutcome, QueueError>;
    /// Marks a leased job completed with its return value, then trims completed jobs to `keep`.
    async fn complete(
        &self,
        job: &ActiveJob,
        returnvalue: Value,
        keep: KeepPolicy,
    ) -> Result<LockOutcome, QueueError>;
    /// Completes a leased job (as [`Queue::complete`]) and, when that was recorded, may take the
    /// next job for the same worker slot (as [`Queue::take`] with `token` and `lock`) in the same
    /// round trip (BullMQ's "fetch next" on finishing). `None` as the fetch when nothing was
    /// taken: the lease was lost, or the backend does not fetch-next. The default only completes
    /// (the worker loop then fills the slot with its batch take); Redis overrides it.
    async fn complete_and_take(
        &self,
        job: &ActiveJob,
        returnvalue: Value,
        keep: KeepPolicy,
        token: &str,
        lock: Duration,
    ) -> Result<(LockOutcome, Option<Fetch>), QueueError> {
        let _ = (token, lock);
        Ok((self.complete(job, returnvalue, keep).await?, None))
    }
    /// Records a failed attempt with `reason`; retries it or fails it for good as `retry` says,
    /// trimming failed jobs to `keep` in the latter case.
    async fn fail(
        &self,
        job: &ActiveJob,
        reason: &str,
        retry: Retry,
        keep: KeepPolicy,
    ) -> Result<LockOutcome, QueueError>;
    /// Gives an unfinished leased job back (a draining worker): it goes to the front of waiting
    /// and the interrupted run does not count as an attempt made.
    async fn release(&self, job: &ActiveJob) -> Result<LockOutcome, QueueError>;
    /// Moves jobs whose lease expired back to waiting; fails those that stalled more than
    /// `max_stalled` times. A backend may need two calls to see a stall (BullMQ marks active jobs
    /// first, then recovers the marked ones still unlocked), and may fail a job that stalled too
    /// often at its next take instead (BullMQ's `defa`); either way such a job is reported in
    /// [`StalledReport::failed`] and never handed to a handler again.
    async fn recover_stalled(
        &self,
        max_stalled: u32,
        keep_failed: KeepPolicy,
    ) -> Result<StalledReport, QueueError>;
    /// Moves every failed job back to waiting with fresh attempts; returns how many.
    async fn retry_failed(&self) -> Result<u64, QueueError>;
    /// One job by id.
    async fn job(&self, id: &str) -> Result<Option<JobRecord>, QueueError>;
    /// Up to `limit` jobs in `state`, in the order they leave it: waiting and prioritized jobs
    /// next to run first, delayed ones soonest due first, active ones latest taken first,
    /// completed and failed ones latest finished first.
    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError>;
    /// Sends one failed or completed job back to waiting with fresh attempts (BullMQ's
    /// `Job.retry`); a job in another state is [`JobChange::Refused`].
    async fn retry_job(&self, id: &str) -> Result<JobChange, QueueError>;
    /// Deletes one job; an active job is [`JobChange::Refused`] (its worker holds it).
    async fn remove(&self, id: &str) -> Result<JobChange, QueueError>;
    /// Deletes the jobs in `state` older than `older_than` (by finish time for completed and
    /// failed jobs, else by creation time); returns how many.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] for [`JobState::Active`]: active jobs are held by workers.
    async fn clean(&self, state: JobState, older_than: Duration) -> Result<u64, QueueError>;
    /// Pauses (`true`) or resumes the queue for every worker, svc's and Node's (BullMQ's
    /// `paused` flag): no job is taken while paused; active jobs finish.
    async fn set_paused(&self, paused: bool) -> Result<(), QueueError>;
    /// Whether the queue is paused.
    async fn is_paused(&self) -> Result<bool, QueueError>;
    /// Where the queue lives, for logs (never with credentials).
    fn describe(&self) -> String {
        "queue".to_owned()
    }
}
