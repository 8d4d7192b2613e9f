//! The backend-neutral queue suite: every [`Queue`] implementation must pass it.
//!
//! A backend's test file builds a [`Fixture`] (an isolated queue plus a way to open a second
//! handle on the same store, as another process would) and invokes [`queue_contract!`] with it:
//!
//! ```ignore
//! queue_contract!(sqlite_fixture());
//! ```
//!
//! Timings are short (leases of a few hundred ms) and every wait polls a condition with a
//! deadline instead of sleeping blindly.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::wait::wait_for_async;
use svc::queue::{
    ActiveJob, Added, Backoff, Fetch, JobChange, JobOptions, JobState, KeepPolicy, LockOutcome,
    NewJob, Queue, QueueError, Retry, STALLED_TOO_OFTEN,
};

/// An isolated queue and the means to open more handles on the same store.
pub struct Fixture<Q> {
    pub queue: Q,
    pub open: Box<dyn Fn() -> Q + Send + Sync>,
    /// Keeps the store alive (a temp dir, a Redis prefix to clean...).
    pub _guard: Box<dyn std::any::Any + Send>,
}

const LOCK: Duration = Duration::from_secs(30);
const KEEP_ALL: KeepPolicy = KeepPolicy {
    count: None,
    age: None,
};

pub fn job(id: Option<&str>) -> NewJob {
    NewJob {
        name: "welcome-email".into(),
        data: json!({"userId": "1", "email": "a@example.com", "name": "A"}),
        opts: JobOptions {
            job_id: id.map(Into::into),
            ..JobOptions::default()
        },
    }
}

fn token() -> String {
    format!("test:{}", uuid::Uuid::new_v4())
}

pub async fn take<Q: Queue>(q: &Q) -> Option<ActiveJob> {
    match q.take(&token(), LOCK).await.expect("take") {
        Fetch::Job(job) => Some(*job),
        Fetch::Empty { .. } => None,
    }
}

/// Takes until a job comes, or panics after `timeout`.
pub async fn take_within<Q: Queue>(q: &Q, lock: Duration, timeout: Duration) -> ActiveJob {
    let deadline = Instant::now() + timeout;
    loop {
        if let Fetch::Job(job) = q.take(&token(), lock).await.expect("take") {
            return *job;
        }
        assert!(
            Instant::now() < deadline,
            "no job became ready within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state<Q: Queue>(q: &Q, id: &str) -> Option<JobState> {
    q.job(id).await.expect("job").map(|j| j.state)
}

async fn added<Q: Queue>(q: &Q, job: NewJob) -> String {
    match q.add(job).await.expect("add") {
        Added::New(id) => id,
        Added::Duplicate(id) => panic!("{id} was a duplicate"),
    }
}

pub async fn custom_ids_are_idempotent_in_any_state<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    assert_eq!(added(q, job(Some("welcome-1"))).await, "welcome-1");
    assert_eq!(
        q.add(job(Some("welcome-1"))).await.unwrap(),
        Added::Duplicate("welcome-1".into())
    );
    let active = take(q).await.expect("a job");
    assert_eq!(
        q.add(job(Some("welcome-1"))).await.unwrap(),
        Added::Duplicate("welcome-1".into())
    );
    assert_eq!(
        q.complete(&active, json!("sent"), KEEP_ALL).await.unwrap(),
        LockOutcome::Held
    );
    assert_eq!(
        q.add(job(Some("welcome-1"))).await.unwrap(),
        Added::Duplicate("welcome-1".into())
    );
    assert!(take(q).await.is_none(), "the duplicate must not run");
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.waiting, counts.completed), (0, 1));
}

pub async fn fifo_within_a_priority_and_priority_order<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    let mut expected = Vec::new();
    for (i, priority) in [(1, 2), (2, 0), (3, 1), (4, 0), (5, 2)] {
        let mut j = job(Some(&format!("job-{i}")));
        j.opts.priority = priority;
        added(q, j).await;
        expected.push((priority, i));
    }
    expected.sort();
    let mut order = Vec::new();
    while let Some(active) = take(q).await {
        order.push(active.job.id.clone());
    }
    let expected: Vec<String> = expected.iter().map(|(_, i)| format!("job-{i}")).collect();
    assert_eq!(order, expected);
    let counts = q.counts().await.unwrap();
    assert_eq!(counts.active, 5);
}

