//! `svc worker` and the producers on Redis when Redis goes away: a restart while 1,000 jobs flow
//! loses none, the worker reconnects by itself (one log line per state change), and producers
//! fail fast instead of buffering while Redis is down.

use crate::common::redis_server;
use crate::common::wait::{LONG_PATIENCE, PATIENCE, wait_until, wait_until_within};
use crate::common::worker;

use std::time::{Duration, Instant};

use redis_server::RedisServer;
use svc::queue::jobs::{JobOrigin, WelcomeEmail};
use svc::queue::redis::{RedisConfig, RedisQueue};
use svc::queue::{Added, Queue, QueueError};
use svc::telemetry::RequestId;
use worker::{DataDir, Proc, runtime, welcome_data};

fn svc_worker(dir: &DataDir, url: &str, env: &[(&str, &str)]) -> Proc {
    let mut all = vec![("REDIS_URL", url)];
    all.extend_from_slice(env);
    Proc::spawn(&["worker"], dir.path(), &all)
}

fn zcard(redis: &RedisServer, set: &str) -> u64 {
    redis::cmd("ZCARD")
        .arg(format!("bull:email-queue:{set}"))
        .query(&mut redis.conn())
        .unwrap_or(0)
}

fn mail(user: usize) -> WelcomeEmail {
    WelcomeEmail {
        user_id: user.to_string(),
        email: format!("user{user}@example.com"),
        name: format!("User {user}"),
        origin: JobOrigin::request(RequestId::parse(&format!("req-{user}")).expect("valid id")),
    }
}

#[test]
fn redis_restarted_while_1000_jobs_flow_every_job_completes_once_per_user() {
    let mut redis = RedisServer::start_persistent();
    let dir = DataDir::new();
    let queue = RedisQueue::new(RedisConfig::for_url(&redis.url())).unwrap();
    let rt = runtime();
    for user in 0..1000 {
        let added = rt.block_on(queue.add(mail(user).job())).unwrap();
        assert!(matches!(added, Added::New(_)));
    }
    let worker = svc_worker(
        &dir,
        &redis.url(),
        &[
            ("WORKER_CONCURRENCY", "10"),
            ("QUEUE_KEEP_COMPLETED", "5000"),
            ("QUEUE_LOCK_MS", "2000"),
            ("QUEUE_STALLED_INTERVAL_MS", "500"),
        ],
    );
    wait_until("200 jobs completed", || zcard(&redis, "completed") >= 200);
    let before_crash = zcard(&redis, "completed");
    redis.kill();
    assert!(
        before_crash < 1000,
        "the jobs must still be flowing when Redis dies"
    );
    worker.wait_for_log("queue store unavailable", None, 1, PATIENCE);
    // Stay down a while (not an assertion): the worker backs off, finishes wait for Redis.
    std::thread::sleep(Duration::from_secs(1));
    redis.restart();
    wait_until_within("all 1000 jobs completed", LONG_PATIENCE, || {
        zcard(&redis, "completed") == 1000
    });

    let counts = rt.block_on(queue.counts()).unwrap();
    assert_eq!(
        (counts.waiting, counts.active, counts.delayed, counts.failed),
        (0, 0, 0, 0),
        "{counts:?}"
    );
    assert_eq!(dir.emails().len(), 1000, "one email per user");
    // One line per change of state, not one per failed call: down, then up again.
    worker.wait_for_log("queue store available again", None, 1, PATIENCE);
    let down = worker.logs_with("queue store unavailable", None).len();
    let up = worker.logs_with("queue store available again", None).len();
    assert!(
        (1..=3).contains(&down) && up == down,
        "{down} down / {up} up lines"
    );
}

#[test]
fn producers_fail_fast_while_redis_is_down_and_the_worker_waits_for_it() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.kill();
    let dir = DataDir::new();

    let started = Instant::now();
    let out = std::process::Command::new(worker::SVC)
        .args([
            "queue",
            "add",
            "welcome-email",
            "--data",
            &welcome_data("1", "r"),
        ])
        .env("DATA_DIR", dir.path())
        .env("REDIS_URL", &url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("unavailable") && stderr.contains("REDIS_URL"),
        "{stderr}"
    );

    let queue = RedisQueue::new(RedisConfig::for_url(&url)).unwrap();
    let rt = runtime();
    let started = Instant::now();
    let added = rt.block_on(queue.add(mail(1).job()));
    assert!(
        matches!(added, Err(QueueError::Unavailable(_))),
        "{added:?}"
    );
    assert!(rt.block_on(queue.ping()).is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let worker = svc_worker(&dir, &url, &[]);
    worker.wait_for_log("queue store unavailable", None, 1, PATIENCE);
    // The test: a while later, still one line (the worker does not log each retry).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        worker.logs_with("queue store unavailable", None).len(),
        1,
        "{}",
        worker.dump()
    );
    assert!(
        worker.logs_with("worker ready", None).is_empty(),
        "ready before Redis answered"
    );

    redis.restart();
    worker.wait_for_log("worker ready", None, 1, PATIENCE);
    // The same producer handle reconnects by itself.
    wait_until("an add after Redis came back", || {
        rt.block_on(queue.add(mail(1).job())).is_ok()
    });
    worker.wait_for_log("job completed", Some("welcome-1"), 1, PATIENCE);
    assert_eq!(dir.emails(), vec![dir.outbox().join("welcome-1.eml")]);
}

#[test]
fn an_invalid_redis_environment_refuses_to_start_naming_the_variable() {
    let dir = DataDir::new();
    for env in [
        [("REDIS_PORT", "lots"), ("QUEUE_PREFIX", "bull")],
        [("REDIS_URL", "http://nope"), ("QUEUE_PREFIX", "bull")],
        [("REDIS_HOST", "127.0.0.1"), ("QUEUE_NAME", "a:b")],
    ] {
        let (name, value) = env[0];
        let name = if name == "REDIS_HOST" { env[1].0 } else { name };
        let mut worker = Proc::spawn(&["worker"], dir.path(), &env);
        let status = worker.wait_exit(PATIENCE);
        assert_eq!(status.code(), Some(2), "{name}={value}");
        // The stderr reader thread may still be draining the pipe when the exit is seen.
        wait_until(&format!("{name} named on stderr"), || {
            worker.stderr().contains(name)
        });
    }
}
