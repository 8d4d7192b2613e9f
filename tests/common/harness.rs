//! Test harness: a temp project with its own svc.toml, run through the real `svc` binary.
//!
//! Every [`Project`] stops its daemon on drop (and SIGKILLs it if it will not stop), so a failed
//! test leaves no process behind.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::wait::{LONG_PATIENCE, PATIENCE, holds_within};

pub const SVC: &str = env!("CARGO_BIN_EXE_svc");

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A temp folder holding `svc.toml` with `toml`.
    pub fn new(toml: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("svc-test")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("svc.toml"), toml).expect("write svc.toml");
        Project { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.path("svc.toml")
    }

    /// Replaces svc.toml at once (a new file renamed over it, as editors save), so a daemon
    /// reading it on a signal sees the old file or the new one, never half of one.
    pub fn replace_config(&self, toml: &str) {
        let tmp = self.path(".svc.toml.new");
        std::fs::write(&tmp, toml).expect("write the new svc.toml");
        std::fs::rename(&tmp, self.config()).expect("rename it over svc.toml");
    }

    /// Runs `svc --config <this project> args...` and returns its output.
    pub fn svc(&self, args: &[&str]) -> Output {
        let mut command = Command::new(SVC);
        command.arg("--config").arg(self.config()).args(args);
        run(command)
    }

    /// `svc start`, asserting success.
    pub fn start(&self) -> Output {
        let out = self.svc(&["start"]);
        assert_ok(&out, "svc start");
        out
    }

    /// `svc status --json` as a list of instance objects.
    pub fn status(&self) -> Vec<Value> {
        let out = self.svc(&["status", "--json"]);
        assert_ok(&out, "svc status --json");
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// The status of instance `index` of `name`.
    pub fn instance(&self, name: &str, index: u64) -> Value {
        self.status()
            .into_iter()
            .find(|i| i["name"] == name && i["instance"] == index)
            .unwrap_or_else(|| panic!("no instance {name}[{index}]"))
    }

    /// Polls `svc status` until `check` holds for instance `index` of `name`.
    pub fn wait_instance(
        &self,
        name: &str,
        index: u64,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        let found = holds_within(PATIENCE, || {
            last = self.instance(name, index);
            check(&last)
        });
        assert!(
            found,
            "{name}[{index}] never became {what}; last status: {last:#}"
        );
        last
    }

    /// The daemon's pid from the pid file, if it is there.
    pub fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.path("run/svc.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let pid = self.daemon_pid();
        let mut command = Command::new(SVC);
        command.arg("--config").arg(self.config()).arg("stop");
        let _ = run_bounded(command, PATIENCE);
        if let Some(pid) = pid.filter(|&p| alive(p)) {
            kill(pid, "KILL");
        }
    }
}

/// Runs a command with a timeout, capturing its output.
pub fn run(command: Command) -> Output {
    run_bounded(command, LONG_PATIENCE).expect("command timed out")
}

fn run_bounded(mut command: Command, timeout: Duration) -> Option<Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn svc");
    let pid = child.id();
    // Collect the output on a thread while waiting, so a chatty command never stalls on a full pipe.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(timeout) {
        Ok(output) => Some(output.expect("output")),
        Err(_) => {
            kill(pid as i32, "KILL");
            let _ = finished.recv();
            None
        }
    }
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The parent pid of `pid`.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn kill(pid: i32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Reads a pid a test program wrote to a file.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn pid_of(instance: &Value) -> i32 {
    instance["pid"].as_i64().expect("instance has a pid") as i32
}

/// Whether the tests run as root (what switching users, groups and owners needs).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 request on a new connection: the status code and the body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    let status = reply
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {reply:?}"))?;
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}
