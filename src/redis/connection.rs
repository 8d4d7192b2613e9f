//! The two kinds of Redis connection svc uses, and how each behaves when Redis goes away.
//!
//! - Commands and scripts go through one [`ConnectionManager`], created lazily on first use (so
//!   opening the queue never needs Redis to be up), with a 2 s connect timeout, a 5 s response
//!   timeout and a single quick reconnect attempt: while Redis is down every call fails fast (no
//!   offline buffering), and the first call after Redis is back reconnects.
//! - The idle wake-up blocks in `BZPOPMIN <marker>` on a *dedicated* connection created without a
//!   response timeout (the redis crate's 500 ms default would cut the block short and lose the
//!   popped marker), guarded by a watchdog of its own. The connection is dropped and rebuilt after
//!   any error or interruption, so a half-finished block never delays the next one. It is named
//!   like a Node worker's blocking connection (`<prefix>:<base64(queue)>:w:<name>`), so BullMQ's
//!   `getWorkers()` lists svc workers too.
//!
//! [`client`] is the one place a [`Client`] is built from an [`Endpoint`] (plain or TLS), so
//! the queue, the worker, `svc queue …` and the API's rate limiter connect alike. The limiter
//! uses [`Connections`] too, with its own, shorter [`Timeouts`].

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, FromRedisValue, RedisError, RedisResult, ScriptInvocation,
};
use tokio::sync::{Mutex, OnceCell};

use super::RedisError as Error;
use super::config::Endpoint;
use super::tls::is_tls_error;

/// The queue's connect timeout: connecting gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The queue's response timeout: a command or script whose answer takes longer fails (scripts
/// do bounded work).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The blocking wait is abandoned (and its connection rebuilt) this long after its own timeout.
const BLOCK_WATCHDOG: Duration = Duration::from_secs(2);

/// The client for `endpoint`: TLS with its CA and client certificate for a `rediss://` URL,
/// plain TCP otherwise. Nothing is connected yet.
///
/// # Errors
/// [`Error::Address`] or [`Error::Client`] when the address or the TLS material is unusable.
pub fn client(endpoint: &Endpoint) -> Result<Client, Error> {
    let info = endpoint.connection_info()?;
    let client = if endpoint.uses_tls() {
        Client::build_with_tls(info, endpoint.tls.certificates())
    } else {
        Client::open(info)
    };
    client.map_err(|source| Error::Client { source })
}

/// How long the command connection waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the TCP connection and the TLS handshake.
    pub connect: Duration,
    /// For each command's answer.
    pub response: Duration,
}

impl Timeouts {
    /// The queue's: 2 s to connect, 5 s for an answer.
    pub const QUEUE: Timeouts = Timeouts {
        connect: CONNECT_TIMEOUT,
        response: RESPONSE_TIMEOUT,
    };
}

/// The connections to one Redis server.
pub struct Connections {
    client: Client,
    timeouts: Timeouts,
    /// The server (and what it serves) without credentials, for error messages.
    describe: String,
    /// The blocking connection's `CLIENT SETNAME`.
    worker_name: String,
    /// Commands and scripts; created on first use.
    commands: OnceCell<ConnectionManager>,
    /// The dedicated connection for BZPOPMIN; `None` until needed or after a failure.
    blocking: Mutex<Option<MultiplexedConnection>>,
}

impl Connections {
    /// Nothing is connected yet. `worker_name` is the blocking connection's client name.
    pub fn new(client: Client, describe: String, worker_name: String) -> Self {
        Self::with_timeouts(client, describe, worker_name, Timeouts::QUEUE)
    }

    /// As [`Connections::new`], with other timeouts for the command connection.
    pub fn with_timeouts(
        client: Client,
        describe: String,
        worker_name: String,
        timeouts: Timeouts,
    ) -> Self {
        Connections {
            client,
            timeouts,
            describe,
            worker_name,
            commands: OnceCell::new(),
            blocking: Mutex::new(None),
        }
    }

    /// A failure of this server; a TLS failure is told apart (it will not go away by retrying).
    pub fn unavailable(&self, source: RedisError) -> Error {
        let server = self.describe.clone();
        if is_tls_error(&source) {
            Error::Tls { server, source }
        } else {
            Error::Unavailable { server, source }
        }
    }