pub async fn delayed_jobs_wait_for_their_time<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    let mut j = job(Some("later"));
    j.opts.delay = Duration::from_millis(400);
    let before = std::time::SystemTime::now();
    added(q, j).await;
    assert_eq!(state(q, "later").await, Some(JobState::Delayed));
    match q.take(&token(), LOCK).await.unwrap() {
        Fetch::Empty {
            next_due: Some(due),
        } => {
            let after = due.duration_since(before).unwrap_or_default();
            assert!(after >= Duration::from_millis(350), "due after {after:?}");
        }
        other => panic!("expected an empty fetch with a due time, got {other:?}"),
    }
    let start = Instant::now();
    let active = take_within(q, LOCK, Duration::from_secs(5)).await;
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "taken {:?} early",
        start.elapsed()
    );
    assert_eq!(active.job.id, "later");
}

pub async fn completion_records_the_bookkeeping<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    added(q, job(Some("done"))).await;
    let active = take(q).await.unwrap();
    assert_eq!(
        (
            active.job.attempts_started,
            active.job.attempts_made,
            active.attempt()
        ),
        (1, 0, 1)
    );
    assert_eq!(active.job.state, JobState::Active);
    assert_eq!(
        q.complete(&active, json!({"sent": true}), KEEP_ALL)
            .await
            .unwrap(),
        LockOutcome::Held
    );
    let done = q.job("done").await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Completed);
    assert_eq!((done.attempts_made, done.attempts_started), (1, 1));
    assert_eq!(done.returnvalue, Some(json!({"sent": true})));
    assert!(done.finished_on.is_some() && done.processed_on.is_some());
    assert_eq!(
        q.complete(&active, json!(null), KEEP_ALL).await.unwrap(),
        LockOutcome::Lost,
        "twice"
    );
}

/// `complete_and_take` records the completion; a backend that fetches the next job in the same
/// call hands it out under the given token, one that does not leaves it waiting.
pub async fn a_completion_can_take_the_next_job<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    added(q, job(Some("first"))).await;
    added(q, job(Some("second"))).await;
    let first = take(q).await.expect("a job");
    let (outcome, next) = q
        .complete_and_take(&first, json!(1), KEEP_ALL, "next-token", LOCK)
        .await
        .unwrap();
    assert_eq!(outcome, LockOutcome::Held);
    assert_eq!(state(q, "first").await, Some(JobState::Completed));
    let second = match next {
        Some(Fetch::Job(second)) => {
            assert_eq!(
                (second.job.id.as_str(), second.token.as_str()),
                ("second", "next-token")
            );
            assert_eq!(
                (second.job.state, second.job.attempts_started),
                (JobState::Active, 1)
            );
            *second
        }
        None => {
            assert_eq!(state(q, "second").await, Some(JobState::Waiting));
            take(q).await.expect("the second job")
        }
        Some(other) => panic!("expected the next job or nothing, got {other:?}"),
    };
    let (outcome, next) = q
        .complete_and_take(&second, json!(2), KEEP_ALL, "third-token", LOCK)
        .await
        .unwrap();
    assert_eq!(outcome, LockOutcome::Held);
    assert!(
        matches!(next, None | Some(Fetch::Empty { .. })),
        "nothing left to take: {next:?}"
    );
    assert_eq!(
        q.job("second").await.unwrap().unwrap().returnvalue,
        Some(json!(2))
    );
    // A lost lease records nothing and takes nothing.
    added(q, job(Some("third"))).await;
    let (outcome, next) = q
        .complete_and_take(&second, json!(3), KEEP_ALL, "fourth-token", LOCK)
        .await
        .unwrap();
    assert_eq!((outcome, next.is_none()), (LockOutcome::Lost, true));
    assert_eq!(state(q, "third").await, Some(JobState::Waiting));
}

