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
mod step;
mod user;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;

use super::runtime;
use crate::cli::{CliError, CliResult, SmokeArgs};
use crate::domain::Email;
use http::{Client, HttpError, Reply, Target};
use step::{Outcome, Step, line};
use user::{Session, SignedUp};

/// The longest single request; the run's deadline may cut it shorter.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Polls start this often and back off to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(1);
/// Accepted `--timeout` range.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

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
mod tests;
