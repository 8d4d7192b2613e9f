//! What every handler and middleware shares: the repositories, the queue, the limiter and the
//! request-handling settings. Cheap to clone (all `Arc`s).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::{Notify, Semaphore};

use super::client_ip::IpNet;
use super::extract::BodyLimit;
use super::metrics::Metrics;
use super::rate_limit::{FixedWindow, RateLimiter};
use super::settings::{CorsOrigins, Settings};
use crate::queue::Queue;
use crate::store::{Health, Outbox, ProductRepository, Store, UserRepository};

#[derive(Clone)]
pub struct AppState {
    pub products: Arc<dyn ProductRepository>,
    pub users: Arc<dyn UserRepository>,
    pub outbox: Arc<dyn Outbox>,
    pub store_health: Arc<dyn Health>,
    pub queue: Arc<dyn Queue>,
    /// `None` when `RATE_LIMIT=off`.
    pub limiter: Option<Arc<dyn RateLimiter>>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub cors: CorsOrigins,
    pub body_limit: BodyLimit,
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
    /// The state over one store backend (embedded or MongoDB): every repository is `store`.
    pub fn new<S: Store>(
        store: Arc<S>,
        queue: Arc<dyn Queue>,
        settings: &Settings,
        metrics: Metrics,
    ) -> Self {
        let limiter = settings
            .rate_limit
            .map(|limit| Arc::new(FixedWindow::new(store.clone(), limit)) as Arc<dyn RateLimiter>);
        AppState {
            products: store.clone(),
            users: store.clone(),
            outbox: store.clone(),
            store_health: store,
            queue,
            limiter,
            trusted_proxies: settings.trusted_proxies.clone().into(),
            cors: settings.cors.clone(),
            body_limit: BodyLimit(settings.body_limit),
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
