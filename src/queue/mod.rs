//! The job queue behind one trait: the embedded SQLite backend ([`sqlite`]) and a
//! BullMQ-compatible Redis backend ([`redis`], see `docs/QUEUE-REDIS.md` and
//! `shared/design/BULLMQ-PROTOCOL.md`), chosen from the environment by [`open_from_env`]. The
//! producer side (the API, `svc queue add`) and the consumer side (the worker) both speak only
//! [`Queue`].
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
pub mod jobs;
pub mod redis;
pub mod sqlite;

pub use backend::{Backend, open, open_from_env};

use std::time::{Duration, SystemTime};

use crate::clock::millis;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

/// A job to add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// The job's name, e.g. `welcome-email`.
    pub name: String,
    /// JSON payload handed to the handler.
    pub data: serde_json::Value,
    pub opts: JobOptions,
}

/// BullMQ's job options that svc supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    /// A custom id makes the add idempotent: a second add with the same id is a no-op.
    pub job_id: Option<String>,
    /// Total attempts (1 = no retry; 0 is treated as 1, as BullMQ does).
    pub attempts: u32,
    pub backoff: Backoff,
    /// Run no earlier than this after the add.
    pub delay: Duration,
    /// 0 = none; otherwise lower runs first.
    pub priority: u32,
    /// Last in, first out: the job goes to the front of the waiting jobs (Redis backend).
    pub lifo: bool,
    /// BullMQ's `removeOnComplete`: overrides the worker's keep policy for this job.
    pub remove_on_complete: Option<KeepPolicy>,
    /// BullMQ's `removeOnFail`: overrides the worker's keep policy for this job.
    pub remove_on_fail: Option<KeepPolicy>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            job_id: None,
            attempts: 1,
            backoff: Backoff::fixed(Duration::ZERO),
            delay: Duration::ZERO,
            priority: 0,
            lifo: false,
            remove_on_complete: None,
            remove_on_fail: None,
        }
    }
}

impl JobOptions {
    /// The wait before the next attempt after a failure, or `None` when the attempts are used up.
    /// `attempts_made` counts the failure being handled (1 after the first failure).
    pub fn retry_delay(&self, attempts_made: u32) -> Option<Duration> {
        (attempts_made < self.attempts.max(1)).then(|| self.backoff.delay_for(attempts_made))
    }

    /// The keep policy for this job once completed: its own, else the worker's `default`.
    pub fn keep_completed(&self, default: KeepPolicy) -> KeepPolicy {
        self.remove_on_complete.unwrap_or(default)
    }

    /// The keep policy for this job once failed for good: its own, else the worker's `default`.
    pub fn keep_failed(&self, default: KeepPolicy) -> KeepPolicy {
        self.remove_on_fail.unwrap_or(default)
    }

    /// The options as BullMQ stores them in a job hash's `opts` field (JSON object).
    pub fn to_bullmq_json(&self) -> Value {
        let mut backoff = json!({
            "type": self.backoff.strategy.name(),
            "delay": millis(self.backoff.delay),
        });
        if self.backoff.jitter > 0.0 {
            backoff["jitter"] = json!(self.backoff.jitter);
        }
        let mut opts = json!({
            "attempts": self.attempts,
            "backoff": backoff,
            "delay": millis(self.delay),
            "priority": self.priority,
        });
        if let Some(map) = opts.as_object_mut() {
            if let Some(id) = &self.job_id {
                map.insert("jobId".into(), Value::String(id.clone()));
            }
            if self.lifo {
                map.insert("lifo".into(), Value::Bool(true));
            }
            if let Some(keep) = self.remove_on_complete {
                map.insert("removeOnComplete".into(), keep.to_bullmq_json());
            }
            if let Some(keep) = self.remove_on_fail {
                map.insert("removeOnFail".into(), keep.to_bullmq_json());
            }
        }
        opts
    }

