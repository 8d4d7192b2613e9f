//! The log pipeline: capture of every child's output, one writer, and the reader behind `svc logs`.
//!
//! ```text
//! child stdout/stderr ─▶ capture (a task per pipe) ─┐ bounded channel   ┌─▶ app.log   (every record)
//! instance events ──────────────────────────────────┼──────────────────▶ writer thread ├─▶ error.log (error + stderr)
//! svc logs --rotate ────────────────────────────────┘                   └─▶ programs/<name>.log (own policy)
//! ```
//!
//! One writer means no two processes race on a file and a rotation can never lose, split or repeat
//! a line. The channel is bounded, so a slow disk makes the readers wait and the children's
//! writes block (back-pressure) instead of memory growing or lines being dropped; only a write
//! that fails (disk full) loses lines, and those are counted ([`LogHandle::dropped`], shown by
//! `svc status`). Every record is one JSON object with `time`, `level`, `msg`, `program`,
//! `instance`, `pid` first ([`record`]). Files are size-rotated into a numbered series with a
//! symlink to the newest ([`family`], [`rotate`]); [`read`] gives the history, the filters and
//! `--follow` over them.
//!
//! A program whose `logs = {...}` differs from `[logs]` also gets its own log,
//! `logs/programs/<name>.log`, rotated by its own policy (its lines stay in `app.log` too, which
//! holds everything); `svc logs <name>` reads that one.
//!
//! The log folder is private ([`Layout::prepare`]: 0750, ours, refused when it is a symlink or
//! group or others may write to it) and every file in it is opened without following a link and
//! checked before it is written, cut or rotated ([`crate::secure_fs`]): a planted link or a file
//! of another user is refused (left alone, logged to `svc.log`, listed by `svc status`) and the
//! writer goes on in the next numbered file. Log files are 0640, in `log_group` when it is set.

pub mod ahead;
pub mod capture;
pub mod chunk;
pub mod family;
pub mod gzip;
mod newlines;
pub mod read;
pub mod record;
pub mod rotate;
pub mod time;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use chunk::Source;
use chunk::Spares;
pub use family::Family;
pub use record::{Level, Stream};

use crate::config::{Config, LogPolicy};
use crate::secure_fs::{self, DirRule, FileRule, GuardError};
use ahead::Maker;
use gzip::Compressor;
use rotate::Helpers;
use writer::{Entry, Sinks, Stats, Writer};

/// Chunks in flight between the readers and the writer; beyond this, readers wait. A chunk is at
/// most one pipe read (256 KiB) plus one unfinished line, so this bounds the memory to 2.5 MiB.
const CHANNEL_CHUNKS: usize = 8;

/// Where the logs are and how each is rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub dir: PathBuf,
    /// `[logs]`: for `app.log` and `error.log`.
    pub policy: LogPolicy,
    /// Programs whose own `logs` policy differs from `[logs]`.
    pub programs: BTreeMap<String, LogPolicy>,
    /// `[daemon] log_group`: the folder and the files get this group, which may read them.
    pub group: Option<u32>,
    /// The daemon's own `svc.log` (its older copy is `svc.log.1`), checked at start.
    pub daemon_log: PathBuf,
}

impl Layout {
    pub fn from_config(config: &Config) -> Layout {
        let programs = config
            .programs
            .iter()
            .filter(|p| p.logs != config.logs)
            .map(|p| (p.name.clone(), p.logs))
            .collect();
        Layout {
            dir: config.log_dir.clone(),
            policy: config.logs,
            programs,
            group: config.log_group.as_ref().map(|g| g.gid),
            daemon_log: config.daemon_log_path(),
        }
    }

    /// Creates the log folder (and `programs/` when a program has its own log) 0750, or checks
    /// the existing one: not a symlink, ours, not writable by group or others; a looser mode is
    /// tightened to 0750 (with a log line), and `log_group` given.
    ///
    /// # Errors
    /// [`GuardError`] naming the folder and the fix.
    pub fn prepare(&self) -> Result<(), GuardError> {
        let rule = DirRule {
            what: "log_dir",
            mode: 0o750,
            refuse_writable: true,
            follow_symlink: false,
            group: self.group,
        };
        secure_fs::prepare_dir(&self.dir, &rule)?;
        if !self.programs.is_empty() {
            secure_fs::prepare_dir(&self.dir.join("programs"), &rule)?;
        }
        Ok(())
    }

