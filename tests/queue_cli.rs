//! `svc queue status | retry-failed | add` against the embedded store, as a user runs them.

use crate::worker_support as support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{DataDir, SVC, runtime, welcome_data};
use svc::queue::sqlite::SqliteQueue;
use svc::queue::{Fetch, JobState, KeepPolicy, Queue, Retry};

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
