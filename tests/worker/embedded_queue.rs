//! `svc worker` as a real process on the embedded queue: retries with backoff, idempotent ids,
//! bad jobs, a killed worker's job recovered by another, drain on SIGTERM, bad environments and
//! an unavailable store.

use crate::common::worker as support;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::common::wait::{PATIENCE, wait_until};
use nix::sys::signal::Signal;
use support::smtp::{Mode, TestSmtp};
use support::{DataDir, secs_between, time_of, welcome_data};
use svc::queue::JobState;

/// `LOG_LEVEL` with each failed retry of the queue store logged (at debug level).
const STORE_RETRIES_LOGGED: &str = "info,svc::worker::health=debug";

fn state(dir: &DataDir, id: &str) -> Option<JobState> {
    dir.job(id).map(|j| j.state)
}

#[test]
fn a_job_failing_twice_then_succeeding_retries_after_1s_then_2s() {
    let dir = DataDir::new();
    // A regular file where the outbox folder should be: writing the email fails for real.
    std::fs::write(dir.outbox(), "in the way").unwrap();
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("1", "req-flaky"),
        "--job-id",
        "welcome-1",
        "--attempts",
        "3",
    ]);
    let worker = dir.worker(&[]);
    let failed = worker.wait_for_log("job attempt failed", Some("welcome-1"), 2, PATIENCE);
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("outbox"),
        "{}",
        failed[0]
    );
    assert_eq!(failed[1]["attempt"], 2);
    std::fs::remove_file(dir.outbox()).unwrap();

    let done = worker.wait_for_log("job completed", Some("welcome-1"), 1, PATIENCE);
    assert_eq!(done[0]["attempt"], 3);
    assert_eq!(done[0]["requestId"], "req-flaky");
    let starts = worker.logs_with("job started", Some("welcome-1"));
    assert_eq!(starts.len(), 3, "{}", worker.dump());
    let gap1 = secs_between(time_of(&starts[0]), time_of(&starts[1]));
    let gap2 = secs_between(time_of(&starts[1]), time_of(&starts[2]));
    assert!(
        (0.9..3.0).contains(&gap1),
        "first backoff gap {gap1}s, expected about 1s"
    );
    assert!(
        (1.9..4.0).contains(&gap2),
        "second backoff gap {gap2}s, expected about 2s"
    );

    let job = dir.job("welcome-1").unwrap();
    assert_eq!((job.state, job.attempts_made), (JobState::Completed, 3));
    assert_eq!(dir.emails().len(), 1);
}

#[test]
fn a_job_that_always_fails_ends_failed_after_3_attempts_with_its_reason() {
    let dir = DataDir::new();
    std::fs::write(dir.outbox(), "in the way").unwrap();
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("2", "req-doomed"),
        "--job-id",
        "welcome-2",
        "--attempts",
        "3",
        "--backoff",
        "exponential:200ms",
    ]);
    let worker = dir.worker(&[]);
    let exhausted = worker.wait_for_log("retries exhausted", Some("welcome-2"), 1, PATIENCE);
    assert_eq!(exhausted[0]["level"], "error");
    assert_eq!(exhausted[0]["requestId"], "req-doomed");
    assert_eq!(exhausted[0]["attempt"], 3);
    wait_until("the job to be failed", || {
        state(&dir, "welcome-2") == Some(JobState::Failed)
    });
    let job = dir.job("welcome-2").unwrap();
    assert_eq!(job.attempts_made, 3);
    let reason = job.failed_reason.unwrap();
    assert!(
        reason.contains("outbox") && reason.contains(&dir.outbox().display().to_string()),
        "{reason}"
    );
    let failures = worker.logs_with("job attempt failed", Some("welcome-2"));
    assert_eq!(failures.len(), 3);
    assert!(failures.iter().all(|l| l["level"] == "error"
        && l["reason"].is_string()
        && l["requestId"] == "req-doomed"));
    let status = dir.svc_queue(&["status", "--json"]);
    let counts: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(counts["failed"], 1);
}

