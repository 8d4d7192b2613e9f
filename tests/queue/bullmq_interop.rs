//! svc and Node BullMQ on one Redis queue: Node's `Queue.add` feeding `svc worker`, svc's
//! producers (`svc queue add`, the queue API) feeding the peer's Node `Worker`, jobs held by a
//! killed worker of either kind recovered by the other, and `svc queue status` agreeing with
//! BullMQ's `getJobCounts`. Every test runs its own `redis-server`; the Node side is the real
//! BullMQ 6.x peer (`../shared/peers/bullmq`), read back through its `inspect.js`/`events.js`.

use crate::common::redis_server;
use crate::common::wait::{PATIENCE, wait_until};
use crate::common::worker;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use nix::sys::signal::Signal;
use redis_server::{Node, RedisServer, field, inspect, node_add, node_peer, node_run};
use serde_json::{Value, json};
use svc::queue::jobs::{JobOrigin, WelcomeEmail};
use svc::queue::redis::{RedisConfig, RedisQueue};
use svc::queue::{Added, Fetch, KeepPolicy, Queue, Retry};
use worker::smtp::{Mode, TestSmtp};
use worker::{DataDir, Proc, runtime, secs_between, time_of, welcome_data};

const PREFIX: &str = "bull";

/// `svc worker` on the test's Redis.
fn svc_worker(dir: &DataDir, redis: &RedisServer, env: &[(&str, &str)]) -> Proc {
    let url = redis.url();
    let mut all = vec![("REDIS_URL", url.as_str()), ("QUEUE_PREFIX", PREFIX)];
    all.extend_from_slice(env);
    Proc::spawn(&["worker"], dir.path(), &all)
}

/// `svc queue ARGS` on the test's Redis.
fn svc_queue(dir: &DataDir, redis: &RedisServer, args: &[&str]) -> Output {
    std::process::Command::new(worker::SVC)
        .arg("queue")
        .args(args)
        .env("DATA_DIR", dir.path())
        .env("REDIS_URL", redis.url())
        .env("QUEUE_PREFIX", PREFIX)
        .output()
        .expect("run svc queue")
}

