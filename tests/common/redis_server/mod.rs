//! Helpers for the Redis queue tests: a real `redis-server` per test on a free loopback port
//! (killed on drop), direct reads of the queue's keys, and the real Node BullMQ peer
//! (`../shared/peers/bullmq`, installed by `scripts/test.sh` into `target/bullmq-peer`).

#![allow(dead_code)]

pub mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::common::harness::free_port;
use crate::common::wait::{PATIENCE, exit_within, holds_within, wait_until_within};

/// A `redis-server` of our own on 127.0.0.1; killed and reaped on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    /// TLS only (`--port 0 --tls-port`), with these certificates.
    tls: Option<tls::ServerTls>,
}

impl RedisServer {
    /// A server without persistence (`--save "" --appendonly no`), as the tests need.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// A server with an append-only file fsynced on every write, so a SIGKILL loses nothing
    /// (the restart test).
    pub fn start_persistent() -> Self {
        Self::start_with(true)
    }

    /// A server that speaks TLS only, with `pki`'s server certificate; `require_client_cert`
    /// makes it refuse clients without a certificate from `pki`'s CA (mutual TLS).
    pub fn start_tls(pki: &tls::Pki, require_client_cert: bool) -> Self {
        Self::start_on(false, Some(pki.server_tls(require_client_cert)))
    }

    fn start_with(persistent: bool) -> Self {
        Self::start_on(persistent, None)
    }

    fn start_on(persistent: bool, tls: Option<tls::ServerTls>) -> Self {
        // Redis cannot pick a free port itself: take one from the kernel, then hand it over
        // (trying another if some process grabbed it in between).
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: tempfile::tempdir().expect("temp dir"),
                persistent,
                tls: tls.clone(),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start redis-server (is it installed? scripts/test.sh installs it)");
    }

