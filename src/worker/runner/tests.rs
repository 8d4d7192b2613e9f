//! The run loop's step and drain on the real embedded queue (a temporary SQLite file), with the
//! real email handler over a recording mailer. Real time with short delays: the queue does its
//! work in blocking tasks, which paused tokio time would race past.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lettre::Message;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Executor, Outcome, RunSettings, run_until};
use crate::queue::jobs::{JobOrigin, WelcomeEmail};
use crate::queue::sqlite::SqliteQueue;
use crate::queue::{Added, Backoff, JobRecord, JobState, NewJob, Queue};
use crate::worker::handler::{EmailHandler, Handler, JobError};
use crate::worker::mail::{Delivered, MailError, Mailer};

/// How long any wait on a condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A mailer that records the jobs it delivered and fails the first `failures` sends.
#[derive(Debug, Clone, Default)]
struct RecordingMailer {
    sent: Arc<Mutex<Vec<String>>>,
    failures: Arc<AtomicU32>,
}

impl RecordingMailer {
    fn failing(failures: u32) -> Self {
        let mailer = RecordingMailer::default();
        mailer.failures.store(failures, Ordering::SeqCst);
        mailer
    }

    fn sent(&self) -> Vec<String> {
        self.sent.lock().expect("sent").clone()
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, job_id: &str, _message: Message) -> Result<Delivered, MailError> {
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(MailError::SmtpFailed {
                reply: "421 mail server down".into(),
            });
        }
        self.sent.lock().expect("sent").push(job_id.to_owned());
        Ok(Delivered::Smtp)
    }
}

/// A handler whose attempts wait until the test lets them finish.
#[derive(Debug, Default)]
struct GatedHandler {
    started: Notify,
    finish: Notify,
}

#[async_trait]
impl Handler for GatedHandler {
    async fn handle(&self, _job: &JobRecord) -> Result<Value, JobError> {
        self.started.notify_one();
        self.finish.notified().await;
        Ok(Value::Null)
    }
}

/// A queue in a temporary database (removed with the returned folder).
fn queue() -> (Arc<dyn Queue>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = SqliteQueue::open(&dir.path().join("queue.db"), "email-queue").expect("queue");
    (Arc::new(queue), dir)
}

fn settings() -> RunSettings {
    RunSettings {
        concurrency: 1,
        lock: Duration::from_secs(10),
        stalled_interval: Duration::from_secs(60),
        drain_timeout: Duration::from_secs(5),
        idle_wait: Duration::from_millis(50),
        ..RunSettings::default()
    }
}

/// The welcome email job of `user`, retried after `backoff`, then twice that.
fn welcome(user: &str, backoff: Duration) -> NewJob {
    let mut job = WelcomeEmail {
        user_id: user.into(),
        email: format!("user{user}@example.com"),
        name: format!("User {user}"),
        origin: JobOrigin::default(),
    }
    .job();
    job.opts.backoff = Backoff::exponential(backoff);
    job
}

fn email_executor(queue: &Arc<dyn Queue>, mailer: &RecordingMailer) -> Executor {
    let from = "svc <no-reply@example.com>".parse().expect("mailbox");
    let handler = Arc::new(EmailHandler::new(mailer.clone(), from));
    Executor::new(
        Arc::clone(queue),
        handler,
        settings(),
        CancellationToken::new(),
    )
}

async fn record(queue: &Arc<dyn Queue>, id: &str) -> JobRecord {
    queue.job(id).await.expect("job read").expect("job exists")
}

