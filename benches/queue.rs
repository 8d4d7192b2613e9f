//! Embedded-queue benchmark: jobs/s for a no-op job through the real worker loop
//! (`svc::worker::runner::run_until`) at concurrency 1 and 50, and the pick-up latency of an idle
//! worker for a job added through another connection (as the API process adds them).
//!
//! Run: `cargo bench --bench queue` (release profile). Options: `--jobs N` (default 5000),
//! `--keep N` completed jobs kept (default 1000, the worker's default), `--samples N` for latency
//! (default 100). Prints a Markdown table for `docs/BENCHMARKS.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Value, json};
use svc::queue::sqlite::SqliteQueue;
use svc::queue::{JobOptions, JobRecord, KeepPolicy, NewJob, Queue};
use svc::worker::handler::{Handler, JobError};
use svc::worker::runner::{RunSettings, run_until};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Counts jobs and stops the run when `target` were handled.
struct Noop {
    handled: AtomicU64,
    target: u64,
    stop: CancellationToken,
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
struct Latency {
    tx: mpsc::UnboundedSender<Duration>,
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

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn noop_job() -> NewJob {
    NewJob {
        name: "noop".into(),
        data: json!({}),
        opts: JobOptions::default(),
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn throughput(jobs: u64, concurrency: usize, keep: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = SqliteQueue::open_in(dir.path()).expect("open");
    let start = Instant::now();
    for _ in 0..jobs {
        queue.add(noop_job()).await.expect("add");
    }
    let add_rate = jobs as f64 / start.elapsed().as_secs_f64();
    let stop = CancellationToken::new();
    let handler = Arc::new(Noop {
        handled: AtomicU64::new(0),
        target: jobs,
        stop: stop.clone(),
    });
    let settings = RunSettings {
        concurrency,
        keep_completed: KeepPolicy {
            count: Some(keep),
            age: None,
        },
        ..RunSettings::default()
    };
    let start = Instant::now();
    let report = run_until(Arc::new(queue.clone()), handler, settings, stop).await;
    let elapsed = start.elapsed();
    assert_eq!(report.completed, jobs, "every job completed");
    (add_rate, jobs as f64 / elapsed.as_secs_f64())
}

async fn pickup_latency(samples: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().expect("temp dir");
    let worker_queue = SqliteQueue::open_in(dir.path()).expect("open");
    // A second connection plays the API process: its adds reach the worker only through the
    // database (PRAGMA data_version polling), not through the in-process wake-up.
    let producer = SqliteQueue::open_in(dir.path()).expect("open");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(run_until(
        Arc::new(worker_queue),
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
        // Irregular gaps so adds land at every phase of the idle poll.
        tokio::time::sleep(Duration::from_millis(150 + (i as u64 * 37) % 100)).await;
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

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let jobs = arg("--jobs", 5000);
    let keep = arg("--keep", 1000);
    let samples = arg("--samples", 100) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("| measurement | result |");
        println!("|---|---|");
        for concurrency in [1usize, 50] {
            let (adds, rate) = throughput(jobs, concurrency, keep).await;
            println!("| no-op jobs/s, concurrency {concurrency} ({jobs} jobs, keep {keep} completed) | {rate:.0} |");
            if concurrency == 1 {
                println!("| adds/s, one producer, sequential | {adds:.0} |");
            }
        }
        let lat = pickup_latency(samples).await;
        println!(
            "| pick-up latency, idle worker, job added by another connection ({samples} samples) | p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms |",
            pct(&lat, 0.5),
            pct(&lat, 0.95),
            pct(&lat, 1.0)
        );
    });
}
