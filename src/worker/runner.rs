//! The worker loop over any [`Queue`] and [`Handler`]: take jobs while slots are free, run each
//! under a renewed lease in its own task, record the outcome, look for stalled jobs, and drain on
//! shutdown.
//!
//! Drain: once `shutdown` is cancelled no job is taken any more; the jobs in hand get
//! `drain_timeout` to finish, and those still running then are stopped and released back to the
//! queue (not lost, not counted as an attempt), so another worker runs them.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::handler::{Handler, JobError};
use super::health::{RetryDelay, StoreHealth};
use super::metrics;
use crate::clock::millis;
use crate::queue::jobs::JobOrigin;
use crate::queue::{ActiveJob, Fetch, KeepPolicy, LockOutcome, Queue, QueueError, Retry};

/// How the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// Jobs processed at once.
    pub concurrency: usize,
    /// The lease of a taken job; renewed every half of it while the job runs.
    pub lock: Duration,
    /// How often expired leases are looked for.
    pub stalled_interval: Duration,
    /// Stalls allowed before a job fails.
    pub max_stalled: u32,
    /// How long the jobs in hand may take to finish after shutdown.
    pub drain_timeout: Duration,
    pub keep_completed: KeepPolicy,
    pub keep_failed: KeepPolicy,
    /// The longest idle wait between two takes when no delayed job is due sooner.
    pub idle_wait: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            concurrency: 5,
            lock: Duration::from_secs(30),
            stalled_interval: Duration::from_secs(30),
            max_stalled: 1,
            drain_timeout: Duration::from_secs(25),
            keep_completed: KeepPolicy {
                count: Some(1000),
                age: None,
            },
            keep_failed: KeepPolicy {
                count: Some(5000),
                age: None,
            },
            idle_wait: Duration::from_secs(5),
        }
    }
}

/// What a run did, for the final log line and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub completed: u64,
    pub failed_attempts: u64,
    /// Jobs stopped by the drain timeout and given back to the queue.
    pub released: u64,
}

/// Retries of a finish (complete/fail/release) when the store is briefly unavailable; after
/// them the lease simply expires and the job runs again (at-least-once).
const FINISH_TRIES: u32 = 6;

/// The most jobs taken in one round trip.
pub const MAX_BATCH: usize = 32;

/// State shared by the loop and its job tasks.
struct Shared {
    queue: Arc<dyn Queue>,
    handler: Arc<dyn Handler>,
    settings: RunSettings,
    health: StoreHealth,
    /// Cancelled on SIGTERM: no job is taken any more.
    shutdown: CancellationToken,
    /// Cancelled when the drain timeout passes: running jobs stop and are released.
    abort: CancellationToken,
    /// Lease tokens are `<worker>:<n>` (BullMQ's format), unique per take.
    worker: uuid::Uuid,
    takes: AtomicU64,
    completed: AtomicU64,
    failed_attempts: AtomicU64,
    released: AtomicU64,
}

impl Shared {
    fn next_token(&self) -> String {
        let n = self.takes.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}:{n}", self.worker)
    }
}

/// Runs the worker until `shutdown` is cancelled and the jobs in hand are drained.
pub async fn run_until(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn Handler>,
    settings: RunSettings,
    shutdown: CancellationToken,
) -> RunReport {
    let shared = Arc::new(Shared {
        queue,
        handler,
        settings,
        health: StoreHealth::default(),
        shutdown: shutdown.clone(),
        abort: CancellationToken::new(),
        worker: uuid::Uuid::new_v4(),
        takes: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        failed_attempts: AtomicU64::new(0),
        released: AtomicU64::new(0),
    });
    let stalled = tokio::spawn(check_stalled(Arc::clone(&shared), shutdown.clone()));
    let tracker = TaskTracker::new();
    take_loop(&shared, &tracker, &shutdown).await;

    tracker.close();
    if !tracker.is_empty() {
        tracing::info!(
            jobs = tracker.len(),
            timeout_ms = millis(settings.drain_timeout),
            "draining the jobs in hand"
        );
    }
    if tokio::time::timeout(settings.drain_timeout, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            jobs = tracker.len(),
            "drain timeout passed; releasing unfinished jobs to the queue"
        );
        shared.abort.cancel();
        tracker.wait().await;
    }
    stalled.abort();
    let report = RunReport {
        completed: shared.completed.load(Ordering::Relaxed),
        failed_attempts: shared.failed_attempts.load(Ordering::Relaxed),
        released: shared.released.load(Ordering::Relaxed),
    };
    tracing::info!(
        completed = report.completed,
        released = report.released,
        "worker drained"
    );
    report
}

