//! Which queue backend this process uses, decided in one place from the environment: Redis with
//! BullMQ's layout when `REDIS_URL` or `REDIS_HOST`/`REDIS_PORT` is set (see
//! [`RedisConfig`]), otherwise the embedded SQLite queue in `$DATA_DIR/svc.db`.
//!
//! `svc worker` and `svc queue …` open their queue through [`Backend::from_env`] and [`open`]
//! (or [`open_from_env`], both at once); the API's settings make the same choice with the same
//! [`RedisConfig::parse`] and [`Backend::embedded`], so they can never disagree about where the
//! jobs are.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::redis::{RedisConfig, RedisQueue};
use std::time::Duration;

use super::sqlite::{DB_FILE, DEFAULT_POLL, SqliteQueue};
use super::{EMAIL_QUEUE, Queue, QueueError};

/// The chosen backend and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded queue: the database file, the queue's name in it, and how often an idle
    /// waiter looks for other processes' changes.
    Sqlite {
        path: PathBuf,
        queue: String,
        poll: Duration,
    },
    /// Redis with BullMQ's layout (boxed: the TLS material makes it large).
    Redis(Box<RedisConfig>),
}

impl Backend {
    /// Reads the process environment (see [`Backend::from_lookup`]).
    ///
    /// # Errors
    /// As [`Backend::from_lookup`].
    pub fn from_env(data_dir: &Path) -> Result<Self, QueueError> {
        Self::from_lookup(data_dir, |name| std::env::var(name).ok())
    }

    /// The backend for the variables `get` returns; `data_dir` holds the embedded database.
    ///
    /// # Errors
    /// [`QueueError::Config`] naming every invalid variable.
    pub fn from_lookup(
        data_dir: &Path,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, QueueError> {
        match RedisConfig::from_lookup(&get)? {
            Some(redis) => Ok(Backend::Redis(Box::new(redis))),
            None => Ok(Self::embedded(data_dir, get)),
        }
    }

    /// The embedded queue in `data_dir`, named by `QUEUE_NAME` (`email-queue`), for callers that
    /// have read the Redis variables already ([`RedisConfig::parse`] found none).
    pub fn embedded(data_dir: &Path, get: impl Fn(&str) -> Option<String>) -> Self {
        Backend::Sqlite {
            path: data_dir.join(DB_FILE),
            queue: get("QUEUE_NAME")
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty())
                .unwrap_or_else(|| EMAIL_QUEUE.to_owned()),
            poll: DEFAULT_POLL,
        }
    }

    /// `"redis"` or `"sqlite"`, for logs and hints.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Redis(_) => "redis",
        }
    }
}

/// Opens the email queue chosen by the environment: Redis when `REDIS_URL` or
/// `REDIS_HOST`/`REDIS_PORT` is set, else the embedded SQLite queue in `data_dir`.
///
/// Redis is connected lazily (the first operation connects, and a later one reconnects after an
/// outage), so this succeeds while Redis is down and every operation then fails fast with
/// [`QueueError::Unavailable`]; call [`Queue::ping`] to check. SQLite opens (and creates) its
/// file here, a short blocking call: at start-up, or from `spawn_blocking`.
///
/// # Errors
/// [`QueueError::Config`] for invalid variables; [`QueueError::Unavailable`] when the SQLite
/// file cannot be opened.
pub fn open_from_env(data_dir: &Path) -> Result<Arc<dyn Queue>, QueueError> {
    open(&Backend::from_env(data_dir)?)
}

/// Opens the queue of `backend` (see [`open_from_env`]).
///
/// # Errors
/// As [`open_from_env`].
pub fn open(backend: &Backend) -> Result<Arc<dyn Queue>, QueueError> {
    match backend {
        Backend::Sqlite { path, queue, poll } => Ok(Arc::new(
            SqliteQueue::open(path, queue)?.with_poll_interval(*poll),
        )),
        Backend::Redis(config) => Ok(Arc::new(RedisQueue::new(config.as_ref().clone())?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_variables_select_redis_else_sqlite() {
        let dir = Path::new("/data");
        let sqlite = Backend::from_lookup(dir, |_| None).unwrap();
        assert_eq!(
            sqlite,
            Backend::Sqlite {
                path: dir.join("svc.db"),
                queue: EMAIL_QUEUE.into(),
                poll: DEFAULT_POLL,
            }
        );
        let redis = Backend::from_lookup(dir, |name| {
            (name == "REDIS_HOST").then(|| "127.0.0.1".to_owned())
        })
        .unwrap();
        assert_eq!(redis.kind(), "redis");
        let bad = Backend::from_lookup(dir, |name| (name == "REDIS_PORT").then(|| "x".to_owned()));
        assert!(matches!(bad, Err(QueueError::Config(_))));
    }
}
