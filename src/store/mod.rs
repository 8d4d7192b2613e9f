//! Persistence behind one repository trait per aggregate ([`ProductRepository`],
//! [`UserRepository`], and the logins' refresh tokens, [`SessionRepository`]) plus the two small
//! stores the API's plumbing needs: the welcome-email [`Outbox`] and the shared [`RateCounter`].
//!
//! The traits speak only domain and query types, never SQL, BSON or HTTP, so the backends
//! ([`sqlite`], the embedded default, and [`mongo`]) plug in without touching a handler. Ids and
//! timestamps are made by the domain (`Product::create`, `User::register`); a backend stores what
//! it is given. [`Store`] names a backend that has every repository.

mod error;
pub mod mongo;
mod search_text;
pub mod sqlite;

pub use error::{Cause, Failure, StoreError};

use async_trait::async_trait;

use crate::domain::{Email, ObjectId, Product, ProductPatch, Role, Timestamp, User};
use crate::error_chain::chain;
use crate::query::{ProductQuery, UserQuery};
use crate::queue::NewJob;

/// One page of a list and the number of all matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// The products aggregate.
#[async_trait]
pub trait ProductRepository: Send + Sync + 'static {
    /// Stores a new product (from `Product::create`).
    async fn insert(&self, product: Product) -> Result<Product, StoreError>;
    /// One product; a soft-deleted one only with `include_deleted`.
    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<Product, StoreError>;
    /// The page of products `query` asks for, in its order, with the id as the last tie-breaker.
    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError>;
    /// Applies `patch` to a live product, atomically.
    async fn update(
        &self,
        id: ObjectId,
        patch: ProductPatch,
        now: Timestamp,
    ) -> Result<Product, StoreError>;
    /// Sets `deletedAt`; a product already deleted is [`StoreError::NotFound`].
    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError>;
    /// Clears `deletedAt` (a live product is returned unchanged).
    async fn restore(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError>;
}

/// The users aggregate.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// Stores a new user with its password hash and, in the same transaction, the message to
    /// relay to the queue: either both are stored or neither ([`StoreError::EmailTaken`] when
    /// the email is registered already).
    async fn insert(
        &self,
        user: User,
        password_hash: String,
        message: OutboxMessage,
    ) -> Result<User, StoreError>;
    /// One user; a soft-deleted one only with `include_deleted`.
    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<User, StoreError>;
    /// A page of users, newest first.
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, StoreError>;
    /// Sets `deletedAt`; a user already deleted is [`StoreError::NotFound`].
    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<User, StoreError>;
    /// The live user with `email` and its password hash, to check a login; `None` when there
    /// is none (or it is soft-deleted).
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;
    /// Changes a live user's name and/or password hash (either may be `None`: unchanged).
    async fn update_profile(
        &self,
        id: ObjectId,
        name: Option<String>,
        password_hash: Option<String>,
        now: Timestamp,
    ) -> Result<User, StoreError>;
    /// Gives the live user with `email` the `role`.
    async fn set_role(&self, email: &Email, role: Role, now: Timestamp)
    -> Result<User, StoreError>;
}

/// A live user and its password hash: what a login is checked against.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A refresh token as the store keeps it: only its hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub expires_at: Timestamp,
}

/// What presenting a refresh token to [`SessionRepository::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was live and is now spent; the new token is stored in the same session.
    Rotated { user_id: ObjectId },
    /// It had been spent before: someone replayed it, so its whole session is now revoked.
    Reused { user_id: ObjectId },
    /// Unknown, expired, or its session was revoked: nothing changed.
    Invalid,
}

