//! The steps that act as a throw-away user: sign-up, login, the welcome email, and the cleanup
//! that deletes the user again.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::json;

use super::step::Outcome;
use super::{FIRST_POLL, MAX_POLL, Smoke, ms, problem};

/// The budget of the cleanup, which runs even when the deadline has passed.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The user the sign-up created, and its password (kept for the login; never printed, hence
/// no `Debug`).
pub(super) struct SignedUp {
    pub(super) id: String,
    pub(super) email: String,
    password: String,
}

/// The user's login: its access token, and when to log in again for a fresh one (a run may
/// outlast an access token: `--timeout` goes up to 1h, the API's `AUTH_TOKEN_TTL` is 15m by
/// default). Never printed, hence no `Debug`.
pub(super) struct Session {
    token: String,
    renew_at: Option<Instant>,
}

/// The hint for a 401 on the user's own, freshly issued token.
const TOKEN_REFUSED: &str = "the API refused the user's own access token: do all its instances \
     share one signing key (AUTH_SECRET, or the same DATA_DIR on the embedded store)?";

impl Smoke {
    pub(super) async fn sign_up(&self) -> Result<(SignedUp, String), Outcome> {
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
    pub(super) async fn log_in(
        &self,
        user: &SignedUp,
        until: Instant,
    ) -> Result<(Session, String), Outcome> {
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
    pub(super) async fn welcome_email(&self, user: &SignedUp, session: &mut Session) -> Outcome {
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
    pub(super) async fn cleanup(&self, user: &SignedUp, session: Option<&mut Session>) -> Outcome {
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
pub(super) fn stuck_hint(state: &str) -> String {
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