    /// What every log file is: 0640, in `log_group` when set.
    pub fn file_rule(&self) -> FileRule {
        FileRule {
            mode: 0o640,
            group: self.group,
        }
    }

    /// Every record of every program, and the daemon's events.
    pub fn app(&self) -> Family {
        Family::new(&self.dir, "app.log")
    }

    /// Records of level error, and everything written to stderr.
    pub fn error(&self) -> Family {
        Family::new(&self.dir, "error.log")
    }

    /// The program's own log, when its policy gives it one.
    pub fn program(&self, name: &str) -> Option<Family> {
        self.programs
            .contains_key(name)
            .then(|| Family::new(self.dir.join("programs"), format!("{name}.log")))
    }
}

/// Why `svc logs --rotate` failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("the log writer has stopped")]
    WriterStopped,
    /// `app.log` is failing; the message is the one the writer logged when the failure began.
    #[error("cannot write app.log: {0}")]
    AppLog(String),
    #[error("cannot write a log file: {source}")]
    Log {
        #[source]
        source: std::io::Error,
    },
    /// A program's new log could not be opened.
    #[error("{source}")]
    Relayout {
        #[source]
        source: std::io::Error,
    },
}

/// The capture of one process's output.
pub struct Capture {
    task: JoinHandle<()>,
    /// Grows with every read and every hand-over to the writer.
    progress: Arc<AtomicU64>,
}

impl Capture {
    /// Whether both pipes are closed and their output handed over.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits until the output of a process that ended has all reached the writer, so its last
    /// lines come before the daemon's "exited" record. Waits while the output is still draining
    /// (a backlog behind a slow disk, at most 2 s); gives up after 20 ms
    /// without progress (a grandchild holding the pipes open).
    pub async fn finish(self) {
        let Capture { mut task, progress } = self;
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        let mut seen = progress.load(Ordering::Relaxed);
        loop {
            if tokio::time::timeout(DRAIN_IDLE, &mut task).await.is_ok() {
                return;
            }
            let now = progress.load(Ordering::Relaxed);
            if now == seen || tokio::time::Instant::now() >= deadline {
                return;
            }
            seen = now;
        }
    }
}

/// How long [`Capture::finish`] waits for output that makes no progress.
const DRAIN_IDLE: Duration = Duration::from_millis(20);

/// The most [`Capture::finish`] waits for output that keeps coming.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// A cheap handle to the log writer; the writer ends when every handle is dropped.
#[derive(Clone)]
pub struct LogHandle {
    tx: mpsc::Sender<Entry>,
    shared: Arc<Shared>,
}

struct Shared {
    stats: Arc<Stats>,
    /// The pid of each instance's latest process, for its events' `pid`.
    pids: Mutex<HashMap<(Arc<str>, u32), u32>>,
    /// Chunks the writer is done with, for the readers to reuse.
    spares: Arc<Spares>,
    /// Lifecycle events that found the writer's channel full (see [`LogHandle::event`]).
    overflow: Overflow,
}

/// Lifecycle events waiting, in order, for room in the writer's channel.
#[derive(Default)]
struct Overflow {
    /// To the task that moves them into the channel, started with the first one.
    queue: OnceLock<mpsc::UnboundedSender<Entry>>,
    /// Events queued and not yet in the channel: while there are any, later ones queue behind.
    waiting: Arc<AtomicUsize>,
}

