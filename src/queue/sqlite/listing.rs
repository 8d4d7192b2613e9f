//! Reading jobs without changing them: counts per state, one job, and a state's jobs in the
//! order they leave it.

use rusqlite::{Connection, OptionalExtension, params};

use super::row::{COLUMNS, RawJob};
use crate::queue::{JobCounts, JobRecord, JobState, QueueError};

/// The rows of a state (the `WHERE` after `queue = ?1`) and their order, for [`list`] and
/// [`super::admin::clean`].
pub(super) fn listing(state: JobState) -> (&'static str, &'static str) {
    match state {
        JobState::Waiting => ("state = 'waiting' AND priority = 0", "run_at, seq"),
        JobState::Prioritized => (
            "state = 'waiting' AND priority > 0",
            "priority, run_at, seq",
        ),
        JobState::Delayed => ("state = 'delayed'", "run_at, seq"),
        JobState::Active => ("state = 'active'", "processed_on DESC, seq DESC"),
        JobState::Completed => ("state = 'completed'", "finished_on DESC, seq DESC"),
        JobState::Failed => ("state = 'failed'", "finished_on DESC, seq DESC"),
    }
}

/// Jobs per state.
pub(super) fn counts(conn: &Connection, queue: &str) -> Result<JobCounts, QueueError> {
    let mut counts = JobCounts::default();
    let mut stmt = conn.prepare_cached(
        "SELECT state, priority > 0, COUNT(*) FROM queue_jobs WHERE queue = ?1 GROUP BY state, priority > 0",
    )?;
    let mut rows = stmt.query(params![queue])?;
    while let Some(row) = rows.next()? {
        let state: String = row.get(0)?;
        let prioritized: bool = row.get(1)?;
        let n = u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0);
        match (state.as_str(), prioritized) {
            ("waiting", false) => counts.waiting += n,
            ("waiting", true) => counts.prioritized += n,
            ("delayed", _) => counts.delayed += n,
            ("active", _) => counts.active += n,
            ("completed", _) => counts.completed += n,
            ("failed", _) => counts.failed += n,
            _ => {}
        }
    }
    Ok(counts)
}

/// One job by id.
pub(super) fn job(
    conn: &Connection,
    queue: &str,
    id: &str,
) -> Result<Option<JobRecord>, QueueError> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM queue_jobs WHERE queue = ?1 AND id = ?2"
        ))?
        .query_row(params![queue, id], RawJob::from_row)
        .optional()?;
    raw.map(RawJob::into_record).transpose()
}

/// Up to `limit` jobs in `state`, in the order they leave it.
pub(super) fn list(
    conn: &Connection,
    queue: &str,
    state: JobState,
    limit: i64,
) -> Result<Vec<JobRecord>, QueueError> {
    let (filter, order) = listing(state);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM queue_jobs WHERE queue = ?1 AND {filter} ORDER BY {order} LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![queue, limit], RawJob::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(RawJob::into_record).collect()
}
