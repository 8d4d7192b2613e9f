//! The worker's Prometheus endpoint (`WORKER_METRICS_ADDR`, off by default): what the worker did
//! (jobs completed, failed, retried, their durations and attempts, stalled jobs recovered, mail
//! send latency) and the queue it serves (jobs per state, paused), read from the queue's own
//! counts at scrape time so every worker of a queue reports the same figures as `svc queue
//! status`.
//!
//! The recorder is the shared one of [`crate::prometheus`]; the recording functions below are
//! no-ops until it is installed, so the run loop and benchmarks pay nothing without it.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::prometheus::{CONTENT_TYPE, Metrics, MetricsError, record_process};
use crate::queue::Queue;
use crate::queue::jobs::WELCOME_EMAIL;

/// 1 while the worker takes jobs; 0 before its queue opens, while the queue is unavailable, and
/// while it drains.
pub const UP: &str = "svc_worker_up";
pub const COMPLETED: &str = "svc_worker_jobs_completed_total";
/// Jobs that failed for good (no attempt left, or a failure no retry can fix).
pub const FAILED: &str = "svc_worker_jobs_failed_total";
/// Failed attempts whose job will run again after its backoff.
pub const RETRIED: &str = "svc_worker_jobs_retried_total";
/// Every attempt that ran to an outcome, by job name.
pub const DURATION: &str = "svc_worker_job_duration_seconds";
/// The attempt a job completed on (1 = first try).
pub const ATTEMPTS: &str = "svc_worker_job_attempts";
pub const STALLED_RECOVERED: &str = "svc_worker_stalled_jobs_recovered_total";
pub const STALLED_FAILED: &str = "svc_worker_stalled_jobs_failed_total";
/// One mail delivery (outbox file or SMTP conversation), by transport.
pub const SEND_DURATION: &str = "svc_worker_send_duration_seconds";
/// The queue's jobs per state, as `svc queue status` counts them.
pub const QUEUE_JOBS: &str = "svc_queue_jobs";
pub const QUEUE_PAUSED: &str = "svc_queue_paused";
/// 1 when the queue answered the scrape's count.
pub const QUEUE_UP: &str = "svc_queue_up";

/// How long a scrape waits for the queue's counts.
const COUNT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the endpoint could not start; each names `WORKER_METRICS_ADDR`.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("WORKER_METRICS_ADDR={addr}: cannot listen there: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("WORKER_METRICS_ADDR: {0}")]
    Recorder(#[from] MetricsError),
}

/// The queue the scrape reads, set once the worker has opened it.
pub type QueueSlot = Arc<OnceLock<Arc<dyn Queue>>>;

/// Binds `addr` and serves `GET /metrics` until `stop`. Bound before the worker reports ready,
/// so an unusable address fails the start instead of a scrape much later.
///
/// # Errors
/// [`EndpointError`] when the address cannot be bound or the recorder installed.
pub async fn serve(
    addr: SocketAddr,
    queue: QueueSlot,
    stop: CancellationToken,
) -> Result<SocketAddr, EndpointError> {
    let metrics = Metrics::install()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EndpointError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| EndpointError::Bind { addr, source })?;
    register();
    tokio::spawn(metrics.clone().upkeep_until(stop.clone()));
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, queue) = (metrics.clone(), queue.clone());
            async move {
                record_queue(queue.get()).await;
                record_process();
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
            }
        }),
    );
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(error) = server.await {
            tracing::error!(%error, "metrics endpoint failed");
        }
    });
    tracing::info!(addr = %bound, "serving metrics at /metrics");
    Ok(bound)
}

/// Every series at zero for the job this worker handles, so `rate()` and ratios have a
/// baseline from the first scrape instead of appearing with the first failure.
fn register() {
    metrics::gauge!(UP).set(0.0);
    for counter in [COMPLETED, FAILED, RETRIED] {
        metrics::counter!(counter, "name" => WELCOME_EMAIL).absolute(0);
    }
    metrics::counter!(STALLED_RECOVERED).absolute(0);
    metrics::counter!(STALLED_FAILED).absolute(0);
}

/// Sets the queue gauges from the queue's counts; `svc_queue_up` 0 when it does not answer.
async fn record_queue(queue: Option<&Arc<dyn Queue>>) {
    let Some(queue) = queue else {
        metrics::gauge!(QUEUE_UP).set(0.0);
        return;
    };
    let read = tokio::time::timeout(COUNT_TIMEOUT, async {
        Ok::<_, crate::queue::QueueError>((queue.counts().await?, queue.is_paused().await?))
    })
    .await;
    match read {
        Ok(Ok((counts, paused))) => {
            for (state, n) in counts.by_state() {
                metrics::gauge!(QUEUE_JOBS, "state" => state.name()).set(n as f64);
            }
            metrics::gauge!(QUEUE_PAUSED).set(f64::from(u8::from(paused)));
            metrics::gauge!(QUEUE_UP).set(1.0);
        }
        _ => metrics::gauge!(QUEUE_UP).set(0.0),
    }
}

/// Whether the worker is taking jobs (see [`UP`]).
pub fn set_up(up: bool) {
    metrics::gauge!(UP).set(f64::from(u8::from(up)));
}

/// A completed job: its attempt's duration and the attempt it completed on.
pub fn completed(name: &str, took: Duration, attempt: u32) {
    let name = name.to_owned();
    metrics::counter!(COMPLETED, "name" => name.clone()).increment(1);
    metrics::histogram!(DURATION, "name" => name.clone()).record(took.as_secs_f64());
    metrics::histogram!(ATTEMPTS, "name" => name).record(f64::from(attempt));
}

/// A failed attempt; `retried` when the job will run again.
pub fn failed(name: &str, took: Duration, retried: bool) {
    let name = name.to_owned();
    let counter = if retried { RETRIED } else { FAILED };
    metrics::counter!(counter, "name" => name.clone()).increment(1);
    metrics::histogram!(DURATION, "name" => name).record(took.as_secs_f64());
}

/// A stalled check's outcome.
pub fn stalled(recovered: usize, failed: usize) {
    metrics::counter!(STALLED_RECOVERED).increment(recovered as u64);
    metrics::counter!(STALLED_FAILED).increment(failed as u64);
}

/// One delivery attempt through `transport` (`file` or `smtp`).
pub fn sent(transport: &'static str, took: Duration) {
    metrics::histogram!(SEND_DURATION, "transport" => transport).record(took.as_secs_f64());
}
