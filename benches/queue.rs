//! Embedded-queue benchmark: jobs/s for a no-op job through the real worker loop
//! (`svc::worker::runner::run_until`) at concurrency 1 and 50, and the pick-up latency of an idle
//! worker for a job added through another connection (as the API process adds them).
//!
//! Run: `cargo bench --bench queue` (release profile). Options: `--jobs N` (default 5000),
//! `--keep N` completed jobs kept (default 1000, the worker's default), `--samples N` for latency
//! (default 100). Prints a Markdown table for `docs/BENCHMARKS.md`.

mod support;

use support::{Noop, arg, noop_job, pct};

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use svc::queue::sqlite::SqliteQueue;
use svc::queue::{KeepPolicy, Queue};
use svc::worker::runner::{RunSettings, run_until};
use tokio_util::sync::CancellationToken;

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
    support::pickup_latency(
        Arc::new(worker_queue),
        &producer,
        samples,
        Duration::from_millis(150),
    )
    .await
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
