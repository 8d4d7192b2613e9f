//! The whole product end to end: the daemon runs `svc api` twice and `svc worker` from a config
//! shaped like the repository's own svc.toml; a user signs up over HTTP; the worker mails them.

use crate::common::harness;
use crate::common::wait::{PATIENCE, holds_within, wait_until};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use harness::*;

/// The repository's svc.toml, on a free port, with `extra_env` added to `[env]`.
fn stack(port: u16, extra_env: &str) -> Project {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/svc.toml")).unwrap();
    let toml = toml.replace("3000", &port.to_string());
    Project::new(&toml.replacen("[env]", &format!("[env]\n{extra_env}"), 1))
}

fn sign_up(port: u16, request_id: &str, email: &str) -> String {
    let body =
        format!(r#"{{"name":"Ann Example","email":"{email}","password":"correct horse battery"}}"#);
    let (status, reply) = http(
        port,
        "POST",
        "/api/users",
        &[
            ("Content-Type", "application/json"),
            ("X-Request-ID", request_id),
        ],
        &body,
    )
    .unwrap();
    assert_eq!(status, 201, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    reply["data"]["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_sign_up_mails_the_user_once_and_one_request_id_ties_api_and_worker_together() {
    let port = free_port();
    let project = stack(port, "");
    project.start();
    let status = project.status();
    assert_eq!(status.len(), 3);
    assert!(status.iter().all(|i| i["state"] == "online"), "{status:#?}");

    let request_id = "e2e-signup-42";
    let user = sign_up(port, request_id, "ann@example.com");
    let outbox = project.path("data/outbox");
    let mail = outbox.join(format!("welcome-{user}.eml"));
    assert!(
        holds_within(PATIENCE, || mail.exists()),
        "no email for {user}"
    );
    let text = std::fs::read_to_string(&mail).unwrap();
    assert!(text.contains("ann@example.com"), "{text}");
    // Once the worker logged the job completed, no retry of it can mail again.
    wait_until("the job's completion logged", || {
        request_lines(&project, request_id)
            .iter()
            .any(|l| l.contains("job completed"))
    });
    let emails: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(emails.len(), 1, "exactly one email");

    // Every line of the request, from both programs, carries its id.
    let lines = request_lines(&project, request_id);
    let api_lines = lines
        .iter()
        .filter(|l| l.contains("request completed"))
        .count();
    let worker_lines = lines.iter().filter(|l| l.contains("job completed")).count();
    assert_eq!(api_lines, 1, "{lines:#?}");
    assert_eq!(worker_lines, 1, "{lines:#?}");
}

/// Every log line that carries `requestId` = `id`: `svc logs --request-id` over every log file
/// (current and rotated; `app.log` holds every program's lines once).
fn request_lines(project: &Project, id: &str) -> Vec<String> {
    let out = project.svc(&["logs", "--request-id", id, "--json"]);
    assert_ok(&out, "svc logs --request-id");
    stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
fn reloading_the_api_under_load_fails_no_request() {
    let port = free_port();
    // The load would trip the rate limiter, which is not under test here.
    let project = stack(port, "RATE_LIMIT = \"off\"");
    project.start();
    let old: Vec<i32> = project
        .status()
        .iter()
        .filter(|i| i["name"] == "api")
        .map(pid_of)
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (done, served) = (done.clone(), served.clone());
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !done.load(Ordering::Relaxed) {
                    match http(port, "GET", "/api/products?limit=5", &[], "") {
                        Ok((200, _)) => {
                            ok += 1;
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failed.push(format!("{other:?}")),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    // Under load before the reloads, and still after them (served by the new instances).
    let load = |what: &str, more: usize| {
        let target = served.load(Ordering::Relaxed) + more;
        wait_until(what, || served.load(Ordering::Relaxed) >= target);
    };
    load("requests served before the reloads", 30);
    for _ in 0..2 {
        assert_ok(&project.svc(&["reload", "api"]), "svc reload api");
    }
    load("requests served after the reloads", 30);
    done.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for client in clients {
        let (o, f) = client.join().unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 50, "only {ok} requests");
    let new: Vec<i32> = project
        .status()
        .iter()
        .filter(|i| i["name"] == "api")
        .map(pid_of)
        .collect();
    assert!(
        old.iter().all(|p| !new.contains(p) && !alive(*p)),
        "old {old:?} new {new:?}"
    );
}

/// A `redis-server` on a free loopback port, killed on drop.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test.sh installs it)");
        assert!(holds_within(PATIENCE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }));
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn with_redis_configured_a_sign_up_goes_through_the_bullmq_queue() {
    let redis = Redis::start();
    let port = free_port();
    let project = stack(
        port,
        &format!("REDIS_URL = \"redis://127.0.0.1:{}\"", redis.port),
    );
    project.start();
    let user = sign_up(port, "e2e-redis-7", "cy@example.com");
    let mail = project.path(&format!("data/outbox/welcome-{user}.eml"));
    assert!(
        holds_within(PATIENCE, || mail.exists()),
        "no email for {user}"
    );
    // The job lives in BullMQ's layout: its hash under bull:email-queue:, completed in the zset.
    let redis_cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        stdout(&out).trim().to_owned()
    };
    let job = format!("welcome-{user}");
    assert!(holds_within(PATIENCE, || !redis_cli(&[
        "ZSCORE",
        "bull:email-queue:completed",
        &job
    ])
    .is_empty()));
    assert_eq!(
        redis_cli(&["HGET", &format!("bull:email-queue:{job}"), "name"]),
        "welcome-email"
    );
    let lines = request_lines(&project, "e2e-redis-7");
    assert!(
        lines.iter().any(|l| l.contains("job completed")),
        "{lines:#?}"
    );
}
