//! `svc queue` as a user runs it: every verb on the embedded store, and the everyday-repair
//! verbs (list, show, retry, remove, clean, pause, resume) on both backends with the same
//! expectations, through the real binary.

use crate::common::redis_server;
use crate::common::wait::{PATIENCE, wait_until};
use crate::common::worker as support;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use redis_server::RedisServer;
use serde_json::{Value, json};
use support::{DataDir, Proc, SVC, runtime, welcome_data};
use svc::queue::redis::{RedisConfig, RedisQueue};
use svc::queue::sqlite::SqliteQueue;
use svc::queue::{ActiveJob, Fetch, JobState, KeepPolicy, Queue, Retry};

fn counts(dir: &DataDir) -> Value {
    let out = dir.svc_queue(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON counts")
}

#[test]
fn add_then_status_shows_counts_per_state() {
    let dir = DataDir::new();
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("1", "r"),
        "--job-id",
        "welcome-1",
    ]);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("2", "r"),
        "--delay",
        "1h",
    ]);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("3", "r"),
        "--priority",
        "2",
    ]);
    let c = counts(&dir);
    assert_eq!(
        (
            c["waiting"].as_u64(),
            c["delayed"].as_u64(),
            c["prioritized"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(
        (
            c["active"].as_u64(),
            c["completed"].as_u64(),
            c["failed"].as_u64()
        ),
        (Some(0), Some(0), Some(0))
    );
    let table = dir.svc_queue(&["status"]);
    let text = String::from_utf8_lossy(&table.stdout);
    for state in [
        "waiting",
        "prioritized",
        "delayed",
        "active",
        "completed",
        "failed",
    ] {
        assert!(text.contains(state), "{state} missing:\n{text}");
    }
    let job = dir.job("welcome-1").unwrap();
    assert_eq!(job.data["userId"], "1");
}

#[test]
fn add_records_attempts_and_backoff() {
    let dir = DataDir::new();
    dir.add(&[
        "welcome-email",
        "--job-id",
        "x-1",
        "--attempts",
        "4",
        "--backoff",
        "fixed:250ms",
    ]);
    let job = dir.job("x-1").unwrap();
    assert_eq!(job.opts.attempts, 4);
    assert_eq!(
        job.opts.backoff,
        svc::queue::Backoff::fixed(Duration::from_millis(250))
    );
    assert_eq!(job.data, serde_json::json!({}));
}

#[test]
fn retry_failed_moves_failed_jobs_back_to_waiting() {
    let dir = DataDir::new();
    dir.add(&["welcome-email", "--job-id", "f-1"]);
    let queue = SqliteQueue::open_in(dir.path()).unwrap();
    runtime().block_on(async {
        let Fetch::Job(job) = queue.take("t", Duration::from_secs(30)).await.unwrap() else {
            panic!("no job")
        };
        queue
            .fail(
                &job,
                "broken",
                Retry::Never,
                KeepPolicy {
                    count: None,
                    age: None,
                },
            )
            .await
            .unwrap();
    });
    assert_eq!(counts(&dir)["failed"], 1);
    let out = dir.svc_queue(&["retry-failed"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 failed job(s) moved back to waiting"));
    assert_eq!(counts(&dir)["waiting"], 1);
    assert_eq!(dir.job("f-1").unwrap().state, JobState::Waiting);
}

#[test]
fn bad_input_is_refused_with_exit_2_and_creates_nothing() {
    let dir = DataDir::new();
    for (args, needle) in [
        (
            vec!["add", "welcome-email", "--data", "{nope"],
            "--data is not JSON",
        ),
        (
            vec!["add", "welcome-email", "--job-id", "42"],
            "may not be an integer",
        ),
        (vec!["add", "welcome-email", "--delay", "soon"], "--delay"),
        (
            vec!["add", "welcome-email", "--backoff", "linear:1s"],
            "--backoff",
        ),
        (
            vec!["add", "welcome-email", "--attempts", "0"],
            "--attempts",
        ),
    ] {
        let out = dir.svc_queue(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("svc.db").exists(),
        "a refused add must not create the database"
    );
}

#[test]
fn data_dir_defaults_to_data_in_the_current_folder() {
    let dir = DataDir::new();
    let out = Command::new(SVC)
        .args(["queue", "add", "welcome-email", "--job-id", "here-1"])
        .env_remove("DATA_DIR")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/svc.db").is_file());
}

#[test]
fn an_unusable_data_dir_fails_with_a_hint() {
    let dir = DataDir::new();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(SVC)
        .args(["queue", "status"])
        .env("DATA_DIR", &file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("queue unavailable") && stderr.contains("hint"),
        "{stderr}"
    );
}

/// One backend as `svc queue` and `svc worker` reach it: its environment, and a library handle
/// to put jobs where the verbs find them (failed, active...).
struct Store {
    /// One runtime for every library call: the Redis connection lives on it.
    rt: tokio::runtime::Runtime,
    dir: DataDir,
    env: Vec<(&'static str, String)>,
    queue: Arc<dyn Queue>,
    _redis: Option<RedisServer>,
}

impl Store {
    fn sqlite() -> Store {
        let dir = DataDir::new();
        let queue = Arc::new(SqliteQueue::open_in(dir.path()).expect("open queue"));
        Store {
            rt: runtime(),
            dir,
            env: Vec::new(),
            queue,
            _redis: None,
        }
    }

    fn redis() -> Store {
        let server = RedisServer::start();
        let queue = Arc::new(RedisQueue::new(RedisConfig::for_url(&server.url())).expect("queue"));
        Store {
            rt: runtime(),
            dir: DataDir::new(),
            env: vec![("REDIS_URL", server.url())],
            queue,
            _redis: Some(server),
        }
    }

    fn svc(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(SVC);
        cmd.arg("queue")
            .args(args)
            .env("DATA_DIR", self.dir.path())
            .env_remove("REDIS_URL")
            .env_remove("REDIS_HOST")
            .env_remove("REDIS_PORT");
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd.output().expect("run svc queue")
    }

    /// Runs `svc queue ARGS`, asserting success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.svc(args);
        assert!(
            out.status.success(),
            "svc queue {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `svc queue ARGS`, asserting exit `code`; its stderr.
    fn refused(&self, args: &[&str], code: i32) -> String {
        let out = self.svc(args);
        assert_eq!(out.status.code(), Some(code), "svc queue {args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    fn ids(&self, state: &str) -> Vec<String> {
        let list = self.json(&["list", state, "--json"]);
        list.as_array()
            .expect("an array")
            .iter()
            .map(|job| job["id"].as_str().expect("an id").to_owned())
            .collect()
    }

    fn take(&self) -> Option<ActiveJob> {
        match self
            .rt
            .block_on(self.queue.take("cli-test", Duration::from_secs(30)))
            .expect("take")
        {
            Fetch::Job(job) => Some(*job),
            Fetch::Empty { .. } => None,
        }
    }

    fn worker(&self) -> Proc {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.dir.worker(&env)
    }
}

fn every_repair_verb(store: &Store) {
    let rt = &store.rt;
    let q = &store.queue;
    let data = welcome_data("1", "req-1");
    store.ok(&[
        "add",
        "welcome-email",
        "--job-id",
        "welcome-1",
        "--attempts",
        "3",
        "--data",
        &data,
    ]);
    for id in ["welcome-2", "welcome-3"] {
        store.ok(&["add", "welcome-email", "--job-id", id]);
    }
    store.ok(&[
        "add",
        "welcome-email",
        "--job-id",
        "welcome-4",
        "--priority",
        "2",
    ]);
    store.ok(&[
        "add",
        "welcome-email",
        "--job-id",
        "welcome-5",
        "--delay",
        "1h",
    ]);
    let first = store.take().expect("welcome-1");
    assert_eq!(first.job.id, "welcome-1");
    let reason = "550 mailbox user1@example.com unavailable";
    rt.block_on(q.fail(&first, reason, Retry::Never, KeepPolicy::ALL))
        .unwrap();
    let second = store.take().expect("welcome-2");
    rt.block_on(q.complete(&second, json!("sent"), KeepPolicy::ALL))
        .unwrap();
    let running = store.take().expect("welcome-3");
    assert_eq!(running.job.id, "welcome-3");

    // list: one state, its jobs; a failed job's reason, addresses masked.
    let table = store.ok(&["list", "failed"]);
    for needle in [
        "welcome-1",
        "welcome-email",
        "550 mailbox u***@example.com unavailable",
    ] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
    assert!(!table.contains("user1@"), "{table}");
    let failed = store.json(&["list", "failed", "--json"]);
    assert_eq!(failed[0]["id"], "welcome-1");
    assert_eq!(failed[0]["attemptsMade"], 1);
    assert_eq!(
        failed[0]["failedReason"],
        "550 mailbox u***@example.com unavailable"
    );
    assert!(failed[0]["ageMs"].as_u64().is_some(), "{failed}");
    assert!(store.ok(&["list", "waiting"]).contains("no waiting jobs"));
    assert_eq!(store.ids("waiting"), Vec::<String>::new());
    assert_eq!(store.ids("prioritized"), ["welcome-4"]);
    assert_eq!(store.ids("delayed"), ["welcome-5"]);
    assert_eq!(store.ids("active"), ["welcome-3"]);
    assert_eq!(store.ids("completed"), ["welcome-2"]);
    let refused = store.refused(&["list", "stuck"], 2);
    assert!(refused.contains("possible values"), "{refused}");

    // show: the whole job, addresses masked unless --show-data, and how to follow its request.
    let text = store.ok(&["show", "welcome-1"]);
    for needle in [
        "welcome-1 (welcome-email)",
        "failed",
        "u***@example.com",
        "attempts 3, backoff exponential 1s",
        "1 made of 3, 1 started",
        "1. Error: 550 mailbox u***@example.com unavailable",
        "req-1",
        "svc logs --request-id req-1",
        "created",
        "finished",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains("user1@example.com"), "{text}");
    let shown = store.json(&["show", "welcome-1", "--json", "--show-data"]);
    assert_eq!(shown["data"]["email"], "user1@example.com");
    assert_eq!(shown["requestId"], "req-1");
    assert_eq!(shown["logs"], "svc logs --request-id req-1");
    assert_eq!(shown["opts"]["attempts"], 3);
    assert_eq!(shown["stacktrace"], json!([format!("Error: {reason}")]));
    assert_eq!(shown["failedReason"], reason);
    assert!(shown["timestamp"].as_u64().is_some() && shown["finishedOn"].as_u64().is_some());
    let masked = store.json(&["show", "welcome-1", "--json"]);
    assert_eq!(masked["data"]["email"], "u***@example.com");
    assert!(store.refused(&["show", "nope"], 1).contains("no job nope"));

    // retry: a failed job back to waiting; an active one refused.
    let refused = store.refused(&["retry", "welcome-3"], 1);
    assert!(refused.contains("welcome-3 is active"), "{refused}");
    assert!(store.refused(&["retry", "nope"], 1).contains("no job nope"));
    assert!(
        store
            .ok(&["retry", "welcome-1"])
            .contains("job welcome-1 moved back to waiting")
    );
    assert_eq!(store.ids("waiting"), ["welcome-1"]);
    assert_eq!(
        store.json(&["show", "welcome-1", "--json"])["attemptsMade"],
        0
    );

    // remove: refused while a worker holds the job.
    let refused = store.refused(&["remove", "welcome-3"], 1);
    assert!(refused.contains("a worker holds it"), "{refused}");
    assert!(
        store
            .ok(&["remove", "welcome-4"])
            .contains("removed job welcome-4")
    );
    assert!(
        store
            .refused(&["show", "welcome-4"], 1)
            .contains("no job welcome-4")
    );
    assert_eq!(store.ids("active"), ["welcome-3"]);

    // clean: by age, per state.
    let none = store.ok(&["clean", "completed", "--older-than", "1h"]);
    assert!(
        none.contains("removed 0 completed job(s) older than 1h"),
        "{none}"
    );
    // Time must pass for the completed job to be older than 5 ms.
    std::thread::sleep(Duration::from_millis(20));
    let one = store.ok(&["clean", "completed", "--older-than", "5ms"]);
    assert!(one.contains("removed 1 completed job(s)"), "{one}");
    assert_eq!(store.ids("completed"), Vec::<String>::new());
    store.refused(&["clean", "active", "--older-than", "1d"], 2);
    store.refused(&["clean", "failed"], 2);
    store.refused(&["clean", "failed", "--older-than", "soon"], 2);

    // pause / resume: nothing is taken while paused; status shows it.
    assert_eq!(store.json(&["status", "--json"])["paused"], false);
    assert!(store.ok(&["pause"]).contains("queue paused"));
    assert_eq!(store.json(&["status", "--json"])["paused"], true);
    assert!(store.ok(&["status"]).contains("queue: paused"));
    assert!(store.take().is_none(), "a paused queue hands out nothing");
    assert_eq!(
        rt.block_on(q.complete(&running, json!(null), KeepPolicy::ALL))
            .unwrap(),
        svc::queue::LockOutcome::Held,
        "the active job finishes"
    );
    assert!(store.ok(&["resume"]).contains("queue resumed"));
    assert!(store.ok(&["status"]).contains("queue: running"));
    assert_eq!(store.take().map(|j| j.job.id).as_deref(), Some("welcome-1"));
}

#[test]
fn every_repair_verb_on_the_embedded_store() {
    every_repair_verb(&Store::sqlite());
}

#[test]
fn every_repair_verb_on_redis() {
    every_repair_verb(&Store::redis());
}

/// A paused queue holds `svc worker` back; resuming lets it send.
fn the_worker_honours_a_pause(store: &Store) {
    store.ok(&["pause"]);
    let worker = store.worker();
    worker.wait_for_log("worker ready", None, 1, PATIENCE);
    store.ok(&[
        "add",
        "welcome-email",
        "--job-id",
        "welcome-9",
        "--data",
        &welcome_data("9", "r9"),
    ]);
    // Nothing to wait for but time: the job must still be waiting after a while.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(store.ids("waiting"), ["welcome-9"], "{}", worker.dump());
    assert!(store.dir.emails().is_empty());
    store.ok(&["resume"]);
    wait_until("the job completed", || {
        store.ids("completed") == ["welcome-9"]
    });
    assert_eq!(store.dir.emails().len(), 1);
}

#[test]
fn the_worker_honours_a_pause_on_the_embedded_store() {
    the_worker_honours_a_pause(&Store::sqlite());
}

#[test]
fn the_worker_honours_a_pause_on_redis() {
    the_worker_honours_a_pause(&Store::redis());
}
