//! The changes a worker makes to a job it leased: renewing the lease, completing, failing (with a
//! retry or for good) and giving it back. Each names the lease's token; a stale token changes
//! nothing and reads [`LockOutcome::Lost`].

use std::time::Duration;

use rusqlite::{Transaction, params};

use super::keep::{stack_with, trim};
use crate::clock::millis_i64;
use crate::queue::{KeepPolicy, LockOutcome, QueueError, Retry};

/// The `WHERE` of every change to a leased job: the job is active under this token.
const LEASED: &str = "queue = ?1 AND id = ?2 AND state = 'active' AND lock_token = ?3";

fn held(changed: usize) -> LockOutcome {
    if changed == 1 {
        LockOutcome::Held
    } else {
        LockOutcome::Lost
    }
}

/// Renews the lease of job `id` held by `token` until `lock` from now.
pub(super) fn extend_lock(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    (id, token): (&str, &str),
    lock: Duration,
) -> Result<LockOutcome, QueueError> {
    let n = tx
        .prepare_cached(&format!(
            "UPDATE queue_jobs SET lock_until = ?4 WHERE {LEASED}"
        ))?
        .execute(params![
            queue,
            id,
            token,
            now.saturating_add(millis_i64(lock))
        ])?;
    Ok(held(n))
}

/// Completes job `id` leased by `token` with `returnvalue` (JSON), then trims completed jobs.
pub(super) fn complete(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    (id, token): (&str, &str),
    returnvalue: &str,
    keep: KeepPolicy,
) -> Result<LockOutcome, QueueError> {
    let n = tx
        .prepare_cached(&format!(
            "UPDATE queue_jobs SET state = 'completed', lock_token = NULL, lock_until = NULL, \
             finished_on = ?4, attempts_made = attempts_made + 1, returnvalue = ?5 WHERE {LEASED}"
        ))?
        .execute(params![queue, id, token, now, returnvalue])?;
    if n == 1 {
        trim(tx, queue, "completed", keep, now)?;
    }
    Ok(held(n))
}

/// Records a failed attempt of job `id` leased by `token` (`reason` already capped): back to
/// waiting or delayed for a retry, else failed for good and failed jobs trimmed.
pub(super) fn fail(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    (id, token): (&str, &str),
    reason: &str,
    retry: Retry,
    keep: KeepPolicy,
) -> Result<LockOutcome, QueueError> {
    let stack = stack_with(tx, queue, id, reason)?;
    let n = match retry {
        Retry::After(delay) => {
            let state = if delay.is_zero() {
                "waiting"
            } else {
                "delayed"
            };
            tx.prepare_cached(&format!(
                "UPDATE queue_jobs SET state = ?4, run_at = ?5, lock_token = NULL, lock_until = NULL, \
                 attempts_made = attempts_made + 1, failed_reason = ?6, stacktrace = ?7 WHERE {LEASED}"
            ))?
            .execute(params![queue, id, token, state, now.saturating_add(millis_i64(delay)), reason, stack])?
        }
        Retry::Never => {
            let n = tx
                .prepare_cached(&format!(
                    "UPDATE queue_jobs SET state = 'failed', finished_on = ?4, lock_token = NULL, \
                     lock_until = NULL, attempts_made = attempts_made + 1, failed_reason = ?5, \
                     stacktrace = ?6 WHERE {LEASED}"
                ))?
                .execute(params![queue, id, token, now, reason, stack])?;
            if n == 1 {
                trim(tx, queue, "failed", keep, now)?;
            }
            n
        }
    };
    Ok(held(n))
}

/// Gives job `id` leased by `token` back to waiting, its run not counted as an attempt.
pub(super) fn release(
    tx: &Transaction<'_>,
    queue: &str,
    (id, token): (&str, &str),
) -> Result<LockOutcome, QueueError> {
    let n = tx
        .prepare_cached(&format!(
            "UPDATE queue_jobs SET state = 'waiting', lock_token = NULL, lock_until = NULL WHERE {LEASED}"
        ))?
        .execute(params![queue, id, token])?;
    Ok(held(n))
}
