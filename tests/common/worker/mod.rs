//! Helpers shared by the worker and queue integration tests: the real `svc` binary in a temp
//! folder, its JSON log lines, condition polling, and small SMTP peers on loopback.

#![allow(dead_code)]

pub mod smtp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use svc::queue::sqlite::SqliteQueue;
use svc::queue::{JobRecord, Queue};

pub use crate::common::harness::SVC;

use crate::common::wait::{exit_within, wait_until_within};

/// A temp folder used as `DATA_DIR`.
pub struct DataDir {
    pub dir: tempfile::TempDir,
}

impl DataDir {
    pub fn new() -> Self {
        DataDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn outbox(&self) -> PathBuf {
        self.path().join("outbox")
    }

    /// The `.eml` files in the outbox (none when it does not exist).
    pub fn emails(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.outbox()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        files
    }

    /// Runs `svc queue ARGS` with this folder as `DATA_DIR`.
    pub fn svc_queue(&self, args: &[&str]) -> Output {
        Command::new(SVC)
            .arg("queue")
            .args(args)
            .env("DATA_DIR", self.path())
            .output()
            .expect("run svc queue")
    }

    /// Adds a job through `svc queue add`, asserting success.
    pub fn add(&self, args: &[&str]) {
        let mut all = vec!["add"];
        all.extend_from_slice(args);
        let out = self.svc_queue(&all);
        assert!(
            out.status.success(),
            "svc queue add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One job, read through the library.
    pub fn job(&self, id: &str) -> Option<JobRecord> {
        let queue = SqliteQueue::open_in(self.path()).expect("open queue");
        runtime().block_on(queue.job(id)).expect("read job")
    }

    /// A worker process on this folder with `env` on top of a clean environment.
    pub fn worker(&self, env: &[(&str, &str)]) -> Proc {
        Proc::spawn(&["worker"], self.path(), env)
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The JSON data of a welcome email job.
pub fn welcome_data(user: &str, request_id: &str) -> String {
    serde_json::json!({
        "userId": user,
        "email": format!("user{user}@example.com"),
        "name": format!("User {user}"),
        "requestId": request_id,
    })
    .to_string()
}

/// A running `svc` process whose stdout lines are collected; killed and reaped on drop.
pub struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The output readers; joined after exit so every line is in before anyone looks.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Proc {
    pub fn spawn(args: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(SVC);
        cmd.args(args)
            .env_remove("SMTP_URL")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WORKER_CONCURRENCY")
            .env("LOG_LEVEL", "info")
            .env("DATA_DIR", data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn svc");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), Arc::clone(&lines)),
            collect(child.stderr.take().expect("stderr"), Arc::clone(&stderr)),
        ];
        Proc {
            child,
            lines,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    /// The stdout lines so far, parsed as JSON (non-JSON lines are skipped).
    pub fn logs(&self) -> Vec<Value> {
        let lines = self.lines.lock().expect("lines").clone();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Log lines whose `msg` contains `text` (and whose `jobId` is `job`, when given).
    pub fn logs_with(&self, text: &str, job: Option<&str>) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["msg"].as_str().is_some_and(|m| m.contains(text)))
            .filter(|l| job.is_none_or(|j| l["jobId"] == j))
            .collect()
    }

    pub fn wait_for_log(
        &self,
        text: &str,
        job: Option<&str>,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        wait_until_within(
            &format!("{count} log line(s) with {text:?}"),
            timeout,
            || self.logs_with(text, job).len() >= count,
        );
        self.logs_with(text, job)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").join("\n")
    }

    pub fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.lines.lock().expect("lines").join("\n"),
            self.stderr()
        )
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal)
            .expect("send signal");
    }

    /// Waits for the process to exit, panicking after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = exit_within(&mut self.child, timeout);
        let Some(status) = status else {
            panic!("process did not exit within {timeout:?}\n{}", self.dump());
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("{line}");
            }
            into.lock().expect("lines").push(line);
        }
    })
}

/// The `time` of a log line.
pub fn time_of(line: &Value) -> SystemTime {
    humantime::parse_rfc3339(line["time"].as_str().expect("time")).expect("rfc3339 time")
}

/// `b - a` in seconds (negative when b is earlier).
pub fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
