//! Redis-specific behaviour of the queue beyond the backend-neutral contract: the bytes BullMQ
//! readers depend on (hash fields, scores, event stream and its trimming), the blocking idle wait
//! outliving the redis crate's 500 ms default response timeout, and keep policies from job options.

use crate::common::redis_server;

use std::time::{Duration, Instant};

use redis_server::{RedisServer, field};
use serde_json::json;
use svc::queue::redis::{RedisConfig, RedisQueue};
use svc::queue::{Added, Fetch, JobOptions, KeepPolicy, NewJob, Queue};

fn queue(server: &RedisServer) -> RedisQueue {
    RedisQueue::new(RedisConfig::for_url(&server.url())).expect("queue")
}

fn job(id: &str, opts: JobOptions) -> NewJob {
    NewJob {
        name: "welcome-email".into(),
        data: json!({"userId": "1", "email": "a@example.com", "name": "A"}),
        opts: JobOptions {
            job_id: Some(id.into()),
            ..opts
        },
    }
}

fn zscore(server: &RedisServer, key: &str, member: &str) -> Option<f64> {
    redis::cmd("ZSCORE")
        .arg(key)
        .arg(member)
        .query(&mut server.conn())
        .expect("ZSCORE")
}

#[tokio::test]
async fn an_added_job_is_stored_the_way_bullmq_stores_it() {
    let server = RedisServer::start();
    let q = queue(&server);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    q.add(job("plain", JobOptions::default())).await.unwrap();
    let delayed = JobOptions {
        delay: Duration::from_secs(60),
        ..JobOptions::default()
    };
    q.add(job("later", delayed)).await.unwrap();
    let prio = JobOptions {
        priority: 3,
        ..JobOptions::default()
    };
    q.add(job("prio", prio)).await.unwrap();

    let hash = |f: &str| server.hget("bull:email-queue:plain", f);
    assert_eq!(hash("name").as_deref(), Some("welcome-email"));
    assert_eq!(hash("delay").as_deref(), Some("0"));
    assert_eq!(hash("priority").as_deref(), Some("0"));
    let opts: serde_json::Value = serde_json::from_str(&hash("opts").unwrap()).unwrap();
    assert_eq!(opts["jobId"], "plain");
    assert!(hash("timestamp").unwrap().parse::<f64>().unwrap() >= before);
    // Delayed: score = due ms · 4096 + sequence; the marker's "1" member holds the due time.
    let score = zscore(&server, "bull:email-queue:delayed", "later").unwrap();
    let due = (score / 4096.0).floor();
    assert!(
        due >= before + 60_000.0 && due < before + 70_000.0,
        "due {due}"
    );
    assert_eq!(zscore(&server, "bull:email-queue:marker", "1"), Some(due));
    // Prioritized: score = priority · 2^32 + counter.
    let score = zscore(&server, "bull:email-queue:prioritized", "prio").unwrap();
    assert_eq!(score, 3.0 * 4_294_967_296.0 + 1.0);
    assert_eq!(
        server
            .hget("bull:email-queue:meta", "opts.maxLenEvents")
            .as_deref(),
        Some("10000")
    );
    let added = server.events_named("bull", "added", Some("plain"));
    assert_eq!(field(&added[0], "name"), Some("welcome-email"));
    assert_eq!(
        server.events_named("bull", "delayed", Some("later")).len(),
        1
    );
}

#[tokio::test]
async fn the_event_stream_is_trimmed_to_about_max_len_events() {
    let server = RedisServer::start();
    let q = queue(&server);
    redis::cmd("HSET")
        .arg("bull:email-queue:meta")
        .arg("opts.maxLenEvents")
        .arg(100)
        .query::<()>(&mut server.conn())
        .unwrap();
    for i in 0..600 {
        q.add(job(&format!("j{i}"), JobOptions::default()))
            .await
            .unwrap();
    }
    let len: u64 = redis::cmd("XLEN")
        .arg("bull:email-queue:events")
        .query(&mut server.conn())
        .unwrap();
    // MAXLEN ~ trims whole stream nodes (100 entries each), so a little over the cap remains.
    assert!(
        (100..=250).contains(&len),
        "{len} entries kept of 1200 written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_wait_blocks_past_half_a_second_and_wakes_on_an_add() {
    let server = RedisServer::start();
    let q = queue(&server);
    assert!(matches!(
        q.take("t", Duration::from_secs(30)).await.unwrap(),
        Fetch::Empty { .. }
    ));
    // Nothing comes: the blocking wait lasts its whole timeout, well past the redis crate's
    // 500 ms default response timeout, and ends without an error.
    let start = Instant::now();
    q.wait_for_work(Duration::from_millis(1500)).await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "returned after {waited:?}"
    );
    // An add from another handle 1 s into a 10 s wait wakes the waiter.
    let other = queue(&server);
    let adder = tokio::spawn(async move {
        // The test: an add 1 s into the wait wakes it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        other.add(job("wake", JobOptions::default())).await.unwrap()
    });
    let start = Instant::now();
    q.wait_for_work(Duration::from_secs(10)).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(adder.await.unwrap(), Added::New("wake".into()));
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "woke after {waited:?}"
    );
}

