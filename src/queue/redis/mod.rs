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

mod config;
mod hash;
mod keys;
mod scripts;

pub use config::{DEFAULT_PREFIX, DEFAULT_STALLED_INTERVAL, RedisConfig};
pub use keys::{KeyName, Keys};

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::{FromRedisValue, ScriptInvocation};
use serde_json::Value;

use self::hash::{JobHash, parse_state};
use self::keys::base64;
use self::scripts::{
    ADD_KEYS, COMPLETE_KEYS, EXTEND_LOCK_KEYS, FAIL_KEYS, JOB_KEYS, PAUSE_KEYS, RELEASE_KEYS,
    REMOVE_KEYS, RETRY_FAILED_KEYS, RETRY_JOB_KEYS, RETRY_KEYS, STALLED_KEYS, TAKE_KEYS,
    clean_keys, scripts,
};
use super::{
    ActiveJob, Added, Fetch, JobChange, JobCounts, JobRecord, JobState, KeepPolicy, LockOutcome,
    NewJob, Queue, QueueError, Retry, StalledReport, Taken, cap_reason,
};
use crate::clock::{millis, millis_i64, now_millis};
use crate::redis::{Connections, connection};

/// Waits shorter than this are slept, not blocked on (tiny BZPOPMIN timeouts round to 0, which
/// means "forever", on older Redis versions).
const MIN_BLOCK: Duration = Duration::from_millis(10);
/// At most this many finished jobs are deleted per keep-policy trim.
const TRIM_LIMIT: u32 = 1000;
/// Failed jobs moved back per `retry_failed` script run.
const RETRY_BATCH: u64 = 1000;
/// Stack entries kept per job unless its `stackTraceLimit` says otherwise.
const STACK_LIMIT: u64 = 10;
/// Jobs examined per `clean` script run.
const CLEAN_WINDOW: u64 = 1000;
/// Jobs failed unrun by one take (`defa`, unreadable) before it gives up for this round.
const TAKE_SKIPS: usize = 100;
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

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, QueueError> {
        Ok(self.inner.connections.invoke(invocation).await?)
    }

    /// Runs a finishing script and reads its code ([`lock_outcome`]).
    async fn finish(&self, invocation: &ScriptInvocation<'_>) -> Result<LockOutcome, QueueError> {
        lock_outcome(self.invoke::<i64>(invocation).await?)
    }

    /// Fails a job that was just taken without running it (`defa`, or unreadable).
    async fn fail_unrun(
        &self,
        id: &str,
        token: &str,
        reason: &str,
        hash: &JobHash,
    ) -> Result<(), QueueError> {
        let opts = hash.options(id).ok();
        let keep = opts
            .as_ref()
            .and_then(|o| o.remove_on_fail)
            .unwrap_or(KeepPolicy::ALL);
        let attempts = opts.map_or(1, |o| o.attempts);
        tracing::warn!(jobId = %id, %reason, "job failed without running");
        self.fail_for_good(id, token, reason, hash, keep, attempts)
            .await
            .map(|_| ())
    }

    async fn fail_for_good(
        &self,
        id: &str,
        token: &str,
        reason: &str,
        hash: &JobHash,
        keep: KeepPolicy,
        attempts: u32,
    ) -> Result<LockOutcome, QueueError> {
        let k = &self.inner.keys;
        let (count, age) = keep_args(keep);
        let mut call = scripts().fail.prepare_invoke();
        k.fill(&mut call, FAIL_KEYS, id)
            .arg(&k.base)
            .arg(id)
            .arg(token)
            .arg(now_millis())
            .arg(cap_reason(reason))
            .arg(stack_entry(reason))
            .arg(stack_limit(hash))
            .arg(count)
            .arg(age)
            .arg(TRIM_LIMIT)
            .arg(attempts.max(1));
        self.finish(&call).await
    }

    /// Takes up to `max` jobs in one script run (another run only after jobs had to be failed
    /// unrun, up to [`TAKE_SKIPS`] runs). With `numbered`, each job's token is `<token>:<n>`
    /// (n counting up across runs); else `max` is 1 and the job's token is `token` itself.
    async fn take_batch(
        &self,
        token: &str,
        max: usize,
        lock: Duration,
        numbered: bool,
    ) -> Result<Taken, QueueError> {
        let k = &self.inner.keys;
        let max = if numbered { max.max(1) } else { 1 };
        let mut taken = Taken::default();
        let mut number = 0usize;
        for _ in 0..TAKE_SKIPS {
            let mut call = scripts().take.prepare_invoke();
            k.fill(&mut call, TAKE_KEYS, "")
                .arg(&k.base)
                .arg(token)
                .arg(millis(lock).max(1))
                .arg(now_millis())
                .arg(WORKER_NAME)
                .arg(max - taken.jobs.len())
                .arg(if numbered { "1" } else { "0" })
                .arg(number);
            let replies: Vec<Vec<String>> = self.invoke(&call).await?;
            let mut skipped = false;
            for reply in replies {
                let job_token = if numbered {
                    format!("{token}:{number}")
                } else {
                    token.to_owned()
                };
                number += 1;
                match self.taken(reply, &job_token).await? {
                    Some(Fetch::Job(job)) => taken.jobs.push(*job),
                    Some(Fetch::Empty { next_due }) => {
                        if taken.jobs.is_empty() {
                            taken.next_due = next_due;
                        }
                        return Ok(taken);
                    }
                    None => skipped = true,
                }
            }
            if !skipped || taken.jobs.len() >= max {
                break;
            }
        }
        Ok(taken)
    }

    /// Reads a take reply (`{"job", id, fields…}` or `{"none", due}`). A job that must fail
    /// unrun (`defa`, or unreadable) is failed here and gives `None`: take again.
    async fn taken(&self, reply: Vec<String>, token: &str) -> Result<Option<Fetch>, QueueError> {
        let mut reply = reply.into_iter();
        match (reply.next().as_deref(), reply.next()) {
            (Some("job"), Some(id)) => {
                let hash = JobHash::from_pairs(reply);
                if let Some(reason) = hash.deferred_failure() {
                    self.fail_unrun(&id, token, reason, &hash).await?;
                    return Ok(None);
                }
                match hash.clone().into_record(&id, JobState::Active) {
                    Ok(job) => Ok(Some(Fetch::Job(Box::new(ActiveJob {
                        job,
                        token: token.to_owned(),
                    })))),
                    Err(error) => {
                        let reason = format!("cannot read the job: {error}");
                        self.fail_unrun(&id, token, &reason, &hash).await?;
                        Ok(None)
                    }
                }
            }
            (Some("none"), Some(due)) => {
                let next_due = due
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
                Ok(Some(Fetch::Empty { next_due }))
            }
            _ => Err(QueueError::Unavailable(
                "unexpected answer from the take script".into(),
            )),
        }
    }

    /// Runs the complete script, taking the next job under `next` (token, lock) when given.
    /// Returns the outcome and, when a take ran, its raw reply.
    async fn complete_then(
        &self,
        job: &ActiveJob,
        returnvalue: &Value,
        keep: KeepPolicy,
        next: Option<(&str, Duration)>,
    ) -> Result<(LockOutcome, Option<Vec<String>>), QueueError> {
        let k = &self.inner.keys;
        let id = &job.job.id;
        let (count, age) = keep_args(keep);
        let (next_token, lock) = next.unwrap_or(("", Duration::ZERO));
        let mut call = scripts().complete.prepare_invoke();
        k.fill(&mut call, COMPLETE_KEYS, id)
            .arg(&k.base)
            .arg(id)
            .arg(&job.token)
            .arg(now_millis())
            .arg(returnvalue.to_string())
            .arg(count)
            .arg(age)
            .arg(TRIM_LIMIT)
            .arg(next_token)
            .arg(millis(lock).max(1))
            .arg(WORKER_NAME);
        let reply: Vec<String> = self.invoke(&call).await?;
        let mut reply = reply.into_iter();
        let code = reply.next().and_then(|c| c.parse::<i64>().ok());
        let outcome = lock_outcome(code.unwrap_or(i64::MIN))?;
        let rest: Vec<String> = reply.collect();
        Ok((outcome, (!rest.is_empty()).then_some(rest)))
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn add(&self, job: NewJob) -> Result<Added, QueueError> {
        super::validate(&job)?;
        let data =
            serde_json::to_string(&job.data).map_err(|e| QueueError::Invalid(e.to_string()))?;
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
        let k = &self.inner.keys;
        let id = &job.job.id;
        match retry {
            Retry::Never => {
                let hash = JobHash::default();
                self.fail_for_good(id, &job.token, reason, &hash, keep, job.job.opts.attempts)
                    .await
            }
            Retry::After(delay) => {
                let mut call = scripts().retry.prepare_invoke();
                k.fill(&mut call, RETRY_KEYS, id)
                    .arg(&k.base)
                    .arg(id)
                    .arg(&job.token)
                    .arg(now_millis())
                    .arg(cap_reason(reason))
                    .arg(stack_entry(reason))
                    .arg(STACK_LIMIT)
                    .arg(millis(delay))
                    .arg(if job.job.opts.lifo { "1" } else { "0" });
                self.finish(&call).await
            }
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
        let k = &self.inner.keys;
        let mut total = 0;
        // Bounded: at most 10 million jobs per call.
        for _ in 0..10_000 {
            let mut call = scripts().retry_failed.prepare_invoke();
            k.fill(&mut call, RETRY_FAILED_KEYS, "")
                .arg(&k.base)
                .arg(RETRY_BATCH);
            let moved: u64 = self.invoke(&call).await?;
            total += moved;
            if moved < RETRY_BATCH {
                break;
            }
        }
        Ok(total)
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, QueueError> {
        let k = &self.inner.keys;
        let mut call = scripts().job.prepare_invoke();
        k.fill(&mut call, JOB_KEYS, id).arg(id);
        let reply: Vec<String> = self.invoke(&call).await?;
        let mut reply = reply.into_iter();
        let Some(state) = reply.next() else {
            return Ok(None);
        };
        let state = parse_state(&state).ok_or_else(|| {
            QueueError::Invalid(format!(
                "job {id} is in a state svc does not know ({state})"
            ))
        })?;
        JobHash::from_pairs(reply).into_record(id, state).map(Some)
    }

    async fn list(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, QueueError> {
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
        let hashes: Vec<std::collections::HashMap<String, String>> = self
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
        let k = &self.inner.keys;
        let (set, kind) = match state {
            JobState::Active => {
                return Err(QueueError::Invalid(
                    "active jobs are held by workers and cannot be cleaned".into(),
                ));
            }
            JobState::Waiting => (KeyName::Wait, "list"),
            JobState::Prioritized => (KeyName::Prioritized, "zset"),
            JobState::Delayed => (KeyName::Delayed, "zset"),
            JobState::Completed => (KeyName::Completed, "zset"),
            JobState::Failed => (KeyName::Failed, "zset"),
        };
        let field = if state.is_finished() {
            "finishedOn"
        } else {
            "timestamp"
        };
        let cutoff = now_millis().saturating_sub(millis(older_than));
        let (mut start, mut total) = (0u64, 0u64);
        // Bounded: at most 10 million jobs examined per call.
        for _ in 0..10_000 {
            let mut call = scripts().clean.prepare_invoke();
            k.fill(&mut call, &clean_keys(set), "")
                .arg(&k.base)
                .arg(cutoff)
                .arg(kind)
                .arg(field)
                .arg(start)
                .arg(CLEAN_WINDOW);
            let (deleted, examined): (u64, u64) = self.invoke(&call).await?;
            total += deleted;
            if examined < CLEAN_WINDOW {
                break;
            }
            start += examined - deleted;
        }
        Ok(total)
    }

    async fn set_paused(&self, paused: bool) -> Result<(), QueueError> {
        let k = &self.inner.keys;
        // Resuming moves at most 7000 jobs parked by an older BullMQ per run.
        for _ in 0..10_000 {
            let mut call = scripts().pause.prepare_invoke();
            k.fill(&mut call, PAUSE_KEYS, "")
                .arg(if paused { "paused" } else { "resumed" });
            if self.invoke::<u64>(&call).await? == 0 {
                break;
            }
        }
        Ok(())
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

/// A finishing script's code: 0 done; -1 (no job), -2 (no lock), -3 (not active), -6 (another
/// token) changed nothing.
fn lock_outcome(code: i64) -> Result<LockOutcome, QueueError> {
    match code {
        0 => Ok(LockOutcome::Held),
        -1 | -2 | -3 | -6 => Ok(LockOutcome::Lost),
        other => Err(QueueError::Unavailable(format!(
            "unexpected answer {other} from a queue script"
        ))),
    }
}

/// A keep policy as the scripts take it: (count, age ms), -1 for "no limit".
fn keep_args(keep: KeepPolicy) -> (i64, i64) {
    let count = keep
        .count
        .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let age = keep.age.map_or(-1, millis_i64);
    (count, age)
}

/// The job's `stackTraceLimit` option, else [`STACK_LIMIT`] (at least 1).
fn stack_limit(hash: &JobHash) -> u64 {
    hash.get("opts")
        .and_then(|opts| serde_json::from_str::<Value>(opts).ok())
        .and_then(|opts| opts.get("stackTraceLimit").and_then(Value::as_u64))
        .unwrap_or(STACK_LIMIT)
        .max(1)
}

/// What svc stores in `stacktrace` for a failure: the reason in the shape of a JS stack head.
fn stack_entry(reason: &str) -> String {
    format!("Error: {}", cap_reason(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_policies_become_script_arguments() {
        assert_eq!(keep_args(KeepPolicy::ALL), (-1, -1));
        assert_eq!(keep_args(KeepPolicy::NONE), (0, -1));
        let both = KeepPolicy {
            count: Some(5),
            age: Some(Duration::from_secs(2)),
        };
        assert_eq!(keep_args(both), (5, 2000));
    }
}
