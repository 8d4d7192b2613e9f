//! The worker's settings from the environment. Every variable is validated up front, and a bad
//! value stops the start with a message naming the variable (a typo must never silently become
//! a default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::queue::KeepPolicy;

/// Everything `svc worker` reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// `WORKER_CONCURRENCY` (5): jobs processed at once.
    pub concurrency: usize,
    /// `DATA_DIR` (`data`): holds `svc.db` and `outbox/`.
    pub data_dir: PathBuf,
    /// `SMTP_URL`: send through SMTP (`smtp://host:port`, `smtps://…`, `?tls=required`); unset
    /// means the file outbox.
    pub smtp_url: Option<String>,
    /// `MAIL_FROM` (`svc <no-reply@localhost>`): the sender of the emails.
    pub mail_from: Mailbox,
    /// `WORKER_DRAIN_TIMEOUT` (25s): how long a draining worker lets its jobs finish.
    pub drain_timeout: Duration,
    /// `QUEUE_LOCK_MS` (30000): the lease of a taken job, renewed every half of it.
    pub lock: Duration,
    /// `QUEUE_STALLED_INTERVAL_MS` (30000): how often expired leases are looked for.
    pub stalled_interval: Duration,
    /// `QUEUE_MAX_STALLED` (1): stalls allowed before a job fails.
    pub max_stalled: u32,
    /// `QUEUE_POLL_MS` (100, at most 250): the idle poll of the embedded queue.
    pub poll: Duration,
    /// `QUEUE_KEEP_COMPLETED` (1000) and `QUEUE_KEEP_COMPLETED_AGE` (24h).
    pub keep_completed: KeepPolicy,
    /// `QUEUE_KEEP_FAILED` (5000) and `QUEUE_KEEP_FAILED_AGE` (7d).
    pub keep_failed: KeepPolicy,
    /// `WORKER_METRICS_ADDR` (unset): where to serve Prometheus metrics at `/metrics`; unset
    /// opens no port.
    pub metrics_addr: Option<SocketAddr>,
}

/// The variables `svc worker` reads, for docs and error messages.
pub const VARIABLES: &[&str] = &[
    "WORKER_CONCURRENCY",
    "DATA_DIR",
    "SMTP_URL",
    "MAIL_FROM",
    "WORKER_DRAIN_TIMEOUT",
    "QUEUE_LOCK_MS",
    "QUEUE_STALLED_INTERVAL_MS",
    "QUEUE_MAX_STALLED",
    "QUEUE_POLL_MS",
    "QUEUE_KEEP_COMPLETED",
    "QUEUE_KEEP_COMPLETED_AGE",
    "QUEUE_KEEP_FAILED",
    "QUEUE_KEEP_FAILED_AGE",
    "WORKER_METRICS_ADDR",
    "LOG_LEVEL",
    // The queue backend (read by `queue::Backend::from_env`): Redis with BullMQ's layout.
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "REDIS_TLS_CA_FILE",
    "REDIS_TLS_CERT_FILE",
    "REDIS_TLS_KEY_FILE",
    "QUEUE_PREFIX",
    "QUEUE_NAME",
];

/// Every invalid variable, one message each.
#[derive(Debug, thiserror::Error)]
#[error("invalid environment: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

