//! One attempt of one job, from its take to its recorded outcome: the step the run loop repeats
//! in each slot, public so it can be driven and tested on its own ([`Executor::try_execute_job`]).
//!
//! An attempt runs the handler under a lease renewed every half of it, then records the result:
//! completed, retried after the job's backoff, or failed for good. An attempt stopped by the
//! drain timeout is released back to the queue instead (not counted as an attempt made).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{RunReport, RunSettings};
use crate::clock::millis;
use crate::queue::jobs::JobOrigin;
use crate::queue::{ActiveJob, Fetch, LockOutcome, Queue, QueueError, Retry};
use crate::worker::handler::{Handler, JobError};
use crate::worker::health::{RetryDelay, StoreHealth};
use crate::worker::metrics;

/// Retries of a finish (complete/fail/release) when the store is briefly unavailable; after
/// them the lease simply expires and the job runs again (at-least-once).
const FINISH_TRIES: u32 = 6;

/// How one attempt ended, as recorded in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No job was ready to take.
    Idle,
    Completed,
    /// The attempt failed; the job runs again after `delay` (its backoff).
    Retrying {
        delay: Duration,
    },
    /// The attempt failed and the job failed for good: its attempts are used up, or the
    /// failure is one no retry can fix.
    Failed,
    /// Stopped by the drain timeout and given back to the queue unfinished.
    Released,
    /// The attempt ended but its outcome could not be recorded (the lease was lost, or the
    /// store stayed unavailable): the job runs again once its lease expires.
    Unrecorded,
}

/// Whether recording a completion may take this slot's next job in the same call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FetchNext {
    Yes,
    No,
}

/// Runs attempts of jobs of one queue with one handler; shared by the run loop's slots.
pub struct Executor {
    queue: Arc<dyn Queue>,
    handler: Arc<dyn Handler>,
    settings: RunSettings,
    health: StoreHealth,
    /// Cancelled on SIGTERM: a completion takes no next job any more.
    shutdown: CancellationToken,
    /// Cancelled when the drain timeout passes: running attempts stop and are released.
    abort: CancellationToken,
    /// Lease tokens are `<worker>:<n>` (BullMQ's format), unique per take.
    worker: uuid::Uuid,
    takes: AtomicU64,
    completed: AtomicU64,
    failed_attempts: AtomicU64,
    released: AtomicU64,
}

impl Executor {
    /// An executor whose completions stop taking next jobs once `shutdown` is cancelled.
    pub fn new(
        queue: Arc<dyn Queue>,
        handler: Arc<dyn Handler>,
        settings: RunSettings,
        shutdown: CancellationToken,
    ) -> Self {
        Executor {
            queue,
            handler,
            settings,
            health: StoreHealth::default(),
            shutdown,
            abort: CancellationToken::new(),
            worker: uuid::Uuid::new_v4(),
            takes: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            released: AtomicU64::new(0),
        }
    }

    /// Takes the next ready job, if any, and runs one attempt of it to its recorded outcome.
    ///
    /// # Errors
    /// [`QueueError`] when the take itself fails (a failure to record the outcome is
    /// [`Outcome::Unrecorded`]).
    pub async fn try_execute_job(&self) -> Result<Outcome, QueueError> {
        let taken = self
            .queue
            .take(&self.next_token(), self.settings.lock)
            .await;
        match taken {
            Ok(Fetch::Job(job)) => {
                self.health.ok();
                Ok(self.execute(*job, FetchNext::No).await.0)
            }
            Ok(Fetch::Empty { .. }) => {
                self.health.ok();
                Ok(Outcome::Idle)
            }
            Err(error) => {
                self.health.failed(&error);
                Err(error)
            }
        }
    }

    /// What this executor's attempts did so far.
    pub fn report(&self) -> RunReport {
        RunReport {
            completed: self.completed.load(Ordering::Relaxed),
            failed_attempts: self.failed_attempts.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
        }
    }

    pub(super) fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    pub(super) fn settings(&self) -> &RunSettings {
        &self.settings
    }

    pub(super) fn health(&self) -> &StoreHealth {
        &self.health
    }

    /// Stops the attempts still running; each is released to the queue.
    pub(super) fn abort(&self) {
        self.abort.cancel();
    }

