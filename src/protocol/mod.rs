//! The control protocol between the CLI and the daemon; nothing else speaks the socket.
//!
//! One frame is one JSON object on one line (`\n`-terminated), at most [`MAX_FRAME`] bytes.
//! Every frame carries the protocol version `v`; a peer with another version gets an error
//! reply naming both. The client sends one [`Request`], the daemon answers with one [`Response`],
//! then the connection closes. Reads have a timeout, so a silent peer cannot hold a connection.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bumped on any incompatible change to the messages below.
pub const VERSION: u32 = 1;

/// The largest frame either side accepts, in bytes (the newline included).
pub const MAX_FRAME: usize = 1 << 20;

/// How long the daemon waits for a client's request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A message with its protocol version.
#[derive(Debug, Serialize, Deserialize)]
pub struct Frame<T> {
    pub v: u32,
    #[serde(flatten)]
    pub body: T,
}

/// What the CLI asks of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Start the named programs (all autostart ones when empty) and wait until they settle.
    Start(Names),
    /// Stop the named programs; with no names, stop everything and shut the daemon down.
    Stop(Names),
    /// Stop, then start, the named programs (all when empty); clears `errored`.
    Restart(Names),
    /// Replace each instance's process one at a time without downtime.
    Reload(Names),
    /// Re-read the config file and apply what changed (`svc reload` with no names, SIGHUP).
    Apply(ApplyRequest),
    /// Run this many instances of a program until the next config reload.
    Scale(ScaleRequest),
    /// Everything about one program: its resolved config, instances and restart history.
    Describe(DescribeRequest),
    /// One entry per instance.
    Status,
    /// Send a signal to every instance of the named programs.
    Signal(SignalRequest),
    /// Rotate every log file now (`svc logs --rotate`).
    RotateLogs,
}

/// Program names; empty means all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Names {
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRequest {
    pub names: Vec<String>,
    /// A signal name such as `SIGUSR1`.
    pub signal: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// Print the plan only.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleRequest {
    pub name: String,
    pub instances: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeRequest {
    pub name: String,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    /// The state of every instance (after the request took effect).
    Status(StatusReport),
    /// What a config reload or a scale changed (or would change), and the state after it.
    Applied(ApplyReport),
    /// One program in detail.
    Description(Box<Description>),
    /// The request was refused or failed; `message` says why.
    Error(ErrorReply),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// One line per change: `+ name` added, `- name` removed, `~ name: what` changed.
    pub changes: Vec<String>,
    /// Nothing was applied: `changes` is the plan.
    pub dry_run: bool,
    /// Changes that failed while applying (the old processes keep running), one line each.
    #[serde(default)]
    pub failures: Vec<String>,
    pub status: StatusReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    pub name: String,
    /// The resolved program as `svc config check --json` shows it, secrets masked.
    pub config: serde_json::Value,
    /// Instances run now when `svc scale` changed the config's number.
    pub scaled_to: Option<u32>,
    pub instances: Vec<InstanceDescription>,
    /// The program's log files, newest first.
    pub log_files: Vec<String>,
    /// The next `cron_restart`, as local RFC 3339 time.
    pub next_cron_restart: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceDescription {
    pub status: InstanceStatus,
    /// The latest restarts, oldest first.
    pub history: Vec<RestartRecord>,
}

/// One restart of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRecord {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub reason: RestartReason,
    /// What happened: the exit, the file that changed, the memory figure...
    pub detail: String,
}

/// Why an instance was restarted (the `reason` label of `svc_restarts_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartReason {
    /// It exited by itself (the restart policy restarted it).
    Crash,
    /// Its memory stayed above `max_memory`.
    Memory,
    /// A watched file changed.
    Watch,
    /// Its `cron_restart` schedule came.
    Cron,
    /// `svc reload`, or a config change that touched it.
    Reload,
    /// `svc restart`.
    Manual,
}

