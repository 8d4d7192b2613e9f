//! [`Application`]: builds the service from its [`Settings`], owns the listener, and runs until
//! told to stop, then drains.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use super::metrics::{Metrics, MetricsError, UPKEEP_EVERY};
use super::relay::Relay;
use super::router;
use super::settings::Settings;
use super::state::AppState;
use crate::queue::sqlite::SqliteQueue;
use crate::queue::{Queue, QueueError};
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;

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
    header_timeout: Duration,
}

impl Application {
    /// Opens the store and the queue in `DATA_DIR` and takes the listener passed by the
    /// supervisor (`LISTEN_FDS`), or binds `HOST:PORT` (port 0 picks a free one) with
    /// `SO_REUSEPORT`, so several instances share one port.
    ///
    /// # Errors
    /// [`BuildError`] saying which part could not be set up.
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let metrics = Metrics::install()?;
        let data_dir = settings.data_dir.clone();
        let (store, queue) = tokio::task::spawn_blocking(move || {
            (
                SqliteStore::open_in(&data_dir),
                SqliteQueue::open_in(&data_dir),
            )
        })
        .await?;
        let store = Arc::new(store?);
        let queue: Arc<dyn Queue> = Arc::new(queue?);
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
        let state = AppState::embedded(store.clone(), queue.clone(), &settings, metrics);
        let relay = Relay::new(store, queue, state.relay_wake.clone());
        tracing::info!(host = %settings.addr.ip(), port, dataDir = %settings.data_dir.display(), "listening");
        Ok(Application {
            listener,
            port,
            state,
            relay,
            drain_timeout: settings.drain_timeout,
            header_timeout: settings.header_timeout,
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
            state,
            relay,
            drain_timeout,
            header_timeout,
            ..
        } = self;
        let background = CancellationToken::new();
        let mut relay_task = tokio::spawn(relay.run(background.clone()));
        let upkeep_task = tokio::spawn(upkeep(state.metrics.clone(), background.clone()));

        // Everything after SIGTERM (the drain, then the relay's last pass) shares one budget,
        // which stays under the supervisor's stop timeout.
        let deadline = Arc::new(OnceLock::<Instant>::new());
        let app = router(state);
        let (stop, mark) = (shutdown.clone(), deadline.clone());
        let stopped = async move {
            stop.cancelled().await;
            let _ = mark.set(Instant::now() + drain_timeout);
            crate::sd_notify::stopping();
            tracing::info!("draining: no new connections, finishing requests in flight");
        };
        let server = super::serve::serve(listener, app, header_timeout, stopped);
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
        if tokio::time::timeout(remaining, &mut relay_task)
            .await
            .is_err()
        {
            relay_task.abort();
            tracing::warn!(
                "stop budget spent: the outbox relay was interrupted; its rows wait for the next start"
            );
        }
        let _ = upkeep_task.await;
        tracing::info!("stopped");
        Ok(())
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
