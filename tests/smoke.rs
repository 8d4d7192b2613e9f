//! `svc smoke` against a real stack: the daemon runs the repository's svc.toml (two `svc api`,
//! one `svc worker`) in a temp folder on a free port; the smoke test passes, and fails naming the
//! step when the worker is stopped. Also the route it relies on,
//! `GET /api/users/:id/welcome-email`.

use crate::harness;
use crate::tls_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use harness::*;
use serde_json::Value;

/// The repository's svc.toml on `port`.
fn stack(port: u16) -> Project {
    stack_with(port, "")
}

/// The repository's svc.toml on `port`, with `extra_env` added to `[env]`.
fn stack_with(port: u16, extra_env: &str) -> Project {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/svc.toml")).unwrap();
    let toml = toml.replace("3000", &port.to_string());
    Project::new(&toml.replacen("[env]", &format!("[env]\n{extra_env}"), 1))
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

    // One request id ties the run together across the API and the worker: what the failure
    // hint tells people to run finds the worker's line.
    let id = run_id(&out);
    let worker_saw_it = wait_for(Duration::from_secs(10), || {
        let lines = project.svc(&["logs", "--request-id", &id, "--json"]);
        stdout(&lines)
            .lines()
            .any(|l| l.contains("job completed") && l.contains("\"program\":\"worker\""))
    });
    assert!(
        worker_saw_it,
        "svc logs --request-id {id} shows no worker line"
    );
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
fn smoke_fails_at_once_when_the_welcome_email_fails_for_good() {
    // Nothing listens on the mail port: every attempt is refused (1 s, 2 s backoff), then the
    // job fails; smoke reports that without waiting for its timeout.
    let port = free_port();
    let project = stack_with(
        port,
        &format!("SMTP_URL = \"smtp://127.0.0.1:{}\"", free_port()),
    );
    project.start();
    let started = std::time::Instant::now();
    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "it waited for the timeout"
    );
    let (mark, step, text) = steps(&out).remove(3);
    assert_eq!((mark.as_str(), step.as_str()), ("FAIL", "welcome-email"));
    assert!(text.contains("failed after 3 attempt(s)"), "{text}");
    assert_eq!(marks(&out)[4], ("ok".to_owned(), "cleanup".to_owned()));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("svc logs --request-id {}", run_id(&out))),
        "{err}"
    );
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

/// `tests/fixtures/tls_proxy.py`: TLS on a free port in front of `upstream`; killed on drop.
struct TlsProxy {
    child: Child,
    port: u16,
}

impl TlsProxy {
    fn start(dir: &Path, upstream: u16) -> TlsProxy {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls_proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .arg(upstream.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the proxy said {line:?}"));
        TlsProxy { child, port }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn smoke_speaks_https_and_trusts_a_private_ca_only_with_cacert() {
    let port = free_port();
    let project = stack(port);
    project.start();
    let pki = tls_support::Pki::new();
    let proxy = TlsProxy::start(pki.dir(), port);
    let url = format!("https://127.0.0.1:{}", proxy.port);
    let ca = pki.ca();

    let out = smoke(&[&url, "--cacert", ca.to_str().unwrap(), "--timeout", "30s"]);
    assert_ok(&out, "svc smoke https://… --cacert");
    assert!(
        marks(&out).iter().all(|(mark, _)| mark == "ok") && marks(&out).len() == 5,
        "{}",
        stdout(&out)
    );

    // Without the CA the certificate is not trusted: the first step fails, nothing is created.
    let out = smoke(&[&url, "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(marks(&out)[0], ("FAIL".to_owned(), "health".to_owned()));
    assert!(stdout(&out).contains("TLS handshake"), "{}", stdout(&out));
    assert_eq!(marks(&out)[4], ("skip".to_owned(), "cleanup".to_owned()));
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["ftp://example.com"][..],
        &["example.com:3000"],
        &["http://127.0.0.1:1", "--timeout", "soon"],
        &["http://127.0.0.1:1", "--email-domain", "nope"],
        &["http://127.0.0.1:1", "--cacert", "ca.pem"],
        &["https://127.0.0.1:1", "--cacert", "/nonexistent/ca.pem"],
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
