//! `svc smoke [URL]`: the post-deploy smoke test a pipeline gates on.
//!
//! Six steps, one line each on stdout (`ok`, `FAIL` or `skip`, the step, what was seen):
//! `health` (`GET /health`), `ready` (`GET /ready`: database and queue), `sign-up` (a throw-away
//! user with a unique address and a random password), `login` (`POST /api/auth/login` with that
//! password: the user's own access token), `welcome-email` (polls
//! `GET /api/users/:id/welcome-email` with that token until the job the sign-up recorded is
//! `completed`: it went through the outbox relay, the queue the target really uses, and a
//! worker), and `cleanup` (the user soft-deletes itself with its token; it runs whenever the
//! sign-up succeeded, even after a failure). Exit 0 when all pass, 1 naming the failed step, 2
//! for bad arguments. A user the cleanup could not delete (without a login it cannot) is named
//! on stderr for an admin to remove.
//!
//! Every request carries the same `X-Request-ID` (`smoke-…`, printed first), so
//! `svc logs --request-id` (or the log store) shows the whole run across the API and the worker.
//! Neither the password nor a token is ever printed.

mod http;

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value, json};

use super::runtime;
use crate::cli::{CliError, CliResult, SmokeArgs};
use crate::domain::Email;
use http::{Client, HttpError, Reply, Target};

/// The longest single request; the run's deadline may cut it shorter.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The budget of the cleanup, which runs even when the deadline has passed.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Polls start this often and back off to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(1);
/// Accepted `--timeout` range.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Health,
    Ready,
    SignUp,
    Login,
    WelcomeEmail,
    Cleanup,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Health,
        Step::Ready,
        Step::SignUp,
        Step::Login,
        Step::WelcomeEmail,
        Step::Cleanup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Health => "health",
            Step::Ready => "ready",
            Step::SignUp => "sign-up",
            Step::Login => "login",
            Step::WelcomeEmail => "welcome-email",
            Step::Cleanup => "cleanup",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    Fail {
        reason: String,
        hint: Option<String>,
    },
    Skip(String),
}

impl Outcome {
    fn fail(reason: impl Into<String>) -> Self {
        Outcome::Fail {
            reason: reason.into(),
            hint: None,
        }
    }

    fn fail_with_hint(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Outcome::Fail {
            reason: reason.into(),
            hint: Some(hint.into()),
        }
    }
}

/// One output line: `ok    health         GET /health: 200 in 3ms`.
pub fn line(step: Step, outcome: &Outcome) -> String {
    let (mark, text) = match outcome {
        Outcome::Ok(text) => ("ok", text),
        Outcome::Fail { reason, .. } => ("FAIL", reason),
        Outcome::Skip(text) => ("skip", text),
    };
    format!("{mark:<5} {:<14} {text}", step.name())
}

/// The validated arguments.
#[derive(Debug, Clone)]
struct Plan {
    target: Target,
    url: String,
    timeout: Duration,
    email_domain: String,
}

impl Plan {
    fn from_args(args: &SmokeArgs) -> Result<Self, CliError> {
        let target = Target::parse(&args.url).map_err(|e| {
            CliError::usage(e.to_string())
                .hint("give the API's base URL, e.g. svc smoke http://127.0.0.1:3000")
        })?;
        let timeout = humantime::parse_duration(args.timeout.trim()).map_err(|_| {
            CliError::usage(format!(
                "--timeout {:?} is not a duration such as 30s or 2m",
                args.timeout
            ))
        })?;
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
            return Err(CliError::usage(format!(
                "--timeout {:?} must be from 1s to 1h",
                args.timeout
            )));
        }
        if args.cacert.is_some() && !target.tls {
            return Err(CliError::usage("--cacert applies to https:// URLs only"));
        }
        let domain = args.email_domain.trim().to_ascii_lowercase();
        Email::parse(&format!("smoke@{domain}")).map_err(|_| {
            CliError::usage(format!(
                "--email-domain {:?} is not a domain like example.com",
                args.email_domain
            ))
        })?;
        Ok(Plan {
            target,
            url: args.url.trim().trim_end_matches('/').to_owned(),
            timeout,
            email_domain: domain,
        })
    }
}

