//! The per-client rate limit, shared by every API instance.
//!
//! [`RateLimiter`] is the seam, with two counters behind it:
//! - [`FixedWindow`] counts in the store the instances share (the SQLite file through
//!   [`RateCounter`], or MongoDB): with the embedded store the limit holds across the instances
//!   of one host;
//! - [`redis::RedisWindow`] counts in Redis when Redis is configured (`REDIS_URL` or
//!   `REDIS_HOST`), so every instance on every host shares one count (the Node app's
//!   express-rate-limit + rate-limit-redis).
//!
//! Both count in fixed windows aligned to the epoch. A fixed window is simple and exact across
//! processes; its known cost is that a client may spend up to twice the limit around a window
//! boundary.
//!
//! If the counter fails, requests are let through: the limit protects the service, and taking
//! the whole API down because the limiter cannot count would defeat that. [`Limiter`] logs one
//! line when counting stops and one when it resumes, never one per request.

pub mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_ip::IpNet;
use super::error::{ApiError, ErrorCode};
use super::settings::RateLimit;
use crate::clock;
use crate::error_chain::chain;
use crate::store::{RateCounter, StoreError};

/// Paths never limited: probes and scrapes must work when a client is throttled.
const EXEMPT: [&str; 4] = ["/health", "/api/health", "/ready", "/metrics"];

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Until the current window ends.
    pub reset: Duration,
}

/// Counts a request of `client` and decides whether it may proceed.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    async fn check(&self, client: &str) -> Result<Decision, StoreError>;
    /// Whether one more request of `client` would be allowed, without counting one (the login
    /// lockout looks before it checks a password, and counts only failures).
    async fn peek(&self, client: &str) -> Result<Decision, StoreError>;
}

/// What the middleware holds: a counter, and whether it failed last time (for the log).
#[derive(Clone)]
pub struct Limiter {
    counter: Arc<dyn RateLimiter>,
    /// Set while the counter fails; each flip is logged once.
    down: Arc<AtomicBool>,
}

impl Limiter {
    pub fn new(counter: Arc<dyn RateLimiter>) -> Self {
        Limiter {
            counter,
            down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The decision on one request of `client`; `None` when the counter failed (the request
    /// is let through).
    pub async fn check(&self, client: &str) -> Option<Decision> {
        self.answer(self.counter.check(client).await)
    }

    /// [`RateLimiter::peek`], failing open like [`Limiter::check`].
    pub async fn peek(&self, client: &str) -> Option<Decision> {
        self.answer(self.counter.peek(client).await)
    }

    fn answer(&self, counted: Result<Decision, StoreError>) -> Option<Decision> {
        match counted {
            Ok(decision) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limiter available again; requests are counted");
                }
                Some(decision)
            }
            Err(error) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %chain(&error), "rate limiter unavailable; requests are let through uncounted until it is back");
                }
                None
            }
        }
    }
}

/// At most `limit.max` requests per client per `limit.window`, windows aligned to the epoch so
/// every instance agrees on them.
pub struct FixedWindow {
    counter: Arc<dyn RateCounter>,
    limit: RateLimit,
}

impl FixedWindow {
    pub fn new(counter: Arc<dyn RateCounter>, limit: RateLimit) -> Self {
        FixedWindow { counter, limit }
    }
}

impl FixedWindow {
    /// The current window's start and how long until it ends, windows aligned to the epoch.
    fn window(&self) -> (i64, Duration) {
        let now = clock::now_millis_i64();
        let window = clock::millis_i64(self.limit.window).max(1);
        let start = now - now.rem_euclid(window);
        let reset = u64::try_from(start + window - now).unwrap_or(0);
        (start, Duration::from_millis(reset))
    }
}

#[async_trait]
impl RateLimiter for FixedWindow {
    async fn check(&self, client: &str) -> Result<Decision, StoreError> {
        let (start, reset) = self.window();
        let hits = self.counter.hit(client, start).await?;
        Ok(Decision::after(self.limit, hits, reset))
    }

    async fn peek(&self, client: &str) -> Result<Decision, StoreError> {
        let (start, reset) = self.window();
        let hits = self.counter.count(client, start).await?;
        Ok(Decision::after(self.limit, hits + 1, reset))
    }
}

impl Decision {
    /// The verdict on the `hits`-th request of a window that ends in `reset`.
    pub fn after(limit: RateLimit, hits: u64, reset: Duration) -> Self {
        Decision {
            allowed: hits <= limit.max,
            limit: limit.max,
            remaining: limit.max.saturating_sub(hits),
            reset,
        }
    }
}

/// Where the stricter per-client limit of `AUTH_RATE_LIMIT` applies too.
const AUTH_PATHS: &str = "/api/auth/";

