//! What the queue benches share: the no-op and latency handlers, the pick-up latency loop, and
//! argument and percentile helpers. Each bench is its own crate and declares `mod support;`.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Value, json};
use svc::queue::{JobOptions, JobRecord, NewJob, Queue};
use svc::worker::handler::{Handler, JobError};
use svc::worker::runner::{RunSettings, run_until};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Counts jobs and stops the run when `target` were handled.
pub struct Noop {
    pub handled: AtomicU64,
    pub target: u64,
    pub stop: CancellationToken,
}

#[async_trait]
impl Handler for Noop {
    async fn handle(&self, _job: &JobRecord) -> Result<Value, JobError> {
        if self.handled.fetch_add(1, Ordering::Relaxed) + 1 >= self.target {
            self.stop.cancel();
        }
        Ok(Value::Null)
    }
}

/// Reports the delay between a job's `addedAtMicros` and the moment it is handled.
pub struct Latency {
    pub tx: mpsc::UnboundedSender<Duration>,
}

#[async_trait]
impl Handler for Latency {
    async fn handle(&self, job: &JobRecord) -> Result<Value, JobError> {
        let added = job.data["addedAtMicros"].as_u64().unwrap_or(0);
        let _ = self
            .tx
            .send(Duration::from_micros(now_micros().saturating_sub(added)));
        Ok(Value::Null)
    }
}

pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub fn noop_job() -> NewJob {
    NewJob {
        name: "noop".into(),
        data: json!({}),
        opts: JobOptions::default(),
    }
}

/// The value after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` percentile of `sorted`, in ms.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The delays (sorted) between `producer` adding a job and an idle worker loop on
/// `worker_queue` handling it, `samples` times, with irregular gaps of `base_gap` to
/// `base_gap` + 100 ms so adds land at every phase of the worker's idle wait.
pub async fn pickup_latency(
    worker_queue: Arc<dyn Queue>,
    producer: &dyn Queue,
    samples: usize,
    base_gap: Duration,
) -> Vec<Duration> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(run_until(
        worker_queue,
        Arc::new(Latency { tx }),
        RunSettings {
            concurrency: 5,
            ..RunSettings::default()
        },
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        tokio::time::sleep(base_gap + Duration::from_millis((i as u64 * 37) % 100)).await;
        let job = NewJob {
            name: "latency".into(),
            data: json!({"addedAtMicros": now_micros()}),
            opts: JobOptions::default(),
        };
        producer.add(job).await.expect("add");
        latencies.push(rx.recv().await.expect("handled"));
    }
    stop.cancel();
    let _ = worker.await;
    latencies.sort();
    latencies
}