pub async fn failures_retry_with_backoff_then_fail_for_good<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    let mut j = job(Some("flaky"));
    j.opts.attempts = 3;
    j.opts.backoff = Backoff::exponential(Duration::from_millis(100));
    added(q, j).await;
    let mut times = Vec::new();
    for attempt in 1..=3u32 {
        let active = take_within(q, LOCK, Duration::from_secs(5)).await;
        times.push(Instant::now());
        assert_eq!(active.attempt(), attempt);
        let retry = active
            .job
            .opts
            .retry_delay(attempt)
            .map_or(Retry::Never, Retry::After);
        let outcome = q
            .fail(&active, &format!("boom {attempt}"), retry, KEEP_ALL)
            .await
            .unwrap();
        assert_eq!(outcome, LockOutcome::Held);
        let record = q.job("flaky").await.unwrap().unwrap();
        assert_eq!(
            record.failed_reason.as_deref(),
            Some(format!("boom {attempt}").as_str())
        );
        assert_eq!(record.attempts_made, attempt);
        let expected = if attempt < 3 {
            JobState::Delayed
        } else {
            JobState::Failed
        };
        assert_eq!(record.state, expected);
    }
    assert!(
        times[1] - times[0] >= Duration::from_millis(90),
        "first gap {:?}",
        times[1] - times[0]
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(190),
        "second gap {:?}",
        times[2] - times[1]
    );
    assert_eq!(q.counts().await.unwrap().failed, 1);
    assert!(take(q).await.is_none());
}

pub async fn a_retry_without_delay_goes_back_to_waiting<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    let mut j = job(Some("again"));
    j.opts.attempts = 2;
    added(q, j).await;
    let active = take(q).await.unwrap();
    q.fail(&active, "once", Retry::After(Duration::ZERO), KEEP_ALL)
        .await
        .unwrap();
    assert_eq!(state(q, "again").await, Some(JobState::Waiting));
    let again = take(q).await.expect("retried at once");
    assert_eq!(again.attempt(), 2);
}

pub async fn a_stale_token_changes_nothing<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    added(q, job(Some("mine"))).await;
    let active = take(q).await.unwrap();
    let forged = ActiveJob {
        job: active.job.clone(),
        token: "someone-else".into(),
    };
    assert_eq!(
        q.complete(&forged, json!(1), KEEP_ALL).await.unwrap(),
        LockOutcome::Lost
    );
    assert_eq!(
        q.fail(&forged, "x", Retry::Never, KEEP_ALL).await.unwrap(),
        LockOutcome::Lost
    );
    assert_eq!(q.release(&forged).await.unwrap(), LockOutcome::Lost);
    assert_eq!(
        q.extend_lock("mine", "someone-else", LOCK).await.unwrap(),
        LockOutcome::Lost
    );
    assert_eq!(
        q.extend_lock("missing", &active.token, LOCK).await.unwrap(),
        LockOutcome::Lost
    );
    assert_eq!(state(q, "mine").await, Some(JobState::Active));
    assert_eq!(
        q.extend_lock("mine", &active.token, LOCK).await.unwrap(),
        LockOutcome::Held
    );
}

/// Polls `recover_stalled` until it reports something (a backend may need two rounds, as BullMQ).
async fn recover<Q: Queue>(q: &Q, max_stalled: u32) -> svc::queue::StalledReport {
    wait_for_async("a stalled job recovered", || async {
        let report = q.recover_stalled(max_stalled, KEEP_ALL).await.unwrap();
        (!report.recovered.is_empty() || !report.failed.is_empty()).then_some(report)
    })
    .await
}

pub async fn an_expired_lease_is_recovered_and_a_job_stalling_too_often_fails<Q: Queue>(
    f: Fixture<Q>,
) {
    let q = &f.queue;
    let lease = Duration::from_millis(200);
    added(q, job(Some("stuck"))).await;
    let first = take_within(q, lease, Duration::from_secs(1)).await;
    let report = recover(q, 1).await;
    assert_eq!(report.recovered, vec!["stuck".to_string()]);
    let record = q.job("stuck").await.unwrap().unwrap();
    assert_eq!(
        (record.state, record.stalled_count, record.attempts_made),
        (JobState::Waiting, 1, 0)
    );
    let second = take_within(q, lease, Duration::from_secs(1)).await;
    assert_eq!(second.job.attempts_started, 2);
    assert_eq!(
        q.complete(&first, json!(null), KEEP_ALL).await.unwrap(),
        LockOutcome::Lost,
        "old lease"
    );
    let report = recover(q, 1).await;
    assert_eq!(report.failed, vec!["stuck".to_string()]);
    assert!(take(q).await.is_none());
    let record = q.job("stuck").await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(record.failed_reason.as_deref(), Some(STALLED_TOO_OFTEN));
}