/// What the middleware needs: the limits and the proxies whose `X-Forwarded-For` names the
/// client. Cheap to clone.
#[derive(Clone)]
pub struct RateLimits {
    /// `None` when `RATE_LIMIT=off`.
    pub general: Option<Limiter>,
    /// The limit on `/api/auth/*` per client; `None` when `AUTH_RATE_LIMIT=off`.
    pub auth: Option<Limiter>,
    pub trusted_proxies: Arc<[IpNet]>,
}

/// The middleware: counts the request against its client (IPv4 address or IPv6 /64) in the
/// rate limit, and under `/api/auth/` in the auth limit too; adds the `RateLimit-*` headers of
/// the tighter one, and answers 429 with `Retry-After` over either.
pub async fn limit(State(limits): State<RateLimits>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if EXEMPT.contains(&path) {
        return next.run(request).await;
    }
    let auth = path
        .starts_with(AUTH_PATHS)
        .then_some(limits.auth.as_ref())
        .flatten();
    if limits.general.is_none() && auth.is_none() {
        return next.run(request).await;
    }
    let client = super::client_ip::request_client(&request, &limits.trusted_proxies);
    let mut shown: Option<Decision> = None;
    let auth = auth.map(|limiter| (limiter, format!("auth:{client}")));
    let checks = limits
        .general
        .as_ref()
        .map(|limiter| (limiter, client.clone()));
    for (limiter, key) in checks.into_iter().chain(auth) {
        let Some(decision) = limiter.check(&key).await else {
            continue;
        };
        if !decision.allowed {
            metrics::counter!("http_rate_limited_total").increment(1);
            tracing::warn!(client, "rate limit exceeded");
            let mut response =
                too_many(&decision, "Too many requests; try again later").into_response();
            set_headers(response.headers_mut(), &decision);
            return response;
        }
        if shown.is_none_or(|s| decision.remaining < s.remaining) {
            shown = Some(decision);
        }
    }
    let mut response = next.run(request).await;
    if let Some(decision) = shown {
        set_headers(response.headers_mut(), &decision);
    }
    response
}

/// 429 with `Retry-After` until `decision`'s window ends.
pub fn too_many(decision: &Decision, message: &str) -> ApiError {
    let retry_after = decision.reset.as_millis().div_ceil(1000).max(1);
    ApiError {
        retry_after: Some(u64::try_from(retry_after).unwrap_or(u64::MAX)),
        ..ApiError::new(ErrorCode::RateLimited, message)
    }
}

fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    let reset = decision.reset.as_millis().div_ceil(1000);
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(u64::try_from(reset).unwrap_or(u64::MAX)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A counter that fails while `failing` is set.
    struct Flaky {
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl RateLimiter for Flaky {
        async fn check(&self, _client: &str) -> Result<Decision, StoreError> {
            if self.failing.load(Ordering::Relaxed) {
                return Err(StoreError::Unavailable("down".into()));
            }
            Ok(Decision {
                allowed: true,
                limit: 1,
                remaining: 0,
                reset: Duration::from_secs(1),
            })
        }

        async fn peek(&self, client: &str) -> Result<Decision, StoreError> {
            self.check(client).await
        }
    }

    #[tokio::test]
    async fn a_failing_counter_lets_requests_through_and_recovers() {
        let counter = Arc::new(Flaky {
            failing: AtomicBool::new(true),
        });
        let limiter = Limiter::new(counter.clone());
        assert_eq!(limiter.check("a").await, None);
        assert_eq!(limiter.check("a").await, None);
        assert!(limiter.down.load(Ordering::Relaxed));
        counter.failing.store(false, Ordering::Relaxed);
        assert!(limiter.check("a").await.is_some_and(|d| d.allowed));
        assert!(!limiter.down.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn the_eleventh_request_of_ten_is_refused_and_instances_share_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let limit = RateLimit {
            max: 10,
            window: Duration::from_secs(86_400),
        };
        let one = FixedWindow::new(Arc::new(SqliteStore::open_in(dir.path()).unwrap()), limit);
        let two = FixedWindow::new(Arc::new(SqliteStore::open_in(dir.path()).unwrap()), limit);
        let mut decisions = Vec::new();
        for i in 0..11 {
            let limiter = if i % 2 == 0 { &one } else { &two };
            decisions.push(limiter.check("1.2.3.4").await.unwrap());
        }
        assert!(decisions[..10].iter().all(|d| d.allowed));
        assert!(!decisions[10].allowed);
        assert_eq!(decisions[0].remaining, 9);
        assert_eq!(decisions[9].remaining, 0);
        assert!(decisions[10].reset <= Duration::from_secs(86_400));
        assert!(
            one.check("5.6.7.8").await.unwrap().allowed,
            "another client has its own count"
        );
    }
}
