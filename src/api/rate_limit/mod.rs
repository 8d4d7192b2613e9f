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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};
use super::settings::RateLimit;
use super::state::AppState;
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
        match self.counter.check(client).await {
            Ok(decision) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limiter available again; requests are counted");
                }
                Some(decision)
            }
            Err(error) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "rate limiter unavailable; requests are let through uncounted until it is back");
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

#[async_trait]
impl RateLimiter for FixedWindow {
    async fn check(&self, client: &str) -> Result<Decision, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let window = i64::try_from(self.limit.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let start = now - now.rem_euclid(window);
        let hits = self.counter.hit(client, start).await?;
        let reset = u64::try_from(start + window - now).unwrap_or(0);
        Ok(Decision {
            allowed: hits <= self.limit.max,
            limit: self.limit.max,
            remaining: self.limit.max.saturating_sub(hits),
            reset: Duration::from_millis(reset),
        })
    }
}

/// The middleware: counts the request against its client address, adds the `RateLimit-*`
/// headers, and answers 429 with `Retry-After` over the limit.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = state.limiter.clone() else {
        return next.run(request).await;
    };
    if EXEMPT.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let client = match request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
    {
        Some(ConnectInfo(peer)) => {
            super::client_ip::client_ip(peer.ip(), request.headers(), &state.trusted_proxies)
                .to_string()
        }
        None => "unknown".to_owned(),
    };
    let Some(decision) = limiter.check(&client).await else {
        return next.run(request).await;
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        metrics::counter!("http_rate_limited_total").increment(1);
        tracing::warn!(client, "rate limit exceeded");
        let retry_after = decision.reset.as_millis().div_ceil(1000).max(1);
        ApiError {
            retry_after: Some(u64::try_from(retry_after).unwrap_or(u64::MAX)),
            ..ApiError::new(ErrorCode::RateLimited, "Too many requests; try again later")
        }
        .into_response()
    };
    set_headers(response.headers_mut(), &decision);
    response
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