#[tokio::test]
async fn a_job_s_own_keep_policy_is_stored_for_node_and_read_back() {
    let server = RedisServer::start();
    let q = queue(&server);
    let opts = JobOptions {
        remove_on_complete: Some(KeepPolicy::NONE),
        remove_on_fail: Some(KeepPolicy {
            count: Some(10),
            age: Some(Duration::from_secs(3600)),
        }),
        lifo: true,
        ..JobOptions::default()
    };
    q.add(job("keep", opts.clone())).await.unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(&server.hget("bull:email-queue:keep", "opts").unwrap()).unwrap();
    assert_eq!(stored["removeOnComplete"], true);
    assert_eq!(stored["removeOnFail"], json!({"age": 3600, "count": 10}));
    assert_eq!(stored["lifo"], true);
    let Fetch::Job(active) = q.take("t", Duration::from_secs(30)).await.unwrap() else {
        panic!("no job")
    };
    assert_eq!(active.job.opts.remove_on_complete, Some(KeepPolicy::NONE));
    let keep = active.job.opts.keep_completed(KeepPolicy::ALL);
    q.complete(&active, json!(null), keep).await.unwrap();
    assert!(
        q.job("keep").await.unwrap().is_none(),
        "removed on completion"
    );
    assert_eq!(
        server.events_named("bull", "completed", Some("keep")).len(),
        1
    );
}

#[tokio::test]
async fn a_batch_take_fails_a_deferred_failure_unrun_and_hands_out_the_others() {
    let server = RedisServer::start();
    let q = queue(&server);
    for id in ["a", "b", "c"] {
        q.add(job(id, JobOptions::default())).await.unwrap();
    }
    redis::cmd("HSET")
        .arg("bull:email-queue:b")
        .arg("defa")
        .arg("job stalled more than allowable limit")
        .query::<()>(&mut server.conn())
        .unwrap();
    let taken = q
        .take_many("w:1", 3, Duration::from_secs(30))
        .await
        .unwrap();
    let ids: Vec<&str> = taken.jobs.iter().map(|j| j.job.id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    let mut tokens: Vec<&str> = taken.jobs.iter().map(|j| j.token.as_str()).collect();
    assert!(tokens.iter().all(|t| t.starts_with("w:1:")), "{tokens:?}");
    tokens.dedup();
    assert_eq!(tokens.len(), 2);
    let b = q.job("b").await.unwrap().unwrap();
    assert_eq!(b.state, svc::queue::JobState::Failed);
    assert_eq!(
        b.failed_reason.as_deref(),
        Some("job stalled more than allowable limit")
    );
    assert_eq!(
        server.hget("bull:email-queue:b", "defa"),
        None,
        "cleared once failed"
    );
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.active, counts.failed, counts.waiting), (2, 1, 0));
}

#[tokio::test]
async fn a_completion_fetches_the_next_job_in_the_same_call() {
    let server = RedisServer::start();
    let q = queue(&server);
    for id in ["one", "two"] {
        q.add(job(id, JobOptions::default())).await.unwrap();
    }
    let Fetch::Job(one) = q.take("t1", Duration::from_secs(30)).await.unwrap() else {
        panic!("no job")
    };
    let (outcome, next) = q
        .complete_and_take(
            &one,
            json!("ok"),
            KeepPolicy::ALL,
            "t2",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(outcome, svc::queue::LockOutcome::Held);
    let Some(Fetch::Job(two)) = next else {
        panic!("expected the next job, got {next:?}")
    };
    assert_eq!((two.job.id.as_str(), two.token.as_str()), ("two", "t2"));
    let lock: Option<String> = redis::cmd("GET")
        .arg("bull:email-queue:two:lock")
        .query(&mut server.conn())
        .unwrap();
    assert_eq!(lock.as_deref(), Some("t2"));
    let (_, next) = q
        .complete_and_take(
            &two,
            json!("ok"),
            KeepPolicy::ALL,
            "t3",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(
        matches!(next, Some(Fetch::Empty { next_due: None })),
        "{next:?}"
    );
    assert_eq!(server.events_named("bull", "drained", None).len(), 1);
}
