//! The MongoDB backend (`DB_URL=mongodb://…` or `mongodb+srv://…`), over the official driver.
//!
//! Why it is shaped this way:
//! - **Never hang, never refuse to start.** Building the store does no I/O. Connecting (resolving
//!   the URL, the first round trips, creating the indexes, see [`indexes`]) runs in a background
//!   task, started by the first call that needs it and retried by later calls until it has
//!   worked once; a caller only waits for it within its own bound, so a short probe cannot
//!   cancel a slow first connection halfway. Until then every call fails with
//!   [`StoreError::Unavailable`] (503). Every call is bounded by `DB_TIMEOUT`, which is also the
//!   driver's server-selection and connect timeout, so a request behind an unreachable server
//!   gets its 503 instead of waiting the driver's default 30 s; the API's store gate
//!   (`crate::api::gate`) then fails the following requests at once until a probe finds the
//!   server again.
//! - **Probes that load cannot fool.** [`Health::probe`] answers "up" without a round trip when
//!   a call has succeeded in the last moment and none has failed since: a busy server answers
//!   requests, but a `ping` queued behind them may miss the gate's short probe deadline.
//! - **Indexes before writes.** No repository call runs before the indexes exist, so the unique
//!   `email` index is always there to turn a duplicate sign-up into `EMAIL_TAKEN`, even for two
//!   concurrent sign-ups with the same email.
//! - **No transactions needed.** A user and its welcome-email job are one document (the job
//!   waits in the user's `outbox` field, see [`outbox`]), so the write that creates the user
//!   records the job atomically on a standalone server, a replica set or a sharded cluster.
//! - **User text is data, never a query.** Filters are built from the typed query with fixed
//!   field names; values are typed BSON strings and numbers (a string cannot become an
//!   operator), and the search text is regex-escaped ([`products`]).
//!
//! Collections: `products`, `users` (with the outbox and the role), `api_rate_limits`,
//! `auth_sessions` and `auth_refresh_tokens` (logins; token hashes only, see [`sessions`]). Field names are the
//! API's camelCase names, ids are ObjectIds in `_id`, times are BSON dates: what a Mongoose app
//! would have written, so the data stays readable by the tools that stack knows.

mod config;
mod indexes;
mod outbox;
mod page;
mod product_document;
mod product_query;
mod products;
mod rate;
mod sessions;
mod users;

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use tokio::sync::watch;

use super::{Cause, Failure, Health, Probe, StoreError};
use crate::clock;
use crate::domain::ObjectId;

pub use config::{
    DEFAULT_DATABASE, DEFAULT_POOL_MAX, DEFAULT_TIMEOUT, MongoConfig, POOL_MAX_RANGE,
    TIMEOUT_RANGE, is_mongo_url,
};
/// The filter and sort documents of a product list, public so the tests can ask the server how
/// it runs exactly what the store sends (`explain`).
pub use product_query::{filter as product_filter, sort as product_sort};

/// The name the driver reports to the server (visible in `db.currentOp()` and server logs).
const APP_NAME: &str = "svc-api";

/// How recent a successful call must be for [`Health::probe`] to answer without a round trip.
const PASSIVE_PROBE: Duration = Duration::from_secs(2);

/// Every repository of the MongoDB backend. Cheap to clone.
#[derive(Clone)]
pub struct MongoStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: MongoConfig,
    /// The client, made once the URL resolved (an SRV name needs DNS).
    client: OnceLock<Client>,
    /// The collections, set once the indexes exist; the gate of every call.
    ready: OnceLock<Collections>,
    /// The connecting task's progress: whether one runs, how many have finished, the last error.
    connecting: watch::Sender<Connecting>,
    /// The latest rate-limit window seen, so old windows are deleted once per window change.
    rate_window: AtomicI64,
    /// When calls last reached the server, and last failed to (ms since `epoch`; 0 = never).
    last_ok: AtomicI64,
    last_unavailable: AtomicI64,
    epoch: Instant,
}

#[derive(Debug, Clone, Default)]
struct Connecting {
    running: bool,
    finished: u64,
    /// Why the latest attempt failed, for every caller that waited for it.
    error: Option<Arc<Failure>>,
}

