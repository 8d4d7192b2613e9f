//! The rate limit counted in Redis, so every API instance on every host shares one count per
//! client (the Node app's express-rate-limit + rate-limit-redis convention).
//!
//! # Keys
//! One counter per client and window length: `svc:ratelimit:<window ms>:<client>` (for
//! `RATE_LIMIT=100/15m` and client `203.0.113.9`: `svc:ratelimit:900000:203.0.113.9`). The
//! `svc:ratelimit:` prefix keeps them apart from BullMQ's `bull:` keys; each counter expires by
//! itself when its window ends, so nothing needs cleaning up. The client part is data: it goes
//! to Redis as a key argument (never into the script's text), and anything but the characters of
//! an IP address is percent-encoded and the length capped ([`key`]).
//!
//! # One round trip
//! `hit.lua` increments the counter and, on the window's first hit, sets its expiry to the
//! window's end on Redis' clock (windows aligned to the epoch, as [`super::FixedWindow`]): one
//! `EVALSHA` per request, atomic, so instances never race. `peek.lua` reads a counter without
//! counting (the login lockout looks before it checks a password).
//!
//! # Redis down or slow
//! The counter uses svc's Redis connection code ([`Connections`], lazily connected, one quick
//! reconnect; the queue's too) with short timeouts of its own, and every check is bounded by [`CHECK_TIMEOUT`].
//! After a failure, Redis is left alone for [`PAUSE_AFTER_FAILURE`]: checks fail at once, so
//! requests pass without waiting (the middleware lets them through and logs the change of state
//! once), and the first check after the pause tries again — counting resumes by itself when
//! Redis is back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Script;

use super::{Decision, RateLimiter};
use crate::api::settings::{RateLimit, Settings};
use crate::clock::millis;
use crate::redis::connection::{self, Connections, Timeouts};
use crate::redis::{Endpoint, RedisError};
use crate::store::StoreError;

/// The first part of every counter's key.
pub const KEY_PREFIX: &str = "svc:ratelimit:";
/// The longest client part of a key (an IPv6 address with a zone is well under it).
const MAX_CLIENT: usize = 100;
/// A check that takes longer lets its request through.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// How long Redis is not asked after a failed check.
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// The counter's connection: quick to give up, so a request never waits long on Redis.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_millis(500),
    response: Duration::from_millis(250),
};
/// The client name of the counter's (never used) blocking connection.
const CONNECTION_NAME: &str = "svc:ratelimit";

/// The connection every limit counted in Redis shares, when Redis is configured; `None`
/// otherwise (the limits then count in the store).
///
/// # Errors
/// [`RedisError`] when the Redis client cannot be built from the settings. The API opens its
/// queue first from the same endpoint, so such settings stop the start there already.
pub fn for_settings(settings: &Settings) -> Result<Option<RedisCounters>, RedisError> {
    settings
        .redis()
        .map(|config| RedisCounters::new(&config.endpoint))
        .transpose()
}

/// One connection to Redis for every limit's counters ([`RedisCounters::window`]).
#[derive(Clone)]
pub struct RedisCounters {
    connections: Arc<Connections>,
}

impl RedisCounters {
    /// Counters on the server at `endpoint`. Nothing is connected yet.
    ///
    /// # Errors
    /// [`RedisError::Address`] or [`RedisError::Client`] when the client cannot be built.
    pub fn new(endpoint: &Endpoint) -> Result<Self, RedisError> {
        let connections = Connections::with_timeouts(
            connection::client(endpoint)?,
            format!("{} (rate limit)", endpoint.describe()),
            CONNECTION_NAME.to_owned(),
            TIMEOUTS,
        );
        Ok(RedisCounters {
            connections: Arc::new(connections),
        })
    }

    /// The counter of `limit` over this connection.
    pub fn window(&self, limit: RateLimit) -> RedisWindow {
        RedisWindow {
            connections: self.connections.clone(),
            limit,
            window_ms: millis(limit.window).max(1),
            started: Instant::now(),
            paused_until: AtomicU64::new(0),
        }
    }
}