impl WorkerConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] listing every invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (the environment, or a map in tests).
    ///
    /// # Errors
    /// [`ConfigError`] listing every invalid variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Reader {
            get: &get,
            errors: Vec::new(),
        };
        let concurrency = env.number("WORKER_CONCURRENCY", 5, 1, 1000);
        let data_dir = PathBuf::from(env.text("DATA_DIR").unwrap_or_else(|| "data".into()));
        let smtp_url = env.text("SMTP_URL").filter(|url| env.check_smtp_url(url));
        let mail_from = env.mailbox("MAIL_FROM", "svc <no-reply@localhost>");
        let drain_timeout = env.duration("WORKER_DRAIN_TIMEOUT", Duration::from_secs(25));
        let lock = Duration::from_millis(env.number("QUEUE_LOCK_MS", 30_000, 100, 3_600_000));
        let stalled_interval =
            Duration::from_millis(env.number("QUEUE_STALLED_INTERVAL_MS", 30_000, 50, 3_600_000));
        let max_stalled = env.number("QUEUE_MAX_STALLED", 1, 0, 1000);
        let poll = Duration::from_millis(env.number("QUEUE_POLL_MS", 100, 1, 250));
        let keep_completed = KeepPolicy {
            count: Some(env.number("QUEUE_KEEP_COMPLETED", 1000, 0, u64::MAX)),
            age: Some(env.duration("QUEUE_KEEP_COMPLETED_AGE", Duration::from_secs(24 * 3600))),
        };
        let keep_failed = KeepPolicy {
            count: Some(env.number("QUEUE_KEEP_FAILED", 5000, 0, u64::MAX)),
            age: Some(env.duration("QUEUE_KEEP_FAILED_AGE", Duration::from_secs(7 * 24 * 3600))),
        };
        let metrics_addr = env.socket_addr("WORKER_METRICS_ADDR");
        if let Some(level) = env.text("LOG_LEVEL")
            && let Err(e) = tracing_subscriber::EnvFilter::try_new(&level)
        {
            env.errors
                .push(format!("LOG_LEVEL={level:?} is not a log filter ({e})"));
        }
        match mail_from {
            Some(mail_from) if env.errors.is_empty() => Ok(WorkerConfig {
                concurrency,
                data_dir,
                smtp_url,
                mail_from,
                drain_timeout,
                lock,
                stalled_interval,
                max_stalled,
                poll,
                keep_completed,
                keep_failed,
                metrics_addr,
            }),
            _ => Err(ConfigError(env.errors)),
        }
    }
}

/// Reads variables and collects every problem instead of stopping at the first.
struct Reader<'a, F: Fn(&str) -> Option<String>> {
    get: &'a F,
    errors: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    /// The value, trimmed; an empty value counts as unset.
    fn text(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn number<T>(&mut self, name: &str, default: T, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.text(name) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(n) if n >= min && n <= max => n,
            _ => {
                self.errors.push(format!(
                    "{name}={raw:?} must be a whole number from {min} to {max}"
                ));
                default
            }
        }
    }

    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        let Some(raw) = self.text(name) else {
            return default;
        };
        match humantime::parse_duration(&raw) {
            Ok(d) => d,
            Err(_) => {
                self.errors.push(format!(
                    "{name}={raw:?} must be a duration such as 25s, 500ms or 2m"
                ));
                default
            }
        }
    }

    /// An `IP:PORT` address (no host name: the address is bound, not looked up).
    fn socket_addr(&mut self, name: &str) -> Option<SocketAddr> {
        let raw = self.text(name)?;
        match raw.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.errors.push(format!(
                    "{name}={raw:?} must be an IP address and port such as 127.0.0.1:9465 or \
                     0.0.0.0:9465"
                ));
                None
            }
        }
    }

    fn mailbox(&mut self, name: &str, default: &str) -> Option<Mailbox> {
        let raw = self.text(name).unwrap_or_else(|| default.to_owned());
        match raw.parse::<Mailbox>() {
            Ok(mailbox) => Some(mailbox),
            Err(e) => {
                self.errors
                    .push(format!("{name}={raw:?} is not an email address ({e})"));
                None
            }
        }
    }

    fn check_smtp_url(&mut self, url: &str) -> bool {
        if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url) {
            self.errors
                .push(format!("SMTP_URL is not a usable SMTP URL ({e})"));
            return false;
        }
        if crate::config::secrets::url_has_password(url) && !smtp_url_has_tls(url) {
            self.errors.push(
                "SMTP_URL has credentials but no TLS, so the password would cross the network \
                 in clear (AUTH PLAIN); use smtps://… or add ?tls=required"
                    .into(),
            );
            return false;
        }
        true
    }
}

