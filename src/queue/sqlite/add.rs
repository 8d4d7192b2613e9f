//! Adding a job: one insert, a no-op for a custom id already present.

use rusqlite::{Transaction, params};

use crate::clock::millis_i64;
use crate::queue::{Added, NewJob, QueueError};

/// Inserts `job` (its `data` and `opts` already JSON) as waiting, or delayed when it has a delay.
pub(super) fn insert(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    job: &NewJob,
    (data, opts): (&str, &str),
) -> Result<Added, QueueError> {
    let delayed = !job.opts.delay.is_zero();
    let state = if delayed { "delayed" } else { "waiting" };
    let run_at = now.saturating_add(millis_i64(job.opts.delay));
    let id = job
        .opts
        .job_id
        .clone()
        .unwrap_or_else(|| format!("new-{}", uuid::Uuid::new_v4()));
    let inserted = tx
        .prepare_cached(
            "INSERT INTO queue_jobs (queue, id, name, data, opts, state, priority, run_at, timestamp) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (queue, id) DO NOTHING",
        )?
        .execute(params![queue, id, job.name, data, opts, state, job.opts.priority, run_at, now])?;
    if inserted == 0 {
        return Ok(Added::Duplicate(id));
    }
    if job.opts.job_id.is_some() {
        return Ok(Added::New(id));
    }
    // Generated ids are the row's sequence number, like BullMQ's `INCR id`; custom ids
    // can never be integers, so the two never collide.
    let seq = tx.last_insert_rowid();
    tx.prepare_cached("UPDATE queue_jobs SET id = ?1 WHERE seq = ?2")?
        .execute(params![seq.to_string(), seq])?;
    Ok(Added::New(seq.to_string()))
}
