//! Reading jobs without changing them: counts per state, one job, and a state's jobs in the
//! order they leave it.

use std::collections::HashMap;

use super::RedisQueue;
use super::hash::{JobHash, parse_state};
use super::scripts::{JOB_KEYS, scripts};
use crate::queue::{InvalidReason, JobCounts, JobRecord, JobState, QueueError};

impl RedisQueue {
    /// Jobs per state, in one pipeline.
    pub(super) async fn count_jobs(&self) -> Result<JobCounts, QueueError> {
        let k = &self.inner.keys;
        let mut pipe = redis::pipe();
        for (cmd, key) in [
            ("LLEN", &k.wait),
            ("LLEN", &k.active),
            ("ZCARD", &k.delayed),
            ("ZCARD", &k.prioritized),
            ("ZCARD", &k.completed),
            ("ZCARD", &k.failed),
        ] {
            pipe.cmd(cmd).arg(key);
        }
        let pipe = &pipe;
        type Counts = (u64, u64, u64, u64, u64, u64);
        let (waiting, active, delayed, prioritized, completed, failed): Counts = self
            .inner
            .connections
            .run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await?;
        Ok(JobCounts {
            waiting,
            active,
            delayed,
            prioritized,
            completed,
            failed,
        })
    }

    /// One job by id, with its state.
    pub(super) async fn read_job(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let k = &self.inner.keys;
        let mut call = scripts().job.prepare_invoke();
        k.fill(&mut call, JOB_KEYS, id).arg(id);
        let reply: Vec<String> = self.invoke(&call).await?;
        let mut reply = reply.into_iter();
        let Some(state) = reply.next() else {
            return Ok(None);
        };
        let Some(known) = parse_state(&state) else {
            return Err(InvalidReason::UnknownPlace {
                id: id.to_owned(),
                state,
            }
            .into());
        };
        let state = known;
        JobHash::from_pairs(reply).into_record(id, state).map(Some)
    }

    /// Up to `limit` jobs in `state`, in the order they leave it.
    pub(super) async fn list_jobs(
        &self,
        state: JobState,
        limit: usize,
    ) -> Result<Vec<JobRecord>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let k = &self.inner.keys;
        let last = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let cmd = match state {
            // Workers pop wait's tail: its last `limit` ids, reversed, are the next to run.
            JobState::Waiting => {
                let mut c = redis::cmd("LRANGE");
                c.arg(&k.wait).arg(-last - 1).arg(-1);
                c
            }
            JobState::Active => {
                let mut c = redis::cmd("LRANGE");
                c.arg(&k.active).arg(0).arg(last);
                c
            }
            JobState::Prioritized | JobState::Delayed => {
                let mut c = redis::cmd("ZRANGE");
                let key = if state == JobState::Delayed {
                    &k.delayed
                } else {
                    &k.prioritized
                };
                c.arg(key).arg(0).arg(last);
                c
            }
            JobState::Completed | JobState::Failed => {
                let mut c = redis::cmd("ZREVRANGE");
                let key = if state == JobState::Failed {
                    &k.failed
                } else {
                    &k.completed
                };
                c.arg(key).arg(0).arg(last);
                c
            }
        };
        let cmd = &cmd;
        let mut ids: Vec<String> = self
            .inner
            .connections
            .run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if state == JobState::Waiting {
            ids.reverse();
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(k.job(id));
        }
        let pipe = &pipe;
        let hashes: Vec<HashMap<String, String>> = self
            .inner
            .connections
            .run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await?;
        let mut jobs = Vec::with_capacity(ids.len());
        for (id, fields) in ids.iter().zip(hashes) {
            // Removed between the two reads: not listed.
            if !fields.is_empty() {
                jobs.push(JobHash(fields).into_record(id, state)?);
            }
        }
        Ok(jobs)
    }
}
