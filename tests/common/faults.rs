//! Shared by the service fault suites (`tests/faults/service.rs` on the embedded queue,
//! `tests/faults/redis_outage.rs` on Redis): the short/long switch, users signing up through the
//! real API, the emails in the worker's file outbox and how often each one was written, and a worker
//! SIGKILLed again and again.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::future::ready;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use serde_json::{Value, json};

use crate::common::api::App;
use crate::common::wait::{PATIENCE, holds_within_async};
use crate::common::worker::Proc;

/// `SVC_FAULTS=long`: the full-length variants `scripts/faults.sh` runs and
/// `docs/RELIABILITY.md` records; otherwise the short CI variants.
pub fn long() -> bool {
    std::env::var("SVC_FAULTS").is_ok_and(|v| v == "long")
}

/// Worker settings for the kill storms: leases short enough that a killed worker's jobs come
/// back within a second or two (the defaults, 30 s, would make each kill cost a minute).
pub const SHORT_LEASES: &[(&str, &str)] = &[
    ("QUEUE_LOCK_MS", "1000"),
    ("QUEUE_STALLED_INTERVAL_MS", "500"),
    // Every completed job is kept, so the end of a run can read each one's counters.
    ("QUEUE_KEEP_COMPLETED", "1000000"),
];

/// `users` sign-ups (`POST /api/users`) from `clients` concurrent clients; every answer must be
/// 201 (the user is created whether or not the queue is up: the job waits in the outbox).
pub struct SignUps {
    created: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl SignUps {
    pub fn start(app: &App, users: u64, clients: usize) -> SignUps {
        let next = Arc::new(AtomicU64::new(0));
        let created = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let (client, url) = (app.client.clone(), app.url("/api/users"));
                let (next, created) = (Arc::clone(&next), Arc::clone(&created));
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= users {
                            break ids;
                        }
                        let body = json!({"name": format!("User {n}"), "email": format!("u{n}@example.com"), "password": "correct horse"});
                        let resp = client.post(&url).json(&body).send().await.expect("sign-up");
                        let status = resp.status();
                        let text = resp.text().await.unwrap_or_default();
                        assert_eq!(status, 201, "sign-up {n}: {text}");
                        let reply: Value = serde_json::from_str(&text).expect("json");
                        ids.push(reply["data"]["id"].as_str().expect("id").to_owned());
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        SignUps { created, tasks }
    }

    /// Sign-ups answered 201 so far (shareable with other tasks and threads).
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.created)
    }

    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    /// The ids of the users created, once every sign-up is answered.
    pub async fn ids(self) -> Vec<String> {
        let mut ids = Vec::new();
        for task in self.tasks {
            ids.extend(task.await.expect("sign-ups"));
        }
        ids
    }
}

/// The job ids of the `.eml` files in `outbox`, and how many other files (temp files left by
/// writes a kill interrupted) are there.
pub fn emails(outbox: &Path) -> (HashSet<String>, usize) {
    let mut eml = HashSet::new();
    let mut other = 0;
    for entry in std::fs::read_dir(outbox).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(job) = name.strip_suffix(".eml") {
            eml.insert(job.to_owned());
        } else {
            other += 1;
        }
    }
    (eml, other)
}

/// Asserts the outbox holds exactly one `welcome-<userId>.eml` per id in `ids` and nothing for
/// anyone else; returns the expected job ids and how many temp files killed writes left.
pub fn assert_one_email_per_user(outbox: &Path, ids: &[String]) -> (HashSet<String>, usize) {
    let (sent, leftovers) = emails(outbox);
    let expected: HashSet<String> = ids.iter().map(|id| format!("welcome-{id}")).collect();
    let missing: Vec<&String> = expected.difference(&sent).collect();
    let extra: Vec<&String> = sent.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "{} emails missing: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(extra.is_empty(), "emails nobody signed up for: {extra:?}");
    (expected, leftovers)
}