    /// A lease token unique to this take.
    pub(super) fn next_token(&self) -> String {
        let n = self.takes.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}:{n}", self.worker)
    }

    /// One attempt of a taken job, inside a span carrying `jobId`, `requestId` and `attempt`;
    /// returns its outcome and, when its completion took one for this slot, the next job.
    pub(super) async fn execute(
        &self,
        job: ActiveJob,
        fetch_next: FetchNext,
    ) -> (Outcome, Option<ActiveJob>) {
        let span = tracing::info_span!(
            "job",
            jobId = %job.job.id,
            requestId = tracing::field::Empty,
            attempt = job.attempt(),
            jobName = %job.job.name,
        );
        if let Some(id) = JobOrigin::of(&job.job.data).request_id {
            id.record_on(&span);
        }
        self.attempt(job, fetch_next).instrument(span).await
    }

    async fn attempt(&self, job: ActiveJob, fetch_next: FetchNext) -> (Outcome, Option<ActiveJob>) {
        let started = Instant::now();
        tracing::info!("job started");
        let Some(result) = self.run_with_lease(&job).await else {
            return (self.release(&job).await, None);
        };
        let elapsed = started.elapsed();
        match result {
            Ok(value) => {
                let (outcome, next) = self.complete(&job, value, fetch_next).await;
                if outcome == Outcome::Completed {
                    self.completed.fetch_add(1, Ordering::Relaxed);
                    metrics::completed(&job.job.name, elapsed, job.attempt());
                    tracing::info!(durationMs = millis(elapsed), "job completed");
                }
                (outcome, next)
            }
            Err(error) => (self.fail(&job, &error, elapsed).await, None),
        }
    }

    /// Records a failed attempt: retried after the job's backoff while attempts remain and the
    /// failure is retryable, else failed for good.
    async fn fail(&self, job: &ActiveJob, error: &JobError, elapsed: Duration) -> Outcome {
        self.failed_attempts.fetch_add(1, Ordering::Relaxed);
        let took = millis(elapsed);
        let reason = error.to_string();
        let retry = if error.is_retryable() {
            job.job
                .opts
                .retry_delay(job.attempt())
                .map_or(Retry::Never, Retry::After)
        } else {
            Retry::Never
        };
        let keep = job.job.opts.keep_failed(self.settings.keep_failed);
        if !self
            .finish(|| self.queue.fail(job, &reason, retry, keep))
            .await
        {
            return Outcome::Unrecorded;
        }
        metrics::failed(&job.job.name, elapsed, matches!(retry, Retry::After(_)));
        match retry {
            Retry::After(delay) => {
                tracing::error!(%reason, durationMs = took, retryInMs = millis(delay), "job attempt failed");
                return Outcome::Retrying { delay };
            }
            Retry::Never if error.is_retryable() => {
                tracing::error!(%reason, durationMs = took, "job attempt failed");
                tracing::error!(%reason, attempts = job.attempt(), "job failed: retries exhausted");
            }
            Retry::Never => {
                tracing::error!(%reason, durationMs = took, "job failed and will not be retried");
            }
        }
        Outcome::Failed
    }

    /// Records a completion and, when asked and the worker is not draining, takes this slot's
    /// next job in the same call; falls back to the retrying [`Executor::finish`] when that call
    /// fails.
    async fn complete(
        &self,
        job: &ActiveJob,
        value: Value,
        fetch_next: FetchNext,
    ) -> (Outcome, Option<ActiveJob>) {
        let keep = job.job.opts.keep_completed(self.settings.keep_completed);
        if fetch_next == FetchNext::Yes && !self.shutdown.is_cancelled() {
            let token = self.next_token();
            match self
                .queue
                .complete_and_take(job, value.clone(), keep, &token, self.settings.lock)
                .await
            {
                Ok((LockOutcome::Held, next)) => {
                    self.health.ok();
                    let next = match next {
                        Some(Fetch::Job(next)) => Some(*next),
                        _ => None,
                    };
                    return (Outcome::Completed, next);
                }
                Ok((LockOutcome::Lost, _)) => {
                    lease_lost();
                    return (Outcome::Unrecorded, None);
                }
                Err(error) => self.health.failed(&error),
            }
        }
        let recorded = self
            .finish(|| self.queue.complete(job, value.clone(), keep))
            .await;
        (recorded_or(recorded, Outcome::Completed), None)
    }

    /// Runs the handler while renewing the lease; `None` when the drain timeout stopped it.
    async fn run_with_lease(&self, job: &ActiveJob) -> Option<Result<Value, JobError>> {
        let lock = self.settings.lock;
        let every = (lock / 2).max(Duration::from_millis(10));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut work = pin!(self.handler.handle(&job.job));
        let mut lease_lost = false;
        loop {
            tokio::select! {
                result = &mut work => return Some(result),
                () = self.abort.cancelled() => return None,
                _ = renew.tick(), if !lease_lost => {
                    match self.queue.extend_lock(&job.job.id, &job.token, lock).await {
                        Ok(LockOutcome::Held) => {}
                        Ok(LockOutcome::Lost) => {
                            lease_lost = true;
                            tracing::warn!("lease lost while the job runs; another worker may run it too");
                        }
                        Err(error) => tracing::warn!(%error, "could not renew the lease; trying again"),
                    }
                }
            }
        }
    }

    /// Gives a job stopped by the drain timeout back to the queue.
    async fn release(&self, job: &ActiveJob) -> Outcome {
        let released = self.finish(|| self.queue.release(job)).await;
        if released {
            self.released.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("job released to the queue unfinished (drain timeout)");
        }
        recorded_or(released, Outcome::Released)
    }

    /// Records an outcome, retrying briefly while the store is unavailable. `false` when the
    /// outcome could not be recorded (lease lost, or store down throughout).
    async fn finish<'a, F, Fut>(&self, op: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<LockOutcome, QueueError>> + 'a,
    {
        let mut delay = RetryDelay::new(Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..FINISH_TRIES {
            match op().await {
                Ok(LockOutcome::Held) => {
                    self.health.ok();
                    return true;
                }
                Ok(LockOutcome::Lost) => {
                    lease_lost();
                    return false;
                }
                Err(error @ QueueError::Invalid(_)) => {
                    tracing::error!(%error, "cannot record the job's outcome");
                    return false;
                }
                Err(error) => {
                    self.health.failed(&error);
                    tokio::time::sleep(delay.next_delay()).await;
                }
            }
        }
        tracing::error!(
            "cannot record the job's outcome; it will run again when its lease expires"
        );
        false
    }
}

/// `outcome` when it was recorded, else [`Outcome::Unrecorded`].
fn recorded_or(recorded: bool, outcome: Outcome) -> Outcome {
    if recorded {
        outcome
    } else {
        Outcome::Unrecorded
    }
}

fn lease_lost() {
    tracing::warn!(
        "lease lost before the outcome was recorded; another worker may have run the job"
    );
}