pub async fn a_renewed_lease_is_not_recovered<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    let lease = Duration::from_millis(300);
    added(q, job(Some("busy"))).await;
    let active = take_within(q, lease, Duration::from_secs(1)).await;
    for _ in 0..6 {
        // The test: renewing every 100 ms keeps a 300 ms lease.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            q.extend_lock("busy", &active.token, lease).await.unwrap(),
            LockOutcome::Held
        );
        let report = q.recover_stalled(1, KEEP_ALL).await.unwrap();
        assert!(
            report.recovered.is_empty() && report.failed.is_empty(),
            "{report:?}"
        );
    }
    assert_eq!(
        q.complete(&active, json!(null), KEEP_ALL).await.unwrap(),
        LockOutcome::Held
    );
}

pub async fn a_released_job_runs_again_without_using_an_attempt<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    added(q, job(Some("drained"))).await;
    let active = take(q).await.unwrap();
    assert_eq!(q.release(&active).await.unwrap(), LockOutcome::Held);
    assert_eq!(state(q, "drained").await, Some(JobState::Waiting));
    let again = take(q).await.expect("released job");
    assert_eq!((again.attempt(), again.job.attempts_started), (1, 2));
}

pub async fn keep_policies_bound_finished_jobs<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    let keep_two = KeepPolicy {
        count: Some(2),
        age: None,
    };
    for i in 0..5 {
        added(q, job(Some(&format!("c{i}")))).await;
        let active = take(q).await.unwrap();
        q.complete(&active, json!(i), keep_two).await.unwrap();
    }
    assert_eq!(q.counts().await.unwrap().completed, 2);
    assert!(q.job("c0").await.unwrap().is_none());
    assert!(q.job("c4").await.unwrap().is_some());

    added(q, job(Some("gone"))).await;
    let active = take(q).await.unwrap();
    q.fail(&active, "bad", Retry::Never, KeepPolicy::NONE)
        .await
        .unwrap();
    assert!(q.job("gone").await.unwrap().is_none(), "removed on fail");
    assert_eq!(
        added(q, job(Some("gone"))).await,
        "gone",
        "a removed id can be added again"
    );

    let by_age = KeepPolicy {
        count: None,
        age: Some(Duration::from_millis(1)),
    };
    added(q, job(Some("old"))).await;
    let old = take(q).await.unwrap();
    assert_eq!(old.job.id, "gone");
    q.fail(&old, "bad", Retry::Never, KEEP_ALL).await.unwrap();
    let old = take(q).await.unwrap();
    q.fail(&old, "bad", Retry::Never, KEEP_ALL).await.unwrap();
    // Time must pass for the first jobs to be older than the keep policy's age.
    tokio::time::sleep(Duration::from_millis(20)).await;
    added(q, job(Some("new"))).await;
    let new = take(q).await.unwrap();
    q.fail(&new, "bad", Retry::Never, by_age).await.unwrap();
    assert_eq!(
        q.counts().await.unwrap().failed,
        1,
        "older failures trimmed by age"
    );
}

pub async fn retry_failed_moves_failed_jobs_back<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    for id in ["f1", "f2"] {
        added(q, job(Some(id))).await;
        let active = take(q).await.unwrap();
        q.fail(&active, "bad", Retry::Never, KEEP_ALL)
            .await
            .unwrap();
    }
    assert_eq!(q.counts().await.unwrap().failed, 2);
    assert_eq!(q.retry_failed().await.unwrap(), 2);
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.failed, counts.waiting), (0, 2));
    let again = take(q).await.unwrap();
    assert_eq!(again.attempt(), 1, "fresh attempts");
}

