//! The worker loop over any [`Queue`] and [`Handler`]: take jobs while slots are free, run each
//! under a renewed lease in its own task, record the outcome, look for stalled jobs, and drain on
//! shutdown.
//!
//! Drain: once `shutdown` is cancelled no job is taken any more; the jobs in hand get
//! `drain_timeout` to finish, and those still running then are stopped and released back to the
//! queue (not lost, not counted as an attempt), so another worker runs them.
//!
//! Each slot's attempt is [`Executor`]'s one step (`execute`), which a caller can also drive a
//! job at a time with [`Executor::try_execute_job`].

mod execute;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use execute::{Executor, Outcome};

use super::handler::Handler;
use super::health::RetryDelay;
use super::metrics;
use crate::clock::millis;
use crate::queue::{KeepPolicy, Queue};
use execute::FetchNext;

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

/// The most jobs taken in one round trip.
pub const MAX_BATCH: usize = 32;

/// Runs the worker until `shutdown` is cancelled and the jobs in hand are drained.
pub async fn run_until(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn Handler>,
    settings: RunSettings,
    shutdown: CancellationToken,
) -> RunReport {
    let executor = Arc::new(Executor::new(queue, handler, settings, shutdown.clone()));
    let stalled = tokio::spawn(check_stalled(Arc::clone(&executor), shutdown.clone()));
    let tracker = TaskTracker::new();
    take_loop(&executor, &tracker, &shutdown).await;

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
        executor.abort();
        tracker.wait().await;
    }
    stalled.abort();
    let report = executor.report();
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
async fn take_loop(executor: &Arc<Executor>, tracker: &TaskTracker, shutdown: &CancellationToken) {
    let settings = *executor.settings();
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
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
        let taken = executor
            .queue()
            .take_many(&executor.next_token(), permits.len(), settings.lock)
            .await;
        match taken {
            Ok(taken) if !taken.jobs.is_empty() => {
                executor.health().ok();
                retry.reset();
                for (job, permit) in taken.jobs.into_iter().zip(permits) {
                    let executor = Arc::clone(executor);
                    tracker.spawn(async move {
                        let mut next = Some(job);
                        while let Some(job) = next {
                            next = executor.execute(job, FetchNext::Yes).await.1;
                        }
                        drop(permit);
                    });
                }
            }
            Ok(taken) => {
                executor.health().ok();
                retry.reset();
                drop(permits);
                let wait = taken
                    .next_due
                    .map_or(settings.idle_wait, until)
                    .min(settings.idle_wait);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    waited = executor.queue().wait_for_work(wait) => {
                        if let Err(error) = waited {
                            executor.health().failed(&error);
                            pause(retry.next_delay(), shutdown).await;
                        }
                    }
                }
            }
            Err(error) => {
                drop(permits);
                executor.health().failed(&error);
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
async fn check_stalled(executor: Arc<Executor>, shutdown: CancellationToken) {
    let settings = *executor.settings();
    loop {
        match executor
            .queue()
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
            Err(error) => executor.health().failed(&error),
        }
        pause(settings.stalled_interval, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
    }
}
