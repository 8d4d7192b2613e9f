//! The repairs an operator makes that may touch many jobs (`svc queue retry | clean | pause`):
//! each runs its script in bounded batches until the work is done.

use std::time::Duration;

use super::RedisQueue;
use super::keys::KeyName;
use super::scripts::{PAUSE_KEYS, RETRY_FAILED_KEYS, clean_keys, scripts};
use crate::clock::{millis, now_millis};
use crate::queue::{InvalidReason, JobState, QueueError};

/// Failed jobs moved back per `retry_failed` script run.
const RETRY_BATCH: u64 = 1000;
/// Jobs examined per `clean` script run.
const CLEAN_WINDOW: u64 = 1000;

impl RedisQueue {
    /// Moves every failed job back to waiting, [`RETRY_BATCH`] per run; returns how many.
    pub(super) async fn retry_every_failed(&self) -> Result<u64, QueueError> {
        let k = &self.inner.keys;
        let mut total = 0;
        // Bounded: at most 10 million jobs per call.
        for _ in 0..10_000 {
            let mut call = scripts().retry_failed.prepare_invoke();
            k.fill(&mut call, RETRY_FAILED_KEYS, "")
                .arg(&k.base)
                .arg(RETRY_BATCH);
            let moved: u64 = self.invoke(&call).await?;
            total += moved;
            if moved < RETRY_BATCH {
                break;
            }
        }
        Ok(total)
    }

    /// Deletes the jobs in `state` older than `older_than`, [`CLEAN_WINDOW`] examined per run.
    pub(super) async fn clean_state(
        &self,
        state: JobState,
        older_than: Duration,
    ) -> Result<u64, QueueError> {
        let k = &self.inner.keys;
        let (set, kind) = match state {
            JobState::Active => {
                return Err(InvalidReason::CleanActive.into());
            }
            JobState::Waiting => (KeyName::Wait, "list"),
            JobState::Prioritized => (KeyName::Prioritized, "zset"),
            JobState::Delayed => (KeyName::Delayed, "zset"),
            JobState::Completed => (KeyName::Completed, "zset"),
            JobState::Failed => (KeyName::Failed, "zset"),
        };
        let field = if state.is_finished() {
            "finishedOn"
        } else {
            "timestamp"
        };
        let cutoff = now_millis().saturating_sub(millis(older_than));
        let (mut start, mut total) = (0u64, 0u64);
        // Bounded: at most 10 million jobs examined per call.
        for _ in 0..10_000 {
            let mut call = scripts().clean.prepare_invoke();
            k.fill(&mut call, &clean_keys(set), "")
                .arg(&k.base)
                .arg(cutoff)
                .arg(kind)
                .arg(field)
                .arg(start)
                .arg(CLEAN_WINDOW);
            let (deleted, examined): (u64, u64) = self.invoke(&call).await?;
            total += deleted;
            if examined < CLEAN_WINDOW {
                break;
            }
            start += examined - deleted;
        }
        Ok(total)
    }

    /// Sets or clears the `paused` flag (resuming moves back jobs an older BullMQ parked).
    pub(super) async fn write_paused(&self, paused: bool) -> Result<(), QueueError> {
        let k = &self.inner.keys;
        // Resuming moves at most 7000 jobs parked by an older BullMQ per run.
        for _ in 0..10_000 {
            let mut call = scripts().pause.prepare_invoke();
            k.fill(&mut call, PAUSE_KEYS, "")
                .arg(if paused { "paused" } else { "resumed" });
            if self.invoke::<u64>(&call).await? == 0 {
                break;
            }
        }
        Ok(())
    }
}