fn svc_add(dir: &DataDir, redis: &RedisServer, args: &[&str]) -> String {
    let mut all = vec!["add"];
    all.extend_from_slice(args);
    let out = svc_queue(dir, redis, &all);
    assert!(
        out.status.success(),
        "svc queue add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn welcome(user: &str) -> Value {
    serde_json::from_str(&welcome_data(user, &format!("req-{user}"))).expect("welcome data")
}

/// The Node app's options: 3 attempts, exponential backoff from 1 s, a custom id.
fn node_app_opts(job_id: &str, backoff_ms: u64) -> Value {
    json!({"attempts": 3, "backoff": {"type": "exponential", "delay": backoff_ms}, "jobId": job_id})
}

/// The peer's worker, with short work and the given extra settings.
fn node_worker(peer: &Path, redis: &RedisServer, env: &[(&str, &str)]) -> Node {
    let mut all = vec![("WORK_MS", "20")];
    all.extend_from_slice(env);
    Node::spawn(peer, &peer.join("worker.js"), &[], redis, PREFIX, &all)
}

/// Seconds between the timestamps (ISO, first word) of two peer log lines.
fn node_gap(a: &str, b: &str) -> f64 {
    let t = |line: &str| {
        humantime::parse_rfc3339(line.split_whitespace().next().expect("timestamp"))
            .expect("ISO timestamp")
    };
    secs_between(t(a), t(b))
}

/// The events Node's `QueueEvents` decodes from the whole stream: `(event, args JSON)`.
fn node_events(peer: &Path, redis: &RedisServer) -> Vec<(String, Value)> {
    let mut events = Node::spawn(
        peer,
        &peer.join("events.js"),
        &[],
        redis,
        PREFIX,
        &[("FROM_START", "1"), ("EVENTS_MS", "1500")],
    );
    events.wait_exit(PATIENCE);
    events
        .lines()
        .iter()
        .filter_map(|line| {
            let rest = &line[line.find(" event ")? + 7..];
            let (name, rest) = rest.split_once(' ')?;
            let json = &rest[rest.find(' ')? + 1..];
            Some((
                name.to_owned(),
                serde_json::from_str(json).unwrap_or(Value::Null),
            ))
        })
        .collect()
}

fn redis_queue(redis: &RedisServer) -> RedisQueue {
    RedisQueue::new(RedisConfig::for_url(&redis.url())).expect("queue")
}

// ---- Node producer -> svc worker ----------------------------------------------------------

#[test]
fn node_job_failing_twice_then_succeeding_in_svc_worker_retries_after_1s_then_2s() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    // A regular file where the outbox folder should be: writing the email fails for real.
    std::fs::write(dir.outbox(), "in the way").unwrap();
    let ids = node_add(
        &peer,
        &redis,
        PREFIX,
        &[(
            "welcome-email",
            welcome("1"),
            node_app_opts("welcome-1", 1000),
        )],
    );
    assert_eq!(ids, ["welcome-1"]);
    let worker = svc_worker(&dir, &redis, &[]);
    let failed = worker.wait_for_log("job attempt failed", Some("welcome-1"), 2, PATIENCE);
    assert_eq!(failed[1]["attempt"], 2);
    std::fs::remove_file(dir.outbox()).unwrap();
    let done = worker.wait_for_log("job completed", Some("welcome-1"), 1, PATIENCE);
    assert_eq!(done[0]["attempt"], 3);
    assert_eq!(done[0]["requestId"], "req-1");

    let starts = worker.logs_with("job started", Some("welcome-1"));
    assert_eq!(starts.len(), 3, "{}", worker.dump());
    let gap1 = secs_between(time_of(&starts[0]), time_of(&starts[1]));
    let gap2 = secs_between(time_of(&starts[1]), time_of(&starts[2]));
    assert!(
        (0.9..2.5).contains(&gap1),
        "first backoff gap {gap1}s, expected ~1s"
    );
    assert!(
        (1.9..3.5).contains(&gap2),
        "second backoff gap {gap2}s, expected ~2s"
    );

    // As Node's BullMQ reads it.
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-1"]);
    let job = seen.job("welcome-1");
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(
        (
            job["attemptsMade"].as_u64(),
            job["attemptsStarted"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(job["returnvalue"]["transport"], "file", "{job}");
    assert!(
        job["failedReason"].as_str().unwrap().contains("outbox"),
        "{job}"
    );
    assert_eq!(job["stacktraceLen"], 2);
    assert!(job["processedOn"].as_u64() <= job["finishedOn"].as_u64());
    let events = node_events(&peer, &redis);
    let delayed = events
        .iter()
        .filter(|(e, a)| e == "delayed" && a["jobId"] == "welcome-1")
        .count();
    assert_eq!(delayed, 2, "{events:?}");
    let completed: Vec<_> = events.iter().filter(|(e, _)| e == "completed").collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].1["returnvalue"]["transport"], "file");
    assert_eq!(dir.emails().len(), 1);
}

#[test]
fn node_backoff_jitter_spreads_the_svc_workers_retries() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    std::fs::write(dir.outbox(), "in the way").unwrap();
    // Eight jobs that fail once together: without jitter each would wait exactly 2 s; with
    // jitter 0.9 each waits somewhere in [0.2 s, 2 s].
    let jobs: Vec<(&str, Value, Value)> = (0..8)
        .map(|n| {
            let id = format!("welcome-j{n}");
            let opts = json!({"attempts": 2, "jobId": id,
                              "backoff": {"type": "fixed", "delay": 2000, "jitter": 0.9}});
            ("welcome-email", welcome(&format!("j{n}")), opts)
        })
        .collect();
    node_add(&peer, &redis, PREFIX, &jobs);
    let worker = svc_worker(&dir, &redis, &[("WORKER_CONCURRENCY", "8")]);
    for n in 0..8 {
        worker.wait_for_log(
            "job attempt failed",
            Some(&format!("welcome-j{n}")),
            1,
            PATIENCE,
        );
    }
    std::fs::remove_file(dir.outbox()).unwrap();
    let mut gaps = Vec::new();
    for n in 0..8 {
        let id = format!("welcome-j{n}");
        worker.wait_for_log("job completed", Some(&id), 1, PATIENCE);
        let starts = worker.logs_with("job started", Some(&id));
        assert_eq!(starts.len(), 2, "{}", worker.dump());
        gaps.push(secs_between(time_of(&starts[0]), time_of(&starts[1])));
    }
    assert!(gaps.iter().all(|g| (0.1..2.6).contains(g)), "{gaps:?}");
    // The chance that eight uniform draws all land in the top tenth is 1e-8.
    assert!(gaps.iter().any(|g| *g < 1.8), "no jitter: {gaps:?}");
    // Node still reads the option svc kept.
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-j0"]);
    assert_eq!(seen.job("welcome-j0")["opts"]["backoff"]["jitter"], 0.9);
}

