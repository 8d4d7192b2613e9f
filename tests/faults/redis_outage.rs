//! Fault suite on Redis: users sign up through the real `svc api` (which
//! stores each user with its welcome-email job in its outbox, and relays the job to Redis) while
//! the real `svc worker` consumes the queue into its file outbox. Meanwhile Redis (persistent:
//! an append-only file fsynced on every write) is SIGKILLed and restarted; in the second case the
//! worker is also SIGKILLed every 100–600 ms. Both must end with every user created, exactly one
//! email file per user, every job completed and nothing waiting, active, delayed or failed.
//! Duplicates (an email written twice: at-least-once allows it) are counted, not forbidden.
//!
//! The default (CI) variant signs up 300 users; `SVC_FAULTS=long` (`scripts/faults.sh`) 10,000.
//! Each case prints a `FIGURE` line that `docs/RELIABILITY.md` records.

use crate::common::api::Spawn;
use crate::common::faults::{
    EmailWrites, SHORT_LEASES, SignUps, assert_one_email_per_user, emails, kill_storm, long, reruns,
};
use crate::common::redis_server::RedisServer;
use crate::common::wait::{LONG_PATIENCE, holds_within_async, wait_until_async, wait_until_within};
use crate::common::worker::Proc;

use std::future::ready;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use svc::queue::Queue;
use svc::queue::redis::{RedisConfig, RedisQueue};

/// What goes wrong during a run.
#[derive(Debug, Clone, Copy)]
struct Chaos {
    /// Times Redis is SIGKILLed and restarted, spread evenly over the sign-ups.
    redis_kills: u32,
    /// How long Redis stays down each time.
    down: Duration,
    /// SIGKILL the worker every 100–600 ms too, restarting it each time.
    worker_storm: bool,
}

fn chaos(worker_storm: bool) -> Chaos {
    Chaos {
        redis_kills: if long() { 3 } else { 1 },
        down: if long() {
            Duration::from_secs(5)
        } else {
            Duration::from_secs(2)
        },
        worker_storm,
    }
}

#[tokio::test]
async fn redis_restarted_while_users_sign_up_every_welcome_email_is_sent_once() {
    run("redis-restart", chaos(false)).await;
}

#[tokio::test]
async fn the_worker_sigkilled_again_and_again_while_redis_restarts_loses_no_email() {
    run("redis-restart-worker-kill-storm", chaos(true)).await;
}