/// How many of the users' welcome jobs ran more than once, and the most stalls of one job.
pub async fn reruns(queue: &dyn svc::queue::Queue, ids: &[String]) -> (u64, u32) {
    let (mut rerun, mut max_stalled) = (0u64, 0u32);
    for id in ids {
        let job = queue
            .job(&format!("welcome-{id}"))
            .await
            .expect("read job")
            .expect("job kept");
        if job.attempts_started > 1 {
            rerun += 1;
        }
        max_stalled = max_stalled.max(job.stalled_count);
    }
    (rerun, max_stalled)
}

/// Counts how often each email file is written, from outside the worker: the file transport
/// writes a temp file and renames it over `<job id>.eml`, so every completed write is one
/// rename onto that name (inotify `IN_MOVED_TO`). A job whose email was written twice was
/// processed twice (at-least-once allows it; the file stays one).
pub struct EmailWrites {
    _watcher: notify::RecommendedWatcher,
    writes: Arc<Mutex<HashMap<String, u32>>>,
    /// The kernel's event queue overflowed, so the counts are incomplete.
    overflowed: Arc<AtomicBool>,
}

/// What [`EmailWrites`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCounts {
    /// Renames onto an `.eml` name.
    pub writes: u64,
    /// Files written more than once.
    pub rewritten: u64,
    /// The most writes of one file.
    pub most: u32,
}

impl EmailWrites {
    /// Watches `outbox` (created if missing).
    pub fn watch(outbox: &Path) -> EmailWrites {
        std::fs::create_dir_all(outbox).expect("create the outbox folder");
        let writes = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let overflowed = Arc::new(AtomicBool::new(false));
        let (counts, overflow) = (Arc::clone(&writes), Arc::clone(&overflowed));
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else {
                    overflow.store(true, Ordering::Relaxed);
                    return;
                };
                if event.need_rescan() {
                    overflow.store(true, Ordering::Relaxed);
                }
                if event.kind != EventKind::Modify(ModifyKind::Name(RenameMode::To)) {
                    return;
                }
                for path in &event.paths {
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                    if let Some(job) = name.as_deref().and_then(|n| n.strip_suffix(".eml")) {
                        *counts
                            .lock()
                            .expect("counts")
                            .entry(job.to_owned())
                            .or_default() += 1;
                    }
                }
            })
            .expect("inotify watcher");
        watcher
            .watch(outbox, RecursiveMode::NonRecursive)
            .expect("watch the outbox");
        EmailWrites {
            _watcher: watcher,
            writes,
            overflowed,
        }
    }

    /// The counts once every file in `expected` has been seen written (events arrive a little
    /// after the renames); panics when the event queue overflowed.
    pub async fn counts(&self, expected: &HashSet<String>) -> WriteCounts {
        let seen = holds_within_async(PATIENCE, || {
            let writes = self.writes.lock().expect("counts");
            ready(expected.iter().all(|job| writes.contains_key(job)))
        })
        .await;
        assert!(
            !self.overflowed.load(Ordering::Relaxed),
            "inotify's queue overflowed: the write counts are incomplete"
        );
        let writes = self.writes.lock().expect("counts");
        assert!(
            seen,
            "{} of {} emails never seen written",
            expected.iter().filter(|j| !writes.contains_key(*j)).count(),
            expected.len()
        );
        WriteCounts {
            writes: writes.values().map(|&n| u64::from(n)).sum(),
            rewritten: writes.values().filter(|&&n| n > 1).count() as u64,
            most: writes.values().copied().max().unwrap_or(0),
        }
    }
}

/// Starts a worker with `start`, lets it run 100–600 ms, SIGKILLs it, and again, until `done`
/// holds; returns the number of kills. Panics after `deadline`.
pub async fn kill_storm(
    mut start: impl FnMut() -> Proc,
    mut done: impl FnMut() -> bool,
    deadline: Duration,
) -> u64 {
    let started = Instant::now();
    let mut seed = u64::from(std::process::id());
    let mut kills = 0u64;
    while !done() {
        assert!(
            started.elapsed() < deadline,
            "not done after {:?} ({kills} kills)",
            started.elapsed()
        );
        let worker = start();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(100 + (seed >> 33) % 500)).await;
        // Dropping a `Proc` is SIGKILL and wait.
        drop(worker);
        kills += 1;
    }
    kills
}