#[test]
fn node_job_that_always_fails_ends_failed_after_3_with_retries_exhausted() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    std::fs::write(dir.outbox(), "in the way").unwrap();
    node_add(
        &peer,
        &redis,
        PREFIX,
        &[(
            "welcome-email",
            welcome("2"),
            node_app_opts("welcome-2", 200),
        )],
    );
    let worker = svc_worker(&dir, &redis, &[]);
    worker.wait_for_log("retries exhausted", Some("welcome-2"), 1, PATIENCE);
    let exhausted = redis.events_named(PREFIX, "retries-exhausted", Some("welcome-2"));
    assert_eq!(exhausted.len(), 1);
    assert_eq!(field(&exhausted[0], "attemptsMade"), Some("3"));
    let failed = redis.events_named(PREFIX, "failed", Some("welcome-2"));
    assert_eq!(failed.len(), 1, "one failed event, not one per attempt");
    assert!(
        field(&failed[0], "failedReason")
            .unwrap()
            .contains("outbox")
    );

    let seen = inspect(&peer, &redis, PREFIX, &["welcome-2"]);
    let job = seen.job("welcome-2");
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attemptsMade"], 3);
    assert!(job["failedReason"].as_str().unwrap().contains("outbox"));
    assert_eq!(seen.counts["failed"], 1);
    let events = node_events(&peer, &redis);
    assert!(
        events
            .iter()
            .any(|(e, a)| e == "retries-exhausted" && a["jobId"] == "welcome-2"),
        "{events:?}"
    );
}

#[test]
fn a_duplicate_node_job_id_runs_once_in_svc_worker() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let opts = json!({"jobId": "welcome-3"});
    let ids = node_add(
        &peer,
        &redis,
        PREFIX,
        &[
            ("welcome-email", welcome("3"), opts.clone()),
            ("welcome-email", welcome("3"), opts.clone()),
        ],
    );
    assert_eq!(ids, ["welcome-3", "welcome-3"]);
    let worker = svc_worker(&dir, &redis, &[]);
    worker.wait_for_log("job completed", Some("welcome-3"), 1, PATIENCE);
    // Again after it completed: still the same job; a later job shows the worker kept going.
    node_add(
        &peer,
        &redis,
        PREFIX,
        &[
            ("welcome-email", welcome("3"), opts),
            ("welcome-email", welcome("4"), json!({"jobId": "welcome-4"})),
        ],
    );
    worker.wait_for_log("job completed", Some("welcome-4"), 1, PATIENCE);
    assert_eq!(worker.logs_with("job started", Some("welcome-3")).len(), 1);
    assert_eq!(
        redis
            .events_named(PREFIX, "duplicated", Some("welcome-3"))
            .len(),
        2
    );
    assert_eq!(dir.emails().len(), 2);
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-3"]);
    assert_eq!(seen.job("welcome-3")["attemptsStarted"], 1);
}

#[test]
fn node_delayed_and_prioritized_jobs_run_in_order_in_svc_worker() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let ids = node_add(
        &peer,
        &redis,
        PREFIX,
        &[
            (
                "welcome-email",
                welcome("10"),
                json!({"delay": 1500, "jobId": "later"}),
            ),
            (
                "welcome-email",
                welcome("11"),
                json!({"priority": 2, "jobId": "prio-2"}),
            ),
            (
                "welcome-email",
                welcome("12"),
                json!({"priority": 1, "jobId": "prio-1"}),
            ),
            ("welcome-email", welcome("13"), json!({"jobId": "plain"})),
        ],
    );
    assert_eq!(ids.len(), 4);
    let worker = svc_worker(&dir, &redis, &[("WORKER_CONCURRENCY", "1")]);
    worker.wait_for_log("job completed", Some("later"), 1, PATIENCE);
    let order: Vec<String> = worker
        .logs_with("job started", None)
        .iter()
        .map(|l| l["jobId"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(order, ["plain", "prio-1", "prio-2", "later"]);
    let seen = inspect(&peer, &redis, PREFIX, &["later"]);
    let later = seen.job("later");
    let waited = later["processedOn"].as_u64().unwrap() - later["timestamp"].as_u64().unwrap();
    assert!(waited >= 1500, "the delayed job ran after {waited} ms");
    assert_eq!(later["state"], "completed");
}

// ---- svc producer -> Node worker ----------------------------------------------------------

#[test]
fn svc_job_failing_twice_in_node_worker_succeeds_after_1s_then_2s() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let out = svc_add(
        &dir,
        &redis,
        &[
            "welcome-email",
            "--data",
            &welcome_data("20", "req-20"),
            "--job-id",
            "welcome-20",
            "--attempts",
            "3",
            "--backoff",
            "exponential:1s",
        ],
    );
    assert!(out.contains("added job welcome-20"), "{out}");
    let worker = node_worker(&peer, &redis, &[("FAIL_FIRST", "2")]);
    worker.wait_for_line("completed id=welcome-20", 1, PATIENCE);
    let runs = worker.lines_with("process id=welcome-20");
    assert_eq!(runs.len(), 3, "{runs:?}");
    let (gap1, gap2) = (node_gap(&runs[0], &runs[1]), node_gap(&runs[1], &runs[2]));
    assert!(
        (0.9..2.5).contains(&gap1),
        "first backoff gap {gap1}s, expected ~1s"
    );
    assert!(
        (1.9..3.5).contains(&gap2),
        "second backoff gap {gap2}s, expected ~2s"
    );
    assert!(runs[2].contains("attemptsMade=2"), "{}", runs[2]);

    let seen = inspect(&peer, &redis, PREFIX, &["welcome-20"]);
    let job = seen.job("welcome-20");
    assert_eq!(job["state"], "completed");
    assert_eq!(job["name"], "welcome-email");
    assert_eq!(job["data"]["userId"], "20");
    assert_eq!(job["opts"]["backoff"]["type"], "exponential");
    assert_eq!(job["attemptsMade"], 3);
    assert_eq!(job["returnvalue"]["sent"], true);
    assert_eq!(job["failedReason"], "transient SMTP failure (attempt 2)");
    // svc reads Node's bookkeeping back the same way.
    let record = runtime()
        .block_on(redis_queue(&redis).job("welcome-20"))
        .unwrap()
        .unwrap();
    assert_eq!((record.attempts_made, record.attempts_started), (3, 3));
    assert_eq!(record.returnvalue.unwrap()["sent"], true);
}