async fn run(case: &str, chaos: Chaos) {
    let users: u64 = if long() { 10_000 } else { 300 };
    let deadline = if long() {
        Duration::from_secs(1800)
    } else {
        Duration::from_secs(120)
    };
    let redis = RedisServer::start_persistent();
    let url = redis.url();
    let app = Spawn::new().env("REDIS_URL", &url).start().await;
    let data = app.data_dir.clone();
    let outbox = data.join("outbox");
    let writes = EmailWrites::watch(&outbox);
    let mut env = vec![
        ("REDIS_URL", url.as_str()),
        ("WORKER_CONCURRENCY", "5"),
        // With the default (1, BullMQ's), a job whose worker dies twice while it runs fails for
        // good; the kill storm makes that common (see docs/RELIABILITY.md).
        ("QUEUE_MAX_STALLED", "1000"),
    ];
    env.extend_from_slice(SHORT_LEASES);

    let signups = SignUps::start(&app, users, 8);
    let started = Instant::now();

    // Redis: SIGKILLed at evenly spread points of the sign-ups, left down, restarted.
    let redis_chaos = {
        let (created, outbox) = (signups.counter(), outbox.clone());
        let mut redis = redis;
        tokio::task::spawn_blocking(move || {
            let mut outages = Vec::new();
            for round in 1..=chaos.redis_kills {
                let at = users * u64::from(round) / u64::from(chaos.redis_kills + 1);
                wait_until_within(&format!("{at} sign-ups"), deadline, || {
                    created.load(Ordering::Relaxed) >= at
                });
                let sent = emails(&outbox).0.len() as u64;
                redis.kill();
                let killed = Instant::now();
                std::thread::sleep(chaos.down);
                redis.restart();
                outages.push((sent, killed.elapsed()));
            }
            (redis, outages)
        })
    };

    // The worker: one that runs throughout, or one SIGKILLed and restarted again and again.
    let done = || signups.created() >= users && emails(&outbox).0.len() as u64 >= users;
    let (kills, steady) = if chaos.worker_storm {
        let mut storm_env = env.clone();
        storm_env.push(("LOG_LEVEL", "warn"));
        let start = || Proc::spawn(&["worker"], &data, &storm_env);
        (kill_storm(start, done, deadline).await, None)
    } else {
        let worker = Proc::spawn(&["worker"], &data, &env);
        let finished = holds_within_async(deadline, || ready(done())).await;
        assert!(
            finished,
            "not done after {:?}: {} sign-ups, {} emails",
            started.elapsed(),
            signups.created(),
            emails(&outbox).0.len()
        );
        (0, Some(worker))
    };
    let (redis, outages) = redis_chaos.await.expect("the Redis restarts");
    let ids = signups.ids().await;
    let took = started.elapsed();
    for (sent, _) in &outages {
        assert!(
            *sent < users,
            "the jobs must still be flowing when Redis dies ({sent} of {users} sent)"
        );
    }

    // A worker nobody kills finishes whatever the kills left active (its lease expires).
    let worker = steady.unwrap_or_else(|| Proc::spawn(&["worker"], &data, &env));
    let queue = RedisQueue::new(RedisConfig::for_url(&url)).expect("queue");
    let settled = holds_within_async(LONG_PATIENCE, || async {
        queue.counts().await.is_ok_and(|c| {
            c.completed >= users && c.waiting + c.active + c.delayed + c.prioritized == 0
        })
    })
    .await;
    let counts = queue.counts().await.expect("counts");
    assert!(settled, "jobs left: {counts:?}");
    assert_eq!(
        (counts.completed, counts.failed),
        (users, 0),
        "every job completed, none failed: {counts:?}"
    );

    // Every 201 is one user, and each user has exactly one email.
    assert_eq!(ids.len() as u64, users);
    let db = app.db();
    let count = |sql: &str| -> u64 {
        let n: i64 = db.query_row(sql, [], |row| row.get(0)).expect(sql);
        n.unsigned_abs()
    };
    assert_eq!(count("SELECT COUNT(*) FROM users"), users);
    wait_until_async("the API's outbox to empty", || {
        ready(count("SELECT COUNT(*) FROM api_outbox") == 0)
    })
    .await;
    let (expected, leftovers) = assert_one_email_per_user(&outbox, &ids);
    let written = writes.counts(&expected).await;
    let (rerun, max_stalled) = reruns(&queue, &ids).await;
    let api_logs = app.logs();
    let relay_retries = api_logs
        .iter()
        .filter(|l| l["msg"] == "queue unavailable; job kept in the outbox")
        .count();
    let relay_duplicates = api_logs
        .iter()
        .filter(|l| l["msg"] == "job enqueued" && l["duplicate"] == true)
        .count();
    let worker_outages = worker.logs_with("queue store unavailable", None).len();
    if !chaos.worker_storm {
        assert!(worker_outages >= 1, "the worker never saw Redis go");
    }
    drop(worker);
    drop(redis);
    let downs: Vec<String> = outages
        .iter()
        .map(|(_, down)| format!("{:.1} s", down.as_secs_f64()))
        .collect();
    eprintln!(
        "FIGURE service {case}: {users} sign-ups through the API (all 201, {users} users stored) over {:.1} s, 8 clients; Redis SIGKILLed and restarted {} time(s), down {} (persistent, appendfsync always); worker SIGKILLed {kills} times; {users} jobs completed, 0 failed, 0 waiting/active/delayed, 0 lost; exactly one .eml per user ({leftovers} temp files left by killed writes); {} emails written more than once ({} writes for {users} emails, at most {} of one), {rerun} jobs started more than once, most stalls of one job {max_stalled}; the API's relay kept {relay_retries} adds in its outbox while Redis was down and {relay_duplicates} re-adds were no-ops (custom job id)",
        took.as_secs_f64(),
        outages.len(),
        downs.join(", "),
        written.rewritten,
        written.writes,
        written.most,
    );
}