pub async fn take_many_leases_each_job_under_its_own_token<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    for i in 0..5 {
        let mut j = job(Some(&format!("b{i}")));
        j.opts.priority = if i == 3 { 1 } else { 0 };
        added(q, j).await;
    }
    let first = q.take_many("batch-1", 3, LOCK).await.unwrap();
    let ids: Vec<&str> = first.jobs.iter().map(|j| j.job.id.as_str()).collect();
    assert_eq!(ids, ["b0", "b1", "b2"], "queue order");
    let tokens: HashSet<&str> = first.jobs.iter().map(|j| j.token.as_str()).collect();
    assert_eq!(tokens.len(), 3, "distinct tokens");
    let rest = q.take_many("batch-2", 10, LOCK).await.unwrap();
    let ids: Vec<&str> = rest.jobs.iter().map(|j| j.job.id.as_str()).collect();
    assert_eq!(ids, ["b4", "b3"], "priority 0 before 1");
    for active in first.jobs.iter().chain(&rest.jobs) {
        assert_eq!(active.job.state, JobState::Active);
        assert_eq!(
            q.complete(active, json!(null), KEEP_ALL).await.unwrap(),
            LockOutcome::Held
        );
    }
    let mut later = job(Some("later"));
    later.opts.delay = Duration::from_secs(60);
    added(q, later).await;
    let none = q.take_many("batch-3", 4, LOCK).await.unwrap();
    assert!(none.jobs.is_empty());
    assert!(none.next_due.is_some(), "the delayed job's due time");
}

pub async fn an_idle_waiter_wakes_on_an_add_from_another_handle<Q: Queue>(f: Fixture<Q>) {
    let other = (f.open)();
    let q = Arc::new(f.queue);
    assert!(take(&*q).await.is_none());
    let waiter = {
        let q = Arc::clone(&q);
        tokio::spawn(async move {
            let start = Instant::now();
            q.wait_for_work(Duration::from_secs(10)).await.unwrap();
            start.elapsed()
        })
    };
    // The waiter has no signal that it is waiting; give it time to start before the add.
    tokio::time::sleep(Duration::from_millis(100)).await;
    added(&other, job(Some("wake"))).await;
    let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "woke only after {waited:?}"
    );
    assert!(take(&*q).await.is_some());
}

