//! What every handler and middleware shares: the repositories, the queue, the limiter and the
//! request-handling settings. Cheap to clone (all `Arc`s).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::{Notify, Semaphore};

use super::client_ip::IpNet;
use super::extract::{BodyLimit, BodyTimeout};
use super::gate::{Gate, Guarded};
use super::metrics::Metrics;
use super::rate_limit::{FixedWindow, Limiter, RateLimiter};
use super::settings::{CorsOrigins, Settings};
use crate::queue::Queue;
use crate::store::{Health, Outbox, ProductRepository, Store, UserRepository};

#[derive(Clone)]
pub struct AppState {
    pub products: Arc<dyn ProductRepository>,
    pub users: Arc<dyn UserRepository>,
    pub outbox: Arc<dyn Outbox>,
    /// The store itself (not gated): probed by `/ready` and the gate's prober.
    pub store_health: Arc<dyn Health>,
    /// What the store can serve now; every repository above passes it (see [`super::gate`]).
    pub gate: Gate,
    pub queue: Arc<dyn Queue>,
    /// `None` when `RATE_LIMIT=off`.
    pub limiter: Option<Limiter>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub cors: CorsOrigins,
    pub body_limit: BodyLimit,
    pub body_timeout: BodyTimeout,
    pub metrics: Metrics,
    /// Wakes the outbox relay after a handler wrote a job.
    pub relay_wake: Arc<Notify>,
    /// Bounds concurrent password hashes: each takes 19 MiB and a core for tens of ms, so a
    /// burst of sign-ups must queue rather than exhaust memory.
    pub hashing: Arc<Semaphore>,
}

/// Concurrent password hashes (the machine has 2 cores).
const HASHING_SLOTS: usize = 2;

impl AppState {
    /// The state over one store backend (embedded or MongoDB): every repository is `store`,
    /// behind one [`Gate`]. The rate limit (unless `RATE_LIMIT=off`) counts in `shared_counter`
    /// when there is one (Redis, see [`super::rate_limit::redis::for_settings`]), else in the
    /// store.
    pub fn new<S: Store>(
        store: Arc<S>,
        queue: Arc<dyn Queue>,
        shared_counter: Option<Arc<dyn RateLimiter>>,
        settings: &Settings,
        metrics: Metrics,
    ) -> Self {
        let gate = Gate::new();
        let guarded = Arc::new(Guarded::new(store.clone(), gate.clone()));
        let limiter = settings.rate_limit.map(|limit| {
            Limiter::new(shared_counter.unwrap_or_else(|| {
                Arc::new(FixedWindow::new(guarded.clone(), limit)) as Arc<dyn RateLimiter>
            }))
        });
        AppState {
            products: guarded.clone(),
            users: guarded.clone(),
            outbox: guarded,
            store_health: store,
            gate,
            queue,
            limiter,
            trusted_proxies: settings.trusted_proxies.clone().into(),
            cors: settings.cors.clone(),
            body_limit: BodyLimit(settings.body_limit),
            body_timeout: BodyTimeout(settings.body_timeout),
            metrics,
            relay_wake: Arc::new(Notify::new()),
            hashing: Arc::new(Semaphore::new(HASHING_SLOTS)),
        }
    }
}

impl FromRef<AppState> for BodyLimit {
    fn from_ref(state: &AppState) -> Self {
        state.body_limit
    }
}

impl FromRef<AppState> for BodyTimeout {
    fn from_ref(state: &AppState) -> Self {
        state.body_timeout
    }
}