/// Handles to the collections (cheap to clone).
#[derive(Clone)]
pub(crate) struct Collections {
    pub db: Database,
    pub products: Collection<Document>,
    pub users: Collection<Document>,
    pub rates: Collection<Document>,
    pub sessions: Collection<Document>,
    pub refresh_tokens: Collection<Document>,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// A store for `config`. Does no I/O: connecting happens on the first call.
    pub fn new(config: MongoConfig) -> Self {
        MongoStore {
            inner: Arc::new(Inner {
                config,
                client: OnceLock::new(),
                ready: OnceLock::new(),
                connecting: watch::Sender::new(Connecting::default()),
                rate_window: AtomicI64::new(0),
                last_ok: AtomicI64::new(0),
                last_unavailable: AtomicI64::new(0),
                epoch: Instant::now(),
            }),
        }
    }

    pub fn config(&self) -> &MongoConfig {
        &self.inner.config
    }

    fn now_ms(&self) -> i64 {
        clock::millis_i64(self.inner.epoch.elapsed()).max(1)
    }

    /// Runs `op` on the collections, connecting and creating the indexes first if that has not
    /// worked yet; the whole call is bounded by `DB_TIMEOUT`.
    pub(crate) async fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Collections) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let timeout = self.inner.config.timeout;
        let bounded = async {
            let collections = self.collections().await?;
            op(collections).await
        };
        let result = tokio::time::timeout(timeout, bounded)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    format!(
                        "MongoDB gave no answer within {}",
                        humantime::format_duration(timeout)
                    )
                    .into(),
                ))
            });
        let at = self.now_ms();
        match &result {
            Err(StoreError::Unavailable(_)) => {
                self.inner.last_unavailable.store(at, Ordering::Relaxed)
            }
            _ => self.inner.last_ok.store(at, Ordering::Relaxed),
        }
        result
    }

    /// Starts connecting in the background (if not connected or connecting already), so the
    /// first requests find the store ready. Needs a tokio runtime.
    pub fn start_connecting(&self) {
        if self.inner.ready.get().is_none() {
            self.join_or_start_attempt();
        }
    }

    /// Starts a connection attempt unless one runs; returns how many attempts had finished.
    fn join_or_start_attempt(&self) -> u64 {
        let mut start = false;
        let mut finished = 0;
        self.inner.connecting.send_if_modified(|c| {
            finished = c.finished;
            start = !c.running;
            c.running = true;
            start
        });
        if start {
            tokio::spawn(self.clone().connect());
        }
        finished
    }

    /// The collections once connected; otherwise starts (or joins) a connection attempt and
    /// waits for its outcome.
    async fn collections(&self) -> Result<Collections, StoreError> {
        if let Some(ready) = self.inner.ready.get() {
            return Ok(ready.clone());
        }
        let mut progress = self.inner.connecting.subscribe();
        // An attempt may have finished between the check above and the subscription.
        if let Some(ready) = self.inner.ready.get() {
            return Ok(ready.clone());
        }
        let seen = self.join_or_start_attempt();
        let outcome = progress
            .wait_for(|c| c.finished > seen)
            .await
            .map(|c| c.error.clone())
            .unwrap_or_else(|_| Some(Arc::new("the connecting task ended".into())));
        match (self.inner.ready.get(), outcome) {
            (Some(ready), _) => Ok(ready.clone()),
            (None, Some(failure)) => Err(StoreError::Unavailable(Failure::Shared(failure))),
            (None, None) => Err(StoreError::Unavailable("not connected yet".into())),
        }
    }

    /// One connection attempt (resolve, connect, make the indexes), bounded by twice
    /// `DB_TIMEOUT`; its outcome goes to every caller waiting in [`MongoStore::collections`].
    async fn connect(self) {
        let bound = self.inner.config.timeout * 2;
        let error = match tokio::time::timeout(bound, self.open()).await {
            Ok(Ok(collections)) => {
                let _ = self.inner.ready.set(collections);
                tracing::info!(
                    hosts = %self.inner.config.hosts(),
                    database = %self.inner.config.database,
                    "connected to MongoDB; indexes in place"
                );
                None
            }
            // The reason alone: the waiters wrap it in `Unavailable` again.
            Ok(Err(StoreError::Unavailable(failure) | StoreError::Internal(failure))) => {
                Some(Arc::new(failure))
            }
            Ok(Err(error)) => Some(Arc::new(Failure::context("cannot connect", error))),
            Err(_) => Some(Arc::new(
                format!(
                    "could not connect within {}",
                    humantime::format_duration(bound)
                )
                .into(),
            )),
        };
        self.inner.connecting.send_modify(|c| {
            c.running = false;
            c.finished += 1;
            c.error = error;
        });
    }

    async fn open(&self) -> Result<Collections, StoreError> {
        let client = match self.inner.client.get() {
            Some(client) => client.clone(),
            None => {
                let config = &self.inner.config;
                let mut options = ClientOptions::parse(config.connection.clone())
                    .await
                    .map_err(map_err)?;
                options.app_name = Some(APP_NAME.to_owned());
                options.max_pool_size = Some(config.pool_max);
                options.server_selection_timeout = Some(config.timeout);
                options.connect_timeout = Some(config.timeout);
                let client = Client::with_options(options).map_err(map_err)?;
                // Only this task sets it (one connect runs at a time).
                self.inner.client.get_or_init(|| client).clone()
            }
        };
        let db = client.database(&self.inner.config.database);
        indexes::ensure(&db).await?;
        Ok(Collections {
            products: db.collection("products"),
            users: db.collection("users"),
            rates: db.collection("api_rate_limits"),
            sessions: db.collection("auth_sessions"),
            refresh_tokens: db.collection("auth_refresh_tokens"),
            db,
        })
    }
}