#[test]
fn svc_job_that_always_fails_in_node_worker_ends_failed_with_retries_exhausted() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let mut data = welcome("21");
    data["alwaysFail"] = json!(true);
    svc_add(
        &dir,
        &redis,
        &[
            "welcome-email",
            "--data",
            &data.to_string(),
            "--job-id",
            "welcome-21",
            "--attempts",
            "3",
            "--backoff",
            "exponential:200ms",
        ],
    );
    let worker = node_worker(&peer, &redis, &[]);
    worker.wait_for_line(
        "failed id=welcome-21 attemptsMade=3 final=true",
        1,
        PATIENCE,
    );
    let exhausted = redis.events_named(PREFIX, "retries-exhausted", Some("welcome-21"));
    assert_eq!(exhausted.len(), 1);
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-21"]);
    let job = seen.job("welcome-21");
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attemptsMade"], 3);
    assert!(
        job["failedReason"]
            .as_str()
            .unwrap()
            .starts_with("permanent failure")
    );
    let status = svc_queue(&dir, &redis, &["status", "--json"]);
    let counts: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(counts["failed"], 1);
}

#[test]
fn a_duplicate_svc_job_id_runs_once_in_node_worker_including_adds_through_the_queue_api() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let data = welcome_data("22", "req-22");
    svc_add(
        &dir,
        &redis,
        &["welcome-email", "--data", &data, "--job-id", "welcome-22"],
    );
    let again = svc_add(
        &dir,
        &redis,
        &["welcome-email", "--data", &data, "--job-id", "welcome-22"],
    );
    assert!(again.contains("already exists"), "{again}");
    // The queue API the HTTP API uses: the welcome email of user 22 is the same job.
    let queue = redis_queue(&redis);
    let mail = WelcomeEmail {
        user_id: "22".into(),
        email: "user22@example.com".into(),
        name: "User 22".into(),
        origin: JobOrigin::default(),
    };
    let rt = runtime();
    assert_eq!(
        rt.block_on(queue.add(mail.job())).unwrap(),
        Added::Duplicate("welcome-22".into())
    );
    let other = WelcomeEmail {
        user_id: "23".into(),
        ..mail
    };
    assert_eq!(
        rt.block_on(queue.add(other.job())).unwrap(),
        Added::New("welcome-23".into())
    );

    let worker = node_worker(&peer, &redis, &[("FAIL_FIRST", "0")]);
    worker.wait_for_line("completed id=welcome-23", 1, PATIENCE);
    worker.wait_for_line("completed id=welcome-22", 1, PATIENCE);
    assert_eq!(worker.lines_with("process id=welcome-22").len(), 1);
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-22", "welcome-23"]);
    assert_eq!(seen.job("welcome-23")["opts"]["attempts"], 3);
    assert_eq!(seen.job("welcome-22")["state"], "completed");
}