/// Takes jobs while slots are free until shutdown: as many at once as there are free slots (up
/// to [`MAX_BATCH`]), so filling idle slots costs one store round trip per batch, not per job.
/// Where the backend can (Redis), a slot whose job completes takes its next job itself, in the
/// same call as the completion ([`Queue::complete_and_take`]): one round trip per job.
async fn take_loop(shared: &Arc<Shared>, tracker: &TaskTracker, shutdown: &CancellationToken) {
    let slots = Arc::new(Semaphore::new(shared.settings.concurrency.max(1)));
    let mut retry = RetryDelay::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let mut permits = vec![first];
        while permits.len() < MAX_BATCH {
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        if shutdown.is_cancelled() {
            return;
        }
        // Not raced against shutdown: a take cancelled half-way could lease jobs nobody runs.
        let taken = shared
            .queue
            .take_many(&shared.next_token(), permits.len(), shared.settings.lock)
            .await;
        match taken {
            Ok(taken) if !taken.jobs.is_empty() => {
                shared.health.ok();
                retry.reset();
                for (job, permit) in taken.jobs.into_iter().zip(permits) {
                    let shared = Arc::clone(shared);
                    tracker.spawn(async move {
                        let mut next = Some(job);
                        while let Some(job) = next {
                            next = run_job(&shared, job).await;
                        }
                        drop(permit);
                    });
                }
            }
            Ok(taken) => {
                shared.health.ok();
                retry.reset();
                drop(permits);
                let wait = taken
                    .next_due
                    .map_or(shared.settings.idle_wait, until)
                    .min(shared.settings.idle_wait);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    waited = shared.queue.wait_for_work(wait) => {
                        if let Err(error) = waited {
                            shared.health.failed(&error);
                            pause(retry.next_delay(), shutdown).await;
                        }
                    }
                }
            }
            Err(error) => {
                drop(permits);
                shared.health.failed(&error);
                pause(retry.next_delay(), shutdown).await;
            }
        }
    }
}

/// How long until `when` (zero if it passed).
fn until(when: SystemTime) -> Duration {
    when.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

async fn pause(delay: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(delay) => {}
    }
}

