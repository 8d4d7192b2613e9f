//! The daemon's log pipeline: pipe readers for every child, one writer.
//!
//! Readers hand whole lines to the writer over a bounded channel, so a slow disk makes the
//! readers wait (and the children's writes block) instead of growing memory or dropping lines.
//! For now each program's output is appended to `logs/<program>.log`; the JSON `app.log` with
//! rotation replaces this in the log-pipeline work.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lines in flight between the readers and the writer; beyond this, readers wait.
const CHANNEL_LINES: usize = 4096;

/// Which program instance a line came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub program: Arc<str>,
    pub instance: u32,
    pub pid: u32,
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Severity of a daemon event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

enum Entry {
    Line {
        program: Arc<str>,
        text: Vec<u8>,
    },
    Event {
        program: Arc<str>,
        instance: u32,
        level: Level,
        msg: String,
    },
}

/// A cheap handle to the log writer; the writer ends when every handle is dropped.
#[derive(Clone)]
pub struct LogHandle {
    tx: mpsc::Sender<Entry>,
}

impl LogHandle {
    /// Starts the writer task, writing below `dir` (created if missing).
    ///
    /// # Errors
    /// Fails when `dir` cannot be created.
    pub fn start(dir: PathBuf) -> std::io::Result<(LogHandle, JoinHandle<()>)> {
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = mpsc::channel(CHANNEL_LINES);
        let writer = tokio::task::spawn_blocking(move || write_all(&dir, rx));
        Ok((LogHandle { tx }, writer))
    }

    /// Reads `stdout` and `stderr` of one instance until both close.
    pub fn capture(&self, source: Source, stdout: OwnedFd, stderr: OwnedFd) -> JoinHandle<()> {
        let out = self.reader(source.clone(), stdout, Stream::Stdout);
        let err = self.reader(source, stderr, Stream::Stderr);
        tokio::spawn(async move {
            let _ = tokio::join!(out, err);
        })
    }

    fn reader(&self, source: Source, fd: OwnedFd, _stream: Stream) -> JoinHandle<()> {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            match pipe::Receiver::from_owned_fd(fd) {
                Ok(pipe) => read_lines(pipe, source, tx).await,
                Err(error) => tracing::error!(%error, "cannot read a child's pipe"),
            }
        })
    }

    /// Records a daemon lifecycle event for one instance.
    pub async fn event(&self, program: &Arc<str>, instance: u32, level: Level, msg: String) {
        let _ = self
            .tx
            .send(Entry::Event {
                program: program.clone(),
                instance,
                level,
                msg,
            })
            .await;
    }
}

async fn read_lines(pipe: impl AsyncRead + Unpin, source: Source, tx: mpsc::Sender<Entry>) {
    let mut reader = BufReader::new(pipe);
    loop {
        let mut text = Vec::new();
        match reader.read_until(b'\n', &mut text).await {
            Ok(0) => return,
            Ok(_) => {
                if text.last() != Some(&b'\n') {
                    text.push(b'\n');
                }
                let entry = Entry::Line {
                    program: source.program.clone(),
                    text,
                };
                if tx.send(entry).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%error, program = %source.program, "reading a child's output failed");
                return;
            }
        }
    }
}

/// The single writer: appends each line to its program's file.
fn write_all(dir: &std::path::Path, mut rx: mpsc::Receiver<Entry>) {
    let mut files: HashMap<Arc<str>, File> = HashMap::new();
    while let Some(entry) = rx.blocking_recv() {
        let (program, bytes) = match entry {
            Entry::Line { program, text } => (program, text),
            Entry::Event {
                program,
                instance,
                level,
                msg,
            } => {
                let line = serde_json::json!({
                    "time": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                    "level": match level { Level::Info => "info", Level::Warn => "warn", Level::Error => "error" },
                    "msg": msg,
                    "program": &*program,
                    "instance": instance,
                    "source": "svc",
                });
                let mut bytes = line.to_string().into_bytes();
                bytes.push(b'\n');
                (program, bytes)
            }
        };
        let file = match files.entry(program.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                match File::options()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{program}.log")))
                {
                    Ok(file) => v.insert(file),
                    Err(error) => {
                        tracing::error!(%error, %program, "cannot open the log file");
                        continue;
                    }
                }
            }
        };
        if let Err(error) = file.write_all(&bytes) {
            tracing::error!(%error, %program, "cannot write the log file");
        }
    }
}
