//! Where Redis is, read from the environment with the Node app's variable names:
//! `REDIS_URL`, or `REDIS_HOST` + `REDIS_PORT` (+ `REDIS_PASSWORD`, `REDIS_DB`); TLS with a
//! `rediss://` URL, optionally with `REDIS_TLS_CA_FILE` (a private CA) and
//! `REDIS_TLS_CERT_FILE` + `REDIS_TLS_KEY_FILE` (mutual TLS, see [`super::tls`]); the BullMQ key
//! prefix `QUEUE_PREFIX` (`bull`) and queue name `QUEUE_NAME` (`email-queue`). The worker sets
//! [`RedisConfig::stalled_interval`] from its own `QUEUE_STALLED_INTERVAL_MS`: the TTL this
//! process gives the shared stalled-check guard (it must match the other workers', Node's too).
//!
//! This is the one place these variables are checked: the queue, the worker, `svc queue …` and
//! the API's settings (which also use it for the Redis rate limiter) all read them through
//! [`RedisConfig::parse`], so one environment is accepted or refused by every part of svc alike.
//! `REDIS_URL` and `REDIS_HOST`/`REDIS_PORT` exclude each other, and `REDIS_PORT` (6379 when
//! unset) needs `REDIS_HOST`. TLS is chosen by the URL's scheme only, never silently downgraded:
//! the TLS file variables without a `rediss://` URL are refused.
//!
//! The password never appears in `Debug` or [`RedisConfig::describe`], nor a key file's bytes.

use std::path::Path;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use super::tls::{self, TlsFiles};
use crate::queue::{EMAIL_QUEUE, QueueError};

/// BullMQ's default key prefix.
pub const DEFAULT_PREFIX: &str = "bull";

/// BullMQ's default `stalledInterval`.
pub const DEFAULT_STALLED_INTERVAL: Duration = Duration::from_secs(30);

/// The Redis settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub server: Server,
    /// The CA and client certificate of a `rediss://` URL (empty otherwise).
    pub tls: TlsFiles,
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
    /// `REDIS_URL` (`redis[s]://[user:password@]host:port[/db]`).
    Url(String),
    /// `REDIS_HOST` / `REDIS_PORT` / `REDIS_PASSWORD` / `REDIS_DB` (plain TCP).
    Host {
        host: String,
        port: u16,
        password: Option<String>,
        db: i64,
    },
}

/// One invalid variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub var: &'static str,
    pub message: String,
}

