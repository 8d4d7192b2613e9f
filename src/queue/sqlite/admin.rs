//! The repairs an operator makes (`svc queue retry | remove | clean | pause`), each in the
//! caller's write transaction. None of them touches a job a worker holds.

use std::time::Duration;

use rusqlite::{Transaction, params};

use super::listing::listing;
use super::row::state_of;
use crate::clock::millis_i64;
use crate::queue::{JobChange, JobState, QueueError};

/// Moves every failed job back to waiting with fresh attempts; returns how many.
pub(super) fn retry_failed(tx: &Transaction<'_>, queue: &str, now: i64) -> Result<u64, QueueError> {
    let n = tx
        .prepare_cached(
            "UPDATE queue_jobs SET state = 'waiting', run_at = ?2, attempts_made = 0, stalled_count = 0, \
             finished_on = NULL, returnvalue = NULL WHERE queue = ?1 AND state = 'failed'",
        )?
        .execute(params![queue, now])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Sends one failed or completed job back to waiting with fresh attempts.
pub(super) fn retry_job(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    id: &str,
) -> Result<JobChange, QueueError> {
    match state_of(tx, queue, id)? {
        None => Ok(JobChange::NotFound),
        Some(JobState::Failed | JobState::Completed) => {
            tx.prepare_cached(
                "UPDATE queue_jobs SET state = 'waiting', run_at = ?3, attempts_made = 0, stalled_count = 0, \
                 finished_on = NULL, returnvalue = NULL WHERE queue = ?1 AND id = ?2",
            )?
            .execute(params![queue, id, now])?;
            Ok(JobChange::Done)
        }
        Some(other) => Ok(JobChange::Refused(other)),
    }
}

/// Deletes one job unless it is active.
pub(super) fn remove(tx: &Transaction<'_>, queue: &str, id: &str) -> Result<JobChange, QueueError> {
    match state_of(tx, queue, id)? {
        None => Ok(JobChange::NotFound),
        Some(JobState::Active) => Ok(JobChange::Refused(JobState::Active)),
        Some(_) => {
            tx.prepare_cached("DELETE FROM queue_jobs WHERE queue = ?1 AND id = ?2")?
                .execute(params![queue, id])?;
            Ok(JobChange::Done)
        }
    }
}

/// Deletes the jobs in `state` (never active: the caller refuses it) older than `older_than`.
pub(super) fn clean(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    state: JobState,
    older_than: Duration,
) -> Result<u64, QueueError> {
    let (filter, _) = listing(state);
    let age = if state.is_finished() {
        "finished_on"
    } else {
        "timestamp"
    };
    let n = tx
        .prepare_cached(&format!(
            "DELETE FROM queue_jobs WHERE queue = ?1 AND {filter} AND {age} < ?2"
        ))?
        .execute(params![queue, now.saturating_sub(millis_i64(older_than))])?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Sets the queue's `paused` flag.
pub(super) fn set_paused(
    tx: &Transaction<'_>,
    queue: &str,
    paused: bool,
) -> Result<(), QueueError> {
    tx.prepare_cached(
        "INSERT INTO queue_meta (queue, paused) VALUES (?1, ?2) \
         ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused",
    )?
    .execute(params![queue, i64::from(paused)])?;
    Ok(())
}
