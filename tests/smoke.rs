//! `svc smoke` against a real stack: the daemon runs the repository's svc.toml (two `svc api`,
//! one `svc worker`) in a temp folder on a free port; the smoke test passes, and fails naming the
//! step when the worker is stopped. Also the route it relies on,
//! `GET /api/users/:id/welcome-email`.

mod harness;

use std::process::{Command, Output};
use std::time::Duration;

use harness::*;
use serde_json::Value;

/// The repository's svc.toml on `port`.
fn stack(port: u16) -> Project {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/svc.toml")).unwrap();
    Project::new(&toml.replace("3000", &port.to_string()))
}

fn smoke(args: &[&str]) -> Output {
    let mut command = Command::new(SVC);
    command.arg("smoke").args(args);
    run(command)
}

fn get(port: u16, path: &str) -> (u16, Value) {
    let (status, body) = http(port, "GET", path, &[], "").unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The step lines of a smoke run: (mark, step, text).
fn steps(out: &Output) -> Vec<(String, String, String)> {
    stdout(out)
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(2, ' ');
            let mark = parts.next()?;
            if !["ok", "FAIL", "skip"].contains(&mark) {
                return None;
            }
            let rest = parts.next()?.trim_start();
            let (step, text) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((mark.to_owned(), step.to_owned(), text.trim().to_owned()))
        })
        .collect()
}

fn marks(out: &Output) -> Vec<(String, String)> {
    steps(out)
        .into_iter()
        .map(|(mark, step, _)| (mark, step))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(m, s)| ((*m).to_owned(), (*s).to_owned()))
        .collect()
}

/// The user id the sign-up line reports.
fn user_id(out: &Output) -> String {
    let (_, _, text) = steps(out)
        .into_iter()
        .find(|(_, step, _)| step == "sign-up")
        .expect("a sign-up line");
    text.split_whitespace()
        .skip_while(|w| *w != "user")
        .nth(1)
        .expect("the sign-up line names the user")
        .to_owned()
}

/// The request id the first line announces.
fn run_id(out: &Output) -> String {
    let text = stdout(out);
    let start = text.find("request id ").expect("a request id") + "request id ".len();
    text[start..].split([',', ')']).next().unwrap().to_owned()
}

/// Every line of every file the daemon writes into `logs/` (the layout is the log pipeline's).
fn log_lines(project: &Project) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(project.path("logs")).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

#[test]
fn smoke_passes_against_a_running_stack_and_cleans_up() {
    let port = free_port();
    let project = stack(port);
    project.start();

    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "30s"]);
    assert_ok(&out, "svc smoke");
    assert_eq!(
        marks(&out),
        pairs(&[
            ("ok", "health"),
            ("ok", "ready"),
            ("ok", "sign-up"),
            ("ok", "welcome-email"),
            ("ok", "cleanup"),
        ]),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("smoke test passed"),
        "{}",
        stdout(&out)
    );

    // The email really went out through the worker, once.
    let user = user_id(&out);
    let mail = project.path(&format!("data/outbox/welcome-{user}.eml"));
    assert!(mail.exists(), "no email at {}", mail.display());

    // The throw-away user is soft-deleted: gone, but there with includeDeleted.
    let (status, _) = get(port, &format!("/api/users/{user}"));
    assert_eq!(status, 404);
    let (status, body) = get(port, &format!("/api/users/{user}?includeDeleted=true"));
    assert_eq!(status, 200);
    assert!(body["data"]["deletedAt"].is_string(), "{body}");

    // One request id ties the run together across the API and the worker.
    let needle = format!("\"requestId\":\"{}\"", run_id(&out));
    let worker_saw_it = wait_for(Duration::from_secs(10), || {
        log_lines(&project)
            .iter()
            .any(|l| l.contains(&needle) && l.contains("job completed"))
    });
    assert!(worker_saw_it, "no worker line with {needle}");
}

#[test]
fn smoke_fails_at_the_welcome_email_when_no_worker_runs_and_still_cleans_up() {
    let port = free_port();
    let project = stack(port);
    project.start();
    assert_ok(&project.svc(&["stop", "worker"]), "svc stop worker");

    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "3s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        marks(&out),
        pairs(&[
            ("ok", "health"),
            ("ok", "ready"),
            ("ok", "sign-up"),
            ("FAIL", "welcome-email"),
            ("ok", "cleanup"),
        ]),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("failed at step `welcome-email`") && err.contains("last state: waiting"),
        "{err}"
    );
    assert!(
        err.contains("svc worker"),
        "the hint names the worker: {err}"
    );

    // The route shows the job waiting (for the soft-deleted user, with includeDeleted) ...
    let user = user_id(&out);
    let path = format!("/api/users/{user}/welcome-email");
    assert_eq!(get(port, &path).0, 404, "a deleted user's status is hidden");
    let (status, body) = get(port, &format!("{path}?includeDeleted=true"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["jobId"], format!("welcome-{user}"));
    assert_eq!(body["data"]["state"], "waiting");
    assert_eq!(body["data"]["attemptsMade"], 0);
    assert_eq!(
        body["data"].as_object().unwrap().len(),
        3,
        "no job data or failure reason is shown: {body}"
    );

    // ... and completed once a worker runs again.
    assert_ok(&project.svc(&["start", "worker"]), "svc start worker");
    let mut last = Value::Null;
    let completed = wait_for(Duration::from_secs(20), || {
        last = get(port, &format!("{path}?includeDeleted=true")).1;
        last["data"]["state"] == "completed"
    });
    assert!(completed, "never completed: {last}");
    assert_eq!(last["data"]["attemptsMade"], 1);
}

#[test]
fn the_welcome_email_route_validates_its_input() {
    let port = free_port();
    let project = stack(port);
    project.start();
    let (status, body) = get(port, "/api/users/nope/welcome-email");
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_ID")));
    let missing = "/api/users/0123456789abcdef01234567/welcome-email";
    let (status, body) = get(port, missing);
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, body) = get(port, &format!("{missing}?jobId=x"));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let (status, _) = http(port, "POST", missing, &[], "").unwrap();
    assert_eq!(status, 404, "read-only");
}

#[test]
fn smoke_fails_at_health_when_nothing_listens_and_skips_the_rest() {
    let port = free_port();
    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        marks(&out),
        pairs(&[
            ("FAIL", "health"),
            ("skip", "ready"),
            ("skip", "sign-up"),
            ("skip", "welcome-email"),
            ("skip", "cleanup"),
        ]),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("failed at step `health`"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("cannot connect"), "{}", stdout(&out));
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["ftp://example.com"][..],
        &["example.com:3000"],
        &["http://127.0.0.1:1", "--timeout", "soon"],
        &["http://127.0.0.1:1", "--email-domain", "nope"],
    ] {
        let out = smoke(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out)
                .lines()
                .next()
                .map(|l| l.starts_with("error: ")),
            Some(true)
        );
    }
}
