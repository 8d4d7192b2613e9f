//! `svc worker` sending through a real SMTP server on loopback: Python's `aiosmtpd` from PyPI,
//! installed by `scripts/test.sh` into `target/pyenv`.

use crate::common::wait::{PATIENCE, wait_until};
use crate::common::worker as support;

use support::smtp::{Aiosmtpd, aiosmtpd_python};
use support::{DataDir, welcome_data};
use svc::queue::JobState;

/// The Python with aiosmtpd that scripts/test.sh installs; its absence fails the test, since the
/// SMTP transport is tested only against a real server.
fn smtp_python() -> std::path::PathBuf {
    aiosmtpd_python().expect(
        "aiosmtpd is not installed in target/pyenv; run scripts/test.sh (it installs it) to test \
         the SMTP transport against a real server",
    )
}

fn saved(dir: &std::path::Path) -> Vec<String> {
    let mut messages: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    messages.sort();
    messages
}

#[test]
fn the_welcome_email_is_delivered_over_smtp() {
    let python = smtp_python();
    let dir = DataDir::new();
    let inbox = tempfile::tempdir().unwrap();
    let server = Aiosmtpd::start(&python, inbox.path(), 0);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("21", "req-smtp"),
        "--job-id",
        "welcome-21",
    ]);
    let worker = dir.worker(&[
        ("SMTP_URL", &server.url()),
        ("MAIL_FROM", "Team <team@example.org>"),
    ]);
    worker.wait_for_log("job completed", Some("welcome-21"), 1, PATIENCE);
    wait_until("the message to be saved", || saved(inbox.path()).len() == 1);
    let message = &saved(inbox.path())[0];
    assert!(
        message.contains("X-Rcpt-To: user21@example.com"),
        "{message}"
    );
    assert!(
        message.contains("From: Team <team@example.org>"),
        "{message}"
    );
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(message.contains("text/plain") && message.contains("text/html"));
    assert!(message.contains("Hello User 21"));
    let job = dir.job("welcome-21").unwrap();
    assert_eq!(
        job.returnvalue,
        Some(serde_json::json!({"transport": "smtp"}))
    );
    assert!(dir.emails().is_empty(), "no outbox file with SMTP");
}

#[test]
fn a_greylisting_server_gets_the_email_on_the_retry_once() {
    let python = smtp_python();
    let dir = DataDir::new();
    let inbox = tempfile::tempdir().unwrap();
    let server = Aiosmtpd::start(&python, inbox.path(), 1);
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("22", "req-grey"),
        "--job-id",
        "welcome-22",
        "--attempts",
        "3",
        "--backoff",
        "fixed:300ms",
    ]);
    let worker = dir.worker(&[("SMTP_URL", &server.url())]);
    let failed = worker.wait_for_log("job attempt failed", Some("welcome-22"), 1, PATIENCE);
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("451"),
        "{}",
        failed[0]
    );
    worker.wait_for_log("job completed", Some("welcome-22"), 1, PATIENCE);
    let job = dir.job("welcome-22").unwrap();
    assert_eq!((job.state, job.attempts_made), (JobState::Completed, 2));
    assert_eq!(saved(inbox.path()).len(), 1);
}

#[test]
fn an_unreachable_smtp_server_fails_the_attempt_and_the_job_is_retried() {
    let dir = DataDir::new();
    // A port with nothing listening: connection refused.
    let port = crate::common::harness::free_port();
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("23", "r"),
        "--job-id",
        "welcome-23",
        "--attempts",
        "2",
        "--backoff",
        "fixed:100ms",
    ]);
    let worker = dir.worker(&[("SMTP_URL", &format!("smtp://127.0.0.1:{port}"))]);
    worker.wait_for_log("retries exhausted", Some("welcome-23"), 1, PATIENCE);
    let job = dir.job("welcome-23").unwrap();
    assert_eq!((job.state, job.attempts_made), (JobState::Failed, 2));
    assert!(job.failed_reason.unwrap().contains("SMTP delivery failed"));
}

#[test]
fn smtp_credentials_without_tls_are_refused_at_start() {
    let dir = DataDir::new();
    for url in [
        "smtp://mailer:s3cret-pw@127.0.0.1:2525",
        "smtp://mailer:s3cret-pw@127.0.0.1:2525?tls=opportunistic",
    ] {
        let mut worker = dir.worker(&[("SMTP_URL", url)]);
        let status = worker.wait_exit(PATIENCE);
        assert_eq!(status.code(), Some(2), "{url}\n{}", worker.dump());
        let stderr = worker.stderr();
        assert!(stderr.contains("SMTP_URL"), "{stderr}");
        assert!(
            stderr.contains("smtps://") && stderr.contains("tls=required"),
            "{stderr}"
        );
        assert!(
            !worker.dump().contains("s3cret-pw"),
            "the password was shown:\n{}",
            worker.dump()
        );
    }
    // With STARTTLS required, the same credentials are accepted (sent only once encrypted).
    let worker = dir.worker(&[(
        "SMTP_URL",
        "smtp://mailer:s3cret-pw@127.0.0.1:2525?tls=required",
    )]);
    worker.wait_for_log("worker ready", None, 1, PATIENCE);
}

#[test]
fn a_rejected_recipient_fails_the_job_and_its_address_is_never_logged() {
    let python = smtp_python();
    let dir = DataDir::new();
    let inbox = tempfile::tempdir().unwrap();
    let server = Aiosmtpd::start_rejecting(&python, inbox.path(), "user31@");
    dir.add(&[
        "welcome-email",
        "--data",
        &welcome_data("31", "req-rejected"),
        "--job-id",
        "welcome-31",
        "--attempts",
        "3",
    ]);
    let mut worker = dir.worker(&[("SMTP_URL", &server.url())]);
    let failed = worker.wait_for_log("will not be retried", Some("welcome-31"), 1, PATIENCE);
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("550"), "{reason}");
    assert!(reason.contains("user 31"), "the user id is named: {reason}");
    assert!(reason.contains("<address>"), "{reason}");
    let job = dir.job("welcome-31").unwrap();
    assert_eq!((job.state, job.attempts_made), (JobState::Failed, 1));
    assert!(
        !job.failed_reason.unwrap().contains("user31@"),
        "the stored reason names the recipient"
    );
    assert!(saved(inbox.path()).is_empty());
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    worker.wait_exit(PATIENCE);
    let output = worker.dump();
    assert!(
        !output.contains("user31@example.com"),
        "the worker logged the recipient's address:\n{output}"
    );
}
