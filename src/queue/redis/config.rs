//! Where the Redis queue lives, read from the environment with the Node app's variable names:
//! `REDIS_URL`, or `REDIS_HOST` + `REDIS_PORT` (+ `REDIS_PASSWORD`, `REDIS_DB`); the BullMQ key
//! prefix `QUEUE_PREFIX` (`bull`) and queue name `QUEUE_NAME` (`email-queue`). The worker sets
//! [`RedisConfig::stalled_interval`] from its own `QUEUE_STALLED_INTERVAL_MS`: the TTL this
//! process gives the shared stalled-check guard (it must match the other workers', Node's too).
//!
//! The password never appears in `Debug` or [`RedisConfig::describe`].

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::queue::{EMAIL_QUEUE, QueueError};

/// BullMQ's default key prefix.
pub const DEFAULT_PREFIX: &str = "bull";

/// BullMQ's default `stalledInterval`.
pub const DEFAULT_STALLED_INTERVAL: Duration = Duration::from_secs(30);

/// The Redis queue's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub server: Server,
    /// `QUEUE_PREFIX`: the first part of every key.
    pub prefix: String,
    /// `QUEUE_NAME`: the queue's name.
    pub queue: String,
    /// The TTL of the shared stalled-check guard (BullMQ's `stalledInterval`, 30 s).
    pub stalled_interval: Duration,
}

/// How to reach the server.
#[derive(Clone, PartialEq, Eq)]
pub enum Server {
    /// `REDIS_URL` (`redis://[user:password@]host:port[/db]`).
    Url(String),
    /// `REDIS_HOST` / `REDIS_PORT` / `REDIS_PASSWORD` / `REDIS_DB`.
    Host {
        host: String,
        port: u16,
        password: Option<String>,
        db: i64,
    },
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("server", &self.describe())
            .field("prefix", &self.prefix)
            .field("queue", &self.queue)
            .field("stalled_interval", &self.stalled_interval)
            .finish()
    }
}

impl RedisConfig {
    /// The settings for `get` (the environment, or a map in tests); `None` when neither
    /// `REDIS_URL` nor `REDIS_HOST`/`REDIS_PORT` is set (the embedded queue is used then).
    ///
    /// # Errors
    /// [`QueueError::Config`] naming every invalid variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, QueueError> {
        let text = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut errors = Vec::new();
        let url = text("REDIS_URL");
        let (host, port) = (text("REDIS_HOST"), text("REDIS_PORT"));
        if url.is_none() && host.is_none() && port.is_none() {
            return Ok(None);
        }
        let server = match url {
            Some(url) => {
                if let Err(e) = url.as_str().into_connection_info() {
                    errors.push(format!("REDIS_URL is not a usable Redis URL ({e})"));
                } else if url.starts_with("rediss:") || url.starts_with("valkeys:") {
                    errors.push("REDIS_URL: TLS (rediss://) is not supported yet".to_owned());
                }
                Server::Url(url)
            }
            None => {
                let port = match port.as_deref().map(str::parse::<u16>) {
                    None => 6379,
                    Some(Ok(p)) if p > 0 => p,
                    Some(_) => {
                        errors.push(format!(
                            "REDIS_PORT={:?} must be a port number from 1 to 65535",
                            port.unwrap_or_default()
                        ));
                        6379
                    }
                };
                let db = match text("REDIS_DB").map(|d| (d.parse::<i64>(), d)) {
                    None => 0,
                    Some((Ok(db), _)) if db >= 0 => db,
                    Some((_, raw)) => {
                        errors.push(format!(
                            "REDIS_DB={raw:?} must be a database number (0, 1, …)"
                        ));
                        0
                    }
                };
                Server::Host {
                    host: host.unwrap_or_else(|| "127.0.0.1".into()),
                    port,
                    password: get("REDIS_PASSWORD").filter(|p| !p.is_empty()),
                    db,
                }
            }
        };
        let prefix = text("QUEUE_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
        let queue = text("QUEUE_NAME").unwrap_or_else(|| EMAIL_QUEUE.into());
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.push(format!(
                "QUEUE_PREFIX={prefix:?} may not contain spaces or control characters"
            ));
        }
        if queue.contains(':') || queue.chars().any(|c| c.is_whitespace() || c.is_control()) {
            errors.push(format!(
                "QUEUE_NAME={queue:?} may not contain `:`, spaces or control characters"
            ));
        }
        if !errors.is_empty() {
            return Err(QueueError::Config(errors.join("; ")));
        }
        Ok(Some(RedisConfig {
            server,
            prefix,
            queue,
            stalled_interval: DEFAULT_STALLED_INTERVAL,
        }))
    }

    /// A test or tool configuration for `url` with the default prefix and queue.
    pub fn for_url(url: &str) -> Self {
        RedisConfig {
            server: Server::Url(url.to_owned()),
            prefix: DEFAULT_PREFIX.into(),
            queue: EMAIL_QUEUE.into(),
            stalled_interval: DEFAULT_STALLED_INTERVAL,
        }
    }

    /// The connection parameters for the redis crate.
    ///
    /// # Errors
    /// [`QueueError::Config`] when the URL cannot be parsed.
    pub fn connection_info(&self) -> Result<ConnectionInfo, QueueError> {
        match &self.server {
            Server::Url(url) => url
                .as_str()
                .into_connection_info()
                .map_err(|e| QueueError::Config(format!("REDIS_URL is not usable ({e})"))),
            Server::Host {
                host,
                port,
                password,
                db,
            } => {
                let mut redis = RedisConnectionInfo::default().set_db(*db);
                if let Some(password) = password {
                    redis = redis.set_password(password);
                }
                ConnectionAddr::Tcp(host.clone(), *port)
                    .into_connection_info()
                    .map(|info| info.set_redis_settings(redis))
                    .map_err(|e| QueueError::Config(format!("REDIS_HOST is not usable ({e})")))
            }
        }
    }

    /// Where the queue is, without credentials: `redis://host:port/db bull:email-queue`.
    pub fn describe(&self) -> String {
        let server = match &self.server {
            Server::Url(url) => redact(url),
            Server::Host { host, port, db, .. } => format!("redis://{host}:{port}/{db}"),
        };
        format!("{server} {}:{}", self.prefix, self.queue)
    }
}

/// A URL without its `user:password@` part.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
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
    fn nothing_set_means_no_redis() {
        assert!(config(&[]).unwrap().is_none());
        assert!(config(&[("REDIS_URL", " ")]).unwrap().is_none());
    }

    #[test]
    fn host_and_port_build_a_server_and_hide_the_password() {
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
        assert!(c.connection_info().is_ok());
    }

    #[test]
    fn a_url_wins_and_its_credentials_are_redacted() {
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
    fn every_bad_variable_is_named() {
        let err = config(&[
            ("REDIS_PORT", "seventy"),
            ("REDIS_DB", "-1"),
            ("QUEUE_NAME", "a:b"),
        ])
        .unwrap_err()
        .to_string();
        for name in ["REDIS_PORT", "REDIS_DB", "QUEUE_NAME"] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
        let tls = config(&[("REDIS_URL", "rediss://h:6379")]).unwrap_err();
        assert!(tls.to_string().contains("TLS"), "{tls}");
        assert!(config(&[("REDIS_URL", "http://x")]).is_err());
    }
}
