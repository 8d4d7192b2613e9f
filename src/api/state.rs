//! What every handler and middleware shares: the repositories, the queue, the limiter and the
//! request-handling settings. Cheap to clone (all `Arc`s).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::{Notify, Semaphore};

use super::client_ip::IpNet;
use super::extract::BodyLimit;
use super::metrics::Metrics;
use super::rate_limit::RateLimiter;
use super::settings::CorsOrigins;
use crate::queue::Queue;
use crate::store::{Health, Outbox, ProductRepository, UserRepository};

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

impl FromRef<AppState> for BodyLimit {
    fn from_ref(state: &AppState) -> Self {
        state.body_limit
    }
}
