//! Finishing a leased job: the scripts that complete, retry or fail it, each naming the lease's
//! token, and the arguments they share (keep policy, failure stack).

use std::time::Duration;

use redis::ScriptInvocation;
use serde_json::Value;

use super::hash::JobHash;
use super::scripts::{COMPLETE_KEYS, FAIL_KEYS, RETRY_KEYS, scripts};
use super::{RedisQueue, WORKER_NAME};
use crate::clock::{millis, millis_i64, now_millis};
use crate::queue::{ActiveJob, KeepPolicy, LockOutcome, QueueError, UnavailableCause, cap_reason};

/// At most this many finished jobs are deleted per keep-policy trim.
const TRIM_LIMIT: u32 = 1000;
/// Stack entries kept per job unless its `stackTraceLimit` says otherwise.
const STACK_LIMIT: u64 = 10;

impl RedisQueue {
    /// Runs a finishing script and reads its code ([`lock_outcome`]).
    pub(super) async fn finish(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<LockOutcome, QueueError> {
        lock_outcome(self.invoke::<i64>(invocation).await?)
    }

    /// Fails a leased job for good, then trims failed jobs to `keep`.
    pub(super) async fn fail_for_good(
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

    /// Sends a failed attempt of `job` back to waiting (or delayed for `delay`) with `reason`.
    pub(super) async fn retry_after(
        &self,
        job: &ActiveJob,
        reason: &str,
        delay: Duration,
    ) -> Result<LockOutcome, QueueError> {
        let k = &self.inner.keys;
        let id = &job.job.id;
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

    /// Runs the complete script, taking the next job under `next` (token, lock) when given.
    /// Returns the outcome and, when a take ran, its raw reply.
    pub(super) async fn complete_then(
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

/// A finishing script's code: 0 done; -1 (no job), -2 (no lock), -3 (not active), -6 (another
/// token) changed nothing.
fn lock_outcome(code: i64) -> Result<LockOutcome, QueueError> {
    match code {
        0 => Ok(LockOutcome::Held),
        -1 | -2 | -3 | -6 => Ok(LockOutcome::Lost),
        other => Err(UnavailableCause::ScriptCode(other).into()),
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
