//! The MongoDB backend (`DB_URL=mongodb://…` or `mongodb+srv://…`), over the official driver.
//!
//! Why it is shaped this way:
//! - **Never hang, never refuse to start.** The client connects lazily: building the store does
//!   no I/O, and the first call (a request, `/ready`, the outbox relay) resolves the URL, connects
//!   and creates the indexes ([`indexes`]). Until that has worked once, every call fails with
//!   [`StoreError::Unavailable`] (503) and the next call tries again. Every call, connecting
//!   included, is bounded by `DB_TIMEOUT`, which is also the driver's server-selection and
//!   connect timeout; and while the server is unreachable a circuit breaker ([`breaker`]) fails
//!   calls at once, so requests get their 503 fast instead of each waiting out the timeout.
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
//! Collections: `products`, `users` (with the outbox), `api_rate_limits`. Field names are the
//! API's camelCase names, ids are ObjectIds in `_id`, times are BSON dates: what a Mongoose app
//! would have written, so the data stays readable by the tools that stack knows.

mod breaker;
mod config;
mod indexes;
mod outbox;
mod products;
mod rate;
mod users;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use tokio::sync::OnceCell;

use super::{Health, StoreError};
use crate::domain::ObjectId;

pub use config::{
    DEFAULT_DATABASE, DEFAULT_POOL_MAX, DEFAULT_TIMEOUT, MongoConfig, POOL_MAX_RANGE,
    TIMEOUT_RANGE, is_mongo_url,
};

/// The name the driver reports to the server (visible in `db.currentOp()` and server logs).
const APP_NAME: &str = "svc-api";

/// Every repository of the MongoDB backend. Cheap to clone.
#[derive(Clone)]
pub struct MongoStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: MongoConfig,
    /// The client, made once the URL resolved (an SRV name needs DNS).
    client: OnceCell<Client>,
    /// The collections, set once the indexes exist; the gate of every call.
    ready: OnceCell<Collections>,
    /// The latest rate-limit window seen, so old windows are deleted once per window change.
    rate_window: AtomicI64,
    /// Fails calls at once while the server is unreachable.
    breaker: breaker::Breaker,
}

/// Handles to the collections (cheap to clone).
#[derive(Clone)]
pub(crate) struct Collections {
    pub db: Database,
    pub products: Collection<Document>,
    pub users: Collection<Document>,
    pub rates: Collection<Document>,
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
                client: OnceCell::new(),
                ready: OnceCell::new(),
                rate_window: AtomicI64::new(0),
                breaker: breaker::Breaker::new(breaker::COOL_DOWN),
            }),
        }
    }

    pub fn config(&self) -> &MongoConfig {
        &self.inner.config
    }

    /// Runs `op` on the collections, connecting and creating the indexes first if that has not
    /// worked yet; the whole call is bounded by `DB_TIMEOUT`, and fails at once while the
    /// breaker is open.
    pub(crate) async fn call<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Collections) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let Some(pass) = self.inner.breaker.admit(Instant::now()) else {
            return Err(StoreError::Unavailable(
                "MongoDB was unreachable a moment ago; failing fast until it answers again".into(),
            ));
        };
        let timeout = self.inner.config.timeout;
        let bounded = async {
            let collections = self.collections().await?;
            op(collections).await
        };
        let result = tokio::time::timeout(timeout, bounded)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "MongoDB gave no answer within {}",
                    humantime::format_duration(timeout)
                )))
            });
        let reachable = !matches!(result, Err(StoreError::Unavailable(_)));
        pass.record(reachable, Instant::now());
        result
    }

    async fn collections(&self) -> Result<Collections, StoreError> {
        self.inner
            .ready
            .get_or_try_init(|| async {
                let client = self.client().await?;
                let db = client.database(&self.inner.config.database);
                indexes::ensure(&db).await?;
                tracing::info!(
                    hosts = %self.inner.config.hosts(),
                    database = %self.inner.config.database,
                    "connected to MongoDB; indexes in place"
                );
                Ok(Collections {
                    products: db.collection("products"),
                    users: db.collection("users"),
                    rates: db.collection("api_rate_limits"),
                    db,
                })
            })
            .await
            .cloned()
    }

    async fn client(&self) -> Result<Client, StoreError> {
        let config = &self.inner.config;
        self.inner
            .client
            .get_or_try_init(|| async {
                let mut options = ClientOptions::parse(config.connection.clone())
                    .await
                    .map_err(map_err)?;
                options.app_name = Some(APP_NAME.to_owned());
                options.max_pool_size = Some(config.pool_max);
                options.server_selection_timeout = Some(config.timeout);
                options.connect_timeout = Some(config.timeout);
                Client::with_options(options).map_err(map_err)
            })
            .await
            .cloned()
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
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
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
        other => Err(StoreError::Internal(format!(
            "corrupt id {other} in the store"
        ))),
    }
}

/// A document that does not have the shape we write.
pub(crate) fn corrupt(what: &str, id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("corrupt {what} document {id}: {e}"))
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
