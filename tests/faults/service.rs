//! Fault suite for the service: the embedded store unavailable at start and
//! mid-load, the worker SIGKILLed again and again while users sign up, and `wrk` at full speed
//! against two daemon-supervised API instances while one is reloaded and the other SIGKILLed.
//!
//! The default (CI) variant is short; `SVC_FAULTS=long` runs the full-length variants that
//! `scripts/faults.sh` records in `docs/RELIABILITY.md`. Every case prints `FIGURE` lines.
//! Redis restarted under the same sign-up load is `tests/faults/redis_outage.rs`.

use crate::common::api;
use crate::common::faults::{
    EmailWrites, SHORT_LEASES, SignUps, assert_one_email_per_user, emails, kill_storm, long, reruns,
};
use crate::common::harness;
use crate::common::wait::{
    LONG_PATIENCE, PATIENCE, holds_within, holds_within_async, wait_until_async,
};
use crate::common::worker::Proc;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use api::{App, Spawn};
use serde_json::json;
use svc::queue::Queue;
use svc::queue::sqlite::SqliteQueue;
use tokio_util::sync::CancellationToken;

/// One request's outcome in a load run.
#[derive(Debug, Clone)]
struct Outcome {
    write: bool,
    started: Instant,
    took: Duration,
    /// 0 when the request failed without an HTTP answer.
    status: u16,
    /// The product's title, for a write.
    title: String,
}

/// Clients reading and writing products until stopped; the writers are the admin whose access
/// token is `token`, the readers anonymous.
fn load(
    app: &App,
    clients: usize,
    token: &str,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<Vec<Outcome>>> {
    let counter = Arc::new(AtomicU64::new(0));
    (0..clients)
        .map(|client| {
            let token = token.to_owned();
            let (http, base, stop, counter) = (
                reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client"),
                app.url(""),
                stop.clone(),
                counter.clone(),
            );
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stop.is_cancelled() {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let write = client % 2 == 0;
                    let title = format!("load-{n}");
                    let request = if write {
                        http.post(format!("{base}/api/products"))
                            .bearer_auth(&token)
                            .json(&json!({"title": title, "price": 1}))
                    } else {
                        http.get(format!("{base}/api/products?limit=5"))
                    };
                    let started = Instant::now();
                    let status = request.send().await.map_or(0, |r| r.status().as_u16());
                    outcomes.push(Outcome {
                        write,
                        started,
                        took: started.elapsed(),
                        status,
                        title,
                    });
                    if status != 200 && status != 201 {
                        // Do not spin on fast 503s.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                outcomes
            })
        })
        .collect()
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>>) -> Vec<Outcome> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load client"));
    }
    all
}

/// Polls `/ready` every 20 ms until it answers `status`; returns how long that took.
async fn ready_becomes(app: &App, status: u16, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let found = holds_within_async(within, || async {
        app.get("/ready").await.status == status
    })
    .await;
    found.then(|| started.elapsed())
}