pub async fn concurrent_takers_never_share_a_job<Q: Queue>(f: Fixture<Q>) {
    let handles: Vec<Arc<Q>> = vec![
        Arc::new(f.queue),
        Arc::new((f.open)()),
        Arc::new((f.open)()),
    ];
    for i in 0..60 {
        added(&*handles[0], job(Some(&format!("j{i}")))).await;
    }
    let mut tasks = Vec::new();
    for t in 0..6 {
        let q = Arc::clone(&handles[t % handles.len()]);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(active) = take(&*q).await {
                mine.push(active.job.id.clone());
                q.complete(&active, json!(null), KEEP_ALL).await.unwrap();
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.unwrap() {
            total += 1;
            assert!(seen.insert(id.clone()), "{id} taken twice");
        }
    }
    assert_eq!(total, 60);
    assert_eq!(handles[0].counts().await.unwrap().completed, 60);
}

async fn listed<Q: Queue>(q: &Q, state: JobState, limit: usize) -> Vec<String> {
    let jobs = q.list(state, limit).await.expect("list");
    assert!(jobs.iter().all(|j| j.state == state), "{jobs:?}");
    jobs.into_iter().map(|j| j.id).collect()
}

pub async fn list_shows_each_state_in_the_order_jobs_leave_it<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    for id in ["a", "b", "c", "d"] {
        added(q, job(Some(id))).await;
    }
    for (id, priority) in [("p2", 2), ("p1", 1)] {
        let mut j = job(Some(id));
        j.opts.priority = priority;
        added(q, j).await;
    }
    for (id, secs) in [("later", 120), ("soon", 60)] {
        let mut j = job(Some(id));
        j.opts.delay = Duration::from_secs(secs);
        added(q, j).await;
    }
    let a = take(q).await.unwrap();
    q.complete(&a, json!("sent"), KEEP_ALL).await.unwrap();
    let b = take(q).await.unwrap();
    q.fail(&b, "first", Retry::After(Duration::ZERO), KEEP_ALL)
        .await
        .unwrap();
    // b went back to the end of waiting: c is next.
    let c = take(q).await.unwrap();
    assert_eq!(c.job.id, "c");
    q.fail(
        &c,
        "550 no such user ada@example.com",
        Retry::Never,
        KEEP_ALL,
    )
    .await
    .unwrap();
    let d = take(q).await.unwrap();
    assert_eq!(d.job.id, "d");

    assert_eq!(listed(q, JobState::Waiting, 10).await, ["b"]);
    added(q, job(Some("e"))).await;
    assert_eq!(listed(q, JobState::Waiting, 10).await, ["b", "e"]);
    assert_eq!(
        listed(q, JobState::Waiting, 1).await,
        ["b"],
        "the next to run"
    );
    assert_eq!(listed(q, JobState::Prioritized, 10).await, ["p1", "p2"]);
    assert_eq!(listed(q, JobState::Delayed, 10).await, ["soon", "later"]);
    assert_eq!(listed(q, JobState::Active, 10).await, ["d"]);
    assert_eq!(listed(q, JobState::Completed, 10).await, ["a"]);
    let failed = q.list(JobState::Failed, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    let c = &failed[0];
    assert_eq!((c.id.as_str(), c.attempts_made), ("c", 1));
    assert_eq!(
        c.failed_reason.as_deref(),
        Some("550 no such user ada@example.com")
    );
    assert_eq!(c.stacktrace, ["Error: 550 no such user ada@example.com"]);
    let b = q.job("b").await.unwrap().unwrap();
    assert_eq!(
        b.stacktrace,
        ["Error: first"],
        "a retried failure is recorded too"
    );
    assert!(q.list(JobState::Failed, 0).await.unwrap().is_empty());
}

pub async fn one_job_can_be_retried_or_removed<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    for id in ["done", "broken", "running", "queued"] {
        added(q, job(Some(id))).await;
    }
    let done = take(q).await.unwrap();
    q.complete(&done, json!("sent"), KEEP_ALL).await.unwrap();
    let broken = take(q).await.unwrap();
    q.fail(&broken, "bad", Retry::Never, KEEP_ALL)
        .await
        .unwrap();
    let running = take(q).await.unwrap();
    assert_eq!(running.job.id, "running");

    assert_eq!(q.retry_job("broken").await.unwrap(), JobChange::Done);
    let again = q.job("broken").await.unwrap().unwrap();
    assert_eq!((again.state, again.attempts_made), (JobState::Waiting, 0));
    assert_eq!(again.finished_on, None);
    assert_eq!(q.retry_job("done").await.unwrap(), JobChange::Done);
    assert_eq!(state(q, "done").await, Some(JobState::Waiting));
    assert_eq!(
        q.retry_job("queued").await.unwrap(),
        JobChange::Refused(JobState::Waiting)
    );
    assert_eq!(q.retry_job("nope").await.unwrap(), JobChange::NotFound);

    assert_eq!(
        q.remove("running").await.unwrap(),
        JobChange::Refused(JobState::Active)
    );
    assert_eq!(state(q, "running").await, Some(JobState::Active));
    assert_eq!(
        q.complete(&running, json!(null), KEEP_ALL).await.unwrap(),
        LockOutcome::Held,
        "the refused remove left the worker's lease alone"
    );
    assert_eq!(q.remove("queued").await.unwrap(), JobChange::Done);
    assert_eq!(q.job("queued").await.unwrap(), None);
    assert_eq!(q.remove("queued").await.unwrap(), JobChange::NotFound);
    assert_eq!(q.remove("running").await.unwrap(), JobChange::Done);
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.waiting, counts.completed), (2, 0));
    // The retried jobs run again.
    let mut again = vec![take(q).await.unwrap().job.id, take(q).await.unwrap().job.id];
    again.sort();
    assert_eq!(again, ["broken", "done"]);
}