    /// The shared command connection.
    async fn commands(&self) -> Result<ConnectionManager, Error> {
        let manager = self
            .commands
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeouts.connect))
                    .set_response_timeout(Some(self.timeouts.response))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(manager.clone())
    }

    /// Runs `op` on the command connection, and once more when that connection turned out to
    /// be dropped (Redis restarted since the last call): the manager has reconnected by then.
    /// A dropped connection is mostly seen before the command went out; when it went out and
    /// ran, the repeat is harmless for our scripts (custom ids are idempotent, a repeated
    /// finish reports a lost lease, a repeated take leases a job the stalled check returns).
    ///
    /// # Errors
    /// [`Error::Unavailable`] (or [`Error::Tls`]) with Redis' error.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = self.commands().await?;
        match op(conn.clone()).await {
            Err(e) if e.is_connection_dropped() => op(conn).await,
            other => other,
        }
        .map_err(|e| self.unavailable(e))
    }

    /// Runs a script (EVALSHA, loading it after `NOSCRIPT`).
    ///
    /// # Errors
    /// As [`Connections::run`].
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// The dedicated blocking connection, named like a Node worker's.
    async fn connect_blocking(&self) -> Result<MultiplexedConnection, Error> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeouts.connect))
            .set_response_timeout(None);
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.unavailable(e))?;
        // Some hosted Redis forbid CLIENT SETNAME; the name only serves dashboards.
        let named: Result<(), RedisError> = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&self.worker_name)
            .query_async(&mut conn)
            .await;
        if let Err(error) = named {
            tracing::debug!(%error, "could not name the blocking Redis connection");
        }
        Ok(conn)
    }

    /// One `BZPOPMIN marker` of up to `wait` (which must not be tiny: see the caller); `Some(due)`
    /// when it popped a member whose score is a due time.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis cannot be reached or the block failed.
    pub async fn pop_marker(
        &self,
        marker: &str,
        wait: Duration,
    ) -> Result<Option<SystemTime>, Error> {
        let mut slot = self.blocking.lock().await;
        // Taken out while in use: if this future is dropped mid-block, the connection goes
        // with it instead of holding a stale BZPOPMIN in front of the next one.
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.connect_blocking().await?,
        };
        let seconds = format!("{:.3}", wait.as_secs_f64());
        let popped = tokio::time::timeout(
            wait + BLOCK_WATCHDOG,
            redis::cmd("BZPOPMIN")
                .arg(marker)
                .arg(seconds)
                .query_async::<Option<(String, String, String)>>(&mut conn),
        )
        .await;
        match popped {
            // The watchdog: the connection is presumed dead and rebuilt next time.
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(self.unavailable(e)),
            Ok(Ok(reply)) => {
                *slot = Some(conn);
                let due = reply
                    .and_then(|(_, _, score)| score.parse::<f64>().ok())
                    .filter(|score| *score > 0.0)
                    .map(|score| UNIX_EPOCH + Duration::from_millis(score as u64));
                Ok(due)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn connections() -> Connections {
        let endpoint = Endpoint::for_url("redis://127.0.0.1:1/0");
        let client = client(&endpoint).expect("a client is built without connecting");
        Connections::new(client, endpoint.describe(), "test".into())
    }

    #[test]
    fn a_failure_names_the_server_and_keeps_its_cause() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let error = connections().unavailable(refused.into());
        assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("redis at redis://127.0.0.1:1/0: "),
            "{error}"
        );
        assert!(std::error::Error::source(&error).is_some());
        assert!(!error.is_config());
    }

    #[test]
    fn a_tls_failure_says_so_and_names_the_variables_that_fix_it() {
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            tokio_rustls::rustls::Error::DecryptError,
        );
        let error = connections().unavailable(tls.into());
        assert!(matches!(error, Error::Tls { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("TLS handshake failed") && text.contains("REDIS_TLS_CA_FILE"),
            "{text}"
        );
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn an_unusable_address_is_a_settings_error() {
        let endpoint = Endpoint::for_url("redis://h:notaport");
        let error = client(&endpoint).expect_err("the URL is refused");
        assert!(error.is_config(), "{error:?}");
        assert!(
            error.to_string().starts_with("REDIS_URL is not usable"),
            "{error}"
        );
    }
}
