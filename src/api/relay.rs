//! The outbox relay: moves welcome-email jobs from the store's outbox to the queue.
//!
//! Why: a new user and its job are written in one store transaction, so a user can never exist
//! without its email being recorded, whether or not the queue is up. The relay adds each
//! recorded job to the queue and deletes it from the outbox once the queue has it. If the queue
//! is down, the job stays and is retried with backoff until the queue is back. A crash between
//! the add and the delete relays the job again; its custom id (`welcome-<userId>`) makes that
//! second add a no-op, so the user still gets one email.
//!
//! The relay wakes at once when a handler has written a job (a [`Notify`]), and otherwise on a
//! timer: for retries, and for rows left by another instance that died mid-relay (its claim
//! lease runs out).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::queue::jobs::JobOrigin;
use crate::queue::{Added, Queue};
use crate::store::{Outbox, OutboxEntry};

/// Rows claimed per pass.
const BATCH: usize = 50;
/// How long a claimed row is hidden from other instances' relays.
const LEASE: Duration = Duration::from_secs(30);
/// The longest sleep between passes (rows written by other instances are not announced).
const SWEEP: Duration = Duration::from_secs(10);
/// The bound on the pass made while stopping.
const FINAL_PASS: Duration = Duration::from_secs(2);
/// Retry delays: 1 s doubling per failed relay, up to this.
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Relays outbox rows to the queue until cancelled.
pub struct Relay {
    outbox: Arc<dyn Outbox>,
    queue: Arc<dyn Queue>,
    wake: Arc<Notify>,
}

impl Relay {
    pub fn new(outbox: Arc<dyn Outbox>, queue: Arc<dyn Queue>, wake: Arc<Notify>) -> Self {
        Relay {
            outbox,
            queue,
            wake,
        }
    }

    /// Runs passes until `shutdown`, then one last bounded pass for the jobs of the requests
    /// that finished while draining; whatever it cannot relay waits in the outbox for the next
    /// instance.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = self.pass() => next,
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
            }
        }
        if tokio::time::timeout(FINAL_PASS, self.pass()).await.is_err() {
            tracing::warn!("the last outbox pass timed out; the rest is relayed at the next start");
        }
    }

    /// One pass over the due rows; returns how long to wait before the next.
    pub async fn pass(&self) -> Duration {
        let entries = match self.outbox.claim(BATCH, LEASE).await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox; retrying");
                return Duration::from_secs(1);
            }
        };
        if entries.len() == BATCH {
            for entry in entries {
                self.relay(entry).await;
            }
            return Duration::ZERO;
        }
        for entry in entries {
            self.relay(entry).await;
        }
        // Sleep until the earliest row (a retry, or one claimed by an instance that died) is
        // due, but never longer than the sweep.
        match self.outbox.next_due().await {
            Ok(Some(due)) => due.min(SWEEP),
            Ok(None) => SWEEP,
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox; retrying");
                Duration::from_secs(1)
            }
        }
    }

    /// Adds one job, or records when to try again, in a span carrying the job's request id.
    async fn relay(&self, entry: OutboxEntry) {
        let span = tracing::error_span!("relay", requestId = tracing::field::Empty);
        if let Some(id) = JobOrigin::of(&entry.message.job.data).request_id {
            id.record_on(&span);
        }
        self.relay_in_span(entry).instrument(span).await
    }

    async fn relay_in_span(&self, entry: OutboxEntry) {
        let job_id = entry.message.job.opts.job_id.clone().unwrap_or_default();
        match self.queue.add(entry.message.job).await {
            Ok(added) => {
                let duplicate = matches!(added, Added::Duplicate(_));
                tracing::info!(jobId = %job_id, queue = %entry.message.queue, duplicate, "job enqueued");
                if let Err(error) = self.outbox.delivered(&entry.id).await {
                    // The row comes back after its lease; the second add is a no-op.
                    tracing::warn!(%error, jobId = %job_id, "cannot clear the outbox row");
                }
            }
            Err(error) => {
                let delay = retry_delay(entry.attempts);
                tracing::warn!(%error, jobId = %job_id, retryInMs = delay.as_millis() as u64, "queue unavailable; job kept in the outbox");
                if let Err(error) = self
                    .outbox
                    .retry_later(&entry.id, &error.to_string(), delay)
                    .await
                {
                    tracing::warn!(%error, jobId = %job_id, "cannot record the failed relay");
                }
            }
        }
    }
}

/// 1 s, 2 s, 4 s, … up to [`MAX_RETRY`], after `attempts` failed relays.
fn retry_delay(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(16)).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(4));
        assert_eq!(retry_delay(40), MAX_RETRY);
    }
}