#[test]
fn a_duplicate_job_id_runs_once() {
    let dir = DataDir::new();
    let data = welcome_data("3", "req-dup");
    dir.add(&["welcome-email", "--data", &data, "--job-id", "welcome-3"]);
    let again = dir.svc_queue(&[
        "add",
        "welcome-email",
        "--data",
        &data,
        "--job-id",
        "welcome-3",
    ]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already exists"));
    let worker = dir.worker(&[]);
    worker.wait_for_log("job completed", Some("welcome-3"), 1, PATIENCE);
    // Once more after it completed: still the same job, it does not run again.
    dir.add(&["welcome-email", "--data", &data, "--job-id", "welcome-3"]);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("4", "req-4"),
        "--job-id",
        "welcome-4",
    ]);
    worker.wait_for_log("job completed", Some("welcome-4"), 1, PATIENCE);
    assert_eq!(worker.logs_with("job started", Some("welcome-3")).len(), 1);
    assert_eq!(dir.emails().len(), 2);
    assert_eq!(dir.job("welcome-3").unwrap().attempts_started, 1);
}

#[test]
fn unknown_and_malformed_jobs_fail_at_once_and_the_worker_keeps_going() {
    let dir = DataDir::new();
    dir.add(&[
        "resize-image",
        "--data",
        "{}",
        "--job-id",
        "unknown-1",
        "--attempts",
        "3",
    ]);
    dir.add(&[
        "welcome-email",
        "--data",
        r#"{"userId":"5","requestId":"req-bad"}"#,
        "--job-id",
        "bad-1",
        "--attempts",
        "3",
    ]);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("6", "r"),
        "--job-id",
        "bad-2",
    ]);
    let bad_address = r#"{"userId":"7","email":"not an address","name":"X"}"#;
    dir.add(&[
        "welcome-email",
        "--data",
        bad_address,
        "--job-id",
        "bad-3",
        "--attempts",
        "3",
    ]);
    let worker = dir.worker(&[]);
    worker.wait_for_log("job completed", Some("bad-2"), 1, PATIENCE);
    wait_until("the bad jobs to fail", || {
        ["unknown-1", "bad-1", "bad-3"]
            .iter()
            .all(|id| state(&dir, id) == Some(JobState::Failed))
    });
    let unknown = dir.job("unknown-1").unwrap();
    assert_eq!(unknown.attempts_made, 1, "not retried");
    assert!(
        unknown
            .failed_reason
            .unwrap()
            .contains("unknown job name \"resize-image\"")
    );
    let malformed = dir.job("bad-1").unwrap();
    assert!(
        malformed
            .failed_reason
            .unwrap()
            .contains("malformed welcome-email data")
    );
    assert!(
        dir.job("bad-3")
            .unwrap()
            .failed_reason
            .unwrap()
            .contains("invalid recipient address")
    );
    let line = &worker.logs_with("will not be retried", Some("bad-1"))[0];
    assert_eq!(line["requestId"], "req-bad");
    assert_eq!(dir.emails().len(), 1);
}

#[test]
fn a_job_held_by_a_killed_worker_is_recovered_by_another_and_mailed_once() {
    let dir = DataDir::new();
    let hung = TestSmtp::start(Mode::Silent);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("8", "req-kill"),
        "--job-id",
        "welcome-8",
        "--attempts",
        "3",
    ]);
    let lease = [
        ("QUEUE_LOCK_MS", "1000"),
        ("QUEUE_STALLED_INTERVAL_MS", "200"),
    ];
    let mut first = dir.worker(&[lease[0], lease[1], ("SMTP_URL", &hung.url())]);
    first.wait_for_log("job started", Some("welcome-8"), 1, PATIENCE);
    wait_until("the SMTP connection", || {
        hung.connections.load(std::sync::atomic::Ordering::SeqCst) > 0
    });
    assert_eq!(state(&dir, "welcome-8"), Some(JobState::Active));
    first.signal(Signal::SIGKILL);
    first.wait_exit(PATIENCE);

    let second = dir.worker(&lease);
    second.wait_for_log("stalled job recovered", Some("welcome-8"), 1, PATIENCE);
    let done = second.wait_for_log("job completed", Some("welcome-8"), 1, PATIENCE);
    assert_eq!(done[0]["requestId"], "req-kill");
    let job = dir.job("welcome-8").unwrap();
    assert_eq!(
        (job.state, job.stalled_count, job.attempts_started),
        (JobState::Completed, 1, 2)
    );
    assert_eq!(dir.emails(), vec![dir.outbox().join("welcome-8.eml")]);
}