/// At most `limit.max` requests per client per `limit.window`, counted in Redis.
pub struct RedisWindow {
    connections: Arc<Connections>,
    limit: RateLimit,
    /// The window in ms, as the script and the key take it.
    window_ms: u64,
    /// The reference for `paused_until`.
    started: Instant,
    /// Until when (ms after `started`) Redis is not asked; 0 when it may be.
    paused_until: AtomicU64,
}

impl RedisWindow {
    fn now_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    fn pause(&self) {
        let until = self.now_ms() + millis(PAUSE_AFTER_FAILURE);
        self.paused_until.store(until, Ordering::Relaxed);
    }

    async fn run(&self, script: &Script, client: &str) -> Result<(u64, i64), StoreError> {
        let key = key(self.window_ms, client);
        let mut invocation = script.key(&key);
        invocation.arg(self.window_ms);
        match tokio::time::timeout(CHECK_TIMEOUT, self.connections.invoke(&invocation)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(StoreError::unavailable(
                "the rate limit script failed",
                error,
            )),
            Err(_) => Err(StoreError::Unavailable(
                format!(
                    "no answer from Redis within {} ms",
                    CHECK_TIMEOUT.as_millis()
                )
                .into(),
            )),
        }
    }

    /// Runs `script` for `client` unless Redis failed a moment ago, and decides on the
    /// `hits + extra`-th request.
    async fn decide(
        &self,
        script: &Script,
        client: &str,
        extra: u64,
    ) -> Result<Decision, StoreError> {
        if self.now_ms() < self.paused_until.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "Redis failed a moment ago; not asked again yet".into(),
            ));
        }
        let (hits, ttl) = match self.run(script, client).await {
            Ok(reply) => reply,
            Err(error) => {
                self.pause();
                return Err(error);
            }
        };
        self.paused_until.store(0, Ordering::Relaxed);
        let reset = u64::try_from(ttl).unwrap_or(0).min(self.window_ms);
        Ok(Decision::after(
            self.limit,
            hits + extra,
            Duration::from_millis(reset),
        ))
    }
}

#[async_trait]
impl RateLimiter for RedisWindow {
    async fn check(&self, client: &str) -> Result<Decision, StoreError> {
        static HIT: OnceLock<Script> = OnceLock::new();
        let script = HIT.get_or_init(|| Script::new(include_str!("hit.lua")));
        self.decide(script, client, 0).await
    }

    async fn peek(&self, client: &str) -> Result<Decision, StoreError> {
        static PEEK: OnceLock<Script> = OnceLock::new();
        let script = PEEK.get_or_init(|| Script::new(include_str!("peek.lua")));
        self.decide(script, client, 1).await
    }
}

/// The counter's key for `client` in windows of `window_ms`: the client's characters other than
/// those of an IP address (`0-9 a-z A-Z . : -`, and `_` for names such as `unknown`) are
/// percent-encoded, and it is cut at 100 bytes.
pub fn key(window_ms: u64, client: &str) -> String {
    let mut key = format!("{KEY_PREFIX}{window_ms}:");
    let start = key.len();
    for byte in client.bytes() {
        let piece = if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b':' | b'-' | b'_') {
            char::from(byte).to_string()
        } else {
            format!("%{byte:02X}")
        };
        if key.len() - start + piece.len() > MAX_CLIENT {
            break;
        }
        key.push_str(&piece);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_and_clients_are_data() {
        assert_eq!(
            key(900_000, "203.0.113.9"),
            "svc:ratelimit:900000:203.0.113.9"
        );
        assert_eq!(
            key(60_000, "2001:db8::1"),
            "svc:ratelimit:60000:2001:db8::1"
        );
        assert_eq!(key(60_000, "unknown"), "svc:ratelimit:60000:unknown");
        // Anything else is encoded: no spaces, newlines, glob or hash-tag characters in a key.
        assert_eq!(
            key(1000, "a b\r\n*{x}%"),
            "svc:ratelimit:1000:a%20b%0D%0A%2A%7Bx%7D%25"
        );
        let long = key(1000, &"9".repeat(500));
        assert_eq!(long.len(), "svc:ratelimit:1000:".len() + MAX_CLIENT);
    }
}