    /// Reads BullMQ's `opts` JSON; unknown keys are ignored, missing ones take the defaults
    /// (a bare number as `backoff` means a fixed delay, as in BullMQ).
    ///
    /// # Errors
    /// [`QueueError::Invalid`] when a known key has the wrong type.
    pub fn from_bullmq_json(opts: &Value) -> Result<Self, QueueError> {
        let bad = |key: &str| QueueError::Invalid(format!("job option `{key}` has the wrong type"));
        let uint = |key: &str| -> Result<u64, QueueError> {
            match opts.get(key) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
                    .ok_or_else(|| bad(key)),
            }
        };
        let backoff = match opts.get("backoff") {
            None | Some(Value::Null) => Backoff::fixed(Duration::ZERO),
            Some(Value::Number(n)) => Backoff::fixed(Duration::from_millis(
                n.as_u64().ok_or_else(|| bad("backoff"))?,
            )),
            Some(Value::Object(b)) => {
                let delay =
                    Duration::from_millis(b.get("delay").and_then(Value::as_u64).unwrap_or(0));
                let strategy = match b.get("type").and_then(Value::as_str) {
                    Some("exponential") => Strategy::Exponential,
                    Some("fixed") | None => Strategy::Fixed,
                    Some(other) => {
                        return Err(QueueError::Invalid(format!(
                            "unsupported backoff type `{other}`"
                        )));
                    }
                };
                // As BullMQ reads it: a share of the wait, 0 (none) to 1.
                let jitter = match b.get("jitter") {
                    None | Some(Value::Null) => 0.0,
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0).clamp(0.0, 1.0),
                    Some(_) => return Err(bad("backoff.jitter")),
                };
                Backoff {
                    strategy,
                    delay,
                    jitter,
                }
            }
            Some(_) => return Err(bad("backoff")),
        };
        let job_id = match opts.get("jobId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("jobId")),
        };
        let lifo = match opts.get("lifo") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("lifo")),
        };
        let keep = |key: &str| match opts.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => KeepPolicy::from_bullmq_json(v)
                .map(Some)
                .ok_or_else(|| bad(key)),
        };
        Ok(JobOptions {
            job_id,
            attempts: u32::try_from(uint("attempts")?).unwrap_or(u32::MAX).max(1),
            backoff,
            delay: Duration::from_millis(uint("delay")?),
            priority: u32::try_from(uint("priority")?).map_err(|_| bad("priority"))?,
            lifo,
            remove_on_complete: keep("removeOnComplete")?,
            remove_on_fail: keep("removeOnFail")?,
        })
    }
}

/// The wait before a retry: BullMQ's `backoff` option (`{type, delay, jitter}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    pub strategy: Strategy,
    /// The first wait.
    pub delay: Duration,
    /// From 0 to 1: each wait is drawn from `[(1 - jitter)·w, w]` for the strategy's wait `w`,
    /// so jobs that failed together (a mail server down for all) do not all retry at once.
    pub jitter: f64,
}

/// How the wait grows with the attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// The same wait every time.
    Fixed,
    /// `delay · 2^(attempt-1)`: 1 s, 2 s, 4 s for 1000 ms.
    Exponential,
}

impl Strategy {
    /// BullMQ's name for it (`backoff.type`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Fixed => "fixed",
            Strategy::Exponential => "exponential",
        }
    }
}

impl Backoff {
    /// The same `delay` every time, without jitter.
    pub const fn fixed(delay: Duration) -> Self {
        Backoff {
            strategy: Strategy::Fixed,
            delay,
            jitter: 0.0,
        }
    }

    /// `delay`, then twice that, and so on, without jitter.
    pub const fn exponential(delay: Duration) -> Self {
        Backoff {
            strategy: Strategy::Exponential,
            delay,
            jitter: 0.0,
        }
    }

    /// The wait before the attempt after failed attempt number `attempt` (1-based), with
    /// the jitter applied.
    pub fn delay_for(self, attempt: u32) -> Duration {
        let wait = match self.strategy {
            Strategy::Fixed => self.delay,
            Strategy::Exponential => {
                let factor = 1u32
                    .checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX);
                self.delay.saturating_mul(factor)
            }
        };
        if self.jitter > 0.0 {
            wait.mul_f64(1.0 - self.jitter.min(1.0) * fastrand::f64())
        } else {
            wait
        }
    }
}

/// What an add did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    New(String),
    /// A job with this id already exists (in any state): nothing was added.
    Duplicate(String),
}

/// Jobs per state, as BullMQ's `getJobCounts` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    pub waiting: u64,
    pub active: u64,
    pub delayed: u64,
    pub prioritized: u64,
    pub completed: u64,
    pub failed: u64,
}

impl JobCounts {
    /// How many jobs are in `state`.
    pub fn of(&self, state: JobState) -> u64 {
        match state {
            JobState::Waiting => self.waiting,
            JobState::Prioritized => self.prioritized,
            JobState::Delayed => self.delayed,
            JobState::Active => self.active,
            JobState::Completed => self.completed,
            JobState::Failed => self.failed,
        }
    }

