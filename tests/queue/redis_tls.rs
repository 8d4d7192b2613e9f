//! `rediss://`: svc's Redis clients over TLS against a real `redis-server` that speaks TLS only,
//! with throw-away certificates (`redis_server::tls`): the worker and `svc queue` with a private
//! CA (`REDIS_TLS_CA_FILE`), a wrong CA failing at once with a line that says TLS and names the
//! certificate problem, mutual TLS with and without the client certificate, the API's queue and
//! rate limiter over TLS, and bad TLS files refused at start (exit 2, naming variable and path).

use crate::common::api;
use crate::common::redis_server;
use crate::common::wait::{PATIENCE, holds_within_async};
use crate::common::worker;

use std::future::ready;
use std::path::Path;

use redis_server::RedisServer;
use redis_server::tls::Pki;
use worker::{DataDir, Proc, welcome_data};

/// Environment variables for a spawned `svc`.
type Env = Vec<(&'static str, String)>;

/// The environment of a client of `redis` trusting `ca` (and presenting `identity`).
fn tls_env(url: &str, ca: Option<&Path>, identity: Option<(&Path, &Path)>) -> Env {
    let mut env = vec![("REDIS_URL", url.to_owned())];
    if let Some(ca) = ca {
        env.push(("REDIS_TLS_CA_FILE", ca.display().to_string()));
    }
    if let Some((cert, key)) = identity {
        env.push(("REDIS_TLS_CERT_FILE", cert.display().to_string()));
        env.push(("REDIS_TLS_KEY_FILE", key.display().to_string()));
    }
    env
}

/// Runs `svc ARGS` to its end (a hang fails the test) and returns it with its exit status.
fn run(dir: &DataDir, args: &[&str], env: &[(&'static str, String)]) -> (Proc, i32) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut proc = Proc::spawn(args, dir.path(), &env);
    let status = proc.wait_exit(PATIENCE);
    (proc, status.code().unwrap_or(-1))
}

fn queue_add(dir: &DataDir, job_id: &str, env: &[(&'static str, String)]) -> (Proc, i32) {
    run(
        dir,
        &[
            "queue",
            "add",
            "welcome-email",
            "--data",
            &welcome_data(job_id, "req-tls"),
            "--job-id",
            job_id,
        ],
        env,
    )
}

fn waiting(redis: &RedisServer) -> u64 {
    redis::cmd("LLEN")
        .arg("bull:email-queue:wait")
        .query(&mut redis.conn())
        .expect("LLEN")
}

#[test]
fn svc_worker_over_rediss_with_a_private_ca_runs_a_job_added_by_svc_queue_add() {
    let pki = Pki::new();
    let redis = RedisServer::start_tls(&pki, false);
    // A user with a password, to check that it never reaches the output.
    redis::cmd("ACL")
        .arg(&["SETUSER", "app", "on", ">tls-s3cret", "~*", "&*", "+@all"])
        .query::<()>(&mut redis.conn())
        .expect("ACL SETUSER");
    let url = format!("rediss://app:tls-s3cret@127.0.0.1:{}", redis.port);
    let env = tls_env(&url, Some(&pki.ca()), None);
    let dir = DataDir::new();

    let (add, code) = queue_add(&dir, "tls-1", &env);
    assert_eq!(code, 0, "{}", add.dump());
    assert_eq!(waiting(&redis), 1, "the job is in Redis, over TLS");

    let worker_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut worker = Proc::spawn(&["worker"], dir.path(), &worker_env);
    worker.wait_for_log("job completed", Some("tls-1"), 1, PATIENCE);
    assert_eq!(dir.emails().len(), 1, "one email in the outbox");
    let ready = worker.wait_for_log("worker ready", None, 1, PATIENCE);
    let described = ready[0]["queue"].as_str().unwrap_or_default().to_owned();
    assert!(
        described.starts_with("rediss://***@127.0.0.1:"),
        "{described}"
    );

    worker.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(worker.wait_exit(PATIENCE).success(), "{}", worker.dump());
    for output in [add.dump(), worker.dump()] {
        assert!(
            !output.contains("tls-s3cret"),
            "the password leaked:\n{output}"
        );
    }
}

#[test]
fn a_wrong_ca_fails_at_once_with_one_line_naming_tls_and_the_certificate() {
    let pki = Pki::new();
    let redis = RedisServer::start_tls(&pki, false);
    let dir = DataDir::new();
    // The unrelated CA, and none at all (the built-in public roots): neither trusts the server.
    for ca in [Some(pki.other_ca()), None] {
        let env = tls_env(&redis.url(), ca.as_deref(), None);
        let (add, code) = queue_add(&dir, "never", &env);
        assert_eq!(code, 1, "{}", add.dump());
        let stderr = add.stderr();
        let error = stderr.lines().next().unwrap_or_default();
        assert!(
            error.starts_with("error: ")
                && error.contains("TLS handshake failed")
                && error.contains("invalid peer certificate: UnknownIssuer")
                && error.contains("REDIS_TLS_CA_FILE"),
            "{stderr}"
        );
    }
    assert_eq!(waiting(&redis), 0);

    // The worker says the same in its log, keeps retrying (a certificate can be fixed on the
    // server side), and still stops at once on SIGTERM.
    let env = tls_env(&redis.url(), Some(&pki.other_ca()), None);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut worker = Proc::spawn(&["worker"], dir.path(), &env);
    let lines = worker.wait_for_log("queue store unavailable", None, 1, PATIENCE);
    let error = lines[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TLS handshake failed") && error.contains("UnknownIssuer"),
        "{lines:?}"
    );
    assert!(worker.logs_with("worker ready", None).is_empty());
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(worker.wait_exit(PATIENCE).success(), "{}", worker.dump());
}

#[test]
fn mutual_tls_works_with_the_client_certificate_and_fails_clearly_without() {
    let pki = Pki::new();
    let redis = RedisServer::start_tls(&pki, true);
    let dir = DataDir::new();

    let without = tls_env(&redis.url(), Some(&pki.ca()), None);
    let (add, code) = queue_add(&dir, "anonymous", &without);
    assert_eq!(code, 1, "{}", add.dump());
    let stderr = add.stderr();
    assert!(
        stderr
            .lines()
            .next()
            .is_some_and(|line| line.contains("TLS handshake failed")
                && line.contains("CertificateRequired")),
        "{stderr}"
    );

    let with = tls_env(
        &redis.url(),
        Some(&pki.ca()),
        Some((&pki.client_cert(), &pki.client_key())),
    );
    let (add, code) = queue_add(&dir, "mtls-1", &with);
    assert_eq!(code, 0, "{}", add.dump());
    assert_eq!(waiting(&redis), 1);
    let (status, code) = run(&dir, &["queue", "status", "--json"], &with);
    assert_eq!(code, 0, "{}", status.dump());
}

#[tokio::test]
async fn the_api_queues_and_counts_its_rate_limit_over_tls() {
    let pki = Pki::new();
    let redis = RedisServer::start_tls(&pki, true);
    let ca = pki.ca().display().to_string();
    let cert = pki.client_cert().display().to_string();
    let key = pki.client_key().display().to_string();
    let app = api::Spawn::new()
        .env("REDIS_URL", &redis.url())
        .env("REDIS_TLS_CA_FILE", &ca)
        .env("REDIS_TLS_CERT_FILE", &cert)
        .env("REDIS_TLS_KEY_FILE", &key)
        .env("RATE_LIMIT", "50/24h")
        .start()
        .await;
    let listening = app
        .wait_for_log(|l| l["msg"] == "listening")
        .await
        .expect("listening");
    assert_eq!(listening["rateLimit"], "redis");

    let created = app
        .post(
            "/api/users",
            &serde_json::json!({"email": "tls@example.com", "password": "correct horse battery", "name": "Tls"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("ratelimit-remaining"), Some("49"));
    let queued = holds_within_async(PATIENCE, || {
        ready(
            redis::cmd("LLEN")
                .arg("bull:email-queue:wait")
                .query::<u64>(&mut redis.conn())
                .is_ok_and(|n| n == 1),
        )
    })
    .await;
    assert!(
        queued,
        "the welcome email reached the TLS Redis: {:?}",
        app.logs()
    );
    let counters: Vec<String> = redis::cmd("KEYS")
        .arg("svc:ratelimit:*")
        .query(&mut redis.conn())
        .expect("KEYS");
    assert_eq!(counters, ["svc:ratelimit:86400000:127.0.0.1"]);
}

#[tokio::test]
async fn bad_tls_files_stop_every_command_naming_the_variable_and_the_path() {
    let pki = Pki::new();
    let missing = pki.path("missing-ca.pem").display().to_string();
    let url = "rediss://127.0.0.1:6380".to_owned();
    let cases: [(Env, &str, String); 3] = [
        (
            vec![
                ("REDIS_URL", url.clone()),
                ("REDIS_TLS_CA_FILE", missing.clone()),
            ],
            "REDIS_TLS_CA_FILE",
            missing.clone(),
        ),
        (
            // A key that is not the certificate's.
            tls_env(
                &url,
                None,
                Some((&pki.client_cert(), &pki.path("server.key"))),
            ),
            "REDIS_TLS_KEY_FILE",
            pki.path("server.key").display().to_string(),
        ),
        (
            // TLS files with a plain redis:// URL: refused, never a silent plain-text connection.
            vec![
                ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
                ("REDIS_TLS_CA_FILE", pki.ca().display().to_string()),
            ],
            "REDIS_TLS_CA_FILE",
            "rediss://".to_owned(),
        ),
    ];
    let dir = DataDir::new();
    for (env, var, mention) in &cases {
        for args in [&["worker"][..], &["queue", "status"]] {
            let (proc, code) = run(&dir, args, env);
            let stderr = proc.stderr();
            assert_eq!(code, 2, "svc {args:?} with {env:?}: {}", proc.dump());
            assert!(
                stderr.contains(var) && stderr.contains(mention.as_str()),
                "svc {args:?}: {stderr}"
            );
        }
        let mut api = api::Spawn::new();
        for (k, v) in env {
            api = api.env(k, v);
        }
        let (status, stderr) = api.run_to_exit();
        assert_eq!(status.code(), Some(2), "svc api: {stderr}");
        assert!(
            stderr.contains(&format!("{var}:")) && stderr.contains(mention.as_str()),
            "svc api: {stderr}"
        );
    }
}
