//! The Redis queue's settings: the server ([`Endpoint`], read by [`crate::redis`] from
//! `REDIS_URL` or `REDIS_HOST`/`REDIS_PORT` and the `REDIS_TLS_*` files), the BullMQ key prefix
//! `QUEUE_PREFIX` (`bull`) and queue name `QUEUE_NAME` (`email-queue`). The worker sets
//! [`RedisConfig::stalled_interval`] from its own `QUEUE_STALLED_INTERVAL_MS`: the TTL this
//! process gives the shared stalled-check guard (it must match the other workers', Node's too).
//!
//! The queue, the worker, `svc queue …` and the API's settings (which also hand the endpoint to
//! the Redis rate limiter) all read them through [`RedisConfig::parse`], so one environment is
//! accepted or refused by every part of svc alike.

use std::time::Duration;

use crate::queue::{ConfigCause, EMAIL_QUEUE, QueueError};
use crate::redis::{Endpoint, Problem, setting};

/// BullMQ's default key prefix.
pub const DEFAULT_PREFIX: &str = "bull";

/// BullMQ's default `stalledInterval`.
pub const DEFAULT_STALLED_INTERVAL: Duration = Duration::from_secs(30);

/// The Redis queue's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Where the server is and how to trust it.
    pub endpoint: Endpoint,
    /// `QUEUE_PREFIX`: the first part of every key.
    pub prefix: String,
    /// `QUEUE_NAME`: the queue's name.
    pub queue: String,
    /// The TTL of the shared stalled-check guard (BullMQ's `stalledInterval`, 30 s).
    pub stalled_interval: Duration,
}

impl RedisConfig {
    /// The settings for `get` (the environment, or a map in tests); `None` when neither
    /// `REDIS_URL` nor `REDIS_HOST`/`REDIS_PORT` is set (the embedded queue is used then).
    ///
    /// # Errors
    /// [`QueueError::Config`] naming every invalid variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, QueueError> {
        Self::parse(get).map_err(|problems| QueueError::Config(ConfigCause::Variables(problems)))
    }

    /// As [`RedisConfig::from_lookup`], with every problem apart (at most one per variable).
    /// Reads the TLS files.
    ///
    /// # Errors
    /// Every invalid variable.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Vec<Problem>> {
        let endpoint = Endpoint::parse(&get);
        if !Endpoint::is_set(&get) {
            // No server: the embedded queue, which reads QUEUE_NAME itself.
            return endpoint.map(|_| None);
        }
        let (endpoint, mut problems) = match endpoint {
            Ok(endpoint) => (endpoint, Vec::new()),
            Err(problems) => (None, problems),
        };
        let prefix = setting(&get, "QUEUE_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
        let queue = setting(&get, "QUEUE_NAME").unwrap_or_else(|| EMAIL_QUEUE.into());
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(Problem::new(
                "QUEUE_PREFIX",
                format!("{prefix:?} may not contain spaces or control characters"),
            ));
        }
        if queue.contains(':') || queue.chars().any(|c| c.is_whitespace() || c.is_control()) {
            problems.push(Problem::new(
                "QUEUE_NAME",
                format!("{queue:?} may not contain `:`, spaces or control characters"),
            ));
        }
        match endpoint {
            Some(endpoint) if problems.is_empty() => Ok(Some(RedisConfig {
                endpoint,
                prefix,
                queue,
                stalled_interval: DEFAULT_STALLED_INTERVAL,
            })),
            _ => Err(problems),
        }
    }

    /// A test or tool configuration for `url` with the default prefix and queue.
    pub fn for_url(url: &str) -> Self {
        RedisConfig {
            endpoint: Endpoint::for_url(url),
            prefix: DEFAULT_PREFIX.into(),
            queue: EMAIL_QUEUE.into(),
            stalled_interval: DEFAULT_STALLED_INTERVAL,
        }
    }

    /// The server without credentials: `redis://host:port/db`, `rediss://***@host:6380`.
    pub fn describe_server(&self) -> String {
        self.endpoint.describe()
    }

    /// Where the queue is, without credentials: `redis://host:port/db bull:email-queue`.
    pub fn describe(&self) -> String {
        format!("{} {}:{}", self.describe_server(), self.prefix, self.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<RedisConfig>, QueueError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        RedisConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_no_redis_whatever_the_queue_variables() {
        assert!(config(&[]).unwrap().is_none());
        assert!(config(&[("QUEUE_NAME", "a:b")]).unwrap().is_none());
    }

    #[test]
    fn the_queue_is_described_with_its_keys_and_without_the_password() {
        let c = config(&[
            ("REDIS_HOST", "cache.local"),
            ("REDIS_PORT", "6390"),
            ("REDIS_PASSWORD", "s3cret"),
            ("REDIS_DB", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.describe(), "redis://cache.local:6390/2 bull:email-queue");
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = config(&[
            ("REDIS_URL", "redis://app:pw@127.0.0.1:6379/1"),
            ("QUEUE_PREFIX", "{bull}"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c.describe(),
            "redis://***@127.0.0.1:6379/1 {bull}:email-queue"
        );
    }

    #[test]
    fn every_bad_variable_is_named_at_once() {
        let port_only = config(&[("REDIS_PORT", "6379")]).unwrap_err();
        assert_eq!(
            port_only.to_string(),
            "queue configuration: REDIS_PORT: needs REDIS_HOST"
        );
        let err = config(&[
            ("REDIS_HOST", "h"),
            ("REDIS_PORT", "seventy"),
            ("REDIS_DB", "-1"),
            ("QUEUE_NAME", "a:b"),
            ("QUEUE_PREFIX", "b ull"),
        ])
        .unwrap_err()
        .to_string();
        for name in ["REDIS_PORT", "REDIS_DB", "QUEUE_NAME", "QUEUE_PREFIX"] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
        let tls = config(&[
            ("REDIS_URL", "rediss://h"),
            ("REDIS_TLS_CA_FILE", "/nowhere/ca.pem"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            tls.contains("REDIS_TLS_CA_FILE") && tls.contains("/nowhere/ca.pem"),
            "{tls}"
        );
    }
}
