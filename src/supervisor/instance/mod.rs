//! One actor per program instance: it forks the process, watches its readiness and its exit, and
//! applies the restart policy. Everything it reacts to — the child's exit, readiness, a control
//! message, the end of a backoff — arrives as an event in one `select!`, so a crash is seen the
//! moment it happens (no polling).
//!
//! The daemon talks to the actor through [`InstanceHandle`] (`handle.rs`); one run of a process
//! is `run.rs`, a zero-downtime replacement `reload.rs`, a graceful stop `stop.rs`. Processes are
//! started and signalled through a [`Launcher`], so `tests.rs` can drive the actor with scripted
//! children under paused time.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};

use super::backoff::{self, Decision};
use super::launcher::Launcher;
use super::notify::NotifySocket;
use super::readiness::NotReady;
use crate::config::Program;
use crate::logs::{Capture, Level, LogHandle};
use crate::protocol::{ExitInfo, RestartReason, RestartRecord, State};

mod error;
mod handle;
mod reload;
mod run;
mod stop;

pub use error::{InstanceError, ReloadError, StartError};

/// How many restarts an instance remembers for `svc describe`.
const HISTORY: usize = 10;

/// Whether a control took effect; `Err` says why not.
pub type Reply = oneshot::Sender<Result<(), InstanceError>>;

/// Why a restart is asked for, as the history records it.
#[derive(Debug, Clone)]
pub struct Cause {
    pub reason: RestartReason,
    /// What happened, for people: the file that changed, the memory figure, the changed keys.
    pub detail: String,
}

/// What the daemon can ask of an instance.
pub enum Control {
    /// Start if not running; answered once the process is forked (or already running).
    Start(Reply),
    /// Stop if running; acknowledged once no process is left.
    Stop(oneshot::Sender<()>),
    /// Send a signal to the running process.
    Signal(Signal, Reply),
    /// Zero-downtime restart: start a new process beside the running one, wait until it is
    /// ready, then drain the old one. On failure the old one keeps running.
    Reload(Cause, Reply),
    /// Stop the running process and start the next at once (no backoff); answered once the next
    /// is forked. When nothing runs, start it if `start_if_stopped`, else answer `Err`.
    Restart {
        cause: Cause,
        start_if_stopped: bool,
        reply: Reply,
    },
    /// Use this config (and listening socket) for the processes forked from now on; the running
    /// one is replaced only by a reload or restart.
    Adopt(Arc<Program>, Option<Arc<OwnedFd>>),
}

/// The instance as the daemon sees it at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub pid: Option<u32>,
    pub since: Option<Instant>,
    /// Restarts by the restart policy (after the process ended by itself).
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    pub reason: Option<String>,
    /// The latest restarts by any cause, oldest first (at most [`HISTORY`]).
    pub history: VecDeque<RestartRecord>,
    /// Restarts since the daemon started, by cause, in the order of [`RestartReason::ALL`].
    pub by_reason: [u64; RestartReason::ALL.len()],
}

impl Snapshot {
    pub fn last_restart_reason(&self) -> Option<RestartReason> {
        self.history.back().map(|r| r.reason)
    }
}

/// The daemon's handle to one instance actor.
#[derive(Clone)]
pub struct InstanceHandle {
    pub name: Arc<str>,
    pub index: u32,
    control: mpsc::Sender<Control>,
    status: watch::Receiver<Snapshot>,
}

/// What the actor needs from the daemon.
#[derive(Clone)]
pub struct Context {
    /// Starts and signals the processes (forks them, in the daemon).
    pub launcher: Arc<dyn Launcher>,
    pub logs: LogHandle,
    /// Folder (mode 0700) for the notify sockets of instances that run as the daemon's user.
    pub notify_dir: PathBuf,
}

/// How one run of the process ended.
enum RunEnd {
    /// Stopped on request; acknowledge once the state is recorded.
    Stopped(oneshot::Sender<()>),
    /// Stopped to be restarted at once (a restart was asked for).
    Replaced,
    /// The process exited by itself, or failed its readiness check (`failure`) and was stopped.
    Exited {
        exit: ExitInfo,
        uptime: Duration,
        failure: Option<NotReady>,
    },
    /// It could not even be forked.
    SpawnFailed(StartError),
}

struct Actor {
    name: Arc<str>,
    program: Arc<Program>,
    listener: Option<Arc<OwnedFd>>,
    index: u32,
    rx: mpsc::Receiver<Control>,
    status: watch::Sender<Snapshot>,
    context: Context,
    /// Consecutive unstable runs, for the backoff.
    streak: u32,
    /// Processes forked so far; tells a reloading process's notify socket from the old one's.
    generation: u64,
    /// Output captures of the processes of the current run: finished before the run's end is
    /// logged, so a crash's last words come before "exited" in the log.
    captures: Vec<Capture>,
}

/// One forked process of the instance.
struct Running {
    pid: u32,
    exit: oneshot::Receiver<ExitInfo>,
    /// On tokio's clock, which the timers of the backoff and the readiness wait follow too.
    started: tokio::time::Instant,
    /// Where it reports `READY=1` / `STOPPING=1`, for `ready = "notify"`.
    notify: Option<NotifySocket>,
    /// Set once its exit has been received (the receiver must not be polled again).
    exited: Option<ExitInfo>,
}

