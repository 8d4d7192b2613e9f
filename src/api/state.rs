//! What every handler and middleware shares: the repositories, the queue, the limiter and the
//! request-handling settings. Cheap to clone (all `Arc`s).

use std::sync::Arc;

use axum::extract::FromRef;
use tokio::sync::Notify;

use super::auth::{Auth, Lockout, lockout};
use super::client_ip::IpNet;
use super::extract::{BodyLimit, BodyTimeout};
use super::gate::{Gate, Guarded};
use super::metrics::Metrics;
use super::rate_limit::redis::RedisCounters;
use super::rate_limit::{FixedWindow, Limiter, RateLimiter, RateLimits};
use super::settings::{CorsOrigins, RateLimit, Settings};
use crate::auth::password::Hasher;
use crate::auth::token::Keys;
use crate::queue::Queue;
use crate::store::{Health, Outbox, ProductRepository, SessionRepository, Store, UserRepository};

#[derive(Clone)]
pub struct AppState {
    pub products: Arc<dyn ProductRepository>,
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub outbox: Arc<dyn Outbox>,
    /// The store itself (not gated): probed by `/ready` and the gate's prober.
    pub store_health: Arc<dyn Health>,
    /// What the store can serve now; every repository above passes it (see [`super::gate`]).
    pub gate: Gate,
    pub queue: Arc<dyn Queue>,
    /// The per-client limits, for the rate limit middleware.
    pub rate_limits: RateLimits,
    pub auth: Auth,
    pub trusted_proxies: Arc<[IpNet]>,
    pub cors: CorsOrigins,
    pub body_limit: BodyLimit,
    pub body_timeout: BodyTimeout,
    pub metrics: Metrics,
    /// Wakes the outbox relay after a handler wrote a job.
    pub relay_wake: Arc<Notify>,
}

impl AppState {
    /// The state over one store backend (embedded or MongoDB): every repository is `store`,
    /// behind one [`Gate`]. Access tokens are signed with `keys`. The limits (the rate limit
    /// unless `RATE_LIMIT=off`, the one on `/api/auth/*`, the login lockout) count in Redis when
    /// `redis` is given (see [`super::rate_limit::redis::for_settings`]), else in the store.
    pub fn new<S: Store>(
        store: Arc<S>,
        queue: Arc<dyn Queue>,
        redis: Option<RedisCounters>,
        keys: Keys,
        settings: &Settings,
        metrics: Metrics,
    ) -> Self {
        let gate = Gate::new();
        let guarded = Arc::new(Guarded::new(store.clone(), gate.clone()));
        let counter = |limit: RateLimit| -> Arc<dyn RateLimiter> {
            match &redis {
                Some(redis) => Arc::new(redis.window(limit)),
                None => Arc::new(FixedWindow::new(guarded.clone(), limit)),
            }
        };
        let trusted_proxies: Arc<[IpNet]> = settings.trusted_proxies.clone().into();
        let rate_limits = RateLimits {
            general: settings
                .rate_limit
                .map(|limit| Limiter::new(counter(limit))),
            auth: settings
                .auth
                .rate_limit
                .map(|limit| Limiter::new(counter(limit))),
            trusted_proxies: trusted_proxies.clone(),
        };
        let auth = Auth {
            keys: Arc::new(keys),
            token_ttl: settings.auth.token_ttl,
            refresh_ttl: settings.auth.refresh_ttl,
            hasher: Hasher::new(),
            lockout: Lockout::new(counter(lockout::LIMIT)),
        };
        AppState {
            products: guarded.clone(),
            users: guarded.clone(),
            sessions: guarded.clone(),
            outbox: guarded,
            store_health: store,
            gate,
            queue,
            rate_limits,
            auth,
            trusted_proxies,
            cors: settings.cors.clone(),
            body_limit: BodyLimit(settings.body_limit),
            body_timeout: BodyTimeout(settings.body_timeout),
            metrics,
            relay_wake: Arc::new(Notify::new()),
        }
    }
}

impl FromRef<AppState> for RateLimits {
    fn from_ref(state: &AppState) -> Self {
        state.rate_limits.clone()
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