/// The logins (sessions) and their refresh tokens. A login is one session; each refresh spends
/// its token and adds the next one to the same session, so replaying a spent token can revoke
/// every token descended from that login (reuse detection, OAuth 2.0 Security BCP §4.14).
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Starts a session of `user` holding its first refresh token `first`.
    async fn start_session(
        &self,
        user: ObjectId,
        first: StoredToken,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Spends the live token whose hash is `spent` and stores `next` in its session, atomically.
    async fn rotate(
        &self,
        spent: &str,
        next: StoredToken,
        now: Timestamp,
    ) -> Result<Rotation, StoreError>;
    /// Revokes the session holding the token `hash` if it belongs to `user`; whether it did.
    async fn end_session(
        &self,
        hash: &str,
        user: ObjectId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Revokes every session of `user` (a password change, a deletion).
    async fn end_all_sessions(&self, user: ObjectId, now: Timestamp) -> Result<(), StoreError>;
}

/// A job waiting in the store to be added to a queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutboxMessage {
    pub queue: String,
    pub job: NewJob,
}

/// Which outbox entry, in its backend's terms (a row number, a document id): opaque to callers,
/// who only hand it back to [`Outbox::delivered`] and [`Outbox::retry_later`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxId(pub String);

impl std::fmt::Display for OutboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The entry's id, for [`Outbox::delivered`] and [`Outbox::retry_later`].
    pub id: OutboxId,
    pub message: OutboxMessage,
    /// Failed relays so far.
    pub attempts: u32,
}

/// The transactional outbox: jobs written with their user, relayed to the queue afterwards.
///
/// Relaying is at-least-once (a crash between the add and [`Outbox::delivered`] relays again);
/// the job's custom id makes the second add a no-op.
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Claims up to `limit` due rows for `lease`, so other API instances skip them meanwhile.
    async fn claim(
        &self,
        limit: usize,
        lease: std::time::Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Removes a relayed row.
    async fn delivered(&self, id: &OutboxId) -> Result<(), StoreError>;
    /// Records a failed relay; the row is due again after `delay`.
    async fn retry_later(
        &self,
        id: &OutboxId,
        error: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError>;
    /// Rows not yet relayed.
    async fn backlog(&self) -> Result<u64, StoreError>;
    /// How long until the earliest row is due (zero if one is due now); `None` when empty.
    async fn next_due(&self) -> Result<Option<std::time::Duration>, StoreError>;
}

/// The longest window any counter uses (`RATE_LIMIT` and `AUTH_RATE_LIMIT` allow up to 24 h).
/// Counters of several window lengths share one table, so a backend deletes a row only once
/// it is older than this, whichever limit wrote it.
pub const MAX_RATE_WINDOW_MS: i64 = 86_400_000;

/// Fixed-window hit counters shared by every API instance using the same store.
#[async_trait]
pub trait RateCounter: Send + Sync + 'static {
    /// Counts one hit for `key` in the window starting at `window_start` (ms since the epoch)
    /// and returns the hits in that window so far, this one included.
    async fn hit(&self, key: &str, window_start: i64) -> Result<u64, StoreError>;
    /// The hits of `key` in the window starting at `window_start`, without counting one.
    async fn count(&self, key: &str, window_start: i64) -> Result<u64, StoreError>;
}

/// Liveness of the store, for `/ready` and the API's store gate.
#[async_trait]
pub trait Health: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether reads and writes can be served right now, answered quickly (a backend must not
    /// wait out its usual busy timeout here). Reads and writes are apart because a store can
    /// lose one without the other: an SQLite file whose write lock another process holds still
    /// serves reads. The default asks [`Health::ping`] for both.
    async fn probe(&self) -> Probe {
        match self.ping().await {
            Ok(()) => Probe::UP,
            Err(error) => Probe::down(&error),
        }
    }
}

/// What [`Health::probe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub reads: bool,
    pub writes: bool,
    /// Why not, for the log.
    pub error: Option<String>,
}

impl Probe {
    pub const UP: Probe = Probe {
        reads: true,
        writes: true,
        error: None,
    };

    /// Down for reads and writes because of `error` (its whole chain, for the log).
    pub fn down(error: &StoreError) -> Probe {
        Probe {
            reads: false,
            writes: false,
            error: Some(chain(error).to_string()),
        }
    }
}

/// A backend with every repository the API needs: what `AppState` is built from.
pub trait Store:
    ProductRepository + UserRepository + SessionRepository + Outbox + RateCounter + Health
{
}

impl<T> Store for T where
    T: ProductRepository + UserRepository + SessionRepository + Outbox + RateCounter + Health
{
}