#[test]
fn svc_delayed_and_prioritized_jobs_run_in_order_in_node_worker() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let add = |user: &str, id: &str, extra: &[&str]| {
        let data = welcome_data(user, "r");
        let mut args = vec!["welcome-email", "--data", &data, "--job-id", id];
        args.extend_from_slice(extra);
        svc_add(&dir, &redis, &args);
    };
    add("30", "later", &["--delay", "1500ms"]);
    add("31", "prio-2", &["--priority", "2"]);
    add("32", "prio-1", &["--priority", "1"]);
    add("33", "plain", &[]);
    add("34", "lifo", &["--lifo"]);
    let counts: Value =
        serde_json::from_slice(&svc_queue(&dir, &redis, &["status", "--json"]).stdout).unwrap();
    assert_eq!(
        (counts["waiting"].as_u64(), counts["prioritized"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(counts["delayed"], 1);
    let worker = node_worker(&peer, &redis, &[("CONCURRENCY", "1"), ("FAIL_FIRST", "0")]);
    worker.wait_for_line("completed id=later", 1, PATIENCE);
    let order: Vec<String> = worker
        .lines_with("process id=")
        .iter()
        .filter_map(|l| {
            l.split("process id=")
                .nth(1)?
                .split(' ')
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(order, ["lifo", "plain", "prio-1", "prio-2", "later"]);
    let seen = inspect(&peer, &redis, PREFIX, &["later"]);
    let later = seen.job("later");
    let waited = later["processedOn"].as_u64().unwrap() - later["timestamp"].as_u64().unwrap();
    assert!(waited >= 1500, "the delayed job ran after {waited} ms");
}

// ---- crashes ------------------------------------------------------------------------------

#[test]
fn a_job_held_by_a_crashed_node_worker_is_recovered_by_svc_worker_and_mailed_once() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    svc_add(
        &dir,
        &redis,
        &[
            "welcome-email",
            "--data",
            &welcome_data("40", "req-40"),
            "--job-id",
            "welcome-40",
            "--attempts",
            "3",
        ],
    );
    // The stalled-check guard's TTL is the interval of whichever worker set it last: every
    // worker on a queue must use the same interval (BULLMQ-PROTOCOL.md §6).
    let mut crashing = node_worker(
        &peer,
        &redis,
        &[("CRASH", "1"), ("LOCK_MS", "1000"), ("STALLED_MS", "300")],
    );
    crashing.wait_for_line("process id=welcome-40", 1, PATIENCE);
    assert!(
        !crashing.wait_exit(PATIENCE).success(),
        "CRASH=1 exits with an error"
    );
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-40"]);
    assert_eq!(
        seen.job("welcome-40")["state"],
        "active",
        "left active by the crash"
    );

    let worker = svc_worker(
        &dir,
        &redis,
        &[
            ("QUEUE_LOCK_MS", "1000"),
            ("QUEUE_STALLED_INTERVAL_MS", "300"),
        ],
    );
    worker.wait_for_log("stalled job recovered", Some("welcome-40"), 1, PATIENCE);
    worker.wait_for_log("job completed", Some("welcome-40"), 1, PATIENCE);
    assert_eq!(dir.emails(), vec![dir.outbox().join("welcome-40.eml")]);
    assert_eq!(
        redis
            .events_named(PREFIX, "stalled", Some("welcome-40"))
            .len(),
        1
    );
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-40"]);
    let job = seen.job("welcome-40");
    assert_eq!(
        (job["state"].as_str(), job["attemptsStarted"].as_u64()),
        (Some("completed"), Some(2))
    );
    assert_eq!(
        redis.hget("bull:email-queue:welcome-40", "stc").as_deref(),
        Some("1")
    );
}

#[test]
fn a_job_held_by_a_killed_svc_worker_is_recovered_by_a_node_worker() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let hung = TestSmtp::start(Mode::Silent);
    svc_add(
        &dir,
        &redis,
        &[
            "welcome-email",
            "--data",
            &welcome_data("41", "req-41"),
            "--job-id",
            "welcome-41",
            "--attempts",
            "3",
        ],
    );
    let mut svc = svc_worker(
        &dir,
        &redis,
        &[
            ("QUEUE_LOCK_MS", "1000"),
            ("QUEUE_STALLED_INTERVAL_MS", "300"),
            ("SMTP_URL", &hung.url()),
        ],
    );
    svc.wait_for_log("job started", Some("welcome-41"), 1, PATIENCE);
    svc.signal(Signal::SIGKILL);
    svc.wait_exit(PATIENCE);

    let node = node_worker(
        &peer,
        &redis,
        &[
            ("LOCK_MS", "1000"),
            ("STALLED_MS", "300"),
            ("FAIL_FIRST", "0"),
        ],
    );
    node.wait_for_line("stalled id=welcome-41", 1, PATIENCE);
    node.wait_for_line("completed id=welcome-41", 1, PATIENCE);
    assert_eq!(node.lines_with("process id=welcome-41").len(), 1);
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-41"]);
    let job = seen.job("welcome-41");
    assert_eq!(job["state"], "completed");
    assert_eq!(job["attemptsStarted"], 2);
    assert!(
        dir.emails().is_empty(),
        "the killed svc worker never wrote an email"
    );
}

// ---- counts -------------------------------------------------------------------------------

#[test]
fn svc_queue_status_shows_the_counts_bullmq_get_job_counts_gives() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let out = node_run(&peer, &peer.join("producer.js"), &["all"], &redis, PREFIX);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"scenario\":\"lifo\""));
    // Give some jobs other states through the library: one active, one completed, one failed.
    let queue = redis_queue(&redis);
    let rt = runtime();
    let mut taken = Vec::new();
    for _ in 0..3 {
        match rt
            .block_on(queue.take("status-test", Duration::from_secs(60)))
            .unwrap()
        {
            Fetch::Job(job) => taken.push(*job),
            Fetch::Empty { .. } => panic!("no job to take"),
        }
    }
    rt.block_on(queue.complete(&taken[0], json!({"ok": true}), KeepPolicy::ALL))
        .unwrap();
    rt.block_on(queue.fail(&taken[1], "boom", Retry::Never, KeepPolicy::ALL))
        .unwrap();

    let status = svc_queue(&dir, &redis, &["status", "--json"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let ours: Value = serde_json::from_slice(&status.stdout).unwrap();
    let theirs = inspect(&peer, &redis, PREFIX, &[]).counts;
    for (svc_name, bullmq_name) in [
        ("waiting", "wait"),
        ("active", "active"),
        ("delayed", "delayed"),
        ("prioritized", "prioritized"),
        ("completed", "completed"),
        ("failed", "failed"),
    ] {
        assert_eq!(
            ours[svc_name], theirs[bullmq_name],
            "{svc_name}: {ours} vs {theirs}"
        );
    }
    assert_eq!(ours["active"], 1);
    let table = svc_queue(&dir, &redis, &["status"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("prioritized"));
}

// ---- a mixed fleet ------------------------------------------------------------------------

#[test]
fn svc_and_node_workers_sharing_the_queue_run_each_job_exactly_once() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let queue = redis_queue(&redis);
    let rt = runtime();
    let node = node_worker(
        &peer,
        &redis,
        &[("CONCURRENCY", "5"), ("FAIL_FIRST", "0"), ("WORK_MS", "5")],
    );
    let svc = svc_worker(&dir, &redis, &[("WORKER_CONCURRENCY", "5")]);
    // Both are idle on the queue once their blocking connections are named (BullMQ's getWorkers).
    wait_until("both workers connected", || {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut redis.conn())
            .unwrap_or_default();
        [
            "name=bull:ZW1haWwtcXVldWU=:w:node-peer",
            "name=bull:ZW1haWwtcXVldWU=:w:svc",
        ]
        .iter()
        .all(|name| clients.contains(name))
    });
    let total = 200;
    for user in 0..total {
        let mail = WelcomeEmail {
            user_id: user.to_string(),
            email: format!("user{user}@example.com"),
            name: format!("User {user}"),
            origin: JobOrigin::default(),
        };
        rt.block_on(queue.add(mail.job())).unwrap();
    }
    wait_until("every job completed", || {
        rt.block_on(queue.counts())
            .is_ok_and(|c| c.completed == total as u64)
    });
    let completed_by = |node: &Node, svc: &Proc| -> (Vec<String>, Vec<String>) {
        let by_node = node
            .lines_with("completed id=")
            .iter()
            .filter_map(|l| {
                l.split("completed id=")
                    .nth(1)?
                    .split(' ')
                    .next()
                    .map(str::to_owned)
            })
            .collect();
        let by_svc = svc
            .logs_with("job completed", None)
            .iter()
            .filter_map(|l| l["jobId"].as_str().map(str::to_owned))
            .collect();
        (by_node, by_svc)
    };
    // The workers log a completion just after Redis recorded it.
    wait_until("every completion logged", || {
        let (a, b) = completed_by(&node, &svc);
        a.len() + b.len() >= total
    });
    let (by_node, by_svc) = completed_by(&node, &svc);
    let mut all: Vec<&String> = by_node.iter().chain(&by_svc).collect();
    all.sort();
    all.dedup();
    assert_eq!(by_node.len() + by_svc.len(), total, "each job ran once");
    assert_eq!(all.len(), total, "no job ran twice");
    assert!(
        !by_node.is_empty() && !by_svc.is_empty(),
        "both workers took part"
    );
    assert_eq!(
        dir.emails().len(),
        by_svc.len(),
        "svc mailed the jobs it ran"
    );
}