#[test]
fn sigterm_with_a_job_in_hand_finishes_it_then_exits_0() {
    let dir = DataDir::new();
    let slow = TestSmtp::start(Mode::SlowAccept(Duration::from_millis(1500)));
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("9", "req-term"),
        "--job-id",
        "welcome-9",
    ]);
    let mut worker = dir.worker(&[("SMTP_URL", &slow.url())]);
    wait_until("the message to be under way", || {
        slow.data_started.load(std::sync::atomic::Ordering::SeqCst) > 0
    });
    worker.signal(Signal::SIGTERM);
    worker.wait_for_log("SIGTERM received", None, 1, PATIENCE);
    // Added while draining: it must stay waiting for the next worker.
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("10", "req-late"),
        "--job-id",
        "welcome-10",
    ]);
    let status = worker.wait_exit(PATIENCE);
    assert!(status.success(), "exit {status:?}\n{}", worker.dump());
    assert_eq!(state(&dir, "welcome-9"), Some(JobState::Completed));
    assert_eq!(slow.messages.lock().unwrap().len(), 1);
    assert_eq!(
        state(&dir, "welcome-10"),
        Some(JobState::Waiting),
        "no job taken after SIGTERM"
    );
    let term = &worker.logs_with("SIGTERM received", None)[0];
    let done = &worker.logs_with("job completed", Some("welcome-9"))[0];
    assert!(
        time_of(term) <= time_of(done),
        "the job finished after the signal"
    );
}

#[test]
fn a_job_still_running_at_the_drain_timeout_is_released_not_lost() {
    let dir = DataDir::new();
    let hung = TestSmtp::start(Mode::Silent);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("11", "req-drain"),
        "--job-id",
        "welcome-11",
        "--attempts",
        "2",
    ]);
    let mut worker = dir.worker(&[("SMTP_URL", &hung.url()), ("WORKER_DRAIN_TIMEOUT", "300ms")]);
    worker.wait_for_log("job started", Some("welcome-11"), 1, PATIENCE);
    worker.signal(Signal::SIGTERM);
    let status = worker.wait_exit(PATIENCE);
    assert!(status.success(), "exit {status:?}\n{}", worker.dump());
    let job = dir.job("welcome-11").unwrap();
    assert_eq!((job.state, job.attempts_made), (JobState::Waiting, 0));
    assert_eq!(
        worker
            .logs_with("released to the queue", Some("welcome-11"))
            .len(),
        1
    );

    let next = dir.worker(&[]);
    next.wait_for_log("job completed", Some("welcome-11"), 1, PATIENCE);
    assert_eq!(dir.emails().len(), 1);
}

#[test]
fn an_invalid_environment_refuses_to_start_naming_the_variable() {
    let dir = DataDir::new();
    for (name, value) in [
        ("WORKER_CONCURRENCY", "lots"),
        ("WORKER_DRAIN_TIMEOUT", "-1"),
        ("SMTP_URL", "http://x"),
    ] {
        let mut worker = dir.worker(&[(name, value)]);
        let status = worker.wait_exit(PATIENCE);
        assert_eq!(status.code(), Some(2), "{name}={value}");
        assert!(
            worker.stderr().contains(name),
            "{name} not named: {}",
            worker.stderr()
        );
    }
}

