//! The email queue in Redis with BullMQ 6.x's data layout, so Node BullMQ producers, workers and
//! dashboards share it with svc (`docs/QUEUE-REDIS.md`).
//!
//! Every state change is one of our Lua scripts (`lua/*.lua`, loaded by `scripts.rs`) run
//! atomically with EVALSHA; reads that need no atomicity (counts, ping) are plain commands. A
//! completion can take the worker slot's next job in the same script
//! ([`Queue::complete_and_take`], BullMQ's fetch-next), so a busy worker makes one round trip per
//! job.
//!
//! # Connections
//! One lazily created command connection that fails fast while Redis is down, and a dedicated
//! blocking connection without response timeout for the idle `BZPOPMIN`
//! ([`crate::redis::connection`], shared with the API's rate limiter).
//!
//! # Differences from Node's worker, on purpose
//! - A job's `defa` (set by the stalled check on a job that stalled too often) and an unreadable
//!   job (its `data`/`opts` are not JSON we understand) are failed by [`Queue::take`] itself,
//!   without being handed to the handler, and the take goes on to the next job.
//! - The stalled check's guard TTL is [`RedisConfig::stalled_interval`]; `keep_failed` of
//!   [`Queue::recover_stalled`] is not used, because a job that stalled too often fails later,
//!   when it is taken (BullMQ 6.x semantics), under its own `removeOnFail` or "keep".

mod admin;
mod config;
mod finish;
mod hash;
mod keys;
mod listing;
mod scripts;
mod take;

pub use config::{DEFAULT_PREFIX, DEFAULT_STALLED_INTERVAL, RedisConfig};
pub use keys::{KeyName, Keys};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::{FromRedisValue, ScriptInvocation};
use serde_json::Value;

use self::hash::JobHash;
use self::keys::base64;
use self::scripts::{
    ADD_KEYS, EXTEND_LOCK_KEYS, RELEASE_KEYS, REMOVE_KEYS, RETRY_JOB_KEYS, STALLED_KEYS, scripts,
};
use super::{
    ActiveJob, Added, Fetch, InvalidReason, JobChange, JobCounts, JobRecord, JobState, KeepPolicy,
    LockOutcome, NewJob, Queue, QueueError, Retry, StalledReport, Taken,
};
use crate::clock::{millis, now_millis};
use crate::redis::{Connections, connection};

/// Waits shorter than this are slept, not blocked on (tiny BZPOPMIN timeouts round to 0, which
/// means "forever", on older Redis versions).
const MIN_BLOCK: Duration = Duration::from_millis(10);

/// The worker name on the blocking connection (`… :w:<name>`).
const WORKER_NAME: &str = "svc";

