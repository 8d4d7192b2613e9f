//! A job's row as the queue's queries read it, and its conversion to a [`JobRecord`].

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;

use crate::queue::{
    InvalidReason, JobOptions, JobRecord, JobState, QueueError, StoredField, stored_json,
};

/// The columns [`RawJob::from_row`] reads, in its order.
pub(super) const COLUMNS: &str = "id, name, data, opts, state, priority, attempts_made, attempts_started, stalled_count, \
                       timestamp, processed_on, finished_on, failed_reason, returnvalue, stacktrace";

/// A job row as stored, before its JSON columns are parsed.
pub(super) struct RawJob {
    id: String,
    name: String,
    data: String,
    opts: String,
    state: String,
    priority: i64,
    attempts_made: i64,
    attempts_started: i64,
    stalled_count: i64,
    timestamp: i64,
    processed_on: Option<i64>,
    finished_on: Option<i64>,
    failed_reason: Option<String>,
    returnvalue: Option<String>,
    stacktrace: Option<String>,
}

impl RawJob {
    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawJob {
            id: row.get(0)?,
            name: row.get(1)?,
            data: row.get(2)?,
            opts: row.get(3)?,
            state: row.get(4)?,
            priority: row.get(5)?,
            attempts_made: row.get(6)?,
            attempts_started: row.get(7)?,
            stalled_count: row.get(8)?,
            timestamp: row.get(9)?,
            processed_on: row.get(10)?,
            finished_on: row.get(11)?,
            failed_reason: row.get(12)?,
            returnvalue: row.get(13)?,
            stacktrace: row.get(14)?,
        })
    }

    pub(super) fn into_record(self) -> Result<JobRecord, QueueError> {
        let corrupt = |field, source| stored_json(&self.id, field, source);
        let data: Value =
            serde_json::from_str(&self.data).map_err(|e| corrupt(StoredField::Data, e))?;
        let opts: Value =
            serde_json::from_str(&self.opts).map_err(|e| corrupt(StoredField::Opts, e))?;
        let returnvalue = match &self.returnvalue {
            Some(text) => {
                Some(serde_json::from_str(text).map_err(|e| corrupt(StoredField::ReturnValue, e))?)
            }
            None => None,
        };
        let Some(state) = job_state(&self.state, self.priority) else {
            return Err(InvalidReason::StoredState {
                id: self.id,
                state: self.state,
            }
            .into());
        };
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        let time = |t: i64| u64::try_from(t).unwrap_or(0);
        Ok(JobRecord {
            opts: JobOptions::from_bullmq_json(&opts)?,
            id: self.id,
            name: self.name,
            data,
            state,
            attempts_made: count(self.attempts_made),
            attempts_started: count(self.attempts_started),
            stalled_count: count(self.stalled_count),
            timestamp: time(self.timestamp),
            processed_on: self.processed_on.map(time),
            finished_on: self.finished_on.map(time),
            failed_reason: self.failed_reason,
            stacktrace: self
                .stacktrace
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            returnvalue,
        })
    }
}

/// The state a row's `state` and `priority` stand for (`waiting` with a priority is
/// prioritized); `None` for a state svc does not know.
fn job_state(state: &str, priority: i64) -> Option<JobState> {
    match (state, priority > 0) {
        ("waiting", false) => Some(JobState::Waiting),
        ("waiting", true) => Some(JobState::Prioritized),
        ("delayed", _) => Some(JobState::Delayed),
        ("active", _) => Some(JobState::Active),
        ("completed", _) => Some(JobState::Completed),
        ("failed", _) => Some(JobState::Failed),
        _ => None,
    }
}

/// The state of a job as its row says (`waiting` with a priority is prioritized).
pub(super) fn state_of(
    tx: &Transaction<'_>,
    queue: &str,
    id: &str,
) -> rusqlite::Result<Option<JobState>> {
    let row: Option<(String, i64)> = tx
        .prepare_cached("SELECT state, priority FROM queue_jobs WHERE queue = ?1 AND id = ?2")?
        .query_row(params![queue, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(state, priority)| job_state(&state, priority)))
}