pub async fn clean_deletes_the_jobs_of_a_state_older_than_a_duration<Q: Queue>(f: Fixture<Q>) {
    let q = &f.queue;
    for id in ["c1", "c2", "w1"] {
        added(q, job(Some(id))).await;
    }
    for _ in 0..2 {
        let active = take(q).await.unwrap();
        q.complete(&active, json!(null), KEEP_ALL).await.unwrap();
    }
    assert_eq!(
        q.clean(JobState::Completed, Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "nothing finished an hour ago"
    );
    // Time must pass for the first completions to be older than the next clean's age.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut fresh = job(Some("w2"));
    fresh.opts.priority = 0;
    added(q, fresh).await;
    let recent = Duration::from_millis(15);
    assert_eq!(q.clean(JobState::Completed, recent).await.unwrap(), 2);
    assert_eq!(q.clean(JobState::Waiting, recent).await.unwrap(), 1);
    assert_eq!(q.job("c1").await.unwrap(), None);
    assert_eq!(q.job("w1").await.unwrap(), None);
    assert_eq!(state(q, "w2").await, Some(JobState::Waiting), "too young");
    assert!(matches!(
        q.clean(JobState::Active, Duration::ZERO).await,
        Err(QueueError::Invalid(_))
    ));
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.waiting, counts.completed), (1, 0));
}

pub async fn a_paused_queue_hands_out_nothing_until_resumed<Q: Queue>(f: Fixture<Q>) {
    let other = (f.open)();
    let q = Arc::new(f.queue);
    added(&*q, job(Some("before"))).await;
    added(&*q, job(Some("queued"))).await;
    let running = take(&*q).await.unwrap();
    assert!(!q.is_paused().await.unwrap());
    q.set_paused(true).await.unwrap();
    assert!(other.is_paused().await.unwrap(), "seen by another handle");
    assert!(take(&*q).await.is_none(), "paused: nothing is taken");
    assert!(
        q.take_many("paused", 5, LOCK)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    added(&*q, job(Some("while-paused"))).await;
    assert!(take(&other).await.is_none());
    assert_eq!(
        q.complete(&running, json!(null), KEEP_ALL).await.unwrap(),
        LockOutcome::Held,
        "an active job finishes"
    );
    assert_eq!(q.counts().await.unwrap().waiting, 2, "jobs stay waiting");
    let waiter = {
        let q = Arc::clone(&q);
        tokio::spawn(async move {
            let start = Instant::now();
            q.wait_for_work(Duration::from_secs(10)).await.unwrap();
            start.elapsed()
        })
    };
    // The waiter has no signal that it is waiting; give it time to start before the resume.
    tokio::time::sleep(Duration::from_millis(100)).await;
    other.set_paused(false).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .unwrap();
    assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    assert!(!q.is_paused().await.unwrap());
    assert_eq!(take(&*q).await.unwrap().job.id, "queued");
    assert_eq!(take(&*q).await.unwrap().job.id, "while-paused");
}

/// Expands to one `#[tokio::test]` per contract function, each with a fresh fixture from `$fixture`.
#[macro_export]
macro_rules! queue_contract {
    ($fixture:expr) => {
        $crate::queue_contract!(@tests $fixture;
            custom_ids_are_idempotent_in_any_state,
            fifo_within_a_priority_and_priority_order,
            delayed_jobs_wait_for_their_time,
            completion_records_the_bookkeeping,
            a_completion_can_take_the_next_job,
            failures_retry_with_backoff_then_fail_for_good,
            a_retry_without_delay_goes_back_to_waiting,
            a_stale_token_changes_nothing,
            an_expired_lease_is_recovered_and_a_job_stalling_too_often_fails,
            a_renewed_lease_is_not_recovered,
            a_released_job_runs_again_without_using_an_attempt,
            keep_policies_bound_finished_jobs,
            retry_failed_moves_failed_jobs_back,
            an_idle_waiter_wakes_on_an_add_from_another_handle,
            take_many_leases_each_job_under_its_own_token,
            concurrent_takers_never_share_a_job,
            list_shows_each_state_in_the_order_jobs_leave_it,
            one_job_can_be_retried_or_removed,
            clean_deletes_the_jobs_of_a_state_older_than_a_duration,
            a_paused_queue_hands_out_nothing_until_resumed,
        );
    };
    (@tests $fixture:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $fixture;
                contract::$name(fixture).await;
            }
        )+
    };
}