/// Runs `svc smoke`.
///
/// # Errors
/// A usage error (exit 2) for bad arguments; a failure (exit 1) naming the step that failed.
pub fn run(args: &SmokeArgs) -> CliResult {
    let plan = Plan::from_args(args)?;
    let client = Client::new(plan.target.clone(), args.cacert.as_deref()).map_err(|e| match e {
        HttpError::CaFile { .. } => CliError::usage(e.to_string()),
        other => CliError::failure(other.to_string()),
    })?;
    let run_id = format!("smoke-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    println!(
        "smoke test of {} (request id {run_id}, timeout {})",
        plan.url,
        humantime::format_duration(plan.timeout)
    );
    let started = Instant::now();
    let smoke = Smoke {
        client,
        run_id,
        deadline: started + plan.timeout,
        timeout: plan.timeout,
        email_domain: plan.email_domain.clone(),
    };
    let report =
        runtime()?.block_on(smoke.run_all(|step, outcome| println!("{}", line(step, outcome))));
    let Some(Failure { step, reason, hint }) = report.failure else {
        println!(
            "smoke test passed in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let error = CliError::failure(format!("smoke test failed at step `{step}`: {reason}"));
    let error = match hint {
        Some(hint) => error.hint(hint),
        None => error,
    };
    match report.left_behind {
        None => Err(error),
        Some(user) => {
            // Two errors: the step that failed first, then the user an admin has to remove.
            let code = error.report();
            eprintln!("{}", user.error());
            Ok(code)
        }
    }
}

/// A run in progress.
struct Smoke {
    client: Client,
    run_id: String,
    deadline: Instant,
    timeout: Duration,
    email_domain: String,
}

/// The user the sign-up created, and its password (kept for the login; never printed, hence
/// no `Debug`).
struct SignedUp {
    id: String,
    email: String,
    password: String,
}

/// The user's login: its access token, and when to log in again for a fresh one (a run may
/// outlast an access token: `--timeout` goes up to 1h, the API's `AUTH_TOKEN_TTL` is 15m by
/// default). Never printed, hence no `Debug`.
struct Session {
    token: String,
    renew_at: Option<Instant>,
}

/// The first step that failed, for the error line and its hint.
struct Failure {
    step: Step,
    reason: String,
    hint: Option<String>,
}

/// A user the cleanup could not delete.
struct LeftBehind {
    id: String,
    email: String,
    reason: String,
}

impl LeftBehind {
    /// The error naming the user, with what an admin has to do.
    fn error(&self) -> CliError {
        CliError::failure(format!(
            "the throw-away user {} <{}> was not deleted: {}",
            self.id, self.email, self.reason
        ))
        .hint(format!(
            "an admin must remove it: DELETE /api/users/{} with an admin's access token",
            self.id
        ))
    }
}

/// What a run found.
struct Report {
    /// The first step that failed.
    failure: Option<Failure>,
    /// The user, when it was created but not deleted.
    left_behind: Option<LeftBehind>,
}

/// The hint for a 401 on the user's own, freshly issued token.
const TOKEN_REFUSED: &str = "the API refused the user's own access token: do all its instances \
     share one signing key (AUTH_SECRET, or the same DATA_DIR on the embedded store)?";

impl Smoke {
    /// Runs every step, reporting each through `report`.
    async fn run_all(&self, mut report: impl FnMut(Step, &Outcome)) -> Report {
        let mut failed: Option<Failure> = None;
        let mut user: Option<SignedUp> = None;
        let mut session: Option<Session> = None;
        let mut left_behind: Option<LeftBehind> = None;
        for step in Step::ALL {
            let outcome = match (step, &failed) {
                (Step::Cleanup, _) => match &user {
                    Some(user) => {
                        let outcome = self.cleanup(user, session.as_mut()).await;
                        if let Outcome::Fail { reason, .. } = &outcome {
                            left_behind = Some(LeftBehind {
                                id: user.id.clone(),
                                email: user.email.clone(),
                                reason: reason.clone(),
                            });
                        }
                        outcome
                    }
                    None => Outcome::Skip("no user was created".into()),
                },
                (_, Some(first)) => Outcome::Skip(format!("{} failed", first.step)),
                (Step::Health, None) => self.health().await,
                (Step::Ready, None) => self.ready().await,
                (Step::SignUp, None) => match self.sign_up().await {
                    Ok((signed_up, text)) => {
                        user = Some(signed_up);
                        Outcome::Ok(text)
                    }
                    Err(outcome) => outcome,
                },
                (Step::Login, None) => match &user {
                    Some(user) => match self.log_in(user, self.deadline).await {
                        Ok((new, text)) => {
                            session = Some(new);
                            Outcome::Ok(text)
                        }
                        Err(outcome) => outcome,
                    },
                    None => Outcome::fail("no user to log in"),
                },
                (Step::WelcomeEmail, None) => match (&user, session.as_mut()) {
                    (Some(user), Some(session)) => self.welcome_email(user, session).await,
                    _ => Outcome::fail("no logged-in user to follow"),
                },
            };
            report(step, &outcome);
            if let (Outcome::Fail { reason, hint }, None) = (&outcome, &failed) {
                failed = Some(Failure {
                    step,
                    reason: reason.clone(),
                    hint: hint.clone(),
                });
            }
        }
        Report {
            failure: failed,
            left_behind,
        }
    }

    /// The time left before the deadline.
    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sends a request with the run's request id and, given a `token`, as the user it names.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
        budget: Duration,
    ) -> Result<Reply, HttpError> {
        let mut headers = vec![("x-request-id", self.run_id.clone())];
        if let Some(token) = token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        self.client
            .send(method, path, body, &headers, budget.min(REQUEST_TIMEOUT))
            .await
    }

    /// `GET path` until it answers 200 or the deadline passes (the target may still be
    /// rolling out); returns the 200 reply and how long it took, or the last problem seen.
    async fn poll_ok(&self, path: &str) -> Result<(Reply, Duration), String> {
        let started = Instant::now();
        let mut wait = FIRST_POLL;
        loop {
            let last = match self
                .send(Method::GET, path, None, None, self.remaining())
                .await
            {
                Ok(reply) if reply.status == 200 => return Ok((reply, started.elapsed())),
                Ok(reply) => format!("{}{}", reply.status, problem(&reply)),
                Err(error) => error.to_string(),
            };
            if self.remaining() <= wait {
                return Err(format!(
                    "GET {path}: no 200 within {} (last: {last})",
                    humantime::format_duration(self.timeout)
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL);
        }
    }

    async fn health(&self) -> Outcome {
        match self.poll_ok("/health").await {
            Ok((_, took)) => Outcome::Ok(format!("GET /health: 200 in {}", ms(took))),
            Err(reason) => Outcome::fail_with_hint(reason, "is the URL right and the API running?"),
        }
    }

    async fn ready(&self) -> Outcome {
        match self.poll_ok("/ready").await {
            Ok((reply, took)) => {
                let checks = reply.json()["checks"]
                    .as_object()
                    .map(|checks| {
                        checks
                            .iter()
                            .map(|(name, state)| {
                                format!("{name} {}", state.as_str().unwrap_or("?"))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                Outcome::Ok(format!("GET /ready: 200 ({checks}) in {}", ms(took)))
            }
            Err(reason) => Outcome::fail_with_hint(
                reason,
                "the API cannot reach its database or queue (DB_URL, REDIS_URL)",
            ),
        }
    }

    async fn sign_up(&self) -> Result<(SignedUp, String), Outcome> {
        let email = format!("{}@{}", self.run_id, self.email_domain);
        let password = uuid::Uuid::new_v4().simple().to_string();
        let body = json!({"name": "svc smoke test", "email": email, "password": password});
        let reply = self
            .send(
                Method::POST,
                "/api/users",
                Some(&body),
                None,
                self.remaining(),
            )
            .await
            .map_err(|e| Outcome::fail(format!("POST /api/users: {e}")))?;
        if reply.status != 201 {
            return Err(Outcome::fail(format!(
                "POST /api/users: {}{}",
                reply.status,
                problem(&reply)
            )));
        }
        let json = reply.json();
        let id = json["data"]["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| Outcome::fail("POST /api/users: 201 without a user id in data.id"))?;
        let text = format!("POST /api/users: 201, user {id} <{email}>");
        let user = SignedUp {
            id: id.to_owned(),
            email,
            password,
        };
        Ok((user, text))
    }

    /// Logs the user in with its password before `until`, waiting out a 429 whose
    /// `Retry-After` fits; returns the login and the step's line.
    async fn log_in(&self, user: &SignedUp, until: Instant) -> Result<(Session, String), Outcome> {
        const LOGIN: &str = "POST /api/auth/login";
        let body = json!({"email": user.email, "password": user.password});
        let reply = loop {
            let budget = until.saturating_duration_since(Instant::now());
            let reply = self
                .send(Method::POST, "/api/auth/login", Some(&body), None, budget)
                .await
                .map_err(|e| Outcome::fail(format!("{LOGIN}: {e}")))?;
            let seen = format!("{LOGIN}: {}{}", reply.status, problem(&reply));
            match reply.status {
                200 => break reply,
                429 => {
                    let wait = reply.retry_after().unwrap_or(FIRST_POLL);
                    if wait < until.saturating_duration_since(Instant::now()) {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(Outcome::fail_with_hint(
                        format!("{seen}, retry after {}", humantime::format_duration(wait)),
                        "this address made too many requests to /api/auth/* (the API's \
                         AUTH_RATE_LIMIT, 20 per 15m by default): run it again later",
                    ));
                }
                401 => {
                    return Err(Outcome::fail_with_hint(
                        seen,
                        "the API refused the password the sign-up just set: do all its \
                         instances use the same database (DB_URL, or DATA_DIR)?",
                    ));
                }
                404 => {
                    return Err(Outcome::fail_with_hint(
                        seen,
                        "the target's API predates POST /api/auth/login; upgrade it",
                    ));
                }
                _ => return Err(Outcome::fail(seen)),
            }
        };
        let json = reply.json();
        let data = &json["data"];
        let token = data["accessToken"]
            .as_str()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| Outcome::fail(format!("{LOGIN}: 200 without data.accessToken")))?;
        if let Some(kind) = data["tokenType"]
            .as_str()
            .filter(|kind| !kind.eq_ignore_ascii_case("bearer"))
        {
            return Err(Outcome::fail(format!(
                "{LOGIN}: 200 with a {:?} token, not a Bearer one",
                kind.chars().take(20).collect::<String>()
            )));
        }
        let lifetime = data["expiresIn"]
            .as_u64()
            .filter(|&secs| secs > 0)
            .map(Duration::from_secs);
        // Renewed early: a quarter of its life (at most a minute) plus a second, as the API
        // counts the lifetime in whole seconds from when it issued the token.
        let renew_at = lifetime.map(|lifetime| {
            let margin = (lifetime / 4).min(Duration::from_secs(60)) + Duration::from_secs(1);
            Instant::now() + lifetime.saturating_sub(margin)
        });
        let expires = lifetime
            .map(|l| format!(" (expires in {})", humantime::format_duration(l)))
            .unwrap_or_default();
        let text = format!("{LOGIN}: 200, token for user {}{expires}", user.id);
        let session = Session {
            token: token.to_owned(),
            renew_at,
        };
        Ok((session, text))
    }

    /// The session's token, after logging in again (before `until`) when it is about to
    /// expire.
    async fn token(
        &self,
        user: &SignedUp,
        session: &mut Session,
        until: Instant,
    ) -> Result<String, Outcome> {
        if session.renew_at.is_some_and(|at| Instant::now() >= at) {
            let (renewed, _) = self.log_in(user, until).await.map_err(|outcome| {
                let Outcome::Fail { reason, hint } = outcome else {
                    return outcome;
                };
                Outcome::Fail {
                    reason: format!("logging in again for a fresh token: {reason}"),
                    hint,
                }
            })?;
            *session = renewed;
        }
        Ok(session.token.clone())
    }

    /// Polls the user's welcome-email status, as the user, until `completed`, `failed`, or
    /// the deadline.
    async fn welcome_email(&self, user: &SignedUp, session: &mut Session) -> Outcome {
        let path = format!("/api/users/{}/welcome-email", user.id);
        let started = Instant::now();
        let mut wait = FIRST_POLL;
        loop {
            let token = match self.token(user, session, self.deadline).await {
                Ok(token) => token,
                Err(outcome) => return outcome,
            };
            let sent = self
                .send(Method::GET, &path, None, Some(&token), self.remaining())
                .await;
            let last = match sent {
                Ok(reply) if reply.status == 200 => {
                    let data = &reply.json()["data"];
                    let state = data["state"].as_str().unwrap_or("?").to_owned();
                    let job = data["jobId"].as_str().unwrap_or("?").to_owned();
                    let attempts = data["attemptsMade"].as_u64().unwrap_or(0);
                    match state.as_str() {
                        "completed" => {
                            return Outcome::Ok(format!(
                                "job {job} completed after {attempts} attempt(s) in {}",
                                ms(started.elapsed())
                            ));
                        }
                        "failed" => {
                            return Outcome::fail_with_hint(
                                format!("job {job} failed after {attempts} attempt(s)"),
                                format!(
                                    "the worker's lines with requestId {0} say why \
                                     (svc logs --request-id {0}, or the log store)",
                                    self.run_id
                                ),
                            );
                        }
                        _ => state,
                    }
                }
                Ok(reply) if reply.status == 401 => {
                    return Outcome::fail_with_hint(
                        format!("GET {path}: 401{}", problem(&reply)),
                        TOKEN_REFUSED,
                    );
                }
                Ok(reply) if reply.status == 404 => {
                    return Outcome::fail_with_hint(
                        format!("GET {path}: 404{}", problem(&reply)),
                        "the target's API predates GET /api/users/:id/welcome-email; upgrade it",
                    );
                }
                Ok(reply) => {
                    if let Some(after) = reply.retry_after().filter(|_| reply.status == 429) {
                        wait = wait.max(after);
                    }
                    format!("{}{}", reply.status, problem(&reply))
                }
                Err(error) => error.to_string(),
            };
            if self.remaining() <= wait {
                return Outcome::fail_with_hint(
                    format!(
                        "welcome-{} not completed within {} (last state: {last})",
                        user.id,
                        humantime::format_duration(self.timeout)
                    ),
                    stuck_hint(&last),
                );
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL);
        }
    }

    /// The user deletes itself with its own token; without a login there is none.
    async fn cleanup(&self, user: &SignedUp, session: Option<&mut Session>) -> Outcome {
        let path = format!("/api/users/{}", user.id);
        let Some(session) = session else {
            return Outcome::fail(format!(
                "cannot authenticate DELETE {path}: the login failed, so there is no token of \
                 the user to send"
            ));
        };
        let until = Instant::now() + CLEANUP_TIMEOUT;
        let token = match self.token(user, session, until).await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        let budget = until.saturating_duration_since(Instant::now());
        match self
            .send(Method::DELETE, &path, None, Some(&token), budget)
            .await
        {
            Ok(reply) if reply.status == 200 => Outcome::Ok(format!(
                "DELETE {path}: 200 (soft-deleted with its own token)"
            )),
            Ok(reply) if reply.status == 401 => Outcome::fail_with_hint(
                format!("DELETE {path}: 401{}", problem(&reply)),
                TOKEN_REFUSED,
            ),
            Ok(reply) => Outcome::fail(format!(
                "DELETE {path}: {}{}",
                reply.status,
                problem(&reply)
            )),
            Err(error) => Outcome::fail(format!("DELETE {path}: {error}")),
        }
    }
}

/// What a job stuck in `state` most likely means.
fn stuck_hint(state: &str) -> String {
    match state {
        "waiting" | "prioritized" | "notQueued" => {
            "no worker took the job: is `svc worker` running against the same queue as the API \
             (REDIS_URL, or DATA_DIR for the embedded queue)?"
        }
        "active" => {
            "a worker took the job but has not finished it: check the mail server (SMTP_URL)"
        }
        "delayed" => "an attempt failed and waits for a retry: check the worker's logs",
        _ => "the API did not answer the status requests: check its logs",
    }
    .to_owned()
}

/// `: message` from an error body in the API's shape, or nothing.
fn problem(reply: &Reply) -> String {
    reply.json()["message"]
        .as_str()
        .map(|m| format!(" ({})", m.chars().take(200).collect::<String>()))
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str, timeout: &str, domain: &str) -> SmokeArgs {
        SmokeArgs {
            url: url.into(),
            timeout: timeout.into(),
            email_domain: domain.into(),
            cacert: None,
        }
    }

    #[test]
    fn lines_align_and_name_the_step() {
        assert_eq!(
            line(Step::WelcomeEmail, &Outcome::Ok("done".into())),
            "ok    welcome-email  done"
        );
        assert_eq!(
            line(Step::Health, &Outcome::fail("down")),
            "FAIL  health         down"
        );
        assert_eq!(
            line(Step::Login, &Outcome::Skip("sign-up failed".into())),
            "skip  login          sign-up failed"
        );
        let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "health",
                "ready",
                "sign-up",
                "login",
                "welcome-email",
                "cleanup"
            ]
        );
    }

    #[test]
    fn a_user_left_behind_is_named_for_an_admin() {
        let user = LeftBehind {
            id: "0123456789abcdef01234567".into(),
            email: "smoke-1@example.com".into(),
            reason: "the login failed".into(),
        };
        let text = user.error().to_string();
        assert!(
            text.starts_with(
                "error: the throw-away user 0123456789abcdef01234567 <smoke-1@example.com> \
                 was not deleted: the login failed"
            ),
            "{text}"
        );
        assert!(
            text.contains("an admin must remove it: DELETE /api/users/0123456789abcdef01234567"),
            "{text}"
        );
    }

    #[test]
    fn arguments_are_validated() {
        assert!(Plan::from_args(&args("http://127.0.0.1:3000/", "30s", "example.com")).is_ok());
        for (url, timeout, domain) in [
            ("localhost:3000", "30s", "example.com"),
            ("http://h", "soon", "example.com"),
            ("http://h", "0s", "example.com"),
            ("http://h", "2h", "example.com"),
            ("http://h", "30s", "not a domain"),
            ("http://h", "30s", "localhost"),
        ] {
            let error = Plan::from_args(&args(url, timeout, domain)).unwrap_err();
            assert_eq!(
                error.kind,
                crate::cli::exit::ExitKind::Usage,
                "{url} {timeout} {domain}"
            );
        }
    }

    #[test]
    fn a_stuck_job_gets_a_hint_for_its_state() {
        assert!(stuck_hint("waiting").contains("svc worker"));
        assert!(stuck_hint("notQueued").contains("svc worker"));
        assert!(stuck_hint("active").contains("SMTP_URL"));
    }
}