#[tokio::test]
async fn a_store_unavailable_at_start_answers_503_at_once_and_recovers_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // The data folder replaced by a file: SQLite can create neither the folder nor the file.
    std::fs::write(&data, "not a folder").unwrap();
    let notify_path = tmp.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    let app = Spawn::new()
        .data_dir(&data)
        .env("NOTIFY_SOCKET", notify_path.to_str().unwrap())
        .start()
        .await;
    assert_eq!(app.get("/health").await.status, 200, "liveness holds");

    let started = Instant::now();
    let ready = app.get("/ready").await;
    let ready_ms = started.elapsed().as_millis();
    ready.error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(ready.detail_fields(), ["database", "queue"]);
    assert!(ready_ms < 1000, "/ready took {ready_ms} ms");
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        for resp in [
            app.get("/api/products").await,
            app.post(
                "/api/users",
                &json!({"name": "Ann", "email": "ann@example.com", "password": "correct horse"}),
            )
            .await,
        ] {
            resp.error(503, "SERVICE_UNAVAILABLE");
            assert_eq!(resp.header("retry-after"), Some("5"));
        }
        let started = Instant::now();
        let _ = app.get("/api/products/0123456789abcdef01234567").await;
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_secs(1), "a 503 took {slowest:?}");
    notify.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        notify.recv(&mut buf).is_err(),
        "READY=1 sent while the store cannot be opened"
    );

    // The folder comes back: the API opens the store by itself.
    std::fs::remove_file(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    let back = ready_becomes(&app, 200, PATIENCE).await;
    assert!(
        back.is_some(),
        "never ready after the folder came back: {:?}",
        app.logs()
    );
    notify.set_nonblocking(false).unwrap();
    notify.set_read_timeout(Some(PATIENCE)).unwrap();
    let n = notify
        .recv(&mut buf)
        .expect("READY=1 once the store is open");
    assert_eq!(&buf[..n], b"READY=1");
    let created = app
        .post(
            "/api/users",
            &json!({"name": "Ann", "email": "ann@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["data"]["id"].as_str().unwrap().to_owned();
    let queue = SqliteQueue::open_in(&data).unwrap();
    let job_id = format!("welcome-{id}");
    wait_until_async("the welcome email to be queued", || async {
        queue.job(&job_id).await.ok().flatten().is_some()
    })
    .await;
    eprintln!(
        "FIGURE service store-down-at-start: /ready 503 in {ready_ms} ms; 60 requests all 503, slowest {} ms; ready {} ms after the folder returned; sign-up and relay work",
        slowest.as_millis(),
        back.unwrap_or_default().as_millis()
    );
}

#[tokio::test]
async fn a_store_locked_mid_load_fails_writes_fast_keeps_reads_and_recovers() {
    let outage = if long() {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(3)
    };
    let rounds = if long() { 5 } else { 1 };
    let app = Spawn::new().start().await;
    let token = app.act_as_admin().await;
    let stop = CancellationToken::new();
    let clients = load(&app, 8, &token, stop.clone());
    // Pacing: the load is under way before the first outage.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut figures = Vec::new();
    let mut windows = Vec::new();
    for _ in 0..rounds {
        // Another process takes the database's write lock and holds it.
        let holder = app.db();
        holder.execute_batch("BEGIN EXCLUSIVE;").unwrap();
        let locked = Instant::now();
        let down = ready_becomes(&app, 503, PATIENCE).await;
        let down = down.expect("/ready never said 503 while the write lock was held");
        let body = app.get("/ready").await;
        assert_eq!(body.detail_fields(), ["database"], "{}", body.text);
        assert!(body.text.contains("refuses writes"), "{}", body.text);
        tokio::time::sleep(outage.saturating_sub(locked.elapsed())).await;
        // Requests that started just before the release may reach the store after it (the
        // gate reopens at once): the outage window ends a little before the release.
        let still_locked = Instant::now() - Duration::from_millis(250);
        holder.execute_batch("ROLLBACK;").unwrap();
        let released = Instant::now();
        let up = ready_becomes(&app, 200, PATIENCE)
            .await
            .expect("never ready again");
        windows.push((locked, still_locked, released));
        figures.push((down, up));
        // Pacing: a second of normal service between outages.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.cancel();
    let outcomes = collect(clients).await;

    // Judge every request by when it started.
    let during = |o: &Outcome| {
        windows.iter().any(|(locked, still_locked, _)| {
            o.started >= *locked + Duration::from_secs(1) && o.started < *still_locked
        })
    };
    let writes_during: Vec<&Outcome> = outcomes.iter().filter(|o| o.write && during(o)).collect();
    let reads_during: Vec<&Outcome> = outcomes.iter().filter(|o| !o.write && during(o)).collect();
    assert!(!writes_during.is_empty() && !reads_during.is_empty());
    for o in &writes_during {
        assert_eq!(o.status, 503, "a write during the outage: {o:?}");
    }
    let slowest_503 = writes_during
        .iter()
        .map(|o| o.took)
        .max()
        .unwrap_or_default();
    assert!(
        slowest_503 < Duration::from_secs(1),
        "writes did not fail fast: {slowest_503:?}"
    );
    for o in &reads_during {
        assert_eq!(
            o.status, 200,
            "reads keep working under a write lock: {o:?}"
        );
    }
    let unanswered = outcomes.iter().filter(|o| o.status == 0).count();
    assert_eq!(unanswered, 0, "requests without an answer");
    let after = outcomes
        .iter()
        .filter(|o| {
            o.write
                && windows
                    .last()
                    .is_some_and(|(.., released)| o.started > *released + Duration::from_secs(1))
        })
        .collect::<Vec<_>>();
    assert!(after.iter().all(|o| o.status == 201), "writes came back");

    // Nothing lost, nothing extra: the products stored are exactly the writes answered 201.
    let acknowledged: BTreeSet<String> = outcomes
        .iter()
        .filter(|o| o.write && o.status == 201)
        .map(|o| o.title.clone())
        .collect();
    let stored: BTreeSet<String> = {
        let db = app.db();
        let mut statement = db.prepare("SELECT title FROM products").unwrap();
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    let ghosts: Vec<&String> = stored.difference(&acknowledged).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(ghosts.is_empty(), "stored after a 503: {ghosts:?}");

    let total = outcomes.len();
    let status_503 = outcomes.iter().filter(|o| o.status == 503).count();
    let worst_down = figures.iter().map(|f| f.0).max().unwrap_or_default();
    let worst_up = figures.iter().map(|f| f.1).max().unwrap_or_default();
    eprintln!(
        "FIGURE service store-locked-mid-load: {rounds} outage(s) of {} s under 8 clients; /ready 503 within {} ms (worst); {} writes during the outages all 503, slowest {} ms; {} reads during them all 200; ready again {} ms after release (worst); {total} requests, {status_503} answered 503, 0 unanswered; {} writes acknowledged = {} stored (0 lost, 0 ghost)",
        outage.as_secs(),
        worst_down.as_millis(),
        writes_during.len(),
        slowest_503.as_millis(),
        reads_during.len(),
        worst_up.as_millis(),
        acknowledged.len(),
        stored.len(),
    );
    assert!(
        worst_down < Duration::from_secs(1),
        "/ready took {worst_down:?} to say 503"
    );
}

// ---------------------------------------------------------------------------------------------
// The worker killed again and again
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_worker_killed_again_and_again_loses_no_welcome_email() {
    let users = if long() { 10_000 } else { 300 };
    let app = Spawn::new().start().await;
    let data: PathBuf = app.data_dir.clone();
    let outbox = data.join("outbox");
    let writes = EmailWrites::watch(&outbox);
    let mut env = vec![
        ("LOG_LEVEL", "error"),
        ("WORKER_CONCURRENCY", "5"),
        // A job whose worker dies twice mid-job would fail for good with the default (1).
        ("QUEUE_MAX_STALLED", "1000"),
    ];
    env.extend_from_slice(SHORT_LEASES);

    // Sign up `users` users from 8 clients; meanwhile a worker runs for 100–600 ms, then
    // SIGKILL; again, until every email exists.
    let signups = SignUps::start(&app, users, 8);
    let started = Instant::now();
    let deadline = if long() {
        Duration::from_secs(1800)
    } else {
        Duration::from_secs(120)
    };
    let kills = kill_storm(
        || Proc::spawn(&["worker"], &data, &env),
        || signups.created() >= users && emails(&outbox).0.len() as u64 >= users,
        deadline,
    )
    .await;
    let ids = signups.ids().await;
    let took = started.elapsed();
    // A last worker, not killed, finishes whatever the kills left active (leases expire).
    let last = Proc::spawn(&["worker"], &data, &env);
    let queue = SqliteQueue::open_in(&data).unwrap();
    let settled = holds_within_async(LONG_PATIENCE, || async {
        queue
            .counts()
            .await
            .is_ok_and(|c| c.completed >= users && c.active + c.waiting + c.delayed == 0)
    })
    .await;
    drop(last);
    let counts = queue.counts().await.unwrap();
    assert!(settled, "jobs left: {counts:?}");
    assert_eq!(counts.failed, 0, "{counts:?}");
    assert_eq!(counts.completed, users, "{counts:?}");

    assert_eq!(ids.len() as u64, users);
    let (expected, leftovers) = assert_one_email_per_user(&outbox, &ids);
    let written = writes.counts(&expected).await;
    let (rerun, max_stalled) = reruns(&queue, &ids).await;
    eprintln!(
        "FIGURE service worker-kill-storm: {users} sign-ups while the worker was SIGKILLed {kills} times (every 100-600 ms) over {:.1} s; {users} jobs completed, 0 failed, 0 lost; exactly one .eml per user; {rerun} jobs ran more than once, {} emails written more than once ({} writes for {users} emails, at most {} of one; at-least-once, the file replaced), most stalls of one job {max_stalled}; {leftovers} temp files left by killed writes",
        took.as_secs_f64(),
        written.rewritten,
        written.writes,
        written.most,
    );
}

// ---------------------------------------------------------------------------------------------
// wrk against two supervised instances, one reloaded and the other SIGKILLed
// ---------------------------------------------------------------------------------------------

/// What `wrk --latency` reported.
#[derive(Debug, Default)]
struct WrkReport {
    requests: u64,
    non_2xx: u64,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    timeouts: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rate: f64,
}

fn millis(text: &str) -> f64 {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

fn parse_wrk(output: &str) -> WrkReport {
    let mut report = WrkReport::default();
    for line in output.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => report.p50_ms = millis(value),
            ["99%", value] => report.p99_ms = millis(value),
            ["Latency", _avg, _stdev, max, ..] => report.max_ms = millis(max),
            ["Requests/sec:", value] => report.rate = value.parse().unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => report.non_2xx = n.parse().unwrap_or(0),
            [n, "requests", "in", ..] => report.requests = n.parse().unwrap_or(0),
            [
                "Socket",
                "errors:",
                "connect",
                c,
                "read",
                r,
                "write",
                w,
                "timeout",
                t,
            ] => {
                let n = |s: &str| s.trim_end_matches(',').parse().unwrap_or(0);
                report.connect_errors = n(c);
                report.read_errors = n(r);
                report.write_errors = n(w);
                report.timeouts = n(t);
            }
            _ => {}
        }
    }
    report
}

#[test]
fn wrk_at_full_speed_through_a_reload_and_a_sigkill() {
    let Ok(wrk) = which("wrk") else {
        panic!("wrk is not installed (scripts/test.sh installs it: apt-get install wrk)");
    };
    let (secs, rounds) = if long() { (60u64, 5u32) } else { (6, 1) };
    let port = harness::free_port();
    let project = harness::Project::new(&format!(
        "[env]\nLOG_LEVEL = \"warn\"\nRATE_LIMIT = \"off\"\n\n[programs.api]\ncommand = [\"svc\", \"api\"]\ninstances = 2\nenv = {{ PORT = \"{port}\" }}\nlisten = \"127.0.0.1:{port}\"\nrestart_delay = \"100ms\"\nmin_uptime = \"1s\"\nmax_restarts = 1000\nready = \"notify\"\n"
    ));
    project.start();
    let base = format!("http://127.0.0.1:{port}");
    // A few products, so the list does real work (written by an admin).
    let authorization = format!("Bearer {}", admin_token(&project, port));
    for i in 0..20 {
        let body = format!("{{\"title\":\"p{i}\",\"price\":{i}}}");
        let headers = [
            ("Content-Type", "application/json"),
            ("Authorization", authorization.as_str()),
        ];
        let (status, reply) =
            harness::http(port, "POST", "/api/products", &headers, &body).expect("seed");
        assert_eq!(status, 201, "seeding product {i}: {reply}");
    }

    let mut child = Command::new(wrk)
        .args(["-t2", "-c32", "--latency", "--timeout", "5s", "-d"])
        .arg(format!("{secs}s"))
        .arg(format!("{base}/api/products?limit=10"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wrk");
    let began = Instant::now();
    let mut reloads = Vec::new();
    let mut killed = 0;
    for round in 0..rounds {
        // Spread the rounds over the run, leaving a quiet second at each end.
        let at =
            Duration::from_secs(1) + Duration::from_secs(secs.saturating_sub(2)) * round / rounds;
        std::thread::sleep(at.saturating_sub(began.elapsed()));
        let victim = project.instance("api", 1);
        let reload = {
            let config = project.config();
            std::thread::spawn(move || {
                Command::new(harness::SVC)
                    .arg("--config")
                    .arg(config)
                    .args(["reload", "api"])
                    .output()
                    .expect("svc reload")
            })
        };
        // While instance 0 is being replaced, instance 1 (still the old process) dies.
        std::thread::sleep(Duration::from_millis(300));
        harness::kill(harness::pid_of(&victim), "KILL");
        killed += 1;
        let out = reload.join().expect("reload thread");
        reloads.push(if out.status.success() {
            "ok".to_owned()
        } else {
            harness::stderr(&out).trim().to_owned()
        });
        let back = holds_within(PATIENCE, || {
            project.status().iter().all(|i| i["state"] == "online")
        });
        assert!(back, "instances not back online: {:#?}", project.status());
    }
    let finished = holds_within(Duration::from_secs(secs) + PATIENCE, || {
        child.try_wait().ok().flatten().is_some()
    });
    if !finished {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("wrk output");
    assert!(finished, "wrk did not finish");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = parse_wrk(&text);
    assert!(report.requests > 0, "{text}");
    let errors = report.non_2xx
        + report.connect_errors
        + report.read_errors
        + report.write_errors
        + report.timeouts;
    eprintln!(
        "FIGURE service wrk-reload-kill: {secs} s, 32 connections, {rounds} round(s) of `svc reload api` + SIGKILL of the other instance (reloads: {reloads:?}); {} requests ({:.0}/s), {errors} errors = {:.4}% (non-2xx {}, connect {}, read {}, write {}, timeout {}); latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        report.requests,
        report.rate,
        errors as f64 * 100.0 / report.requests as f64,
        report.non_2xx,
        report.connect_errors,
        report.read_errors,
        report.write_errors,
        report.timeouts,
        report.p50_ms,
        report.p99_ms,
        report.max_ms,
    );
    assert_eq!(
        report.timeouts, 0,
        "requests hung past wrk's 5 s timeout:\n{text}"
    );
    assert!(
        report.max_ms < 5000.0,
        "a request took {} ms",
        report.max_ms
    );
    assert_eq!(killed, rounds);
    assert_eq!(http(port, "GET", "/ready", ""), 200, "not ready afterwards");
}

/// An administrator of the project's API, made with `svc user create --admin` on the database
/// its svc.toml gives the API, logged in over HTTP: its access token.
fn admin_token(project: &harness::Project, port: u16) -> String {
    use std::io::Write;
    let mut child = Command::new(harness::SVC)
        .arg("--config")
        .arg(project.config())
        .args(["user", "create", "--email", "admin@example.com"])
        .args(["--name", "Admin", "--admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn svc user create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(api::PASSWORD.as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("svc user create");
    harness::assert_ok(&out, "svc user create --admin");
    let body = json!({"email": "admin@example.com", "password": api::PASSWORD});
    let (status, reply) = harness::http(
        port,
        "POST",
        "/api/auth/login",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .expect("login");
    assert_eq!(status, 200, "login: {reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("login JSON");
    reply["data"]["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_owned()
}

/// One HTTP/1.1 request over a fresh connection; the status code (0 when none came back).
fn http(port: u16, method: &str, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The path of `program` on `PATH`.
fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
