//! What a finished job leaves behind: its stack of failures, and the trim of finished jobs to the
//! keep policy.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::clock::millis_i64;
use crate::queue::{InvalidReason, KeepPolicy, QueueError};

/// Failures kept in a job's `stacktrace` (BullMQ's default `stackTraceLimit`).
pub(super) const STACK_LIMIT: usize = 10;

/// At most this many finished jobs are deleted by one trim (BullMQ's `limit`), so a finish never
/// stalls on a huge backlog; the next finishes continue.
const TRIM_BATCH: i64 = 1000;

/// Deletes the finished jobs in `state` beyond `keep` (newest first by finish time).
pub(super) fn trim(
    tx: &Transaction<'_>,
    queue: &str,
    state: &str,
    keep: KeepPolicy,
    now: i64,
) -> rusqlite::Result<()> {
    if let Some(count) = keep.count {
        let offset = i64::try_from(count).unwrap_or(i64::MAX);
        tx.prepare_cached(
            "DELETE FROM queue_jobs WHERE seq IN (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = ?2 \
             ORDER BY finished_on DESC, seq DESC LIMIT ?3 OFFSET ?4)",
        )?
        .execute(params![queue, state, TRIM_BATCH, offset])?;
    }
    if let Some(age) = keep.age {
        tx.prepare_cached(
            "DELETE FROM queue_jobs WHERE seq IN (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = ?2 \
             AND finished_on < ?3 ORDER BY finished_on LIMIT ?4)",
        )?
        .execute(params![queue, state, now.saturating_sub(millis_i64(age)), TRIM_BATCH])?;
    }
    Ok(())
}

/// The job's `stacktrace` with one more failure, as JSON: `Error: <reason>`, the shape of the
/// first line of a Node stack (what the Redis backend stores too), the newest
/// [`STACK_LIMIT`] kept.
pub(super) fn stack_with(
    tx: &Transaction<'_>,
    queue: &str,
    id: &str,
    reason: &str,
) -> Result<String, QueueError> {
    let stored: Option<Option<String>> = tx
        .prepare_cached("SELECT stacktrace FROM queue_jobs WHERE queue = ?1 AND id = ?2")?
        .query_row(params![queue, id], |r| r.get(0))
        .optional()?;
    let mut stack: Vec<String> = stored
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    stack.push(format!("Error: {reason}"));
    let excess = stack.len().saturating_sub(STACK_LIMIT);
    stack.drain(..excess);
    serde_json::to_string(&stack).map_err(|e| InvalidReason::Json(e).into())
}
