//! [`Application`]: builds the service from its [`Settings`], owns the listener, and runs until
//! told to stop, then drains.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, MetricsError, UPKEEP_EVERY};
use super::rate_limit::redis::RedisCounters;
use super::relay::Relay;
use super::router::{router, unavailable_router};
use super::scrape_access::ScrapeAccess;
use super::serve::RouterSlot;
use super::settings::{Database, Settings};
use super::state::AppState;
use crate::auth::token::Keys;
use crate::error_chain::chain;
use crate::queue::{Queue, QueueError};
use crate::store::StoreError;
use crate::store::mongo::MongoStore;
use crate::store::sqlite::SqliteStore;

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot open the queue: {0}")]
    Queue(#[from] QueueError),
    #[error("cannot reach Redis for the rate limits: {0}")]
    RateLimit(#[from] crate::redis::RedisError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot read or make the token signing key: {0}")]
    Key(#[from] crate::auth::secret::KeyFileError),
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("the server failed: {0}")]
pub struct RunError(#[from] std::io::Error);

/// The API, bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    port: u16,
    settings: Settings,
    metrics: Metrics,
    /// `None` when the store or the queue could not be opened at start: the API then serves
    /// probes and 503s, and keeps trying to open them (see [`Application::build`]).
    backends: Option<Backends>,
}

/// The store and the queue, open.
struct Backends {
    store: OpenStore,
    queue: Arc<dyn Queue>,
    /// The limits' counter in Redis, when Redis is configured (else they count in the store).
    rate_counter: Option<RedisCounters>,
    /// The access tokens' signing keys.
    keys: Keys,
}

/// The store backend `DB_URL` chose.
enum OpenStore {
    Embedded(Arc<SqliteStore>),
    /// Connects on first use: opening it does no I/O, so an unreachable server never keeps the
    /// API from starting (see [`crate::store::mongo`]).
    Mongo(Arc<MongoStore>),
}

/// How long to wait between attempts to open a store that could not be opened.
const REOPEN_EVERY: Duration = Duration::from_millis(500);

impl Application {
    /// Takes the listener passed by the supervisor (`LISTEN_FDS`), or binds `HOST:PORT` (port 0
    /// picks a free one) with `SO_REUSEPORT`, so several instances share one port; then opens the
    /// store (in `DATA_DIR`, or MongoDB, which connects on first use) and the queue in
    /// `DATA_DIR`. If they cannot be opened (the folder is not
    /// creatable, the file is locked past the busy timeout), the API starts anyway: `/health`
    /// answers, `/ready` and every other route answer 503 at once, and it keeps trying to open
    /// them every 500 ms; once open, it serves normally. A store that is down for a while must
    /// not turn into a crash loop of every API instance.
    ///
    /// # Errors
    /// [`BuildError`] when the port cannot be bound or the metrics recorder installed.
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let metrics = Metrics::install()?;
        let listener = bind(settings.addr).map_err(|source| BuildError::Bind {
            addr: settings.addr,
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| BuildError::Bind {
                addr: settings.addr,
                source,
            })?
            .port();
        let backends = match open(&settings).await {
            Ok(backends) => Some(backends),
            Err(error) => {
                tracing::error!(error = %chain(&error), "database unavailable at start; answering 503 and retrying every 500 ms");
                None
            }
        };
        let database = match &settings.database {
            Database::Embedded => "sqlite".to_owned(),
            Database::Mongo(config) => format!("mongodb {}/{}", config.hosts(), config.database),
        };
        let rate_limit = match (settings.rate_limit, settings.redis()) {
            (None, _) => "off",
            (Some(_), Some(_)) => "redis",
            (Some(_), None) => "store",
        };
        tracing::info!(host = %settings.addr.ip(), port, dataDir = %settings.data_dir.display(), %database, rateLimit = rate_limit, "listening");
        Ok(Application {
            listener,
            port,
            settings,
            metrics,
            backends,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled; then stops accepting, lets in-flight requests
    /// finish and the relay make its last pass, both within the drain timeout, and closes the
    /// store and queue.
    ///
    /// # Errors
    /// [`RunError`] when the server itself fails (accept errors such as `EMFILE` are waited
    /// out, so today it does not).
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<(), RunError> {
        let Application {
            listener,
            settings,
            metrics,
            backends,
            ..
        } = self;
        let drain_timeout = settings.drain_timeout;
        let background = CancellationToken::new();
        let scrape = ScrapeAccess::new(&settings);
        let slot = RouterSlot::new(unavailable_router(metrics.clone(), scrape));
        let upkeep_task = tokio::spawn(upkeep(metrics.clone(), background.clone()));
        let mut service_task = match backends {
            // Installed before the first request is accepted.
            Some(backends) => start(backends, &settings, &metrics, &slot, &background),
            None => {
                let (slot, stop) = (slot.clone(), background.clone());
                let settings = settings.clone();
                tokio::spawn(async move {
                    if let Some(backends) = open_when_possible(&settings, &stop).await {
                        let running = start(backends, &settings, &metrics, &slot, &stop);
                        let _ = running.await;
                    }
                })
            }
        };

        // Everything after SIGTERM (the drain, then the relay's last pass) shares one budget,
        // which stays under the supervisor's stop timeout.
        let deadline = Arc::new(OnceLock::<Instant>::new());
        let (stop, mark) = (shutdown.clone(), deadline.clone());
        let stopped = async move {
            stop.cancelled().await;
            let _ = mark.set(Instant::now() + drain_timeout);
            crate::sd_notify::stopping();
            tracing::info!("draining: no new connections, finishing requests in flight");
        };
        let server = super::serve::serve(listener, slot, settings.header_timeout, stopped);
        tokio::pin!(server);
        tokio::select! {
            () = &mut server => {}
            () = async { shutdown.cancelled().await; tokio::time::sleep(drain_timeout).await } => {
                tracing::warn!(timeoutMs = drain_timeout.as_millis() as u64, "drain timed out; dropping the requests still in flight");
            }
        }
        background.cancel();
        let remaining = deadline.get().map_or(Duration::ZERO, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if tokio::time::timeout(remaining, &mut service_task)
            .await
            .is_err()
        {
            service_task.abort();
            tracing::warn!(
                "stop budget spent: the outbox relay was interrupted; its rows wait for the next start"
            );
        }
        let _ = upkeep_task.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Opens the store and the queue the settings chose (Redis when `REDIS_URL`/`REDIS_HOST` is
/// set, else the embedded one in `DATA_DIR`); blocking work runs off the async threads.
async fn open(settings: &Settings) -> Result<Backends, BuildError> {
    let backend = settings.queue.clone();
    let queue = tokio::task::spawn_blocking(move || crate::queue::open(&backend)).await??;
    let store = match &settings.database {
        Database::Embedded => {
            let data_dir = settings.data_dir.clone();
            let store =
                tokio::task::spawn_blocking(move || SqliteStore::open_in(&data_dir)).await??;
            OpenStore::Embedded(Arc::new(store))
        }
        Database::Mongo(config) => {
            let store = MongoStore::new(config.as_ref().clone());
            store.start_connecting();
            OpenStore::Mongo(Arc::new(store))
        }
    };
    let rate_counter = super::rate_limit::redis::for_settings(settings)?;
    let keys = signing_keys(settings).await?;
    Ok(Backends {
        store,
        queue,
        rate_counter,
        keys,
    })
}

/// `AUTH_SECRET` (and `AUTH_SECRET_PREVIOUS`), or else the key file in `DATA_DIR` (the
/// settings refuse a missing `AUTH_SECRET` with `DB_URL`).
async fn signing_keys(settings: &Settings) -> Result<Keys, BuildError> {
    let previous = settings
        .auth
        .previous
        .as_ref()
        .map(|s| s.expose().as_bytes().to_vec());
    let current = match &settings.auth.secret {
        Some(secret) => secret.expose().as_bytes().to_vec(),
        None => {
            let data_dir = settings.data_dir.clone();
            tokio::task::spawn_blocking(move || crate::auth::secret::load_or_create(&data_dir))
                .await??
        }
    };
    Ok(Keys::new(current, previous))
}

/// Tries to open the backends every [`REOPEN_EVERY`] until it works or `stop`.
async fn open_when_possible(settings: &Settings, stop: &CancellationToken) -> Option<Backends> {
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(REOPEN_EVERY) => {}
        }
        match open(settings).await {
            Ok(backends) => {
                tracing::info!("database opened; serving");
                return Some(backends);
            }
            Err(error) => tracing::debug!(error = %chain(&error), "database still unavailable"),
        }
    }
}

/// Builds the state on `backends`, puts its router in `slot`, and runs the outbox relay and the
/// store gate's prober until `stop` (the relay then makes its last pass).
fn start(
    backends: Backends,
    settings: &Settings,
    metrics: &Metrics,
    slot: &RouterSlot,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let state = match backends.store {
        OpenStore::Embedded(store) => AppState::new(
            store,
            backends.queue,
            backends.rate_counter,
            backends.keys,
            settings,
            metrics.clone(),
        ),
        OpenStore::Mongo(store) => AppState::new(
            store,
            backends.queue,
            backends.rate_counter,
            backends.keys,
            settings,
            metrics.clone(),
        ),
    };
    let hasher = state.auth.hasher.clone();
    tokio::spawn(async move { hasher.warm_up().await });
    let relay = Relay::new(
        state.outbox.clone(),
        state.queue.clone(),
        state.relay_wake.clone(),
    );
    let prober = state
        .gate
        .clone()
        .probe_until(state.store_health.clone(), stop.clone());
    let announce = announce_ready(state.clone(), stop.clone());
    slot.set(router(state, ScrapeAccess::new(settings)));
    let stop = stop.clone();
    tokio::spawn(async move {
        let (prober, announce) = (tokio::spawn(prober), tokio::spawn(announce));
        relay.run(stop).await;
        let _ = tokio::join!(prober, announce);
    })
}

/// How often the start-up readiness check is repeated while a dependency is down.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(200);

/// Sends `READY=1` (see [`crate::sd_notify`]) once the API is listening and its database and
/// queue answer, the same check as `/ready`: a supervisor or systemd then counts it started only
/// when it can serve, and a reload never drains an old instance for a new one that cannot.
/// Until then the API still answers (probes, and 503s naming what is down).
async fn announce_ready(state: AppState, stop: CancellationToken) {
    loop {
        if crate::api::routes::health::check(&state).await.is_empty() {
            crate::sd_notify::ready();
            tracing::info!("ready: database and queue answer");
            return;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ANNOUNCE_EVERY) => {}
        }
    }
}

/// The listener the svc daemon (or systemd) passed as fd 3, so all instances share one accept
/// queue; otherwise a listener on `addr` that shares its port with other processes
/// (`SO_REUSEPORT`).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if let Some(inherited) = crate::sd_notify::take_listener() {
        inherited.set_nonblocking(true)?;
        return TcpListener::from_std(inherited);
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn upkeep(metrics: Metrics, stop: CancellationToken) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => metrics.upkeep(),
        }
    }
}
