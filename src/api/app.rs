//! [`Application`]: builds the service from its [`Settings`], owns the listener, and runs until
//! told to stop, then drains.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, MetricsError, UPKEEP_EVERY};
use super::relay::Relay;
use super::router;
use super::settings::{Database, Settings};
use super::state::AppState;
use crate::queue::sqlite::SqliteQueue;
use crate::queue::{Queue, QueueError};
use crate::store::mongo::MongoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Health, StoreError};

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot open the queue: {0}")]
    Queue(#[from] QueueError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("start-up task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("the server failed: {0}")]
pub struct RunError(#[from] std::io::Error);

/// The API, bound and connected, not yet serving.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    relay: Relay,
    drain_timeout: Duration,
}

impl Application {
    /// Opens the store (the embedded one in `DATA_DIR`, or MongoDB, which connects on first use
    /// so an unreachable server does not stop the start) and the queue, and takes the listener
    /// passed by the supervisor (`LISTEN_FDS`), or binds `HOST:PORT` (port 0 picks a free one)
    /// with `SO_REUSEPORT`, so several instances share one port.
    ///
    /// # Errors
    /// [`BuildError`] saying which part could not be set up.
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let metrics = Metrics::install()?;
        let data_dir = settings.data_dir.clone();
        let queue = tokio::task::spawn_blocking(move || SqliteQueue::open_in(&data_dir)).await?;
        let queue: Arc<dyn Queue> = Arc::new(queue?);
        let state = match &settings.database {
            Database::Embedded => {
                let data_dir = settings.data_dir.clone();
                let store =
                    tokio::task::spawn_blocking(move || SqliteStore::open_in(&data_dir)).await??;
                AppState::new(Arc::new(store), queue.clone(), &settings, metrics)
            }
            Database::Mongo(config) => {
                let store = MongoStore::new(config.as_ref().clone());
                AppState::new(Arc::new(store), queue.clone(), &settings, metrics)
            }
        };
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
        let relay = Relay::new(state.outbox.clone(), queue, state.relay_wake.clone());
        let database = match &settings.database {
            Database::Embedded => "sqlite".to_owned(),
            Database::Mongo(config) => format!("mongodb {}/{}", config.hosts(), config.database),
        };
        tracing::info!(host = %settings.addr.ip(), port, dataDir = %settings.data_dir.display(), %database, "listening");
        Ok(Application {
            listener,
            port,
            state,
            relay,
            drain_timeout: settings.drain_timeout,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves once the store answers: at once for the embedded store; for MongoDB once the
    /// server can be reached (retried with backoff meanwhile). `svc api` sends `READY=1` then,
    /// so a supervisor sees the instance ready when it can serve, not merely listening.
    pub fn connected(&self) -> impl Future<Output = ()> + Send + 'static {
        let health = self.state.store_health.clone();
        wait_for_store(health)
    }

    /// Serves until `shutdown` is cancelled; then stops accepting, lets in-flight requests
    /// finish (up to the drain timeout), stops the relay and closes the store and queue.
    ///
    /// # Errors
    /// [`RunError`] when the server itself fails.
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<(), RunError> {
        let Application {
            listener,
            state,
            relay,
            drain_timeout,
            ..
        } = self;
        let background = CancellationToken::new();
        let relay_task = tokio::spawn(relay.run(background.clone()));
        let upkeep_task = tokio::spawn(upkeep(state.metrics.clone(), background.clone()));

        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        let stop = shutdown.clone();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            stop.cancelled().await;
            crate::sd_notify::stopping();
            tracing::info!("draining: no new connections, finishing requests in flight");
        });
        let server = server.into_future();
        tokio::pin!(server);
        let result = tokio::select! {
            result = &mut server => result,
            () = async { shutdown.cancelled().await; tokio::time::sleep(drain_timeout).await } => {
                tracing::warn!(timeoutMs = drain_timeout.as_millis() as u64, "drain timed out; dropping the requests still in flight");
                Ok(())
            }
        };
        background.cancel();
        let _ = relay_task.await;
        let _ = upkeep_task.await;
        tracing::info!("stopped");
        result.map_err(RunError)
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

async fn wait_for_store(health: Arc<dyn Health>) {
    let mut delay = Duration::from_millis(100);
    let mut logged = false;
    loop {
        match tokio::time::timeout(CONNECT_CHECK, health.ping()).await {
            Ok(Ok(())) => {
                if logged {
                    tracing::info!("the database is reachable");
                }
                return;
            }
            Ok(Err(error)) if !logged => {
                tracing::warn!(%error, "the database is not reachable yet; serving 503 until it is");
                logged = true;
            }
            Err(_) if !logged => {
                tracing::warn!("the database is not reachable yet; serving 503 until it is");
                logged = true;
            }
            _ => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_CONNECT_DELAY);
    }
}

/// The bound on one readiness check of the store.
const CONNECT_CHECK: Duration = Duration::from_secs(10);
/// The longest wait between two readiness checks.
const MAX_CONNECT_DELAY: Duration = Duration::from_secs(2);

async fn upkeep(metrics: Metrics, stop: CancellationToken) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => metrics.upkeep(),
        }
    }
}