/// The Redis queue. Cheap to clone; clones share their connections.
#[derive(Clone)]
pub struct RedisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    keys: Keys,
    connections: Connections,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// A queue for `config`. Nothing is connected yet (see the module doc).
    ///
    /// # Errors
    /// [`QueueError::Config`] when the server address is unusable.
    pub fn new(config: RedisConfig) -> Result<Self, QueueError> {
        let client = connection::client(&config.endpoint)?;
        // Node names its workers' blocking connections `<prefix>:<base64(queue)>:w:<name>`.
        let worker_name = format!(
            "{}:{}:w:{WORKER_NAME}",
            config.prefix,
            base64(config.queue.as_bytes())
        );
        Ok(RedisQueue {
            inner: Arc::new(Inner {
                keys: Keys::new(&config.prefix, &config.queue),
                connections: Connections::new(client, config.describe(), worker_name),
                config,
            }),
        })
    }

    /// The queue's key names.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Runs a script and reads its reply.
    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, QueueError> {
        Ok(self.inner.connections.invoke(invocation).await?)
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn add(&self, job: NewJob) -> Result<Added, QueueError> {
        super::validate(&job)?;
        let data = serde_json::to_string(&job.data).map_err(InvalidReason::Json)?;
        let opts = job.opts.to_bullmq_json().to_string();
        let k = &self.inner.keys;
        let mut call = scripts().add.prepare_invoke();
        k.fill(&mut call, ADD_KEYS, "")
            .arg(&k.base)
            .arg(job.opts.job_id.as_deref().unwrap_or(""))
            .arg(&job.name)
            .arg(data)
            .arg(opts)
            .arg(now_millis())
            .arg(millis(job.opts.delay))
            .arg(job.opts.priority)
            .arg(if job.opts.lifo { "1" } else { "0" });
        let (id, new): (String, String) = self.invoke(&call).await?;
        Ok(if new == "1" {
            Added::New(id)
        } else {
            Added::Duplicate(id)
        })
    }

    async fn counts(&self) -> Result<JobCounts, QueueError> {
        self.count_jobs().await
    }

    async fn ping(&self) -> Result<(), QueueError> {
        let ping = |mut conn: redis::aio::ConnectionManager| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        self.inner.connections.run(ping).await?;
        Ok(())
    }

    async fn take(&self, token: &str, lock: Duration) -> Result<Fetch, QueueError> {
        let mut taken = self.take_batch(token, 1, lock, false).await?;
        Ok(match taken.jobs.pop() {
            Some(job) => Fetch::Job(Box::new(job)),
            None => Fetch::Empty {
                next_due: taken.next_due,
            },
        })
    }

    async fn take_many(
        &self,
        token_prefix: &str,
        max: usize,
        lock: Duration,
    ) -> Result<Taken, QueueError> {
        self.take_batch(token_prefix, max, lock, true).await
    }

    async fn wait_for_work(&self, timeout: Duration) -> Result<(), QueueError> {
        let mut deadline = tokio::time::Instant::now() + timeout;
        // Bounded: every round returns, or pops the one "next due" marker and shortens the wait.
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left < MIN_BLOCK {
                tokio::time::sleep(left).await;
                return Ok(());
            }
            match self
                .inner
                .connections
                .pop_marker(&self.inner.keys.marker, left)
                .await?
            {
                None => return Ok(()),
                // A due time: keep listening for "ready" until it comes (or the deadline).
                Some(due) => {
                    let until_due = due
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO);
                    deadline = deadline.min(tokio::time::Instant::now() + until_due);
                }
            }
        }
    }

    async fn extend_lock(
        &self,
        job_id: &str,
        token: &str,
        lock: Duration,
    ) -> Result<LockOutcome, QueueError> {
        let k = &self.inner.keys;
        let mut call = scripts().extend_lock.prepare_invoke();
        k.fill(&mut call, EXTEND_LOCK_KEYS, job_id)
            .arg(token)
            .arg(millis(lock).max(1))
            .arg(job_id);
        Ok(if self.invoke::<i64>(&call).await? == 1 {
            LockOutcome::Held
        } else {
            LockOutcome::Lost
        })
    }

    async fn complete(
        &self,
        job: &ActiveJob,
        returnvalue: Value,
        keep: KeepPolicy,
    ) -> Result<LockOutcome, QueueError> {
        let (outcome, _) = self.complete_then(job, &returnvalue, keep, None).await?;
        Ok(outcome)
    }

    async fn complete_and_take(
        &self,
        job: &ActiveJob,
        returnvalue: Value,
        keep: KeepPolicy,
        token: &str,
        lock: Duration,
    ) -> Result<(LockOutcome, Option<Fetch>), QueueError> {
        let (outcome, reply) = self
            .complete_then(job, &returnvalue, keep, Some((token, lock)))
            .await?;
        let fetch = match reply {
            // A job failed unrun (`defa`, unreadable): carry on with plain takes.
            Some(reply) => match self.taken(reply, token).await? {
                Some(fetch) => Some(fetch),
                None => Some(self.take(token, lock).await?),
            },
            None => None,
        };
        Ok((outcome, fetch))
    }

    async fn fail(
        &self,
        job: &ActiveJob,
        reason: &str,
        retry: Retry,
        keep: KeepPolicy,
    ) -> Result<LockOutcome, QueueError> {
        match retry {
            Retry::Never => {
                let hash = JobHash::default();
                self.fail_for_good(
                    &job.job.id,
                    &job.token,
                    reason,
                    &hash,
                    keep,
                    job.job.opts.attempts,
                )
                .await
            }
            Retry::After(delay) => self.retry_after(job, reason, delay).await,
        }
    }

    async fn release(&self, job: &ActiveJob) -> Result<LockOutcome, QueueError> {
        let k = &self.inner.keys;
        let id = &job.job.id;
        let mut call = scripts().release.prepare_invoke();
        k.fill(&mut call, RELEASE_KEYS, id)
            .arg(&k.base)
            .arg(id)
            .arg(&job.token);
        self.finish(&call).await
    }

    async fn recover_stalled(
        &self,
        max_stalled: u32,
        _keep_failed: KeepPolicy,
    ) -> Result<StalledReport, QueueError> {
        let k = &self.inner.keys;
        let mut call = scripts().stalled.prepare_invoke();
        k.fill(&mut call, STALLED_KEYS, "")
            .arg(&k.base)
            .arg(max_stalled)
            .arg(now_millis())
            .arg(millis(self.inner.config.stalled_interval).max(1));
        let mut reply: Vec<Vec<String>> = self.invoke(&call).await?;
        let failed = if reply.len() > 1 {
            reply.pop().unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(StalledReport {
            recovered: reply.pop().unwrap_or_default(),
            failed,
        })
    }

    async fn retry_failed(&self) -> Result<u64, QueueError> {
        self.retry_every_failed().await
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        self.read_job(id).await
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
        self.list_jobs(state, limit).await
    }

    async fn retry_job(&self, id: &str) -> Result<JobChange, QueueError> {
        let k = &self.inner.keys;
        let mut call = scripts().retry_job.prepare_invoke();
        k.fill(&mut call, RETRY_JOB_KEYS, id).arg(&k.base).arg(id);
        match self.invoke::<String>(&call).await?.as_str() {
            "done" => Ok(JobChange::Done),
            "missing" => Ok(JobChange::NotFound),
            _ => Ok(match self.job(id).await? {
                Some(job) => JobChange::Refused(job.state),
                None => JobChange::NotFound,
            }),
        }
    }

    async fn remove(&self, id: &str) -> Result<JobChange, QueueError> {
        let k = &self.inner.keys;
        let mut call = scripts().remove.prepare_invoke();
        k.fill(&mut call, REMOVE_KEYS, id).arg(&k.base).arg(id);
        match self.invoke::<String>(&call).await?.as_str() {
            "done" => Ok(JobChange::Done),
            "missing" => Ok(JobChange::NotFound),
            _ => Ok(JobChange::Refused(JobState::Active)),
        }
    }

    async fn clean(&self, state: JobState, older_than: Duration) -> Result<u64, QueueError> {
        self.clean_state(state, older_than).await
    }

    async fn set_paused(&self, paused: bool) -> Result<(), QueueError> {
        self.write_paused(paused).await
    }

    async fn is_paused(&self) -> Result<bool, QueueError> {
        let meta = &self.inner.keys.meta;
        self.inner
            .connections
            .run(|mut conn| async move {
                redis::cmd("HEXISTS")
                    .arg(meta)
                    .arg("paused")
                    .query_async::<bool>(&mut conn)
                    .await
            })
            .await
            .map_err(QueueError::from)
    }

    fn describe(&self) -> String {
        self.inner.config.describe()
    }
}
