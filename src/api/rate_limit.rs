//! The per-client rate limit, shared by every API instance.
//!
//! [`RateLimiter`] is the seam: today [`FixedWindow`] counts in the store the instances share
//! (the SQLite file, through [`RateCounter`]); a Redis-backed limiter can replace it without
//! touching the middleware. A fixed window is simple and exact across processes; its known cost
//! is that a client may spend up to twice the limit around a window boundary.
//!
//! If the counter store fails, requests are let through (logged): the limit protects the
//! service, and taking the whole API down because the limiter cannot count would defeat that.

use std::sync::Arc;
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
    let decision = match limiter.check(&client).await {
        Ok(decision) => decision,
        Err(error) => {
            tracing::warn!(%error, "rate limiter unavailable; request let through");
            return next.run(request).await;
        }
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
