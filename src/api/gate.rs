//! The store gate: requests fail fast with 503 while the store is known to be down, and come
//! back by themselves when it returns.
//!
//! Why: the SQLite store waits up to its 5 s busy timeout for a lock, and in-process writers
//! queue behind each other, so without a gate an unavailable store (another process holding
//! the write lock, a file that cannot be opened) turns every request into a multi-second hang
//! and a queue of them into minutes. The gate keeps one fresh answer to "can the store serve
//! reads, and writes, now?":
//! - a prober asks the store ([`Health::probe`]) every [`PROBE_EVERY`], each probe bounded by
//!   [`PROBE_TIMEOUT`], so an outage is known within a second and its end too;
//! - a request that ends in [`StoreError::Unavailable`] marks its kind down at once and wakes
//!   the prober;
//! - while a kind is down, its operations return `Unavailable` without touching the store (the
//!   handlers answer 503 with `Retry-After`), and operations already waiting on the store are
//!   abandoned with `Unavailable` the moment it goes down, instead of waiting their turn.
//!
//! Reads and writes are gated apart: with another process holding the write lock, reads still
//! work (WAL) and only writes fail fast. [`Guarded`] wraps the repositories with the gate.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::{Email, ObjectId, Product, ProductPatch, Role, Timestamp, User};
use crate::error_chain::chain;
use crate::query::{ProductQuery, UserQuery};
use crate::store::{
    Credentials, Health, Outbox, OutboxEntry, OutboxId, OutboxMessage, Page, Probe,
    ProductRepository, RateCounter, Rotation, SessionRepository, StoreError, StoredToken,
    UserRepository,
};

/// How often the prober asks the store.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);
/// How long one probe may take before the store counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(600);

/// What the store can serve now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStatus {
    pub reads: bool,
    pub writes: bool,
}

impl StoreStatus {
    const UP: StoreStatus = StoreStatus {
        reads: true,
        writes: true,
    };

    fn allows(self, kind: Kind) -> bool {
        match kind {
            Kind::Read => self.reads,
            Kind::Write => self.reads && self.writes,
        }
    }
}

/// Whether an operation reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// The shared status and the prober's wake-up. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    status: Arc<watch::Sender<StoreStatus>>,
    wake: Arc<Notify>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A gate that starts open (the store was just opened).
    pub fn new() -> Self {
        Gate {
            status: Arc::new(watch::Sender::new(StoreStatus::UP)),
            wake: Arc::new(Notify::new()),
        }
    }

    pub fn status(&self) -> StoreStatus {
        *self.status.borrow()
    }

    fn set(&self, next: StoreStatus, error: Option<&str>) {
        let previous = self.status.send_replace(next);
        if previous == next {
            return;
        }
        let error = error.unwrap_or("");
        if next == StoreStatus::UP {
            tracing::info!("database available again");
        } else if next.reads {
            tracing::warn!(error, "database refuses writes; writes fail fast with 503");
        } else {
            tracing::warn!(error, "database unavailable; requests fail fast with 503");
        }
    }

    /// Records a probe made elsewhere (`/ready`).
    pub fn record(&self, probe: &Probe) {
        self.set(
            StoreStatus {
                reads: probe.reads,
                writes: probe.writes,
            },
            probe.error.as_deref(),
        );
    }

    /// Runs `op` when `kind` is allowed; an `Unavailable` result marks it down. If the store
    /// goes down while `op` waits, `op` is dropped and `Unavailable` returned.
    pub async fn run<T>(
        &self,
        kind: Kind,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let mut status = self.status.subscribe();
        if !status.borrow_and_update().allows(kind) {
            return Err(down(kind));
        }
        let result = tokio::select! {
            result = op => result,
            _ = status.wait_for(|s| !s.allows(kind)) => return Err(down(kind)),
        };
        if let Err(error @ StoreError::Unavailable(_)) = &result {
            let mut next = self.status();
            match kind {
                Kind::Read => next.reads = false,
                Kind::Write => next.writes = false,
            }
            self.set(next, Some(&chain(error).to_string()));
            self.wake.notify_one();
        }
        result
    }

    /// Probes `health` every [`PROBE_EVERY`] (at once when a request found the store down)
    /// until `stop`, and records what it finds.
    pub async fn probe_until(self, health: Arc<dyn Health>, stop: CancellationToken) {
        loop {
            let probe = tokio::time::timeout(PROBE_TIMEOUT, health.probe())
                .await
                .unwrap_or_else(|_| Probe {
                    reads: false,
                    writes: false,
                    error: Some(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
                });
            self.record(&probe);
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(PROBE_EVERY) => {}
            }
        }
    }
}