#[async_trait]
impl Health for MongoStore {
    /// Connected, indexes in place, and the server answers a `ping` now.
    async fn ping(&self) -> Result<(), StoreError> {
        self.call(|c| async move {
            c.db.run_command(doc! {"ping": 1}).await.map_err(map_err)?;
            Ok(())
        })
        .await
    }

    /// Up at once when a call reached the server within [`PASSIVE_PROBE`] and none has found
    /// it unavailable since; otherwise a `ping`. Reads and writes go to the same primary, so
    /// they are up or down together.
    async fn probe(&self) -> Probe {
        let ok = self.inner.last_ok.load(Ordering::Relaxed);
        let failed = self.inner.last_unavailable.load(Ordering::Relaxed);
        let recent = clock::millis_i64(PASSIVE_PROBE);
        if ok > 0 && ok >= failed && self.now_ms() - ok <= recent {
            return Probe::UP;
        }
        match self.ping().await {
            Ok(()) => Probe::UP,
            Err(error) => Probe::down(&error),
        }
    }
}

/// MongoDB's duplicate-key error (a unique index refused a write).
pub(crate) const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that mean "cannot serve now, a retry may work": shutdown, step-down,
/// not primary, timeouts, network failures between servers.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// The server code of a command or write error, if it has one.
pub(crate) fn error_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteConcernError(w)) => Some(w.code),
        _ => None,
    }
}

/// Sorts a driver error into "try again later" and "our bug". The text goes to logs only.
pub(crate) fn map_err(e: mongodb::error::Error) -> StoreError {
    let transient = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Authentication { .. } => true,
        _ => error_code(&e).is_some_and(|code| TRANSIENT_CODES.contains(&code)),
    };
    if transient {
        StoreError::Unavailable(e.into())
    } else {
        StoreError::Internal(e.into())
    }
}

/// Our id as BSON.
pub(crate) fn oid(id: ObjectId) -> mongodb::bson::oid::ObjectId {
    mongodb::bson::oid::ObjectId::from_bytes(id.to_bytes())
}

/// A stored `_id` back as our id; anything but an ObjectId is a corrupt document.
pub(crate) fn stored_id(value: &mongodb::bson::Bson) -> Result<ObjectId, StoreError> {
    match value {
        mongodb::bson::Bson::ObjectId(id) => Ok(ObjectId::from_bytes(id.bytes())),
        other => Err(StoreError::Internal(
            format!("corrupt id {other} in the store").into(),
        )),
    }
}

/// A document that does not have the shape we write.
pub(crate) fn corrupt(what: &str, id: &str, e: impl Into<Cause>) -> StoreError {
    StoreError::internal(format!("corrupt {what} document {id}"), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_bson() {
        let id = ObjectId::new();
        assert_eq!(oid(id).to_hex(), id.to_string());
        assert_eq!(
            stored_id(&mongodb::bson::Bson::ObjectId(oid(id))).unwrap(),
            id
        );
        assert!(stored_id(&mongodb::bson::Bson::String("x".into())).is_err());
    }
}
