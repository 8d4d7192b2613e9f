//! Redis queue benchmark (BullMQ layout): jobs/s for a no-op job at concurrency 1 and 50 through
//! svc's worker loop (`svc::worker::runner::run_until` on `RedisQueue`) and through the Node
//! BullMQ peer's `Worker` (`scripts/bench/bullmq-noop-worker.js`), on the same `redis-server`
//! in the same run; plus the real `svc worker` process on `welcome-email` jobs (an `.eml` file
//! per job, written to a tmpfs outbox), and the idle pick-up latency (marker + BZPOPMIN).
//!
//! Run: `cargo bench --bench queue_redis` (release profile; needs `redis-server`, and Node with
//! the peer installed in `target/bullmq-peer` by `scripts/test.sh` for the Node figures).
//! Options: `--jobs N` (5000), `--keep N` completed jobs kept (1000, both sides), `--runs N`
//! (3: svc and Node alternate, medians reported), `--samples N` (50). Prints a Markdown table for
//! `docs/BENCHMARKS.md`, with the CPU time per job of redis-server (`INFO cpu`) and of the worker
//! (`getrusage`) beside each rate.

mod support;

use support::{Noop, arg, noop_job, pct};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use serde_json::Value;
use svc::queue::jobs::{JobOrigin, WelcomeEmail};
use svc::queue::redis::{RedisConfig, RedisQueue};
use svc::queue::{KeepPolicy, NewJob, Queue};
use svc::worker::runner::{RunSettings, run_until};
use tokio_util::sync::CancellationToken;

/// A `redis-server` without persistence on a free port; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.command(&["PING"]).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn command(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut conn = redis::Client::open(self.url())?.get_connection()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut conn)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Empties the server and adds `jobs` jobs; returns adds/s.
async fn fill(server: &Server, queue: &RedisQueue, jobs: u64, job: impl Fn(u64) -> NewJob) -> f64 {
    server.command(&["FLUSHALL"]).expect("flush");
    let start = Instant::now();
    for i in 0..jobs {
        queue.add(job(i)).await.expect("add");
    }
    jobs as f64 / start.elapsed().as_secs_f64()
}

