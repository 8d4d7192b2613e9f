//! Taking jobs: one script run leases up to a batch of jobs; a job that must fail unrun (its
//! `defa` says it stalled too often, or its hash is unreadable) is failed here and the take goes
//! on to the next.

use std::time::{Duration, UNIX_EPOCH};

use super::hash::JobHash;
use super::scripts::{TAKE_KEYS, scripts};
use super::{RedisQueue, WORKER_NAME};
use crate::clock::{millis, now_millis};
use crate::queue::{ActiveJob, Fetch, JobState, KeepPolicy, QueueError, Taken, UnavailableCause};

/// Jobs failed unrun by one take (`defa`, unreadable) before it gives up for this round.
const TAKE_SKIPS: usize = 100;

impl RedisQueue {
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

    /// Takes up to `max` jobs in one script run (another run only after jobs had to be failed
    /// unrun, up to [`TAKE_SKIPS`] runs). With `numbered`, each job's token is `<token>:<n>`
    /// (n counting up across runs); else `max` is 1 and the job's token is `token` itself.
    pub(super) async fn take_batch(
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
    pub(super) async fn taken(
        &self,
        reply: Vec<String>,
        token: &str,
    ) -> Result<Option<Fetch>, QueueError> {
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
            _ => Err(UnavailableCause::TakeReply.into()),
        }
    }
}