impl Problem {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Problem {
            var,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.var, self.message)
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("server", &self.describe())
            .field("tls", &self.tls)
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
        Self::parse(get).map_err(|problems| {
            let text: Vec<String> = problems.iter().map(Problem::to_string).collect();
            QueueError::Config(text.join("; "))
        })
    }

    /// As [`RedisConfig::from_lookup`], with every problem apart (at most one per variable).
    /// Reads the TLS files.
    ///
    /// # Errors
    /// Every invalid variable.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Vec<Problem>> {
        let text = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let url = text("REDIS_URL");
        let (host, port) = (text("REDIS_HOST"), text("REDIS_PORT"));
        if url.is_none() && host.is_none() && port.is_none() {
            for var in [tls::CA_FILE, tls::CERT_FILE, tls::KEY_FILE] {
                if text(var).is_some() {
                    problems.push(Problem::new(var, "needs a rediss:// REDIS_URL"));
                }
            }
            return if problems.is_empty() {
                Ok(None)
            } else {
                Err(problems)
            };
        }
        let server = match url {
            Some(url) => {
                if host.is_some() {
                    problems.push(Problem::new(
                        "REDIS_HOST",
                        "give either REDIS_URL or REDIS_HOST/REDIS_PORT, not both",
                    ));
                } else if port.is_some() {
                    problems.push(Problem::new(
                        "REDIS_PORT",
                        "give either REDIS_URL or REDIS_HOST/REDIS_PORT, not both",
                    ));
                }
                if let Err(message) = check_url(&url) {
                    problems.push(Problem::new("REDIS_URL", message));
                }
                Server::Url(url)
            }
            None => {
                let port = match port.as_deref().map(str::parse::<u16>) {
                    _ if host.is_none() => {
                        problems.push(Problem::new("REDIS_PORT", "needs REDIS_HOST"));
                        6379
                    }
                    None => 6379,
                    Some(Ok(p)) if p > 0 => p,
                    Some(_) => {
                        problems.push(Problem::new(
                            "REDIS_PORT",
                            format!(
                                "{:?} is not a port number from 1 to 65535",
                                port.unwrap_or_default()
                            ),
                        ));
                        6379
                    }
                };
                let db = match text("REDIS_DB").map(|d| (d.parse::<i64>(), d)) {
                    None => 0,
                    Some((Ok(db), _)) if db >= 0 => db,
                    Some((_, raw)) => {
                        problems.push(Problem::new(
                            "REDIS_DB",
                            format!("{raw:?} is not a database number (0, 1, …)"),
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
        let tls = read_tls(&text, server.is_tls(), &mut problems);
        let prefix = text("QUEUE_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
        let queue = text("QUEUE_NAME").unwrap_or_else(|| EMAIL_QUEUE.into());
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
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Some(RedisConfig {
            server,
            tls,
            prefix,
            queue,
            stalled_interval: DEFAULT_STALLED_INTERVAL,
        }))
    }

    /// A test or tool configuration for `url` with the default prefix and queue.
    pub fn for_url(url: &str) -> Self {
        RedisConfig {
            server: Server::Url(url.to_owned()),
            tls: TlsFiles::default(),
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

    /// Whether connections use TLS (a `rediss://` URL).
    pub fn uses_tls(&self) -> bool {
        self.server.is_tls()
    }

    /// The server without credentials: `redis://host:port/db`, `rediss://***@host:6380`.
    pub fn describe_server(&self) -> String {
        match &self.server {
            Server::Url(url) => redact(url),
            Server::Host { host, port, db, .. } => format!("redis://{host}:{port}/{db}"),
        }
    }

    /// Where the queue is, without credentials: `redis://host:port/db bull:email-queue`.
    pub fn describe(&self) -> String {
        format!("{} {}:{}", self.describe_server(), self.prefix, self.queue)
    }
}

impl Server {
    fn is_tls(&self) -> bool {
        matches!(self, Server::Url(url) if url.starts_with("rediss://"))
    }
}

/// `REDIS_URL`: a `redis://` or `rediss://` URL the redis crate accepts, without `#insecure`
/// (which would turn certificate checks off: give the CA instead).
fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("must be a redis:// or rediss:// URL".into());
    }
    let info = url
        .into_connection_info()
        .map_err(|e| format!("is not a usable Redis URL ({e})"))?;
    if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr() {
        return Err(format!(
            "#insecure (no certificate check) is not supported; give the server's CA in {} instead",
            tls::CA_FILE
        ));
    }
    Ok(())
}

/// The TLS files: read and checked when `tls` (a `rediss://` URL), refused otherwise.
fn read_tls(
    text: &dyn Fn(&str) -> Option<String>,
    tls: bool,
    problems: &mut Vec<Problem>,
) -> TlsFiles {
    let (ca, cert, key) = (
        text(tls::CA_FILE),
        text(tls::CERT_FILE),
        text(tls::KEY_FILE),
    );
    if !tls {
        for (var, value) in [
            (tls::CA_FILE, &ca),
            (tls::CERT_FILE, &cert),
            (tls::KEY_FILE, &key),
        ] {
            if value.is_some() {
                problems.push(Problem::new(
                    var,
                    "needs a rediss:// REDIS_URL (TLS is chosen by the URL's scheme)",
                ));
            }
        }
        return TlsFiles::default();
    }
    let mut files = TlsFiles::default();
    if let Some(path) = ca {
        match tls::read_ca(Path::new(&path)) {
            Ok(file) => files.ca = Some(file),
            Err(message) => problems.push(Problem::new(tls::CA_FILE, message)),
        }
    }
    match (cert, key) {
        (Some(cert), Some(key)) => match tls::read_identity(Path::new(&cert), Path::new(&key)) {
            Ok(identity) => files.identity = Some(identity),
            Err((var, message)) => problems.push(Problem::new(var, message)),
        },
        (Some(_), None) => problems.push(Problem::new(
            tls::KEY_FILE,
            format!("needed with {}", tls::CERT_FILE),
        )),
        (None, Some(_)) => problems.push(Problem::new(
            tls::CERT_FILE,
            format!("needed with {}", tls::KEY_FILE),
        )),
        (None, None) => {}
    }
    files
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
        assert!(!c.uses_tls());
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
        let both = config(&[("REDIS_URL", "redis://h"), ("REDIS_HOST", "h")]).unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
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
        ])
        .unwrap_err()
        .to_string();
        for name in ["REDIS_PORT", "REDIS_DB", "QUEUE_NAME"] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
        assert!(config(&[("REDIS_URL", "http://x")]).is_err());
        assert!(config(&[("REDIS_URL", "localhost:6379")]).is_err());
    }

    fn problems(vars: &[(&str, &str)]) -> Vec<&'static str> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let mut vars: Vec<&str> = RedisConfig::parse(|name| map.get(name).cloned())
            .unwrap_err()
            .into_iter()
            .map(|p| p.var)
            .collect();
        vars.sort_unstable();
        vars
    }

    #[test]
    fn one_problem_per_variable() {
        assert_eq!(problems(&[("REDIS_PORT", "abc")]), ["REDIS_PORT"]);
        assert_eq!(
            problems(&[("REDIS_URL", "redis://h"), ("REDIS_PORT", "1")]),
            ["REDIS_PORT"]
        );
    }

    #[test]
    fn rediss_urls_are_tls_and_the_files_need_them() {
        let c = config(&[("REDIS_URL", "rediss://:pw@cache.example:6380/0")])
            .unwrap()
            .unwrap();
        assert!(c.uses_tls());
        assert!(c.tls.is_empty(), "the built-in roots");
        assert_eq!(c.describe_server(), "rediss://***@cache.example:6380/0");
        assert!(c.connection_info().is_ok());
        assert!(
            !config(&[("REDIS_URL", "redis://h")])
                .unwrap()
                .unwrap()
                .uses_tls()
        );
        assert_eq!(
            problems(&[("REDIS_URL", "rediss://h:6380/#insecure")]),
            ["REDIS_URL"]
        );
        assert_eq!(
            problems(&[("REDIS_URL", "redis://h"), ("REDIS_TLS_CA_FILE", "/ca.pem")]),
            ["REDIS_TLS_CA_FILE"]
        );
        assert_eq!(
            problems(&[("REDIS_HOST", "h"), ("REDIS_TLS_CERT_FILE", "/c.pem")]),
            ["REDIS_TLS_CERT_FILE"]
        );
        assert_eq!(
            problems(&[("REDIS_TLS_KEY_FILE", "/k.pem")]),
            ["REDIS_TLS_KEY_FILE"]
        );
        assert_eq!(
            problems(&[
                ("REDIS_URL", "rediss://h"),
                ("REDIS_TLS_CERT_FILE", "/c.pem")
            ]),
            ["REDIS_TLS_KEY_FILE"]
        );
        let missing = config(&[
            ("REDIS_URL", "rediss://h"),
            ("REDIS_TLS_CA_FILE", "/nowhere/ca.pem"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            missing.contains("REDIS_TLS_CA_FILE") && missing.contains("/nowhere/ca.pem"),
            "{missing}"
        );
    }
}