    /// Every state with its count, in the order of [`JobState::ALL`].
    pub fn by_state(&self) -> [(JobState, u64); 6] {
        JobState::ALL.map(|state| (state, self.of(state)))
    }
}

/// Where a job is, with BullMQ's state names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Waiting,
    Prioritized,
    Delayed,
    Active,
    Completed,
    Failed,
}

/// A stored job with its bookkeeping (BullMQ's job hash, typed).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub name: String,
    pub data: Value,
    #[serde(skip)]
    pub opts: JobOptions,
    pub state: JobState,
    /// Finished attempts (failed or completed): BullMQ's `atm`.
    pub attempts_made: u32,
    /// Times the job was taken: BullMQ's `ats`.
    pub attempts_started: u32,
    /// Times its lease expired while active: BullMQ's `stc`.
    pub stalled_count: u32,
    /// Created, ms since the epoch.
    pub timestamp: u64,
    /// The latest take, ms since the epoch.
    pub processed_on: Option<u64>,
    pub finished_on: Option<u64>,
    /// The latest failure's reason, kept after a later success (as BullMQ does).
    pub failed_reason: Option<String>,
    /// Every recorded failure, oldest first, the newest 10 kept: BullMQ's `stacktrace` (svc
    /// writes `Error: <reason>`, a Node worker its error's stack).
    pub stacktrace: Vec<String>,
    pub returnvalue: Option<Value>,
}

impl JobState {
    /// Every state, in the order `svc queue status` shows them.
    pub const ALL: [JobState; 6] = [
        JobState::Waiting,
        JobState::Prioritized,
        JobState::Delayed,
        JobState::Active,
        JobState::Completed,
        JobState::Failed,
    ];

    /// BullMQ's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Prioritized => "prioritized",
            JobState::Delayed => "delayed",
            JobState::Active => "active",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    /// Whether a job in this state has finished (its age counts from `finished_on`).
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for JobState {
    type Err = QueueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.name() == text)
            .ok_or_else(|| {
                QueueError::Invalid(format!(
                    "unknown state `{text}` (waiting, prioritized, delayed, active, completed or failed)"
                ))
            })
    }
}

/// What a change to one job named by its id ([`Queue::retry_job`], [`Queue::remove`]) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobChange {
    /// The change was made.
    Done,
    /// No job has this id.
    NotFound,
    /// The job is in a state the change does not apply to; nothing changed.
    Refused(JobState),
}

/// A job handed to a worker under a lease: only the holder of `token` may finish it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveJob {
    pub job: JobRecord,
    pub token: String,
}

impl ActiveJob {
    /// This run's attempt number, 1-based (BullMQ's `attemptsMade + 1`).
    pub fn attempt(&self) -> u32 {
        self.job.attempts_made + 1
    }
}

/// The result of [`Queue::take`].
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    Job(Box<ActiveJob>),
    /// Nothing ready; `next_due` is when the earliest delayed job becomes ready, if any.
    Empty {
        next_due: Option<SystemTime>,
    },
}

/// The result of [`Queue::take_many`]: the jobs taken, and when nothing was ready, the due time
/// of the earliest delayed job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taken {
    pub jobs: Vec<ActiveJob>,
    pub next_due: Option<SystemTime>,
}

/// What to do with a failed attempt (the worker decides, as in BullMQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Run it again after this delay (zero = straight back to waiting).
    After(Duration),
    /// Fail it for good.
    Never,
}

/// Whether a lease was still held when an operation named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    /// The lease was held by the token: the change was made.
    Held,
    /// The job is gone, not active, or leased to another token: nothing changed.
    Lost,
}

/// How many completed (or failed) jobs to keep: the newest `count`, none older than `age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepPolicy {
    pub count: Option<u64>,
    pub age: Option<Duration>,
}

impl KeepPolicy {
    /// Keep nothing (BullMQ's `removeOn…: true`).
    pub const NONE: KeepPolicy = KeepPolicy {
        count: Some(0),
        age: None,
    };

    /// Keep everything (BullMQ's `removeOn…: false`).
    pub const ALL: KeepPolicy = KeepPolicy {
        count: None,
        age: None,
    };

    /// BullMQ's `removeOnComplete`/`removeOnFail` value: `true` (keep none), `false` (keep
    /// all), a count, or `{count, age}` with the age in seconds.
    pub fn to_bullmq_json(self) -> Value {
        match (self.count, self.age) {
            (Some(0), None) => Value::Bool(true),
            (None, None) => Value::Bool(false),
            (Some(n), None) => json!(n),
            (count, Some(age)) => {
                let mut keep = json!({ "age": age.as_secs() });
                if let (Some(n), Some(map)) = (count, keep.as_object_mut()) {
                    map.insert("count".into(), json!(n));
                }
                keep
            }
        }
    }