/// Recovers expired leases every `stalled_interval` (and once at start).
async fn check_stalled(shared: Arc<Shared>, shutdown: CancellationToken) {
    let settings = shared.settings;
    loop {
        match shared
            .queue
            .recover_stalled(settings.max_stalled, settings.keep_failed)
            .await
        {
            Ok(report) => {
                metrics::stalled(report.recovered.len(), report.failed.len());
                for id in &report.recovered {
                    tracing::warn!(jobId = %id, "stalled job recovered: its lease expired, it will run again");
                }
                for id in &report.failed {
                    tracing::error!(jobId = %id, "job failed: it stalled more than allowed");
                }
            }
            Err(error) => shared.health.failed(&error),
        }
        pause(settings.stalled_interval, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// One attempt of one job, inside a span carrying `jobId`, `requestId` and `attempt`; returns
/// the next job when its completion took one for this slot.
async fn run_job(shared: &Arc<Shared>, job: ActiveJob) -> Option<ActiveJob> {
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
    attempt(shared, job).instrument(span).await
}

async fn attempt(shared: &Arc<Shared>, job: ActiveJob) -> Option<ActiveJob> {
    let started = Instant::now();
    tracing::info!("job started");
    let Some(result) = run_with_lease(shared, &job).await else {
        release(shared, &job).await;
        return None;
    };
    let elapsed = started.elapsed();
    let took = millis(elapsed);
    match result {
        Ok(value) => {
            let (recorded, next) = complete(shared, &job, value).await;
            if recorded {
                shared.completed.fetch_add(1, Ordering::Relaxed);
                metrics::completed(&job.job.name, elapsed, job.attempt());
                tracing::info!(durationMs = took, "job completed");
            }
            return next;
        }
        Err(error) => {
            shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let reason = error.to_string();
            let retry = match &error {
                JobError::Retryable(_) => job
                    .job
                    .opts
                    .retry_delay(job.attempt())
                    .map_or(Retry::Never, Retry::After),
                JobError::Unrecoverable(_) => Retry::Never,
            };
            let queue = &shared.queue;
            let keep = job.job.opts.keep_failed(shared.settings.keep_failed);
            if !finish(shared, || queue.fail(&job, &reason, retry, keep)).await {
                return None;
            }
            metrics::failed(&job.job.name, elapsed, matches!(retry, Retry::After(_)));
            match (retry, &error) {
                (Retry::After(delay), _) => {
                    tracing::error!(%reason, durationMs = took, retryInMs = millis(delay), "job attempt failed");
                }
                (Retry::Never, JobError::Retryable(_)) => {
                    tracing::error!(%reason, durationMs = took, "job attempt failed");
                    tracing::error!(%reason, attempts = job.attempt(), "job failed: retries exhausted");
                }
                (Retry::Never, JobError::Unrecoverable(_)) => {
                    tracing::error!(%reason, durationMs = took, "job failed and will not be retried");
                }
            }
        }
    }
    None
}

/// Records a completion and, unless the worker is draining, takes this slot's next job in the
/// same call; falls back to the retrying [`finish`] when that call fails. Returns whether the
/// completion was recorded, and the next job.
async fn complete(
    shared: &Arc<Shared>,
    job: &ActiveJob,
    value: Value,
) -> (bool, Option<ActiveJob>) {
    let queue = &shared.queue;
    let keep = job.job.opts.keep_completed(shared.settings.keep_completed);
    if !shared.shutdown.is_cancelled() {
        let token = shared.next_token();
        let lock = shared.settings.lock;
        match queue
            .complete_and_take(job, value.clone(), keep, &token, lock)
            .await
        {
            Ok((LockOutcome::Held, next)) => {
                shared.health.ok();
                let next = match next {
                    Some(Fetch::Job(next)) => Some(*next),
                    _ => None,
                };
                return (true, next);
            }
            Ok((LockOutcome::Lost, _)) => {
                tracing::warn!(
                    "lease lost before the outcome was recorded; another worker may have run the job"
                );
                return (false, None);
            }
            Err(error) => shared.health.failed(&error),
        }
    }
    (
        finish(shared, || queue.complete(job, value.clone(), keep)).await,
        None,
    )
}

/// Runs the handler while renewing the lease; `None` when the drain timeout stopped it.
async fn run_with_lease(shared: &Arc<Shared>, job: &ActiveJob) -> Option<Result<Value, JobError>> {
    let lock = shared.settings.lock;
    let every = (lock / 2).max(Duration::from_millis(10));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut work = pin!(shared.handler.handle(&job.job));
    let mut lease_lost = false;
    loop {
        tokio::select! {
            result = &mut work => return Some(result),
            () = shared.abort.cancelled() => return None,
            _ = renew.tick(), if !lease_lost => {
                match shared.queue.extend_lock(&job.job.id, &job.token, lock).await {
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
async fn release(shared: &Arc<Shared>, job: &ActiveJob) {
    let queue = &shared.queue;
    if finish(shared, || queue.release(job)).await {
        shared.released.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("job released to the queue unfinished (drain timeout)");
    }
}

/// Records an outcome, retrying briefly while the store is unavailable. `false` when the
/// outcome could not be recorded (lease lost, or store down throughout).
async fn finish<'a, F, Fut>(shared: &Arc<Shared>, op: F) -> bool
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<LockOutcome, QueueError>> + 'a,
{
    let mut delay = RetryDelay::new(Duration::from_millis(100), Duration::from_secs(2));
    for _ in 0..FINISH_TRIES {
        match op().await {
            Ok(LockOutcome::Held) => {
                shared.health.ok();
                return true;
            }
            Ok(LockOutcome::Lost) => {
                tracing::warn!(
                    "lease lost before the outcome was recorded; another worker may have run the job"
                );
                return false;
            }
            Err(error @ QueueError::Invalid(_)) => {
                tracing::error!(%error, "cannot record the job's outcome");
                return false;
            }
            Err(error) => {
                shared.health.failed(&error);
                tokio::time::sleep(delay.next_delay()).await;
            }
        }
    }
    tracing::error!("cannot record the job's outcome; it will run again when its lease expires");
    false
}