impl LogHandle {
    /// Opens the logs of `layout` (whose folders [`Layout::prepare`] made safe) and starts the
    /// writer thread (and behind it the threads that compress rotated files and make the next
    /// ones ahead).
    ///
    /// # Errors
    /// A log folder cannot be created or read, or a thread cannot be started.
    pub fn start(layout: &Layout) -> std::io::Result<(LogHandle, JoinHandle<()>)> {
        let stats = Arc::new(Stats::default());
        let mut older = layout.daemon_log.clone().into_os_string();
        older.push(".1");
        for path in [layout.daemon_log.clone(), PathBuf::from(older)] {
            match secure_fs::inspect(&path, &layout.file_rule()) {
                Ok(()) => {}
                Err(secure_fs::OpenError::Refused(refusal)) => {
                    tracing::error!(file = %refusal.path.display(), reason = %refusal.why, "refusing a log file that is not svc's own: left alone, never written through");
                    stats.refuse(refusal.to_string());
                }
                Err(secure_fs::OpenError::Io(error)) => {
                    tracing::warn!(%error, file = %path.display(), "cannot check the daemon's log");
                }
            }
        }
        let (compressor, gzip) = Compressor::start()?;
        let (maker, files) = Maker::start()?;
        let helpers = Helpers {
            compressor: Some(compressor),
            maker: Some(maker),
        };
        let sinks = Sinks::open(layout, &helpers)?;
        drop(helpers);
        // The chunks in the channel, plus the one being written and the one being read into.
        let spares = Arc::new(Spares::new(CHANNEL_CHUNKS + 2));
        let writer = Writer::new(sinks, stats.clone(), spares.clone());
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let thread = tokio::task::spawn_blocking(move || {
            writer.run(rx);
            if gzip.join().is_err() {
                tracing::error!("the log compression thread panicked");
            }
            if files.join().is_err() {
                tracing::error!("the thread making log files ahead panicked");
            }
        });
        let shared = Arc::new(Shared {
            stats,
            pids: Mutex::new(HashMap::new()),
            spares,
            overflow: Overflow::default(),
        });
        Ok((LogHandle { tx, shared }, thread))
    }

    /// Reads `stdout` and `stderr` of one instance until both close.
    pub fn capture(&self, source: Source, stdout: OwnedFd, stderr: OwnedFd) -> Capture {
        self.shared
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((source.program.clone(), source.instance), source.pid);
        let progress = Arc::new(AtomicU64::new(0));
        let out = capture::read_pipe(
            stdout,
            source.clone(),
            Stream::Stdout,
            self.tx.clone(),
            progress.clone(),
            self.shared.spares.clone(),
        );
        let err = capture::read_pipe(
            stderr,
            source,
            Stream::Stderr,
            self.tx.clone(),
            progress.clone(),
            self.shared.spares.clone(),
        );
        let task = tokio::spawn(async move {
            tokio::join!(out, err);
        });
        Capture { task, progress }
    }

    /// Records a daemon lifecycle event of one instance (`"source":"svc"`). Never waits for the
    /// writer, so supervision (a restart, a stop) goes on while the logs are slow or their disk
    /// hangs: an event goes straight into the writer's channel when it has room, else it queues
    /// in memory, in order, for a task that moves it into the channel as room comes, behind the
    /// output already waiting there. Events are few (a handful per start or exit, restarts
    /// being paced by their backoff).
    pub fn event(&self, program: &Arc<str>, instance: u32, level: Level, msg: String) {
        let pid = self
            .shared
            .pids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(program.clone(), instance))
            .copied();
        let mut entry = Entry::Event {
            program: program.clone(),
            instance,
            pid,
            level,
            msg,
            time: SystemTime::now(),
        };
        let overflow = &self.shared.overflow;
        if overflow.waiting.load(Ordering::Acquire) == 0 {
            match self.tx.try_send(entry) {
                Ok(()) | Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(back)) => entry = back,
            }
        }
        overflow.waiting.fetch_add(1, Ordering::AcqRel);
        let queue = overflow.queue.get_or_init(|| {
            // Started on the runtime of the daemon's tasks, at the first event that waits. It
            // holds the counter, not `Shared` (which holds the queue), so it ends, and with it
            // the writer, once the last handle is gone and what it queued is in the channel.
            let (queue, mut queued) = mpsc::unbounded_channel();
            let (tx, waiting) = (self.tx.clone(), overflow.waiting.clone());
            tokio::spawn(async move {
                while let Some(entry) = queued.recv().await {
                    let sent = tx.send(entry).await;
                    waiting.fetch_sub(1, Ordering::AcqRel);
                    if sent.is_err() {
                        return;
                    }
                }
            });
            queue
        });
        let _ = queue.send(entry);
    }

    /// Rotates every log now (after writing what is queued before this request).
    ///
    /// # Errors
    /// [`RotateError`]: the writer is gone, or a log could not be written.
    pub async fn rotate(&self) -> Result<(), RotateError> {
        self.ask(Entry::Rotate).await
    }

    /// Rotates by the policies of `layout` from now on: `max_size` from the next write, `keep`
    /// and `compress` from the next rotation; a program given its own log gets it now.
    ///
    /// # Errors
    /// [`RotateError`]: the writer is gone, or a program's new log could not be opened.
    pub async fn relayout(&self, layout: Layout) -> Result<(), RotateError> {
        self.ask(|reply| Entry::Relayout(Box::new(layout), reply))
            .await
    }

    /// Sends the writer a request and waits for its answer.
    async fn ask(
        &self,
        entry: impl FnOnce(oneshot::Sender<Result<(), RotateError>>) -> Entry,
    ) -> Result<(), RotateError> {
        let (reply, replied) = oneshot::channel();
        self.tx
            .send(entry(reply))
            .await
            .map_err(|_| RotateError::WriterStopped)?;
        replied.await.map_err(|_| RotateError::WriterStopped)?
    }

    /// Lines of this instance that could not be written to `app.log` since the daemon started.
    pub fn dropped(&self, program: &str, instance: u32) -> u64 {
        self.shared.stats.of(program, instance)
    }

    /// Lines of every program that could not be written to `app.log`.
    pub fn dropped_total(&self) -> u64 {
        self.shared.stats.total()
    }

    /// The files in the log folder the writer refused (planted links, files of another user),
    /// each saying why; they are left alone.
    pub fn refused(&self) -> Vec<String> {
        self.shared.stats.refused()
    }
}