impl Actor {
    /// Idle until asked to start; then supervise until stopped or settled.
    async fn run(mut self) {
        while let Some(control) = self.rx.recv().await {
            match control {
                Control::Start(ack)
                | Control::Restart {
                    start_if_stopped: true,
                    reply: ack,
                    ..
                } => {
                    self.streak = 0;
                    self.supervise(Some(ack)).await;
                }
                Control::Stop(ack) => {
                    self.update(|s| {
                        if matches!(s.state, State::Errored | State::Exited) {
                            s.reason = None;
                        }
                        s.state = State::Stopped;
                    });
                    let _ = ack.send(());
                }
                Control::Signal(_, reply)
                | Control::Reload(_, reply)
                | Control::Restart { reply, .. } => {
                    let _ = reply.send(Err(InstanceError::NotRunning));
                }
                Control::Adopt(program, listener) => self.adopt(program, listener),
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        self.status.send_modify(change);
    }

    fn adopt(&mut self, program: Arc<Program>, listener: Option<Arc<OwnedFd>>) {
        self.program = program;
        self.listener = listener;
    }

    fn event(&self, level: Level, msg: String) {
        self.context.logs.event(&self.name, self.index, level, msg);
    }

    /// Records a restart in the history and the per-cause counts (its event is logged by the
    /// caller).
    fn record_restart(&self, cause: Cause) {
        let at_ms = crate::clock::now_millis();
        let reason = cause.reason;
        self.update(|s| {
            if reason == RestartReason::Crash {
                s.restarts += 1;
            }
            if let Some(count) = RestartReason::ALL
                .iter()
                .position(|r| *r == reason)
                .and_then(|i| s.by_reason.get_mut(i))
            {
                *count += 1;
            }
            if s.history.len() == HISTORY {
                s.history.pop_front();
            }
            s.history.push_back(RestartRecord {
                at_ms,
                reason,
                detail: cause.detail,
            });
        });
    }

    /// Runs the process, restarting it by policy, until it is stopped or comes to rest.
    async fn supervise(&mut self, ack: Option<Reply>) {
        let mut ack = ack;
        loop {
            let end = self.run_once(&mut ack).await;
            self.finish_captures().await;
            let (exit, uptime, failure) = match end {
                RunEnd::Stopped(ack) => {
                    self.update(|s| s.state = State::Stopped);
                    self.event(Level::Info, "stopped".into());
                    let _ = ack.send(());
                    return;
                }
                RunEnd::Replaced => continue,
                RunEnd::SpawnFailed(error) => {
                    let error = InstanceError::CannotStart(error);
                    let reason = error.to_string();
                    self.event(Level::Error, reason.clone());
                    self.update(|s| {
                        s.state = State::Errored;
                        s.reason = Some(reason);
                    });
                    if let Some(ack) = ack.take() {
                        let _ = ack.send(Err(error));
                    }
                    return;
                }
                RunEnd::Exited {
                    exit,
                    uptime,
                    failure,
                } => (exit, uptime, failure),
            };
            let (decision, streak) = backoff::decide(
                &self.program.restart,
                exit.is_success(),
                uptime,
                self.streak,
            );
            self.streak = streak;
            let why = failure.map_or_else(|| format!("exited with {exit}"), |f| f.to_string());
            match decision {
                Decision::Exited => {
                    self.event(Level::Info, format!("exited with {exit}"));
                    self.update(|s| s.state = State::Exited);
                    return;
                }
                Decision::Errored => {
                    let reason = if streak > self.program.restart.max_restarts {
                        format!("{why}; gave up after {} unstable restarts", streak - 1)
                    } else {
                        why
                    };
                    self.event(Level::Error, reason.clone());
                    self.update(|s| {
                        s.state = State::Errored;
                        s.reason = Some(reason);
                    });
                    return;
                }
                Decision::Restart(delay) => {
                    let level = if exit.is_success() {
                        Level::Info
                    } else {
                        Level::Error
                    };
                    self.event(
                        level,
                        format!("{why}; restarting in {} ms", delay.as_millis()),
                    );
                    self.update(|s| {
                        s.state = State::Backoff;
                        s.reason = Some(why.clone());
                    });
                    if !self.wait_backoff(delay, &mut ack).await {
                        return;
                    }
                    self.record_restart(Cause {
                        reason: RestartReason::Crash,
                        detail: why,
                    });
                }
            }
        }
    }

    /// Waits out a backoff. Returns false when a stop ended the supervision meanwhile.
    async fn wait_backoff(&mut self, delay: Duration, ack: &mut Option<Reply>) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                control = self.rx.recv() => match control {
                    None => return false,
                    Some(Control::Stop(stop_ack)) => {
                        self.update(|s| s.state = State::Stopped);
                        self.event(Level::Info, "stopped during backoff".into());
                        let _ = stop_ack.send(());
                        return false;
                    }
                    Some(Control::Start(start_ack) | Control::Restart { reply: start_ack, .. }) => {
                        // An explicit start or restart skips the rest of the backoff.
                        *ack = Some(start_ack);
                        return true;
                    }
                    Some(Control::Signal(_, reply)) => {
                        let _ = reply.send(Err(InstanceError::WaitingToRestart));
                    }
                    Some(Control::Reload(_, reply)) => {
                        // Nothing runs to replace: the restart after this backoff starts afresh.
                        let _ = reply.send(Ok(()));
                    }
                    Some(Control::Adopt(program, listener)) => self.adopt(program, listener),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests;
