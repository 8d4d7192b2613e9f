//! Handing jobs out: due delayed jobs are promoted first, then the next ready jobs are leased in
//! one `UPDATE … RETURNING` inside the caller's `BEGIN IMMEDIATE` transaction, so two workers can
//! never both take the same job.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::row::{COLUMNS, RawJob};
use crate::clock::millis_i64;
use crate::queue::{ActiveJob, Fetch, QueueError, Taken};

/// Leases the next ready job to `token` for `lock`.
pub(super) fn one(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    token: String,
    lock: Duration,
) -> Result<Fetch, QueueError> {
    promote_due(tx, queue, now)?;
    if paused(tx, queue)? {
        return Ok(Fetch::Empty {
            next_due: next_due(tx, queue)?,
        });
    }
    let taken = tx
        .prepare_cached(&format!(
            "UPDATE queue_jobs SET state = 'active', lock_token = ?2, lock_until = ?3, processed_on = ?4, \
             attempts_started = attempts_started + 1 \
             WHERE seq = (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = 'waiting' \
                          ORDER BY priority, run_at, seq LIMIT 1) \
             RETURNING {COLUMNS}"
        ))?
        .query_row(params![queue, token, now.saturating_add(millis_i64(lock)), now], RawJob::from_row)
        .optional()?;
    match taken {
        Some(raw) => Ok(Fetch::Job(Box::new(ActiveJob {
            job: raw.into_record()?,
            token,
        }))),
        None => Ok(Fetch::Empty {
            next_due: next_due(tx, queue)?,
        }),
    }
}

/// Leases up to `max` ready jobs, each to `prefix` followed by its row number.
pub(super) fn many(
    tx: &Transaction<'_>,
    queue: &str,
    now: i64,
    prefix: &str,
    max: i64,
    lock: Duration,
) -> Result<Taken, QueueError> {
    promote_due(tx, queue, now)?;
    if paused(tx, queue)? {
        return Ok(Taken {
            jobs: Vec::new(),
            next_due: next_due(tx, queue)?,
        });
    }
    // Each job's token is the prefix plus its row number: unique, and made in the update.
    let mut stmt = tx.prepare_cached(&format!(
        "UPDATE queue_jobs SET state = 'active', lock_token = ?2 || seq, lock_until = ?3, processed_on = ?4, \
         attempts_started = attempts_started + 1 \
         WHERE seq IN (SELECT seq FROM queue_jobs WHERE queue = ?1 AND state = 'waiting' \
                       ORDER BY priority, run_at, seq LIMIT ?5) \
         RETURNING {COLUMNS}, lock_token, seq"
    ))?;
    let rows = stmt
        .query_map(
            params![
                queue,
                prefix,
                now.saturating_add(millis_i64(lock)),
                now,
                max
            ],
            |row| {
                Ok((
                    RawJob::from_row(row)?,
                    row.get::<_, String>(15)?,
                    row.get::<_, i64>(16)?,
                ))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut taken = Vec::with_capacity(rows.len());
    for (raw, token, seq) in rows {
        taken.push((
            seq,
            ActiveJob {
                job: raw.into_record()?,
                token,
            },
        ));
    }
    // RETURNING has no defined order: hand the jobs out in queue order.
    taken.sort_by_key(|(seq, job)| (job.job.opts.priority, *seq));
    let jobs: Vec<ActiveJob> = taken.into_iter().map(|(_, job)| job).collect();
    let next_due = if jobs.is_empty() {
        next_due(tx, queue)?
    } else {
        None
    };
    Ok(Taken { jobs, next_due })
}

/// Moves delayed jobs whose time has come to waiting.
fn promote_due(tx: &Transaction<'_>, queue: &str, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE queue_jobs SET state = 'waiting' WHERE queue = ?1 AND state = 'delayed' AND run_at <= ?2")?
        .execute(params![queue, now])?;
    Ok(())
}

/// When the earliest delayed job becomes ready.
fn next_due(tx: &Transaction<'_>, queue: &str) -> rusqlite::Result<Option<SystemTime>> {
    let next: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(run_at) FROM queue_jobs WHERE queue = ?1 AND state = 'delayed'",
        )?
        .query_row(params![queue], |r| r.get(0))?;
    Ok(next.map(|t| UNIX_EPOCH + Duration::from_millis(u64::try_from(t).unwrap_or(0))))
}

/// Whether the queue is paused (`svc queue pause`).
pub(super) fn paused(conn: &Connection, queue: &str) -> rusqlite::Result<bool> {
    let paused: Option<i64> = conn
        .prepare_cached("SELECT paused FROM queue_meta WHERE queue = ?1")?
        .query_row(params![queue], |r| r.get(0))
        .optional()?;
    Ok(paused.unwrap_or(0) != 0)
}