// ---- stalled too often, keep policies -----------------------------------------------------

#[test]
fn a_job_svc_finds_stalled_too_often_is_failed_unrun_by_a_node_worker() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    svc_add(
        &dir,
        &redis,
        &[
            "welcome-email",
            "--data",
            &welcome_data("50", "r"),
            "--job-id",
            "welcome-50",
            "--attempts",
            "3",
        ],
    );
    let mut config = RedisConfig::for_url(&redis.url());
    config.stalled_interval = Duration::from_millis(50);
    let queue = RedisQueue::new(config).unwrap();
    let rt = runtime();
    // A holder that vanishes: its 100 ms lease is never renewed.
    let Fetch::Job(_) = rt
        .block_on(queue.take("gone", Duration::from_millis(100)))
        .unwrap()
    else {
        panic!("no job")
    };
    // With no stall allowed, svc's two-phase check marks it `defa` and puts it back in wait.
    let mut failing = Vec::new();
    wait_until("the stalled check to give up on the job", || {
        failing = rt
            .block_on(queue.recover_stalled(0, KeepPolicy::ALL))
            .unwrap()
            .failed;
        !failing.is_empty()
    });
    assert_eq!(failing, ["welcome-50"]);
    assert_eq!(
        redis.hget("bull:email-queue:welcome-50", "defa").as_deref(),
        Some("job stalled more than allowable limit")
    );
    let node = node_worker(&peer, &redis, &[("FAIL_FIRST", "0")]);
    node.wait_for_line("failed id=welcome-50", 1, PATIENCE);
    assert!(
        node.lines_with("process id=welcome-50").is_empty(),
        "failed without running"
    );
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-50"]);
    let job = seen.job("welcome-50");
    assert_eq!(job["state"], "failed");
    assert_eq!(job["failedReason"], "job stalled more than allowable limit");
}

