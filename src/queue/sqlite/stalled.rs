//! Recovering jobs whose lease expired (their worker died): back to waiting, or failed with
//! [`STALLED_TOO_OFTEN`] once they stalled more than allowed.

use rusqlite::{Transaction, params};

use super::keep::{stack_with, trim};
use crate::queue::{KeepPolicy, QueueError, STALLED_TOO_OFTEN, StalledReport};

/// Moves the active jobs whose lease expired before `now` back to waiting, or fails those that
/// stalled more than `max_stalled` times (then trims failed jobs to `keep_failed`).
pub(super) fn recover(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    max_stalled: u32,
    keep_failed: KeepPolicy,
) -> Result<StalledReport, QueueError> {
    let expired: Vec<(String, i64)> = tx
        .prepare_cached(
            "SELECT id, stalled_count FROM queue_jobs WHERE queue = ?1 AND state = 'active' \
             AND lock_until < ?2",
        )?
        .query_map(params![queue, now], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut report = StalledReport::default();
    for (id, stalls) in expired {
        if stalls + 1 > i64::from(max_stalled) {
            let stack = stack_with(tx, queue, &id, STALLED_TOO_OFTEN)?;
            tx.prepare_cached(
                "UPDATE queue_jobs SET state = 'failed', stalled_count = stalled_count + 1, \
                 lock_token = NULL, lock_until = NULL, finished_on = ?3, \
                 attempts_made = attempts_made + 1, failed_reason = ?4, stacktrace = ?5 \
                 WHERE queue = ?1 AND id = ?2",
            )?
            .execute(params![queue, id, now, STALLED_TOO_OFTEN, stack])?;
            report.failed.push(id);
        } else {
            tx.prepare_cached(
                "UPDATE queue_jobs SET state = 'waiting', stalled_count = stalled_count + 1, \
                 lock_token = NULL, lock_until = NULL WHERE queue = ?1 AND id = ?2",
            )?
            .execute(params![queue, id])?;
            report.recovered.push(id);
        }
    }
    if !report.failed.is_empty() {
        trim(tx, queue, "failed", keep_failed, now)?;
    }
    Ok(report)
}
