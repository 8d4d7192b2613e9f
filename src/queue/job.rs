//! The jobs a queue holds and hands out, and what its operations report back.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobOptions, JobState};
#[cfg(doc)]
use super::{Queue, STALLED_TOO_OFTEN};

/// A job to add.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    /// The job's name, e.g. `welcome-email`.
    pub name: String,
    /// JSON payload handed to the handler.
    pub data: serde_json::Value,
    pub opts: JobOptions,
}

/// What an add did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    New(String),
    /// A job with this id already exists (in any state): nothing was added.
    Duplicate(String),
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

/// What a stalled-jobs check did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StalledReport {
    /// Jobs whose lease expired, moved back to waiting.
    pub recovered: Vec<String>,
    /// Jobs that stalled too often, now failed with [`STALLED_TOO_OFTEN`].
    pub failed: Vec<String>,
}