#[test]
fn node_keep_options_are_honoured_by_svc_worker() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    node_add(
        &peer,
        &redis,
        PREFIX,
        &[
            (
                "welcome-email",
                welcome("60"),
                json!({"jobId": "gone-when-done", "removeOnComplete": true}),
            ),
            (
                "welcome-email",
                welcome("61"),
                json!({"jobId": "kept", "removeOnComplete": false}),
            ),
            (
                "unknown-job",
                json!({}),
                json!({"jobId": "gone-when-failed", "removeOnFail": true}),
            ),
        ],
    );
    // The worker's own policy would keep nothing: the jobs' options win.
    let worker = svc_worker(&dir, &redis, &[("QUEUE_KEEP_COMPLETED", "0")]);
    worker.wait_for_log("job completed", Some("kept"), 1, PATIENCE);
    worker.wait_for_log("job completed", Some("gone-when-done"), 1, PATIENCE);
    worker.wait_for_log("will not be retried", Some("gone-when-failed"), 1, PATIENCE);
    let seen = inspect(
        &peer,
        &redis,
        PREFIX,
        &["gone-when-done", "kept", "gone-when-failed"],
    );
    assert_eq!(seen.job("kept")["state"], "completed");
    assert_eq!(seen.counts["completed"], 1);
    assert_eq!(seen.counts["failed"], 0);
    let out = node_run(
        &peer,
        &peer.join("inspect.js"),
        &["gone-when-done", "gone-when-failed"],
        &redis,
        PREFIX,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("gone-when-done MISSING") && text.contains("gone-when-failed MISSING"),
        "{text}"
    );
}

// ---- pause and resume across the fleet ----------------------------------------------------

/// What the peer's `Queue.isPaused()` says, after `action` (pause, resume or state).
fn node_pause(peer: &Path, redis: &RedisServer, action: &str) -> bool {
    let out = node_run(
        peer,
        &redis_server::node_script("pause.js"),
        &[action],
        redis,
        PREFIX,
    );
    let said: Value = serde_json::from_slice(&out.stdout).expect("pause.js JSON");
    said["paused"].as_bool().expect("paused")
}

