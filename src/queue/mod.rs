//! The job queue behind one trait: the embedded SQLite backend now, a BullMQ-compatible Redis
//! backend next (see `docs/ARCHITECTURE.md`). The producer side (the API) and the consumer side
//! (the worker) both speak only [`Queue`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The queue the API feeds and the worker drains.
pub const EMAIL_QUEUE: &str = "email-queue";

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
    /// Total attempts (1 = no retry).
    pub attempts: u32,
    pub backoff: Backoff,
    /// Run no earlier than this after the add.
    pub delay: Duration,
    /// 0 = none; otherwise lower runs first.
    pub priority: u32,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            job_id: None,
            attempts: 1,
            backoff: Backoff::Fixed(Duration::ZERO),
            delay: Duration::ZERO,
            priority: 0,
        }
    }
}

/// The wait before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backoff {
    /// The same delay every time.
    Fixed(Duration),
    /// `delay · 2^(attempt-1)`: 1 s, 2 s, 4 s for 1000 ms.
    Exponential(Duration),
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

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backing store cannot be reached; callers may retry later.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("invalid job: {0}")]
    Invalid(String),
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
}