#[test]
fn an_unavailable_store_is_retried_logged_once_and_readiness_waits_for_it() {
    let dir = DataDir::new();
    let data_dir = dir.path().join("data");
    std::fs::write(&data_dir, "not a folder").unwrap();
    let socket_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket_path).unwrap();
    notify.set_nonblocking(true).unwrap();
    let data = data_dir.to_str().unwrap();
    let worker = support::Proc::spawn(
        &["worker"],
        &data_dir,
        &[
            ("DATA_DIR", data),
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("LOG_LEVEL", STORE_RETRIES_LOGGED),
        ],
    );
    worker.wait_for_log("queue store unavailable", None, 1, PATIENCE);
    // Several retries fail (after 200 ms, 400 ms, 800 ms ...) while the store stays unavailable.
    worker.wait_for_log("queue store still down", None, 3, PATIENCE);
    assert_eq!(
        worker.logs_with("queue store unavailable", None).len(),
        1,
        "{}",
        worker.dump()
    );
    let mut buf = [0u8; 64];
    assert!(
        notify.recv(&mut buf).is_err(),
        "READY=1 before the store opened"
    );

    std::fs::remove_file(&data_dir).unwrap();
    worker.wait_for_log("queue store available again", None, 1, PATIENCE);
    let mut ready = Vec::new();
    wait_until("READY=1", || match notify.recv(&mut buf) {
        Ok(n) => {
            ready.extend_from_slice(&buf[..n]);
            true
        }
        Err(_) => false,
    });
    assert_eq!(ready, b"READY=1");
    let out = std::process::Command::new(support::SVC)
        .args([
            "queue",
            "add",
            "welcome-email",
            "--data",
            &welcome_data("12", "r"),
            "--job-id",
            "welcome-12",
        ])
        .env("DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    worker.wait_for_log("job completed", Some("welcome-12"), 1, PATIENCE);
    assert!(data_dir.join("outbox/welcome-12.eml").is_file());
}

#[test]
fn a_store_locked_mid_run_is_logged_once_and_work_resumes_after() {
    let dir = DataDir::new();
    let worker = dir.worker(&[("LOG_LEVEL", STORE_RETRIES_LOGGED)]);
    worker.wait_for_log("worker ready", None, 1, PATIENCE);
    // Another process holds the write lock longer than the busy timeout (5 s): takes fail.
    let blocker = rusqlite::Connection::open(dir.path().join("svc.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    worker.wait_for_log("queue store unavailable", None, 1, PATIENCE);
    // A retry fails too while the lock is held.
    worker.wait_for_log("queue store still down", None, 1, PATIENCE);
    blocker.execute_batch("ROLLBACK").unwrap();
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("13", "req-locked"),
        "--job-id",
        "welcome-13",
    ]);
    worker.wait_for_log("queue store available again", None, 1, PATIENCE);
    worker.wait_for_log("job completed", Some("welcome-13"), 1, PATIENCE);
    assert_eq!(
        worker.logs_with("queue store unavailable", None).len(),
        1,
        "{}",
        worker.dump()
    );
    assert_eq!(dir.emails().len(), 1);
}

#[test]
fn several_worker_processes_share_the_queue_and_run_each_job_once() {
    let dir = DataDir::new();
    let workers: Vec<_> = (0..3)
        .map(|_| dir.worker(&[("WORKER_CONCURRENCY", "4")]))
        .collect();
    for w in &workers {
        w.wait_for_log("worker ready", None, 1, PATIENCE);
    }
    for i in 0..40 {
        dir.add(&[
            "welcome-email",
            "--data",
            &welcome_data(&format!("m{i}"), "r"),
            "--job-id",
            &format!("welcome-m{i}"),
        ]);
    }
    wait_until("40 emails", || dir.emails().len() == 40);
    wait_until("40 completions", || {
        workers
            .iter()
            .map(|w| w.logs_with("job completed", None).len())
            .sum::<usize>()
            == 40
    });
    let starts: usize = workers
        .iter()
        .map(|w| w.logs_with("job started", None).len())
        .sum();
    assert_eq!(starts, 40, "every job started exactly once");
    for i in 0..40 {
        assert_eq!(
            dir.job(&format!("welcome-m{i}")).unwrap().attempts_started,
            1
        );
    }
}

#[test]
fn a_long_job_keeps_its_lease_renewed_and_is_not_taken_over() {
    let dir = DataDir::new();
    // The email takes 1.5 s, five times the lease: only renewal keeps the job with its worker.
    let slow = TestSmtp::start(Mode::SlowAccept(Duration::from_millis(1500)));
    let lease = [
        ("QUEUE_LOCK_MS", "300"),
        ("QUEUE_STALLED_INTERVAL_MS", "100"),
    ];
    let url = slow.url();
    let first = dir.worker(&[lease[0], lease[1], ("SMTP_URL", &url)]);
    let second = dir.worker(&[lease[0], lease[1], ("SMTP_URL", &url)]);
    for w in [&first, &second] {
        w.wait_for_log("worker ready", None, 1, PATIENCE);
    }
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("14", "r"),
        "--job-id",
        "welcome-14",
    ]);
    wait_until("the job to complete", || {
        state(&dir, "welcome-14") == Some(JobState::Completed)
    });
    let job = dir.job("welcome-14").unwrap();
    assert_eq!(
        (job.stalled_count, job.attempts_started),
        (0, 1),
        "{}\n{}",
        first.dump(),
        second.dump()
    );
    assert_eq!(slow.messages.lock().unwrap().len(), 1);
    for w in [&first, &second] {
        assert!(w.logs_with("stalled job recovered", None).is_empty());
    }
}

