//! `svc smoke` against a real stack: the daemon runs the repository's svc.toml (two `svc api`,
//! one `svc worker`) in a temp folder on a free port; the smoke test passes (the throw-away user
//! logs in and deletes itself with its own token), fails naming the step when the worker is
//! stopped, and names the user it could not delete when the login fails. Also the route it
//! relies on, `GET /api/users/:id/welcome-email`. The checks behind the API's access control use
//! an administrator made with `svc user create --admin`.

use crate::common::harness;
use crate::common::tls;
use crate::common::wait::{PATIENCE, holds_within};

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
    request(port, "GET", path, None)
}

/// `method path` without a body, with `token` as the bearer token if given.
fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    let (status, body) = http(port, method, path, &headers, "").unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `POST /api/auth/login` on `port`.
fn login(port: u16, email: &str, password: &str) -> (u16, Value) {
    let body = serde_json::json!({"email": email, "password": password}).to_string();
    let headers = [("Content-Type", "application/json")];
    let (status, body) = http(port, "POST", "/api/auth/login", &headers, &body).unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// An administrator in `project`'s database (`svc user create --admin`, password on stdin),
/// logged in on `port`: its access token. Spends one request of `AUTH_RATE_LIMIT`.
fn admin_token(project: &Project, port: u16) -> String {
    const EMAIL: &str = "admin@example.com";
    const PASSWORD: &str = "smoke test admin password";
    let mut child = Command::new(SVC)
        .arg("--config")
        .arg(project.config())
        .args(["user", "create", "--email", EMAIL, "--name", "Admin"])
        .args(["--admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), PASSWORD.as_bytes()).unwrap();
    assert_ok(
        &child.wait_with_output().unwrap(),
        "svc user create --admin",
    );
    let (status, body) = login(port, EMAIL, PASSWORD);
    assert_eq!(status, 200, "admin login: {body}");
    body["data"]["accessToken"].as_str().unwrap().to_owned()
}

/// No access token (a JWT starts with the base64 of `{"`) in what smoke printed.
fn assert_no_token(out: &Output) {
    let printed = format!("{}{}", stdout(out), stderr(out));
    assert!(!printed.contains("eyJ"), "a token was printed: {printed}");
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
            ("ok", "login"),
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
    assert_no_token(&out);
    let user = user_id(&out);
    let texts: Vec<String> = steps(&out).into_iter().map(|(_, _, text)| text).collect();
    assert!(
        texts[3].starts_with(&format!("POST /api/auth/login: 200, token for user {user}")),
        "{}",
        texts[3]
    );
    assert!(texts[5].contains("with its own token"), "{}", stdout(&out));

    // The email really went out through the worker, once.
    let mail = project.path(&format!("data/outbox/welcome-{user}.eml"));
    assert!(mail.exists(), "no email at {}", mail.display());

    // The throw-away user is soft-deleted: gone, but there for an admin with includeDeleted.
    // Anonymous, the delete is refused: the cleanup authenticated, and smoke has no token but
    // the user's own.
    let path = format!("/api/users/{user}");
    let (status, body) = request(port, "DELETE", &path, None);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let admin = admin_token(&project, port);
    let (status, _) = request(port, "GET", &path, Some(&admin));
    assert_eq!(status, 404);
    let (status, body) = request(
        port,
        "GET",
        &format!("{path}?includeDeleted=true"),
        Some(&admin),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["deletedAt"].is_string(), "{body}");

    // One request id ties the run together across the API and the worker: what the failure
    // hint tells people to run finds the worker's line.
    let id = run_id(&out);
    let worker_saw_it = holds_within(PATIENCE, || {
        let lines = project.svc(&["logs", "--request-id", &id, "--json"]);
        stdout(&lines)
            .lines()
            .any(|l| l.contains("job completed") && l.contains("\"program\":\"worker\""))
    });
    assert!(
        worker_saw_it,
        "svc logs --request-id {id} shows no worker line"
    );
    // The API logged the login of that very user under the run's request id.
    let lines = project.svc(&["logs", "--request-id", &id, "--json"]);
    assert!(
        stdout(&lines)
            .lines()
            .any(|l| l.contains("logged in") && l.contains(&user)),
        "svc logs --request-id {id} shows no login of {user}: {}",
        stdout(&lines)
    );
}

#[test]
fn smoke_fails_at_the_welcome_email_when_no_worker_runs_and_still_cleans_up() {
    let port = free_port();
    let project = stack(port);
    project.start();
    assert_ok(&project.svc(&["stop", "worker"]), "svc stop worker");

    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        marks(&out),
        pairs(&[
            ("ok", "health"),
            ("ok", "ready"),
            ("ok", "sign-up"),
            ("ok", "login"),
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

    // The route shows an admin the job waiting (for the soft-deleted user, with
    // includeDeleted) ...
    let user = user_id(&out);
    let path = format!("/api/users/{user}/welcome-email");
    assert_eq!(get(port, &path).0, 401, "anonymous");
    let admin = admin_token(&project, port);
    let as_admin = |path: &str| request(port, "GET", path, Some(&admin));
    assert_eq!(as_admin(&path).0, 404, "a deleted user's status is hidden");
    let (status, body) = as_admin(&format!("{path}?includeDeleted=true"));
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
    let completed = holds_within(PATIENCE, || {
        last = as_admin(&format!("{path}?includeDeleted=true")).1;
        last["data"]["state"] == "completed"
    });
    assert!(completed, "never completed: {last}");
    assert_eq!(last["data"]["attemptsMade"], 1);
}

#[test]
fn smoke_logs_in_again_when_a_run_outlasts_the_access_token() {
    // Access tokens live 4 s and no worker runs: the welcome-email step polls for the whole
    // 8 s timeout, so its token is renewed on the way, and the cleanup still authenticates.
    let port = free_port();
    let project = stack_with(port, "AUTH_TOKEN_TTL = \"4s\"");
    project.start();
    assert_ok(&project.svc(&["stop", "worker"]), "svc stop worker");

    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "8s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        marks(&out)[3..],
        pairs(&[
            ("ok", "login"),
            ("FAIL", "welcome-email"),
            ("ok", "cleanup"),
        ]),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("last state: waiting"), "never refused: {err}");
    assert_no_token(&out);

    let (user, id) = (user_id(&out), run_id(&out));
    let mut logins = 0;
    let renewed = holds_within(PATIENCE, || {
        let lines = project.svc(&["logs", "--request-id", &id, "--json"]);
        logins = stdout(&lines)
            .lines()
            .filter(|l| l.contains("logged in") && l.contains(&user))
            .count();
        logins >= 2
    });
    assert!(
        renewed,
        "{logins} login(s) of {user} in the run's log lines"
    );
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
    let (mark, step, text) = steps(&out).remove(4);
    assert_eq!((mark.as_str(), step.as_str()), ("FAIL", "welcome-email"));
    assert!(text.contains("failed after 3 attempt(s)"), "{text}");
    assert_eq!(marks(&out)[5], ("ok".to_owned(), "cleanup".to_owned()));
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
    let missing = "/api/users/0123456789abcdef01234567/welcome-email";
    let (status, body) = get(port, missing);
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let admin = admin_token(&project, port);
    let as_admin = |method: &str, path: &str| request(port, method, path, Some(&admin));
    let (status, body) = as_admin("GET", "/api/users/nope/welcome-email");
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_ID")));
    let (status, body) = as_admin("GET", missing);
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, body) = as_admin("GET", &format!("{missing}?jobId=x"));
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let (status, _) = as_admin("POST", missing);
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
            ("skip", "login"),
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
fn smoke_names_the_user_it_cannot_delete_when_the_login_fails() {
    // One request to /api/auth/* per client a day: the admin's login spends it, so smoke's own
    // login is refused (429, with a Retry-After far beyond its timeout).
    let port = free_port();
    let project = stack_with(port, "AUTH_RATE_LIMIT = \"1/24h\"");
    project.start();
    let admin = admin_token(&project, port);

    let out = smoke(&[&format!("http://127.0.0.1:{port}"), "--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        marks(&out),
        pairs(&[
            ("ok", "health"),
            ("ok", "ready"),
            ("ok", "sign-up"),
            ("FAIL", "login"),
            ("skip", "welcome-email"),
            ("FAIL", "cleanup"),
        ]),
        "{}",
        stdout(&out)
    );
    assert_no_token(&out);
    let texts: Vec<String> = steps(&out).into_iter().map(|(_, _, text)| text).collect();
    assert!(
        texts[3].starts_with("POST /api/auth/login: 429"),
        "{}",
        texts[3]
    );
    assert!(texts[5].contains("cannot authenticate"), "{}", texts[5]);

    // stderr: the failed step first, then the user left behind and what an admin must do.
    let user = user_id(&out);
    let err = stderr(&out);
    let first = err.find("failed at step `login`").expect(&err);
    let left = err
        .find(&format!("the throw-away user {user} <"))
        .expect(&err);
    assert!(first < left, "{err}");
    assert!(err.contains("AUTH_RATE_LIMIT"), "{err}");
    assert!(err.contains("was not deleted"), "{err}");
    assert!(
        err.contains(&format!(
            "an admin must remove it: DELETE /api/users/{user}"
        )),
        "{err}"
    );

    // The user is still there, and an admin can remove it as the hint says.
    let path = format!("/api/users/{user}");
    let (status, body) = request(port, "GET", &path, Some(&admin));
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["deletedAt"].is_null(), "{body}");
    let (status, body) = request(port, "DELETE", &path, Some(&admin));
    assert_eq!(status, 200, "{body}");
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
    let pki = tls::Pki::new();
    let proxy = TlsProxy::start(pki.dir(), port);
    let url = format!("https://127.0.0.1:{}", proxy.port);
    let ca = pki.ca();

    let out = smoke(&[&url, "--cacert", ca.to_str().unwrap(), "--timeout", "30s"]);
    assert_ok(&out, "svc smoke https://… --cacert");
    assert!(
        marks(&out).iter().all(|(mark, _)| mark == "ok") && marks(&out).len() == 6,
        "{}",
        stdout(&out)
    );

    // Without the CA the certificate is not trusted: the first step fails, nothing is created.
    let out = smoke(&[&url, "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(marks(&out)[0], ("FAIL".to_owned(), "health".to_owned()));
    assert!(stdout(&out).contains("TLS handshake"), "{}", stdout(&out));
    assert_eq!(marks(&out)[5], ("skip".to_owned(), "cleanup".to_owned()));
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