fn down(kind: Kind) -> StoreError {
    let what = match kind {
        Kind::Read => "reads",
        Kind::Write => "writes",
    };
    StoreError::Unavailable(format!("the store is down for {what} (known to the gate)").into())
}

/// A store whose every operation passes the [`Gate`].
pub struct Guarded<S> {
    inner: Arc<S>,
    gate: Gate,
}

impl<S> Guarded<S> {
    pub fn new(inner: Arc<S>, gate: Gate) -> Self {
        Guarded { inner, gate }
    }
}

#[async_trait]
impl<S: ProductRepository> ProductRepository for Guarded<S> {
    async fn insert(&self, product: Product) -> Result<Product, StoreError> {
        self.gate.run(Kind::Write, self.inner.insert(product)).await
    }
    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<Product, StoreError> {
        self.gate
            .run(Kind::Read, self.inner.get(id, include_deleted))
            .await
    }
    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        self.gate.run(Kind::Read, self.inner.list(query)).await
    }
    async fn update(
        &self,
        id: ObjectId,
        patch: ProductPatch,
        now: Timestamp,
    ) -> Result<Product, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.update(id, patch, now))
            .await
    }
    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError> {
        self.gate
            .run(
                Kind::Write,
                ProductRepository::soft_delete(&*self.inner, id, now),
            )
            .await
    }
    async fn restore(&self, id: ObjectId, now: Timestamp) -> Result<Product, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.restore(id, now))
            .await
    }
}

#[async_trait]
impl<S: UserRepository> UserRepository for Guarded<S> {
    async fn insert(
        &self,
        user: User,
        password_hash: String,
        message: OutboxMessage,
    ) -> Result<User, StoreError> {
        self.gate
            .run(
                Kind::Write,
                UserRepository::insert(&*self.inner, user, password_hash, message),
            )
            .await
    }
    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<User, StoreError> {
        self.gate
            .run(
                Kind::Read,
                UserRepository::get(&*self.inner, id, include_deleted),
            )
            .await
    }
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, StoreError> {
        self.gate
            .run(Kind::Read, UserRepository::list(&*self.inner, query))
            .await
    }
    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<User, StoreError> {
        self.gate
            .run(
                Kind::Write,
                UserRepository::soft_delete(&*self.inner, id, now),
            )
            .await
    }
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        self.gate
            .run(Kind::Read, self.inner.credentials(email))
            .await
    }
    async fn update_profile(
        &self,
        id: ObjectId,
        name: Option<String>,
        password_hash: Option<String>,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        self.gate
            .run(
                Kind::Write,
                self.inner.update_profile(id, name, password_hash, now),
            )
            .await
    }
    async fn set_role(
        &self,
        email: &Email,
        role: Role,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.set_role(email, role, now))
            .await
    }
}

#[async_trait]
impl<S: SessionRepository> SessionRepository for Guarded<S> {
    async fn start_session(
        &self,
        user: ObjectId,
        first: StoredToken,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.gate
            .run(Kind::Write, self.inner.start_session(user, first, now))
            .await
    }
    async fn rotate(
        &self,
        spent: &str,
        next: StoredToken,
        now: Timestamp,
    ) -> Result<Rotation, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.rotate(spent, next, now))
            .await
    }
    async fn end_session(
        &self,
        hash: &str,
        user: ObjectId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.end_session(hash, user, now))
            .await
    }
    async fn end_all_sessions(&self, user: ObjectId, now: Timestamp) -> Result<(), StoreError> {
        self.gate
            .run(Kind::Write, self.inner.end_all_sessions(user, now))
            .await
    }
}