#[cfg(test)]
impl LogHandle {
    /// A handle whose writer takes nothing, its channel full from the start, as when the disk
    /// under the logs hangs; and that channel's receiving end, to read what reaches it.
    pub fn stuck() -> (LogHandle, mpsc::Receiver<Entry>) {
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        for _ in 0..CHANNEL_CHUNKS {
            let filler = Entry::Event {
                program: Arc::from("filler"),
                instance: 0,
                pid: None,
                level: Level::Info,
                msg: String::new(),
                time: SystemTime::now(),
            };
            assert!(tx.try_send(filler).is_ok(), "room for the filler");
        }
        let shared = Arc::new(Shared {
            stats: Arc::default(),
            pids: Mutex::default(),
            spares: Arc::new(Spares::new(0)),
            overflow: Overflow::default(),
        });
        (LogHandle { tx, shared }, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The program and message of an event, or `None` for other entries.
    fn event_of(entry: &Entry) -> Option<(String, String)> {
        match entry {
            Entry::Event { program, msg, .. } => Some((program.to_string(), msg.clone())),
            _ => None,
        }
    }

    #[tokio::test]
    async fn events_never_wait_for_a_stuck_writer_and_reach_it_in_order_behind_what_waited() {
        let (logs, mut rx) = LogHandle::stuck();
        let web = Arc::from("web");
        // Each call returns at once, though the channel is full.
        for n in 0..100 {
            logs.event(&web, 0, Level::Info, format!("event {n}"));
        }
        tokio::task::yield_now().await;
        let mut got = Vec::new();
        while got.len() < CHANNEL_CHUNKS + 100 {
            let entry = rx.recv().await.expect("the events arrive");
            got.push(event_of(&entry).expect("only events were sent"));
        }
        let fillers = got.iter().take_while(|(program, _)| program == "filler");
        assert_eq!(fillers.count(), CHANNEL_CHUNKS, "what waited comes first");
        let events: Vec<String> = got[CHANNEL_CHUNKS..]
            .iter()
            .map(|(_, m)| m.clone())
            .collect();
        let expected: Vec<String> = (0..100).map(|n| format!("event {n}")).collect();
        assert_eq!(events, expected);
        // Nothing waits any more and there is room: the next event goes straight in.
        tokio::task::yield_now().await;
        logs.event(&web, 0, Level::Info, "straight in".into());
        let entry = rx.try_recv().expect("in the channel without a task's help");
        assert_eq!(event_of(&entry), Some(("web".into(), "straight in".into())));
    }

    #[tokio::test]
    async fn the_writer_ends_once_the_last_handle_and_its_queued_events_are_gone() {
        let (logs, mut rx) = LogHandle::stuck();
        logs.event(&Arc::from("web"), 0, Level::Info, "last words".into());
        drop(logs);
        let mut last = None;
        while let Some(entry) = rx.recv().await {
            last = event_of(&entry);
        }
        assert_eq!(last, Some(("web".into(), "last words".into())));
    }
}