impl ErrorReply {
    pub fn new(message: impl Into<String>) -> Self {
        ErrorReply {
            message: message.into(),
            invalid_config: false,
        }
    }
}

impl RestartReason {
    pub const ALL: [RestartReason; 6] = [
        RestartReason::Crash,
        RestartReason::Memory,
        RestartReason::Watch,
        RestartReason::Cron,
        RestartReason::Reload,
        RestartReason::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RestartReason::Crash => "crash",
            RestartReason::Memory => "memory",
            RestartReason::Watch => "watch",
            RestartReason::Cron => "cron",
            RestartReason::Reload => "reload",
            RestartReason::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub daemon_pid: u32,
    pub instances: Vec<InstanceStatus>,
    /// Log lines of every program the daemon could not write (disk full) since it started.
    #[serde(default)]
    pub log_lines_dropped: u64,
    /// Files in the log folder the daemon refused to write through (a planted symlink, another
    /// user's file), each with why; they are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_refused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub message: String,
    /// The config file is invalid: nothing was changed (the CLI exits 2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invalid_config: bool,
}

/// One instance as `svc status --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub instance: u32,
    /// `None` when no process is running.
    pub pid: Option<u32>,
    pub state: State,
    pub restarts: u32,
    pub uptime_secs: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub cpu_percent: Option<f64>,
    pub last_exit: Option<ExitInfo>,
    /// Why the instance is not online, when it is not (crash, probe timeout, spawn error).
    pub reason: Option<String>,
    /// This instance's log lines the daemon could not write (disk full) since it started.
    #[serde(default)]
    pub log_lines_dropped: u64,
    /// Why it was last restarted, by any cause (`restarts` counts only the restart policy's).
    #[serde(default)]
    pub last_restart_reason: Option<RestartReason>,
    /// Restarts since the daemon started, by cause (causes that never happened left out).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub restarts_by_reason: std::collections::BTreeMap<RestartReason, u64>,
}

/// The life cycle of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Forked, not yet ready.
    Starting,
    /// Ready and running.
    Online,
    /// Stop signal sent, waiting for it to exit.
    Stopping,
    /// Stopped on request, or never started.
    Stopped,
    /// Crashed; waiting out its restart delay.
    Backoff,
    /// Gave up after too many unstable restarts, or could not be started.
    Errored,
    /// Ended and, by its restart policy, stays ended.
    Exited,
}

impl State {
    /// Whether a start has come to rest here: online, or not going to be (for now).
    pub fn is_settled(self) -> bool {
        !matches!(self, State::Starting | State::Stopping)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Online => "online",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Backoff => "backoff",
            State::Errored => "errored",
            State::Exited => "exited",
        }
    }
}

/// How a process ended: its exit code, the signal that killed it, or unknown.
///
/// On the wire an unknown exit is `{"code": -1}` (see [`UNKNOWN_EXIT_CODE`]), which no real
/// process can exit with, so the JSON that `svc status` and `svc describe` print is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireExit", from = "WireExit")]
pub enum ExitInfo {
    Code(i32),
    Signal(String),
    /// The status was lost: the process was not reaped by the daemon's reaper.
    Unknown,
}

/// The exit code an unknown exit is shown with.
pub const UNKNOWN_EXIT_CODE: i32 = -1;

/// [`ExitInfo`] as the protocol spells it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireExit {
    Code(i32),
    Signal(String),
}

impl From<ExitInfo> for WireExit {
    fn from(exit: ExitInfo) -> Self {
        match exit {
            ExitInfo::Code(code) => WireExit::Code(code),
            ExitInfo::Signal(name) => WireExit::Signal(name),
            ExitInfo::Unknown => WireExit::Code(UNKNOWN_EXIT_CODE),
        }
    }
}

impl From<WireExit> for ExitInfo {
    fn from(exit: WireExit) -> Self {
        match exit {
            WireExit::Code(UNKNOWN_EXIT_CODE) => ExitInfo::Unknown,
            WireExit::Code(code) => ExitInfo::Code(code),
            WireExit::Signal(name) => ExitInfo::Signal(name),
        }
    }
}