/// The `Subject:` header of a raw email, unfolded (continuation lines keep their leading space).
fn subject_header(raw: &str) -> String {
    let start = raw.find("\r\nSubject: ").expect("a Subject header") + 2;
    let mut header = String::new();
    for (i, line) in raw[start..].split("\r\n").enumerate() {
        if i > 0 && !line.starts_with([' ', '\t']) {
            break;
        }
        header.push_str(line);
    }
    header
}

/// Decodes the RFC 2047 `=?utf-8?b?…?=` words of a header value; other words stay as they are.
fn decode_encoded_words(value: &str) -> String {
    use base64::Engine;
    let mut text = String::new();
    let mut bytes = Vec::new();
    for word in value.split(' ') {
        match word
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="))
        {
            Some(b64) => bytes.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64"),
            ),
            None => {
                text.push_str(&String::from_utf8(std::mem::take(&mut bytes)).expect("utf-8"));
                text.push_str(word);
                text.push(' ');
            }
        }
    }
    text.push_str(&String::from_utf8(bytes).expect("utf-8"));
    text
}

#[test]
fn a_non_ascii_name_is_rfc2047_encoded_in_the_subject_of_a_real_email() {
    let dir = DataDir::new();
    let name = "Zoë Ñúñez 李小龙 with a name long enough to need more than one encoded word";
    let data = serde_json::json!({"userId": "41", "email": "zoe@example.com", "name": name});
    dir.add(&[
        "welcome-email",
        "--data",
        &data.to_string(),
        "--job-id",
        "welcome-41",
    ]);
    let worker = dir.worker(&[]);
    worker.wait_for_log("job completed", Some("welcome-41"), 1, PATIENCE);
    let raw = std::fs::read_to_string(&dir.emails()[0]).unwrap();
    let subject = subject_header(&raw);
    assert!(subject.is_ascii(), "a raw non-ASCII Subject: {subject:?}");
    assert!(subject.contains("=?utf-8?b?"), "{subject:?}");
    assert!(!subject.contains("Zo"), "the name is not raw: {subject:?}");
    let value = subject.strip_prefix("Subject: ").unwrap();
    assert_eq!(decode_encoded_words(value), format!("Welcome, {name}!"));
    let start = raw.find("\r\nSubject: ").unwrap() + 2;
    let lines = raw[start..].split("\r\n").enumerate();
    for (_, line) in lines.take_while(|(i, l)| *i == 0 || l.starts_with(' ')) {
        assert!(line.len() <= 78, "a Subject line over 78 columns: {line:?}");
    }
}

#[test]
fn names_that_would_deceive_a_mail_reader_fail_the_job_at_once() {
    let dir = DataDir::new();
    let names = [
        ("deceive-1", "=?utf-8?b?YWRtaW5AZXhhbXBsZS5jb20=?="),
        ("deceive-2", "Ann\u{202E}nimda"),
        ("deceive-3", "A\u{200B}nn"),
    ];
    for (id, name) in names {
        let data = serde_json::json!({"userId": id, "email": "ann@example.com", "name": name});
        dir.add(&[
            "welcome-email",
            "--data",
            &data.to_string(),
            "--job-id",
            id,
            "--attempts",
            "3",
        ]);
    }
    let worker = dir.worker(&[]);
    for (id, _) in names {
        worker.wait_for_log("will not be retried", Some(id), 1, PATIENCE);
        let job = dir.job(id).unwrap();
        assert_eq!(
            (job.state, job.attempts_made),
            (JobState::Failed, 1),
            "{id}"
        );
        let reason = job.failed_reason.unwrap();
        assert!(
            reason.contains("the recipient's name must not contain"),
            "{reason}"
        );
    }
    assert!(dir.emails().is_empty(), "no email was written");
}