/// Steps until a job was taken (a retried job is due after its backoff); returns its outcome
/// and how long that took.
async fn next_outcome(executor: &Executor) -> (Outcome, Duration) {
    let started = Instant::now();
    loop {
        match executor.try_execute_job().await.expect("take") {
            Outcome::Idle => {
                assert!(started.elapsed() < PATIENCE, "no job became ready");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            outcome => return (outcome, started.elapsed()),
        }
    }
}

#[tokio::test]
async fn a_successful_attempt_completes_the_job_with_its_delivery() {
    let (queue, _dir) = queue();
    let mailer = RecordingMailer::default();
    let executor = email_executor(&queue, &mailer);
    assert_eq!(
        executor.try_execute_job().await.expect("take"),
        Outcome::Idle
    );

    queue
        .add(welcome("1", Duration::from_secs(1)))
        .await
        .expect("add");
    assert_eq!(
        executor.try_execute_job().await.expect("take"),
        Outcome::Completed
    );
    let job = record(&queue, "welcome-1").await;
    assert_eq!((job.state, job.attempts_made), (JobState::Completed, 1));
    assert_eq!(job.returnvalue, Some(json!({"transport": "smtp"})));
    assert_eq!(mailer.sent(), ["welcome-1"]);
    assert_eq!(executor.report().completed, 1);
}

#[tokio::test]
async fn a_failing_attempt_is_retried_after_its_backoff_until_the_attempts_run_out() {
    let (queue, _dir) = queue();
    let mailer = RecordingMailer::failing(u32::MAX);
    let executor = email_executor(&queue, &mailer);
    let backoff = Duration::from_millis(200);
    queue.add(welcome("2", backoff)).await.expect("add");

    let (first, _) = next_outcome(&executor).await;
    assert_eq!(first, Outcome::Retrying { delay: backoff });
    let job = record(&queue, "welcome-2").await;
    assert_eq!((job.state, job.attempts_made), (JobState::Delayed, 1));

    let (second, waited) = next_outcome(&executor).await;
    assert!(waited >= backoff / 2, "retried after {waited:?}");
    assert_eq!(second, Outcome::Retrying { delay: backoff * 2 });

    let (third, waited) = next_outcome(&executor).await;
    assert!(waited >= backoff, "retried after {waited:?}");
    assert_eq!(third, Outcome::Failed);
    let job = record(&queue, "welcome-2").await;
    assert_eq!((job.state, job.attempts_made), (JobState::Failed, 3));
    assert!(
        job.failed_reason
            .as_deref()
            .is_some_and(|r| r.contains("mail server down")),
        "{:?}",
        job.failed_reason
    );
    assert!(mailer.sent().is_empty());
    assert_eq!(executor.report().failed_attempts, 3);
}

#[tokio::test]
async fn a_failure_that_passes_completes_on_the_next_attempt() {
    let (queue, _dir) = queue();
    let mailer = RecordingMailer::failing(1);
    let executor = email_executor(&queue, &mailer);
    queue
        .add(welcome("3", Duration::from_millis(20)))
        .await
        .expect("add");
    assert!(matches!(
        next_outcome(&executor).await.0,
        Outcome::Retrying { .. }
    ));
    assert_eq!(next_outcome(&executor).await.0, Outcome::Completed);
    let job = record(&queue, "welcome-3").await;
    assert_eq!((job.state, job.attempts_made), (JobState::Completed, 2));
    assert_eq!(mailer.sent(), ["welcome-3"]);
}

#[tokio::test]
async fn an_unknown_job_fails_at_once_without_retries() {
    let (queue, _dir) = queue();
    let executor = email_executor(&queue, &RecordingMailer::default());
    let mut job = welcome("4", Duration::from_millis(20));
    job.name = "not-a-known-job".into();
    queue.add(job).await.expect("add");
    assert_eq!(next_outcome(&executor).await.0, Outcome::Failed);
    let job = record(&queue, "welcome-4").await;
    assert_eq!((job.state, job.attempts_made), (JobState::Failed, 1));
}

#[tokio::test]
async fn a_duplicate_job_is_not_mailed_twice() {
    let (queue, _dir) = queue();
    let mailer = RecordingMailer::default();
    let executor = email_executor(&queue, &mailer);
    let job = welcome("5", Duration::from_secs(1));
    assert_eq!(
        queue.add(job.clone()).await.expect("add"),
        Added::New("welcome-5".into())
    );
    assert_eq!(
        queue.add(job.clone()).await.expect("add"),
        Added::Duplicate("welcome-5".into())
    );
    assert_eq!(next_outcome(&executor).await.0, Outcome::Completed);
    assert_eq!(
        executor.try_execute_job().await.expect("take"),
        Outcome::Idle
    );

    // Added again once mailed (a relay retrying after a crash): still one email.
    assert_eq!(
        queue.add(job).await.expect("add"),
        Added::Duplicate("welcome-5".into())
    );
    assert_eq!(
        executor.try_execute_job().await.expect("take"),
        Outcome::Idle
    );
    assert_eq!(mailer.sent(), ["welcome-5"]);
}

#[tokio::test]
async fn shutdown_lets_the_job_in_hand_finish_and_takes_no_other() {
    let (queue, _dir) = queue();
    for user in ["6", "7"] {
        queue
            .add(welcome(user, Duration::from_secs(1)))
            .await
            .expect("add");
    }
    let handler = Arc::new(GatedHandler::default());
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(run_until(
        Arc::clone(&queue),
        Arc::clone(&handler) as Arc<dyn Handler>,
        settings(),
        shutdown.clone(),
    ));
    tokio::time::timeout(PATIENCE, handler.started.notified())
        .await
        .expect("a job started");
    shutdown.cancel();
    handler.finish.notify_one();
    let report = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("drained in time")
        .expect("run");

    assert_eq!((report.completed, report.released), (1, 0));
    let states = [
        record(&queue, "welcome-6").await.state,
        record(&queue, "welcome-7").await.state,
    ];
    assert_eq!(states, [JobState::Completed, JobState::Waiting]);
}

#[tokio::test]
async fn a_job_still_running_at_the_drain_timeout_is_released_unfinished() {
    let (queue, _dir) = queue();
    queue
        .add(welcome("8", Duration::from_secs(1)))
        .await
        .expect("add");
    let handler = Arc::new(GatedHandler::default());
    let shutdown = CancellationToken::new();
    let settings = RunSettings {
        drain_timeout: Duration::from_millis(100),
        ..settings()
    };
    let run = tokio::spawn(run_until(
        Arc::clone(&queue),
        Arc::clone(&handler) as Arc<dyn Handler>,
        settings,
        shutdown.clone(),
    ));
    tokio::time::timeout(PATIENCE, handler.started.notified())
        .await
        .expect("the job started");
    shutdown.cancel();
    let report = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("drained in time")
        .expect("run");

    assert_eq!((report.completed, report.released), (0, 1));
    let job = record(&queue, "welcome-8").await;
    assert_eq!((job.state, job.attempts_made), (JobState::Waiting, 0));
}
