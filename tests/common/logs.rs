//! Helpers for the log-pipeline tests: read the log files the way a user's tools would (not
//! through `svc`'s own reader), and run `svc logs --follow` as a guarded child process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::harness::SVC;
use crate::common::wait::holds_within;
use serde_json::Value;

/// The numbered files of a log (`app.log.000001[.gz]`, ...), oldest first.
pub fn numbered_files(dir: &Path, base: &str) -> Vec<(u64, PathBuf)> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().to_str()?.to_owned();
                    let rest = name.strip_prefix(base)?.strip_prefix('.')?;
                    let digits = rest.strip_suffix(".gz").unwrap_or(rest);
                    let seq = digits
                        .parse()
                        .ok()
                        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))?;
                    Some((seq, entry.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    // While a compression finishes, a file may briefly exist in both forms: keep one.
    files.dedup_by_key(|(seq, _)| *seq);
    files
}

/// The whole text of one log file, decompressed when it is a `.gz`.
pub fn read_file(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        // Compressed meanwhile: read the .gz instead.
        Err(_) => return read_file(&PathBuf::from(format!("{}.gz", path.display()))),
    };
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(file)
            .read_to_end(&mut bytes)
            .expect("gunzip");
    } else {
        BufReader::new(file).read_to_end(&mut bytes).expect("read");
    }
    bytes
}

/// Every line of every file of a log, in order, each parsed as JSON (a line that is not JSON
/// fails the test: nothing may be split or torn).
pub fn records(dir: &Path, base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (_, path) in numbered_files(dir, base) {
        let bytes = read_file(&path);
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\n"),
            "{} does not end with a whole line",
            path.display()
        );
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let record: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "{}: a line is not JSON ({e}): {}",
                    path.display(),
                    String::from_utf8_lossy(line)
                )
            });
            out.push(record);
        }
    }
    out
}

/// The `msg` of every record a program's instance wrote to stdout (not stderr, not the daemon's
/// events).
pub fn messages_of(records: &[Value], program: &str, instance: u64) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["program"] == program && r["instance"] == instance)
        .filter(|r| r.get("source").is_none() && r.get("stream").is_none())
        .map(|r| r["msg"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Whether the daemon logged an event for `program` whose message contains `text`.
pub fn has_event(records: &[Value], program: &str, text: &str) -> bool {
    records.iter().any(|r| {
        r["program"] == program
            && r["source"] == "svc"
            && r["msg"].as_str().is_some_and(|m| m.contains(text))
    })
}

/// `1`, `2`, ... `n` as strings, each with `prefix`.
pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

/// Asserts that `got` is exactly `want`, naming the first difference (not printing 200k lines).
pub fn assert_same_lines(got: &[String], want: &[String], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: line {i} is {:?}, expected {:?} (around: {:?})",
            got[i],
            want[i],
            &got[i.saturating_sub(2)..(i + 3).min(got.len())]
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} lines, expected {} (last: {:?})",
        got.len(),
        want.len(),
        got.last()
    );
}

/// A running `svc ... logs --follow`, killed when dropped; its stdout lines arrive on a channel.
pub struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follow {
    pub fn start(config: &Path, args: &[&str]) -> Follow {
        let mut child = Command::new(SVC)
            .arg("--config")
            .arg(config)
            .arg("logs")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn svc logs --follow");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Follow { child, lines }
    }

    /// Collects lines until `done` says so (given everything so far) or `timeout` passes.
    pub fn collect_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        while !done(&got) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => got.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        got
    }

    /// Waits until the follower watches the log folder (it holds an inotify descriptor), which
    /// it sets up right after reading the history.
    pub fn wait_watching(&self, timeout: Duration) -> bool {
        let fds = format!("/proc/{}/fd", self.child.id());
        holds_within(timeout, || {
            std::fs::read_dir(&fds).is_ok_and(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|target| target.to_string_lossy().contains("inotify"))
                })
            })
        })
    }

    /// Lines that arrive within `quiet` of each other, until none does.
    pub fn drain(&self, quiet: Duration) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            got.push(line);
        }
        got
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