    /// Reads BullMQ's value (see [`KeepPolicy::to_bullmq_json`]); `None` for another shape.
    pub fn from_bullmq_json(value: &Value) -> Option<KeepPolicy> {
        let count = |v: &Value| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64));
        match value {
            Value::Bool(true) => Some(KeepPolicy::NONE),
            Value::Bool(false) => Some(KeepPolicy::ALL),
            Value::Number(_) => Some(KeepPolicy {
                count: count(value),
                age: None,
            }),
            Value::Object(map) => Some(KeepPolicy {
                count: map.get("count").and_then(count),
                age: map.get("age").and_then(count).map(Duration::from_secs),
            }),
            _ => None,
        }
    }
}

/// What a stalled-jobs check did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StalledReport {
    /// Jobs whose lease expired, moved back to waiting.
    pub recovered: Vec<String>,
    /// Jobs that stalled too often, now failed with [`STALLED_TOO_OFTEN`].
    pub failed: Vec<String>,
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backing store cannot be reached; callers may retry later.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("invalid job: {0}")]
    Invalid(String),
    /// The queue's settings (environment) are unusable; nothing was opened.
    #[error("queue configuration: {0}")]
    Config(String),
}

impl From<crate::redis::RedisError> for QueueError {
    /// Unusable settings are the queue's configuration; anything else means Redis is unavailable.
    fn from(error: crate::redis::RedisError) -> Self {
        if error.is_config() {
            QueueError::Config(error.to_string())
        } else {
            QueueError::Unavailable(error.to_string())
        }
    }
}

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