    /// Starts the process on `self.port`; true once it answers PING.
    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => cmd.args(["--port", &self.port.to_string()]),
            Some(tls) => cmd
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(tls.args()),
        };
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--maxmemory-policy", "noeviction"])
            .args(["--dir", &self.dir.path().display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let mut child = cmd.spawn().expect("spawn redis-server");
        // Up when it answers; over when it exits (the port was taken) or never answers.
        let mut exited = false;
        let answered = holds_within(PATIENCE, || {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            exited || self.ping()
        });
        if answered && !exited {
            self.child = Some(child);
            return true;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A client for the test's own checks (with the test CA and client certificate over TLS).
    fn client(&self) -> redis::Client {
        match &self.tls {
            None => redis::Client::open(self.url()),
            Some(tls) => redis::Client::build_with_tls(self.url(), tls.client_certificates()),
        }
        .expect("a redis client")
    }

    fn ping(&self) -> bool {
        self.client()
            .get_connection_with_timeout(Duration::from_millis(500))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (and files).
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            // Pacing: each try spawns a process, which fails while the old one holds the port.
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not come back on port {}", self.port);
    }

    /// A synchronous connection for assertions.
    pub fn conn(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to the test redis")
    }

    /// The fields of each entry of the queue's event stream, in order.
    pub fn events(&self, prefix: &str) -> Vec<Vec<(String, String)>> {
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg(format!("{prefix}:email-queue:events"))
            .arg("-")
            .arg("+")
            .query::<redis::Value>(&mut self.conn())
            .ok()
            .and_then(|v| stream_entries(&v))
            .unwrap_or_default();
        entries.into_iter().map(|(_, fields)| fields).collect()
    }

    /// Events named `name` for `job` (any job when `None`).
    pub fn events_named(
        &self,
        prefix: &str,
        name: &str,
        job: Option<&str>,
    ) -> Vec<Vec<(String, String)>> {
        self.events(prefix)
            .into_iter()
            .filter(|e| field(e, "event") == Some(name))
            .filter(|e| job.is_none_or(|j| field(e, "jobId") == Some(j)))
            .collect()
    }

    /// A job hash field.
    pub fn hget(&self, key: &str, field: &str) -> Option<String> {
        redis::cmd("HGET")
            .arg(key)
            .arg(field)
            .query(&mut self.conn())
            .expect("HGET")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `name` in an event's fields.
pub fn field<'a>(event: &'a [(String, String)], name: &str) -> Option<&'a str> {
    event
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One stream entry: its id and its field pairs.
type Entry = (String, Vec<(String, String)>);

fn stream_entries(value: &redis::Value) -> Option<Vec<Entry>> {
    let redis::Value::Array(entries) = value else {
        return None;
    };
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        redis::Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    entries
        .iter()
        .map(|entry| {
            let redis::Value::Array(parts) = entry else {
                return None;
            };
            let id = text(parts.first()?)?;
            let redis::Value::Array(flat) = parts.get(1)? else {
                return None;
            };
            let fields = flat
                .chunks(2)
                .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                .collect();
            Some((id, fields))
        })
        .collect()
}

/// The installed Node peer (`target/bullmq-peer`, or `$BULLMQ_PEER_DIR`). A missing Node or
/// peer fails the test: the interop checks are part of the suite, and `scripts/test.sh` installs
/// the peer (or `npm ci` in the copy).
pub fn node_peer() -> PathBuf {
    assert!(
        Command::new("node").arg("--version").output().is_ok(),
        "node is not installed; the BullMQ interop checks need it (Debian: apt-get install nodejs npm)"
    );
    let dir = std::env::var_os("BULLMQ_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bullmq-peer"));
    assert!(
        dir.join("node_modules/bullmq").is_dir(),
        "the Node BullMQ peer is not installed in {}: run scripts/test.sh, or \
         cp -r ../shared/peers/bullmq target/bullmq-peer && (cd target/bullmq-peer && npm ci)",
        dir.display()
    );
    dir
}

/// Our own Node scripts for these tests (beside this file).
pub fn node_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/common/redis_server/node")
        .join(name)
}

/// A Node process (peer script or ours) on the test's Redis; its stdout lines are collected;
/// killed and reaped on drop.
pub struct Node {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

/// The environment every Node script reads.
fn node_env(cmd: &mut Command, peer: &Path, redis: &RedisServer, prefix: &str) {
    cmd.current_dir(peer)
        .env("NODE_PATH", peer.join("node_modules"))
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", redis.port.to_string())
        .env("REDIS_DB", "0")
        .env("QUEUE", "email-queue")
        .env("PREFIX", prefix);
}

impl Node {
    /// Starts `node <script> <args>` with `env` on top of the connection settings.
    pub fn spawn(
        peer: &Path,
        script: &Path,
        args: &[&str],
        redis: &RedisServer,
        prefix: &str,
        env: &[(&str, &str)],
    ) -> Node {
        let mut cmd = Command::new("node");
        cmd.arg(script).args(args);
        node_env(&mut cmd, peer, redis, prefix);
        cmd.envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn node");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if std::env::var_os("TEST_LOG").is_some() {
                        eprintln!("node: {line}");
                    }
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        Node { child, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Lines containing `text`.
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains(text))
            .collect()
    }

    pub fn wait_for_line(&self, text: &str, count: usize, timeout: Duration) -> Vec<String> {
        wait_until_within(
            &format!("{count} node line(s) with {text:?}"),
            timeout,
            || self.lines_with(text).len() >= count,
        );
        self.lines_with(text)
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let status = exit_within(&mut self.child, timeout);
        status.unwrap_or_else(|| {
            panic!(
                "node did not exit within {timeout:?}:\n{}",
                self.lines().join("\n")
            )
        })
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Node script to its end and returns its output (panics on a non-zero exit).
pub fn node_run(
    peer: &Path,
    script: &Path,
    args: &[&str],
    redis: &RedisServer,
    prefix: &str,
) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(script).args(args);
    node_env(&mut cmd, peer, redis, prefix);
    let out = cmd.output().expect("run node");
    assert!(
        out.status.success(),
        "node {} failed: {}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What the peer's `inspect.js` prints: the counts and every job as Node's BullMQ decodes it.
#[derive(Debug)]
pub struct Inspection {
    pub counts: Value,
    pub jobs: Vec<Value>,
}

impl Inspection {
    pub fn job(&self, id: &str) -> &Value {
        self.jobs
            .iter()
            .find(|j| j["id"] == id)
            .unwrap_or_else(|| panic!("job {id} not in the inspection: {:#?}", self.jobs))
    }
}

/// Runs the peer's `inspect.js` (for `ids`, or every job when empty).
pub fn inspect(peer: &Path, redis: &RedisServer, prefix: &str, ids: &[&str]) -> Inspection {
    let out = node_run(peer, &peer.join("inspect.js"), ids, redis, prefix);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counts = Value::Null;
    let mut jobs = Vec::new();
    for line in text.lines() {
        if let Some(json) = line.strip_prefix("counts ") {
            counts = serde_json::from_str(json).expect("counts JSON");
        } else if line.starts_with('{') {
            jobs.push(serde_json::from_str(line).expect("job JSON"));
        }
    }
    Inspection { counts, jobs }
}

/// Adds jobs through Node's `Queue.add` (our `add.js`): each `(name, data, opts)`; returns the
/// ids BullMQ gave them.
pub fn node_add(
    peer: &Path,
    redis: &RedisServer,
    prefix: &str,
    jobs: &[(&str, Value, Value)],
) -> Vec<String> {
    let spec: Vec<Value> = jobs
        .iter()
        .map(|(name, data, opts)| serde_json::json!({"name": name, "data": data, "opts": opts}))
        .collect();
    let spec = serde_json::to_string(&spec).expect("spec");
    let out = node_run(peer, &node_script("add.js"), &[&spec], redis, prefix);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

/// A prefix unique to one test.
pub fn unique_prefix(name: &str) -> String {
    format!(
        "t{}-{name}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}