fn svc_paused(dir: &DataDir, redis: &RedisServer) -> bool {
    let out = svc_queue(dir, redis, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    status["paused"].as_bool().expect("paused")
}

fn svc_ids(dir: &DataDir, redis: &RedisServer, state: &str) -> Vec<String> {
    let out = svc_queue(dir, redis, &["list", state, "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).expect("list JSON");
    list.as_array()
        .expect("array")
        .iter()
        .filter_map(|j| j["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn svc_queue_pause_holds_a_node_worker_and_resume_releases_it() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let out = svc_queue(&dir, &redis, &["pause"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(node_pause(&peer, &redis, "state"), "Node's isPaused()");
    let worker = node_worker(&peer, &redis, &[("FAIL_FIRST", "0")]);
    worker.wait_for_line("worker up", 1, PATIENCE);
    svc_add(
        &dir,
        &redis,
        &[
            "welcome-email",
            "--job-id",
            "welcome-1",
            "--data",
            &welcome_data("1", "req-1"),
        ],
    );
    // Nothing to wait for but time: the job must still be waiting after a while.
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        worker.lines_with("process id=welcome-1").is_empty(),
        "{:?}",
        worker.lines()
    );
    assert_eq!(svc_ids(&dir, &redis, "waiting"), ["welcome-1"]);
    let out = svc_queue(&dir, &redis, &["resume"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    worker.wait_for_line("completed id=welcome-1", 1, PATIENCE);
    assert!(!node_pause(&peer, &redis, "state"));
    assert_eq!(svc_ids(&dir, &redis, "completed"), ["welcome-1"]);
    // The stream carries BullMQ's `paused` and `resumed` events, as Queue.pause()/resume() write them.
    let events: Vec<String> = redis
        .events(PREFIX)
        .iter()
        .filter_map(|event| field(event, "event").map(str::to_owned))
        .collect();
    for name in ["paused", "resumed"] {
        assert!(
            events.contains(&name.to_owned()),
            "{name} not in {events:?}"
        );
    }
}

#[test]
fn a_node_pause_holds_svc_worker_and_shows_in_svc_queue_status() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    assert!(node_pause(&peer, &redis, "pause"));
    assert!(
        svc_paused(&dir, &redis),
        "svc queue status sees Node's pause"
    );
    let status = svc_queue(&dir, &redis, &["status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("queue: paused"));
    let worker = svc_worker(&dir, &redis, &[]);
    worker.wait_for_log("worker ready", None, 1, PATIENCE);
    node_add(
        &peer,
        &redis,
        PREFIX,
        &[(
            "welcome-email",
            welcome("2"),
            node_app_opts("welcome-2", 1000),
        )],
    );
    // Nothing to wait for but time: the job must still be waiting after a while.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        svc_ids(&dir, &redis, "waiting"),
        ["welcome-2"],
        "{}",
        worker.dump()
    );
    assert!(!node_pause(&peer, &redis, "resume"));
    assert!(!svc_paused(&dir, &redis));
    worker.wait_for_log("job completed", Some("welcome-2"), 1, PATIENCE);
    assert_eq!(dir.emails().len(), 1);
}

// ---- repairing jobs: what svc does, Node's Queue API sees -----------------------------------

fn svc_ok(dir: &DataDir, redis: &RedisServer, args: &[&str]) -> String {
    let out = svc_queue(dir, redis, args);
    assert!(
        out.status.success(),
        "svc queue {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_job_failed_by_a_node_worker_is_shown_retried_removed_and_cleaned_by_svc_queue() {
    let peer = node_peer();
    let redis = RedisServer::start();
    let dir = DataDir::new();
    let mut broken = welcome("31");
    broken["alwaysFail"] = json!(true);
    broken["to"] = json!("user31@example.com");
    let ids = node_add(
        &peer,
        &redis,
        PREFIX,
        &[
            ("welcome-email", broken, json!({"jobId": "welcome-31"})),
            (
                "welcome-email",
                welcome("32"),
                json!({"jobId": "welcome-32"}),
            ),
        ],
    );
    assert_eq!(ids, ["welcome-31", "welcome-32"]);
    let mut worker = node_worker(&peer, &redis, &[("EXIT_AFTER", "2")]);
    worker.wait_exit(PATIENCE);

    // The failure as Node recorded it (a real JS stack), listed and shown by svc.
    let list = svc_ok(&dir, &redis, &["list", "failed"]);
    assert!(
        list.contains("welcome-31") && list.contains("permanent failure for u***@example.com"),
        "{list}"
    );
    let shown: Value =
        serde_json::from_str(&svc_ok(&dir, &redis, &["show", "welcome-31", "--json"])).unwrap();
    assert_eq!(shown["requestId"], "req-31");
    assert_eq!(shown["attemptsMade"], 1);
    let stack = shown["stacktrace"].as_array().expect("a stack");
    assert_eq!(stack.len(), 1);
    assert!(
        stack[0]
            .as_str()
            .unwrap()
            .starts_with("Error: permanent failure for u***@example.com\n"),
        "{stack:?}"
    );
    let text = svc_ok(&dir, &redis, &["show", "welcome-31"]);
    assert!(
        text.contains("1. Error: permanent failure for u***@example.com\n"),
        "the stack's first line only:\n{text}"
    );

    // retry, remove and clean: Node's Queue reads the result.
    svc_ok(&dir, &redis, &["retry", "welcome-31"]);
    let seen = inspect(&peer, &redis, PREFIX, &["welcome-31"]);
    assert_eq!(seen.job("welcome-31")["state"], "waiting");
    assert_eq!(seen.job("welcome-31")["attemptsMade"], 0);
    svc_ok(&dir, &redis, &["remove", "welcome-31"]);
    // Time must pass for the completed job to be older than 5 ms.
    std::thread::sleep(Duration::from_millis(20));
    svc_ok(&dir, &redis, &["clean", "completed", "--older-than", "5ms"]);
    let seen = inspect(&peer, &redis, PREFIX, &[]);
    for state in ["wait", "completed", "failed"] {
        assert_eq!(seen.counts[state], 0, "{state}: {}", seen.counts);
    }
    assert!(seen.jobs.is_empty(), "{:?}", seen.jobs);
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{PREFIX}:email-queue:welcome-*"))
        .query(&mut redis.conn())
        .unwrap();
    keys.sort();
    assert!(keys.is_empty(), "left behind: {keys:?}");
}