/// Checks a new job the way BullMQ does (name, custom id rules, payload size).
///
/// # Errors
/// [`QueueError::Invalid`] naming what is wrong.
pub fn validate(job: &NewJob) -> Result<(), QueueError> {
    if job.name.trim().is_empty() || job.name.len() > 200 {
        return Err(QueueError::Invalid(
            "the job name must have 1 to 200 characters".into(),
        ));
    }
    if let Some(id) = &job.opts.job_id {
        if id.is_empty() || id.len() > 200 {
            return Err(QueueError::Invalid(
                "a custom job id must have 1 to 200 characters".into(),
            ));
        }
        if id.contains(':') || id.parse::<u64>().is_ok() {
            return Err(QueueError::Invalid(format!(
                "custom job id `{id}` is not allowed (it may not be an integer or contain `:`)"
            )));
        }
        if id.chars().any(char::is_control) {
            return Err(QueueError::Invalid(
                "a custom job id may not contain control characters".into(),
            ));
        }
    }
    if job.opts.priority > MAX_PRIORITY {
        return Err(QueueError::Invalid(format!(
            "priority {} is above the limit of {MAX_PRIORITY}",
            job.opts.priority
        )));
    }
    let size = serde_json::to_vec(&job.data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DATA_BYTES {
        return Err(QueueError::Invalid(format!(
            "job data is {size} bytes; the limit is {MAX_DATA_BYTES}"
        )));
    }
    Ok(())
}

/// `reason` as a backend stores it: cut to [`MAX_REASON`] bytes, on a character boundary.
fn cap_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_REASON);
        let cut = cap_reason(&long);
        assert!(cut.len() <= MAX_REASON && cut.chars().all(|c| c == 'é'));
        assert_eq!(cap_reason("short"), "short");
    }

    #[test]
    fn exponential_backoff_doubles_from_the_delay() {
        let b = Backoff::exponential(Duration::from_secs(1));
        let delays: Vec<u64> = (1..=4).map(|n| b.delay_for(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8]);
        assert_eq!(
            Backoff::fixed(Duration::from_secs(3)).delay_for(5),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay_for(200),
            Duration::from_secs(1).saturating_mul(u32::MAX)
        );
    }

    #[test]
    fn jitter_spreads_each_wait_below_the_strategys() {
        let b = Backoff {
            jitter: 0.5,
            ..Backoff::exponential(Duration::from_millis(1000))
        };
        let waits: Vec<Duration> = (0..500).map(|_| b.delay_for(3)).collect();
        let (low, high) = (Duration::from_millis(2000), Duration::from_millis(4000));
        assert!(waits.iter().all(|w| (low..=high).contains(w)), "{waits:?}");
        // Spread, not one value: the draws cover both halves of the range.
        let middle = Duration::from_millis(3000);
        assert!(waits.iter().any(|w| *w < middle) && waits.iter().any(|w| *w > middle));
    }

    #[test]
    fn jitter_is_read_from_node_and_written_back() {
        let node =
            json!({"attempts": 3, "backoff": {"type": "fixed", "delay": 800, "jitter": 0.25}});
        let opts = JobOptions::from_bullmq_json(&node).unwrap();
        assert_eq!(opts.backoff.strategy, Strategy::Fixed);
        assert_eq!(opts.backoff.jitter, 0.25);
        assert_eq!(opts.to_bullmq_json()["backoff"]["jitter"], 0.25);
        let too_much = json!({"backoff": {"type": "fixed", "delay": 1, "jitter": 7}});
        assert_eq!(
            JobOptions::from_bullmq_json(&too_much)
                .unwrap()
                .backoff
                .jitter,
            1.0
        );
        let wrong = json!({"backoff": {"type": "fixed", "delay": 1, "jitter": "lots"}});
        assert!(JobOptions::from_bullmq_json(&wrong).is_err());
        let none = JobOptions::default().to_bullmq_json();
        assert!(none["backoff"].get("jitter").is_none(), "{none}");
    }

    #[test]
    fn retry_delay_stops_after_the_last_attempt() {
        let opts = JobOptions {
            attempts: 3,
            backoff: Backoff::exponential(Duration::from_secs(1)),
            ..JobOptions::default()
        };
        assert_eq!(opts.retry_delay(1), Some(Duration::from_secs(1)));
        assert_eq!(opts.retry_delay(2), Some(Duration::from_secs(2)));
        assert_eq!(opts.retry_delay(3), None);
        let once = JobOptions {
            attempts: 0,
            ..JobOptions::default()
        };
        assert_eq!(once.retry_delay(1), None);
    }

    #[test]
    fn options_round_trip_through_bullmq_json() {
        let opts = JobOptions {
            job_id: Some("welcome-7".into()),
            attempts: 3,
            backoff: Backoff::exponential(Duration::from_millis(1000)),
            delay: Duration::from_millis(250),
            priority: 2,
            lifo: true,
            remove_on_complete: Some(KeepPolicy::NONE),
            remove_on_fail: Some(KeepPolicy {
                count: Some(100),
                age: Some(Duration::from_secs(3600)),
            }),
        };
        let stored = opts.to_bullmq_json();
        assert_eq!(stored["backoff"]["type"], "exponential");
        assert_eq!(JobOptions::from_bullmq_json(&stored).ok(), Some(opts));
        let node = json!({"attempts": 0, "backoff": 500, "removeOnComplete": true,
                          "removeOnFail": {"age": 3600, "count": 100}, "keepLogs": 5});
        let parsed = JobOptions::from_bullmq_json(&node).ok();
        assert_eq!(
            parsed.map(|o| (
                o.attempts,
                o.backoff,
                o.remove_on_complete,
                o.remove_on_fail
            )),
            Some((
                1,
                Backoff::fixed(Duration::from_millis(500)),
                Some(KeepPolicy::NONE),
                Some(KeepPolicy {
                    count: Some(100),
                    age: Some(Duration::from_secs(3600))
                })
            ))
        );
        let keep = JobOptions {
            remove_on_complete: Some(KeepPolicy {
                count: Some(5),
                age: None,
            }),
            ..JobOptions::default()
        };
        assert_eq!(keep.to_bullmq_json()["removeOnComplete"], 5);
        assert_eq!(keep.keep_failed(KeepPolicy::ALL), KeepPolicy::ALL);
    }

    #[test]
    fn state_names_are_bullmqs_both_ways() {
        for state in JobState::ALL {
            assert_eq!(state.name().parse::<JobState>().ok(), Some(state));
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(Value::String(state.name().into()))
            );
        }
        assert!("paused".parse::<JobState>().is_err());
        assert!(JobState::Failed.is_finished() && !JobState::Delayed.is_finished());
    }

    #[test]
    fn custom_ids_follow_bullmq_rules() {
        let job = |id: &str| NewJob {
            name: "welcome-email".into(),
            data: json!({}),
            opts: JobOptions {
                job_id: Some(id.into()),
                ..JobOptions::default()
            },
        };
        assert!(validate(&job("welcome-1")).is_ok());
        assert!(validate(&job("0abc")).is_ok());
        for bad in ["12", "0", "0:x", "a:b", ""] {
            assert!(validate(&job(bad)).is_err(), "{bad} should be refused");
        }
    }
}