/// The CPU time redis-server has used so far (user + system, `INFO cpu`), in µs.
fn redis_cpu_usec(server: &Server) -> f64 {
    let info = match server.command(&["INFO", "cpu"]) {
        Ok(redis::Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(redis::Value::VerbatimString { text, .. }) => text,
        _ => String::new(),
    };
    info.lines()
        .filter(|l| l.starts_with("used_cpu_user:") || l.starts_with("used_cpu_sys:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum::<f64>()
        * 1e6
}

/// CPU time (user + system) of this process and of its waited-for children, in µs.
fn own_cpu_usec() -> (f64, f64) {
    let usage = |who| {
        // SAFETY: getrusage only writes into the zeroed struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    (usage(libc::RUSAGE_SELF), usage(libc::RUSAGE_CHILDREN))
}

/// A measured run: jobs/s, and CPU µs per job of redis-server and of the worker.
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    redis_us: f64,
    worker_us: f64,
}

/// Runs `measure`, attributing this process's CPU (svc's loop) or the children's (a worker
/// process) to the worker.
fn measured(server: &Server, jobs: u64, child: bool, measure: impl FnOnce() -> f64) -> Run {
    let (redis, own) = (redis_cpu_usec(server), own_cpu_usec());
    let rate = measure();
    let after = own_cpu_usec();
    let worker = if child {
        after.1 - own.1
    } else {
        after.0 - own.0
    };
    Run {
        rate,
        redis_us: (redis_cpu_usec(server) - redis) / jobs as f64,
        worker_us: worker / jobs as f64,
    }
}

fn median(mut v: Vec<Run>) -> Run {
    v.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    v[v.len() / 2]
}

fn keep(n: u64) -> KeepPolicy {
    KeepPolicy {
        count: Some(n),
        age: None,
    }
}

/// svc's run loop with a no-op handler: jobs/s.
async fn svc_loop(queue: &RedisQueue, jobs: u64, concurrency: usize, kept: u64) -> f64 {
    let stop = CancellationToken::new();
    let handler = Arc::new(Noop {
        handled: AtomicU64::new(0),
        target: jobs,
        stop: stop.clone(),
    });
    let settings = RunSettings {
        concurrency,
        keep_completed: keep(kept),
        ..RunSettings::default()
    };
    let start = Instant::now();
    let report = run_until(Arc::new(queue.clone()), handler, settings, stop).await;
    let elapsed = start.elapsed();
    assert_eq!(report.completed, jobs, "every job completed");
    jobs as f64 / elapsed.as_secs_f64()
}

fn peer_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bullmq-peer");
    let node = Command::new("node").arg("--version").output().is_ok();
    (node && dir.join("node_modules/bullmq").is_dir()).then_some(dir)
}

/// The Node peer's no-op worker: jobs/s as it measured them.
fn node_worker(peer: &Path, server: &Server, jobs: u64, concurrency: usize, kept: u64) -> f64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench/bullmq-noop-worker.js");
    let out = Command::new("node")
        .arg(script)
        .env("NODE_PATH", peer.join("node_modules"))
        .env("REDIS_PORT", server.port.to_string())
        .env("JOBS", jobs.to_string())
        .env("CONCURRENCY", concurrency.to_string())
        .env("KEEP", kept.to_string())
        .output()
        .expect("run node");
    let text = String::from_utf8_lossy(&out.stdout);
    let line: Value = text
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result from node: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line["rate"].as_f64().expect("rate")
}

/// The real `svc worker` process on `welcome-email` jobs written to an outbox in `outbox_root`:
/// jobs/s from spawn until the last job completed.
fn svc_process(
    server: &Server,
    jobs: u64,
    concurrency: usize,
    kept: u64,
    outbox_root: &Path,
) -> f64 {
    let data = tempfile::tempdir_in(outbox_root).expect("data dir");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_svc"))
        .arg("worker")
        .env("REDIS_URL", server.url())
        .env("DATA_DIR", data.path())
        .env("WORKER_CONCURRENCY", concurrency.to_string())
        .env("QUEUE_KEEP_COMPLETED", kept.to_string())
        .env("LOG_LEVEL", "warn")
        .env_remove("SMTP_URL")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn svc worker");
    let deadline = Instant::now() + Duration::from_secs(600);
    // Completed jobs beyond the keep count are trimmed from Redis: count the emails instead.
    let emails = || {
        std::fs::read_dir(data.path().join("outbox")).map_or(0, |dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                .count() as u64
        })
    };
    while emails() < jobs {
        assert!(Instant::now() < deadline, "svc worker did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    jobs as f64 / elapsed.as_secs_f64()
}

async fn pickup_latency(server: &Server, samples: usize) -> Vec<Duration> {
    server.command(&["FLUSHALL"]).expect("flush");
    let config = RedisConfig::for_url(&server.url());
    let worker_queue = RedisQueue::new(config.clone()).expect("queue");
    let producer = RedisQueue::new(config).expect("queue");
    support::pickup_latency(
        Arc::new(worker_queue),
        &producer,
        samples,
        Duration::from_millis(50),
    )
    .await
}

fn main() {
    let jobs = arg("--jobs", 5000);
    let kept = arg("--keep", 1000);
    let samples = arg("--samples", 50) as usize;
    let runs = arg("--runs", 3).max(1);
    let server = Server::start();
    let peer = peer_dir();
    let shm = Path::new("/dev/shm");
    let outbox_root = if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let queue = RedisQueue::new(RedisConfig::for_url(&server.url())).expect("queue");
    println!(
        "| jobs/s (CPU per job: redis-server + worker); {jobs} jobs, keep {kept} completed, median of {runs} runs | concurrency 1 | concurrency 50 |"
    );
    println!("|---|---|---|");
    let (mut svc, mut node, mut process) = (Vec::new(), Vec::new(), Vec::new());
    let mut adds = 0.0;
    for concurrency in [1usize, 50] {
        // svc and Node alternate, `runs` times each; the medians are reported (single runs are
        // noisy on a machine doing other work).
        let (mut s, mut n) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            adds = rt.block_on(fill(&server, &queue, jobs, |_| noop_job()));
            s.push(measured(&server, jobs, false, || {
                rt.block_on(svc_loop(&queue, jobs, concurrency, kept))
            }));
            if let Some(peer) = &peer {
                rt.block_on(fill(&server, &queue, jobs, |_| noop_job()));
                n.push(measured(&server, jobs, true, || {
                    node_worker(peer, &server, jobs, concurrency, kept)
                }));
            }
        }
        svc.push(median(s));
        if !n.is_empty() {
            node.push(median(n));
        }
        rt.block_on(fill(&server, &queue, jobs, |i| {
            WelcomeEmail {
                user_id: i.to_string(),
                email: format!("user{i}@example.com"),
                name: format!("User {i}"),
                origin: JobOrigin::default(),
            }
            .job()
        }));
        process.push(measured(&server, jobs, true, || {
            svc_process(&server, jobs, concurrency, kept, &outbox_root)
        }));
    }
    let row = |name: &str, v: &[Run]| {
        let cell = |r: &Run| {
            format!(
                "{:.0} ({:.0} µs + {:.0} µs)",
                r.rate, r.redis_us, r.worker_us
            )
        };
        println!("| {name} | {} | {} |", cell(&v[0]), cell(&v[1]));
    };
    row(
        "svc worker loop (`run_until` + `RedisQueue`), no-op job",
        &svc,
    );
    if node.len() == 2 {
        row("Node BullMQ 6.7 `Worker`, no-op processor", &node);
        println!(
            "| **ratio svc / Node** | **{:.1}×** | **{:.1}×** |",
            svc[0].rate / node[0].rate,
            svc[1].rate / node[1].rate
        );
    } else {
        println!("| Node BullMQ `Worker` | not measured (no node or peer) | |");
    }
    row(
        &format!(
            "`svc worker` process, `welcome-email` to an outbox on {}",
            outbox_root.display()
        ),
        &process,
    );
    println!("| adds/s, one producer, sequential | {adds:.0} | |");
    let lat = rt.block_on(pickup_latency(&server, samples));
    println!(
        "| pick-up latency, idle worker, job added by another connection ({samples} samples) | p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms | |",
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        pct(&lat, 1.0)
    );
}