#[async_trait]
impl<S: Outbox> Outbox for Guarded<S> {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<OutboxEntry>, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.claim(limit, lease))
            .await
    }
    async fn delivered(&self, id: &OutboxId) -> Result<(), StoreError> {
        self.gate.run(Kind::Write, self.inner.delivered(id)).await
    }
    async fn retry_later(
        &self,
        id: &OutboxId,
        error: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        self.gate
            .run(Kind::Write, self.inner.retry_later(id, error, delay))
            .await
    }
    async fn backlog(&self) -> Result<u64, StoreError> {
        self.gate.run(Kind::Read, self.inner.backlog()).await
    }
    async fn next_due(&self) -> Result<Option<Duration>, StoreError> {
        self.gate.run(Kind::Read, self.inner.next_due()).await
    }
}

#[async_trait]
impl<S: RateCounter> RateCounter for Guarded<S> {
    async fn hit(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        self.gate
            .run(Kind::Write, self.inner.hit(key, window_start))
            .await
    }
    async fn count(&self, key: &str, window_start: i64) -> Result<u64, StoreError> {
        self.gate
            .run(Kind::Read, self.inner.count(key, window_start))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_down_kind_fails_fast_and_an_unavailable_result_closes_it() {
        let gate = Gate::new();
        let ok: Result<u8, StoreError> = gate.run(Kind::Write, async { Ok(1) }).await;
        assert_eq!(ok.unwrap(), 1);
        let failed: Result<u8, StoreError> = gate
            .run(Kind::Write, async {
                Err(StoreError::Unavailable("locked".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
        assert_eq!(
            gate.status(),
            StoreStatus {
                reads: true,
                writes: false
            }
        );
        let called = std::sync::atomic::AtomicBool::new(false);
        let fast: Result<u8, StoreError> = gate
            .run(Kind::Write, async {
                called.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(1)
            })
            .await;
        assert!(matches!(fast, Err(StoreError::Unavailable(_))));
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst), "not run");
        let read: Result<u8, StoreError> = gate.run(Kind::Read, async { Ok(2) }).await;
        assert_eq!(read.unwrap(), 2, "reads still pass");
    }

    #[tokio::test]
    async fn waiting_operations_are_abandoned_when_the_store_goes_down() {
        let gate = Gate::new();
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(Kind::Read, std::future::pending::<Result<(), StoreError>>())
                    .await
            }
        });
        tokio::task::yield_now().await;
        gate.set(
            StoreStatus {
                reads: false,
                writes: false,
            },
            None,
        );
        let result = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("released")
            .expect("task");
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
    }

    struct Flaky(std::sync::Mutex<Probe>);

    #[async_trait]
    impl Health for Flaky {
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn probe(&self) -> Probe {
            self.0.lock().unwrap().clone()
        }
    }

    #[tokio::test]
    async fn the_prober_follows_the_store_down_and_back_up() {
        let gate = Gate::new();
        let health = Arc::new(Flaky(std::sync::Mutex::new(Probe {
            reads: true,
            writes: false,
            error: Some("locked".into()),
        })));
        let stop = CancellationToken::new();
        let prober = tokio::spawn(gate.clone().probe_until(health.clone(), stop.clone()));
        let mut status = gate.status.subscribe();
        tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| s.reads && !s.writes),
        )
        .await
        .expect("seen down")
        .expect("watch");
        *health.0.lock().unwrap() = Probe::UP;
        tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| *s == StoreStatus::UP),
        )
        .await
        .expect("seen up")
        .expect("watch");
        stop.cancel();
        prober.await.unwrap();
    }
}
