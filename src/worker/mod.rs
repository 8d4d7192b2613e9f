//! `svc worker`: the email-queue worker.
//!
//! [`main`] reads the environment ([`config`]), opens the queue chosen by the environment (Redis
//! with BullMQ's layout or the embedded store, see [`crate::queue::open_from_env`]; retrying with
//! backoff while it is unavailable), reports `READY=1`, and runs [`runner::run_until`] with the
//! [`handler::EmailHandler`] until SIGTERM/SIGINT, then drains. The loop itself is generic over
//! the queue backend and the handler, so tests and benchmarks drive it directly.
//!
//! Layout: `config` (env), `runner` (take/renew/finish/drain loop), `handler` (what a job does),
//! `mail` (rendering and transports), `health` (store up/down logging, retry delays), `metrics`
//! (the Prometheus endpoint of `WORKER_METRICS_ADDR`).

pub mod config;
pub mod handler;
pub mod health;
pub mod mail;
pub mod metrics;
pub mod runner;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use config::WorkerConfig;
use handler::EmailHandler;
use health::{RetryDelay, StoreHealth};
use mail::Transport;
use runner::RunSettings;

use crate::queue::{Backend, Queue, QueueError};

/// A temporary outbox file this old was left by a worker killed mid-write (see
/// [`mail::outbox::Outbox::sweep`]); writing one takes milliseconds.
const ABANDONED_WRITE_AGE: Duration = Duration::from_secs(600);

/// Runs the worker until SIGTERM; exit 0 after a clean drain, 2 on an invalid environment.
pub fn main() -> ExitCode {
    crate::telemetry::init_json(crate::telemetry::stdout_lines());
    let config = match WorkerConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "refusing to start");
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            tracing::error!(%error, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: WorkerConfig) -> ExitCode {
    let shutdown = match crate::shutdown::on_terminate() {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    if uses_data_dir(&config)
        && let Err(error) = crate::data_dir::prepare(&config.data_dir)
    {
        tracing::error!(%error, "refusing to start");
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let transport = match &config.smtp_url {
        Some(url) => match mail::smtp::Smtp::from_url(url) {
            Ok(smtp) => Transport::Smtp(smtp),
            Err(error) => {
                tracing::error!(%error, "refusing to start: SMTP_URL is not usable");
                return ExitCode::from(2);
            }
        },
        None => {
            let outbox = mail::outbox::Outbox::new(config.data_dir.join(crate::data_dir::OUTBOX));
            match outbox.sweep(ABANDONED_WRITE_AGE) {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed abandoned temporary outbox files"),
                Err(error) => tracing::warn!(%error, "cannot sweep the outbox folder"),
            }
            Transport::Outbox(outbox)
        }
    };
    tracing::info!(
        concurrency = config.concurrency,
        dataDir = %config.data_dir.display(),
        transport = transport.kind(),
        "worker starting"
    );
    let backend = match backend_for(&config) {
        Ok(backend) => backend,
        Err(error) => {
            tracing::error!(%error, "refusing to start");
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // Stopped after the drain, so the last figures can still be scraped while it runs.
    let metrics_stop = CancellationToken::new();
    let _stop_metrics = metrics_stop.clone().drop_guard();
    let queue_slot = metrics::QueueSlot::default();
    if let Some(addr) = config.metrics_addr
        && let Err(error) = metrics::serve(addr, queue_slot.clone(), metrics_stop).await
    {
        tracing::error!(%error, "refusing to start");
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let Some(queue) = open_store(&backend, &shutdown).await else {
        tracing::info!("stopped before the queue store opened");
        return ExitCode::SUCCESS;
    };
    let _ = queue_slot.set(Arc::clone(&queue));
    metrics::set_up(true);
    crate::sd_notify::ready();
    tracing::info!(queue = %queue.describe(), backend = backend.kind(), "worker ready");
    let handler = Arc::new(EmailHandler::new(transport, config.mail_from.clone()));
    let settings = RunSettings {
        concurrency: config.concurrency,
        lock: config.lock,
        stalled_interval: config.stalled_interval,
        max_stalled: config.max_stalled,
        drain_timeout: config.drain_timeout,
        keep_completed: config.keep_completed,
        keep_failed: config.keep_failed,
        ..RunSettings::default()
    };
    let draining = shutdown.clone();
    tokio::spawn(async move {
        draining.cancelled().await;
        metrics::set_up(false);
        crate::sd_notify::stopping();
    });
    runner::run_until(queue, handler, settings, shutdown).await;
    ExitCode::SUCCESS
}

/// Whether the worker keeps anything in `DATA_DIR`: the outbox (no `SMTP_URL`) or the embedded
/// queue. With Redis and SMTP it does not, and the folder is not checked.
fn uses_data_dir(config: &WorkerConfig) -> bool {
    config.smtp_url.is_none()
        || matches!(
            Backend::from_env(&config.data_dir),
            Ok(Backend::Sqlite { .. })
        )
}

/// The queue backend from the environment, with the worker's own settings applied: its idle
/// poll (embedded queue) and its stalled-check interval (the Redis guard's TTL).
fn backend_for(config: &WorkerConfig) -> Result<Backend, QueueError> {
    let mut backend = Backend::from_env(&config.data_dir)?;
    match &mut backend {
        Backend::Sqlite { poll, .. } => *poll = config.poll,
        Backend::Redis(redis) => redis.stalled_interval = config.stalled_interval,
    }
    Ok(backend)
}

/// Opens the queue and checks that it answers, retrying with backoff (one log line per state
/// change) until it does or shutdown is requested.
async fn open_store(backend: &Backend, shutdown: &CancellationToken) -> Option<Arc<dyn Queue>> {
    let health = StoreHealth::default();
    let mut delay = RetryDelay::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let opening = backend.clone();
        let opened = tokio::task::spawn_blocking(move || crate::queue::open(&opening))
            .await
            .unwrap_or_else(|e| Err(QueueError::from(e)));
        let checked = match opened {
            Ok(queue) => queue.ping().await.map(|()| queue),
            Err(error) => Err(error),
        };
        match checked {
            Ok(queue) => {
                health.ok();
                return Some(queue);
            }
            Err(error) => health.failed(&error),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(delay.next_delay()) => {}
        }
    }
}