impl ExitInfo {
    pub fn is_success(&self) -> bool {
        matches!(self, ExitInfo::Code(0))
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitInfo::Code(code) => write!(f, "code {code}"),
            ExitInfo::Signal(name) => write!(f, "signal {name}"),
            ExitInfo::Unknown => write!(f, "code {UNKNOWN_EXIT_CODE}"),
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame larger than {MAX_FRAME} bytes")]
    TooLarge,
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(
        "protocol version {got} is not this daemon's version {VERSION}; restart the daemon with `svc stop && svc start`"
    )]
    Version { got: u32 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one frame; `Ok(None)` when the peer closed the connection before sending anything.
///
/// # Errors
/// Oversized, truncated, malformed or wrong-version frames, and I/O errors.
pub async fn read_frame<R, T>(reader: &mut R) -> Result<Option<T>, FrameError>
where
    R: AsyncBufRead + Unpin,
    T: DeserializeOwned,
{
    let mut line = Vec::new();
    let read = reader
        .take(MAX_FRAME as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() >= MAX_FRAME {
            FrameError::TooLarge
        } else {
            FrameError::Truncated
        });
    }
    #[derive(Deserialize)]
    struct Versioned {
        v: u32,
    }
    let Versioned { v } = serde_json::from_slice(&line)?;
    if v != VERSION {
        return Err(FrameError::Version { got: v });
    }
    let frame: Frame<T> = serde_json::from_slice(&line)?;
    Ok(Some(frame.body))
}

/// Writes one frame and flushes it.
///
/// # Errors
/// I/O errors, or a message that would exceed [`MAX_FRAME`].
pub async fn write_frame<W, T>(writer: &mut W, body: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let mut bytes = serde_json::to_vec(&Frame { v: VERSION, body })?;
    bytes.push(b'\n');
    if bytes.len() > MAX_FRAME {
        return Err(FrameError::TooLarge);
    }
    writer.write_all(&bytes).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn read(bytes: &[u8]) -> Result<Option<Request>, FrameError> {
        read_frame(&mut BufReader::new(bytes)).await
    }

    #[tokio::test]
    async fn a_request_round_trips() {
        let mut buf = Vec::new();
        let request = Request::Stop(Names {
            names: vec!["api".into()],
        });
        write_frame(&mut buf, &request).await.unwrap();
        assert_eq!(buf, b"{\"v\":1,\"cmd\":\"stop\",\"names\":[\"api\"]}\n");
        assert_eq!(read(&buf).await.unwrap(), Some(request));
    }

    #[test]
    fn exits_keep_their_wire_form() {
        for (exit, json) in [
            (ExitInfo::Code(3), r#"{"code":3}"#),
            (
                ExitInfo::Signal("SIGKILL".into()),
                r#"{"signal":"SIGKILL"}"#,
            ),
            (ExitInfo::Unknown, r#"{"code":-1}"#),
        ] {
            assert_eq!(serde_json::to_string(&exit).unwrap(), json);
            assert_eq!(serde_json::from_str::<ExitInfo>(json).unwrap(), exit);
        }
        assert_eq!(ExitInfo::Unknown.to_string(), "code -1");
    }

    #[tokio::test]
    async fn bad_frames_are_errors_not_panics() {
        assert!(read(b"").await.unwrap().is_none());
        assert!(matches!(
            read(b"{\"v\":1,\"cmd\":\"status\"").await,
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read(b"\xff\xfe\n").await,
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            read(b"{\"v\":1,\"cmd\":\"reboot\"}\n").await,
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            read(b"{\"v\":9,\"cmd\":\"status\"}\n").await,
            Err(FrameError::Version { got: 9 })
        ));
        let huge = vec![b'x'; MAX_FRAME + 10];
        assert!(matches!(read(&huge).await, Err(FrameError::TooLarge)));
    }
}