/// Whether the SMTP URL encrypts the conversation before it authenticates: `smtps://` (TLS from
/// the start) or `smtp://…?tls=required` (STARTTLS or fail). `tls=opportunistic` does not count:
/// an attacker on the path can strip the server's STARTTLS offer. The first `tls` parameter is
/// the one lettre reads.
fn smtp_url_has_tls(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("smtps") {
        return true;
    }
    let query = rest
        .split_once('?')
        .map_or("", |(_, q)| q.split('#').next().unwrap_or(""));
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "tls")
        .is_some_and(|(_, value)| value == "required")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<WorkerConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        WorkerConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.concurrency, 5);
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.drain_timeout, Duration::from_secs(25));
        assert_eq!(c.lock, Duration::from_secs(30));
        assert!(c.smtp_url.is_none());
        assert_eq!(c.keep_completed.count, Some(1000));
        assert_eq!(c.metrics_addr, None, "no port unless asked");
    }

    #[test]
    fn every_bad_variable_is_named() {
        let err = config(&[
            ("WORKER_CONCURRENCY", "0"),
            ("WORKER_DRAIN_TIMEOUT", "soon"),
            ("QUEUE_POLL_MS", "1000"),
            ("SMTP_URL", "http://x"),
            ("MAIL_FROM", "not an address"),
            ("LOG_LEVEL", "info,[[["),
            ("WORKER_METRICS_ADDR", "localhost"),
        ])
        .unwrap_err()
        .to_string();
        for name in [
            "WORKER_CONCURRENCY",
            "WORKER_DRAIN_TIMEOUT",
            "QUEUE_POLL_MS",
            "SMTP_URL",
            "MAIL_FROM",
            "LOG_LEVEL",
            "WORKER_METRICS_ADDR",
        ] {
            assert!(err.contains(name), "{name} missing from: {err}");
        }
    }

    #[test]
    fn smtp_credentials_without_tls_are_refused() {
        for url in [
            "smtp://user:s3cret@127.0.0.1:25",
            "smtp://user:s3cret@127.0.0.1:25?tls=opportunistic",
            "smtp://user:s3cret@127.0.0.1:25?x=tls=required",
            "SMTP://user:s3cret@127.0.0.1:25",
        ] {
            let err = config(&[("SMTP_URL", url)]).unwrap_err().to_string();
            assert!(err.contains("SMTP_URL"), "{url}: {err}");
            assert!(
                err.contains("smtps://") && err.contains("tls=required"),
                "{err}"
            );
            assert!(!err.contains("s3cret"), "{err}");
        }
        for url in [
            "smtps://user:s3cret@127.0.0.1:465",
            "smtp://user:s3cret@127.0.0.1:587?tls=required",
            "smtp://127.0.0.1:2525",
            "smtp://127.0.0.1:2525?tls=opportunistic",
        ] {
            let c = config(&[("SMTP_URL", url)]).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(c.smtp_url.as_deref(), Some(url));
        }
    }

    #[test]
    fn values_are_read() {
        let c = config(&[
            ("WORKER_CONCURRENCY", "12"),
            ("SMTP_URL", "smtp://127.0.0.1:2525"),
            ("WORKER_DRAIN_TIMEOUT", "3s"),
            ("QUEUE_LOCK_MS", "1000"),
            ("WORKER_METRICS_ADDR", "0.0.0.0:9465"),
        ])
        .unwrap();
        assert_eq!(c.metrics_addr, Some(SocketAddr::from(([0, 0, 0, 0], 9465))));
        assert_eq!(
            (c.concurrency, c.drain_timeout, c.lock),
            (12, Duration::from_secs(3), Duration::from_secs(1))
        );
        assert_eq!(c.smtp_url.as_deref(), Some("smtp://127.0.0.1:2525"));
    }
}
