//! One actor per program instance: it forks the process, watches its readiness and its exit, and
//! applies the restart policy. Everything it reacts to — the child's exit, readiness, a control
//! message, the end of a backoff — arrives as an event in one `select!`, so a crash is seen the
//! moment it happens (no polling).

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot, watch};

use super::backoff::{self, Decision};
use super::notify::{NotifyMessage, NotifySocket};
use super::readiness::{recv_notify, wait_ready};
use super::reaper::Reaper;
use super::spawn::{self, Placement};
use crate::config::{Program, Ready};
use crate::logs::{Capture, Level, LogHandle, Source};
use crate::protocol::{ExitInfo, RestartReason, RestartRecord, State};

/// How many restarts an instance remembers for `svc describe`.
const HISTORY: usize = 10;

/// Whether a control took effect; `Err` says why not.
pub type Reply = oneshot::Sender<Result<(), String>>;

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
    pub reaper: Reaper,
    pub logs: LogHandle,
    /// Folder (mode 0700) for the notify sockets of instances that run as the daemon's user.
    pub notify_dir: PathBuf,
}

impl InstanceHandle {
    /// Starts the actor of instance `index` of `program`, initially stopped. `listener` is the
    /// program's shared listening socket (`listen`), passed to each process as fd 3.
    pub fn spawn(
        program: Arc<Program>,
        listener: Option<Arc<OwnedFd>>,
        index: u32,
        context: Context,
    ) -> InstanceHandle {
        let (control, rx) = mpsc::channel(8);
        let (status_tx, status) = watch::channel(Snapshot {
            state: State::Stopped,
            pid: None,
            since: None,
            restarts: 0,
            last_exit: None,
            reason: None,
            history: VecDeque::new(),
            by_reason: [0; RestartReason::ALL.len()],
        });
        let name: Arc<str> = Arc::from(program.name.as_str());
        let actor = Actor {
            name: name.clone(),
            program,
            listener,
            index,
            rx,
            status: status_tx,
            context,
            streak: 0,
            generation: 0,
            captures: Vec::new(),
        };
        tokio::spawn(actor.run());
        InstanceHandle {
            name,
            index,
            control,
            status,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.status.borrow().clone()
    }

    /// Starts the instance and waits until it is online or has failed (crashed, errored, exited).
    pub async fn start(&self) {
        if self.begin().await {
            self.settle().await;
        }
    }

    /// Asks the instance to start; true once its process is forked (or was running already).
    pub async fn begin(&self) -> bool {
        self.ask(Control::Start).await.is_ok()
    }

    /// Waits until a start has come to rest; true when the instance came up: online, or a
    /// one-shot program that finished cleanly.
    pub async fn settle(&self) -> bool {
        let mut status = self.status.clone();
        status
            .wait_for(|s| s.state.is_settled())
            .await
            .is_ok_and(|s| {
                s.state == State::Online
                    || (s.state == State::Exited
                        && s.last_exit.as_ref().is_some_and(ExitInfo::is_success))
            })
    }

    /// Stops the instance and waits until its process is gone.
    pub async fn stop(&self) {
        let (ack, acked) = oneshot::channel();
        if self.control.send(Control::Stop(ack)).await.is_ok() {
            let _ = acked.await;
        }
    }

    /// Sends `signal` to the running process.
    pub async fn signal(&self, signal: Signal) -> Result<(), String> {
        self.ask(|reply| Control::Signal(signal, reply)).await
    }

    /// Replaces the running process without a gap (see [`Control::Reload`]).
    pub async fn reload(&self, cause: Cause) -> Result<(), String> {
        self.ask(|reply| Control::Reload(cause, reply)).await
    }

    /// Stops and starts the process (see [`Control::Restart`]), then waits until the new one is
    /// online or has failed.
    pub async fn restart(&self, cause: Cause, start_if_stopped: bool) -> Result<(), String> {
        self.ask(|reply| Control::Restart {
            cause,
            start_if_stopped,
            reply,
        })
        .await?;
        self.settle().await;
        Ok(())
    }

    /// Gives the instance a new config for its next processes.
    pub async fn adopt(&self, program: Arc<Program>, listener: Option<Arc<OwnedFd>>) {
        let _ = self.control.send(Control::Adopt(program, listener)).await;
    }

    /// Sends a control that expects a yes/no answer, and waits for it.
    async fn ask(&self, control: impl FnOnce(Reply) -> Control) -> Result<(), String> {
        let gone = || "instance actor is gone".to_owned();
        let (reply, replied) = oneshot::channel();
        self.control
            .send(control(reply))
            .await
            .map_err(|_| gone())?;
        replied.await.map_err(|_| gone())?
    }
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
        failure: Option<String>,
    },
    /// It could not even be forked.
    SpawnFailed(String),
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
    started: Instant,
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
                    let _ = reply.send(Err("not running".into()));
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

    async fn event(&self, level: Level, msg: String) {
        self.context
            .logs
            .event(&self.name, self.index, level, msg)
            .await;
    }

    /// Records a restart in the history, the per-cause counts and the daemon's log.
    async fn record_restart(&self, cause: Cause) {
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
                    self.event(Level::Info, "stopped".into()).await;
                    let _ = ack.send(());
                    return;
                }
                RunEnd::Replaced => continue,
                RunEnd::SpawnFailed(reason) => {
                    let reason = format!("cannot start: {reason}");
                    self.event(Level::Error, reason.clone()).await;
                    self.update(|s| {
                        s.state = State::Errored;
                        s.reason = Some(reason.clone());
                    });
                    if let Some(ack) = ack.take() {
                        let _ = ack.send(Err(reason));
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
            match decision {
                Decision::Exited => {
                    self.event(Level::Info, format!("exited with {exit}")).await;
                    self.update(|s| s.state = State::Exited);
                    return;
                }
                Decision::Errored => {
                    let why = failure.unwrap_or_else(|| format!("exited with {exit}"));
                    let reason = if streak > self.program.restart.max_restarts {
                        format!("{why}; gave up after {} unstable restarts", streak - 1)
                    } else {
                        why
                    };
                    self.event(Level::Error, reason.clone()).await;
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
                    let why = failure.unwrap_or_else(|| format!("exited with {exit}"));
                    self.event(
                        level,
                        format!("{why}; restarting in {} ms", delay.as_millis()),
                    )
                    .await;
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
                    })
                    .await;
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
                        self.event(Level::Info, "stopped during backoff".into()).await;
                        let _ = stop_ack.send(());
                        return false;
                    }
                    Some(Control::Start(start_ack) | Control::Restart { reply: start_ack, .. }) => {
                        // An explicit start or restart skips the rest of the backoff.
                        *ack = Some(start_ack);
                        return true;
                    }
                    Some(Control::Signal(_, reply)) => {
                        let _ = reply.send(Err("not running (waiting to restart)".into()));
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

    /// One run: fork, wait for readiness, then for the exit or a stop.
    async fn run_once(&mut self, ack: &mut Option<Reply>) -> RunEnd {
        let mut current = match self.launch() {
            Ok(running) => running,
            Err(reason) => return RunEnd::SpawnFailed(reason),
        };
        self.update(|s| {
            s.state = State::Starting;
            s.pid = Some(current.pid);
            s.since = Some(current.started);
            s.reason = None;
        });
        if let Some(ack) = ack.take() {
            let _ = ack.send(Ok(()));
        }
        self.event(Level::Info, format!("started (pid {})", current.pid))
            .await;

        let program = self.program.clone();
        let ready = wait_ready(&program.ready);
        tokio::pin!(ready);
        let mut online = false;
        loop {
            tokio::select! {
                status = &mut current.exit => {
                    let exit = status.unwrap_or(ExitInfo::Unknown);
                    return self.exited(exit, current.started.elapsed(), None);
                }
                message = recv_notify(current.notify.as_ref()) => match message {
                    NotifyMessage::Ready if !online => {
                        online = true;
                        self.mark_online(current.started).await;
                    }
                    NotifyMessage::Stopping => {
                        self.update(|s| s.state = State::Stopping);
                        self.event(Level::Info, "draining (STOPPING=1)".into()).await;
                    }
                    NotifyMessage::Ready | NotifyMessage::Other => {}
                },
                result = &mut ready, if !online => match result {
                    Ok(()) => {
                        online = true;
                        self.mark_online(current.started).await;
                    }
                    Err(reason) => {
                        self.event(Level::Error, format!("{reason}; stopping it")).await;
                        let exit = self.stop_current(&mut current).await;
                        return self.exited(exit, Duration::ZERO, Some(reason));
                    }
                },
                control = self.rx.recv() => match control {
                    None => {
                        self.stop_current(&mut current).await;
                        let (tx, _) = oneshot::channel();
                        return RunEnd::Stopped(tx);
                    }
                    Some(Control::Stop(stop_ack)) => {
                        self.stop_current(&mut current).await;
                        return RunEnd::Stopped(stop_ack);
                    }
                    Some(Control::Start(start_ack)) => {
                        let _ = start_ack.send(Ok(()));
                    }
                    Some(Control::Signal(signal, reply)) => {
                        let sent = kill(Pid::from_raw(current.pid as i32), signal).map_err(|e| e.to_string());
                        let _ = reply.send(sent);
                    }
                    Some(Control::Adopt(program, listener)) => self.adopt(program, listener),
                    Some(Control::Restart { cause, reply, .. }) => {
                        self.event(Level::Info, format!("restarting ({}): {}", cause.reason.as_str(), cause.detail)).await;
                        self.stop_current(&mut current).await;
                        self.record_restart(cause).await;
                        self.streak = 0;
                        *ack = Some(reply);
                        return RunEnd::Replaced;
                    }
                    Some(Control::Reload(_, reply)) if !online => {
                        let _ = reply.send(Err("not online yet; nothing to reload".into()));
                    }
                    Some(Control::Reload(cause, reply)) => {
                        let result = self.reload(&mut current).await;
                        if result.is_ok() {
                            self.record_restart(cause).await;
                        }
                        let _ = reply.send(result);
                        if let Some(exit) = current.exited.take() {
                            return self.exited(exit, current.started.elapsed(), None);
                        }
                    }
                },
            }
        }
    }

    /// Waits until the output of the run that just ended has reached the log writer.
    async fn finish_captures(&mut self) {
        for capture in self.captures.drain(..) {
            capture.finish().await;
        }
    }

    /// Records the end of the current process.
    fn exited(&self, exit: ExitInfo, uptime: Duration, failure: Option<String>) -> RunEnd {
        self.update(|s| {
            s.pid = None;
            s.since = None;
            s.last_exit = Some(exit.clone());
        });
        RunEnd::Exited {
            exit,
            uptime,
            failure,
        }
    }

    /// Forks one process of this instance. There is no `.await` between the fork and the
    /// reaper's watch, so the reaper cannot miss its exit.
    fn launch(&mut self) -> Result<Running, String> {
        self.generation += 1;
        let notify = self
            .notify_socket()
            .map_err(|e| format!("notify socket: {e}"))?;
        let placement = Placement {
            instance: self.index,
            notify_socket: notify.as_ref().map(|(_, address)| address.as_str()),
            listener: self.listener.as_deref(),
        };
        let child = spawn::spawn(&self.program, &placement)
            .map_err(|e| format!("{}: {e}", self.program.command[0]))?;
        let exit = self.context.reaper.watch(child.pid);
        let source = Source {
            program: self.name.clone(),
            instance: self.index,
            pid: child.pid,
        };
        let capture = self
            .context
            .logs
            .capture(source, child.stdout, child.stderr);
        self.captures.retain(|c| !c.is_finished());
        self.captures.push(capture);
        Ok(Running {
            pid: child.pid,
            exit,
            started: Instant::now(),
            notify: notify.map(|(socket, _)| socket),
            exited: None,
        })
    }

    /// Starts a new process beside `current`, waits until it is ready, then drains `current` and
    /// makes the new one current. If the new one fails, it is stopped and `current` stays.
    async fn reload(&mut self, current: &mut Running) -> Result<(), String> {
        let mut fresh = self.launch()?;
        self.event(
            Level::Info,
            format!(
                "reloading: started pid {} beside pid {}",
                fresh.pid, current.pid
            ),
        )
        .await;
        let program = self.program.clone();
        let ready = wait_ready(&program.ready);
        tokio::pin!(ready);
        let outcome = loop {
            tokio::select! {
                result = &mut ready => break result,
                message = recv_notify(fresh.notify.as_ref()) => {
                    if matches!(message, NotifyMessage::Ready) {
                        break Ok(());
                    }
                }
                status = &mut fresh.exit => {
                    let exit = status.unwrap_or(ExitInfo::Unknown);
                    fresh.exited = Some(exit.clone());
                    break Err(format!("the new process exited with {exit} before it was ready"));
                }
                status = &mut current.exit, if current.exited.is_none() => {
                    current.exited = Some(status.unwrap_or(ExitInfo::Unknown));
                }
            }
        };
        if let Err(reason) = outcome {
            let reason = format!("reload failed: {reason}; the old process keeps running");
            self.event(Level::Error, reason.clone()).await;
            if fresh.exited.is_none() {
                self.stop_process(fresh.pid, &mut fresh.exit).await;
            }
            return Err(reason);
        }
        let mut old = std::mem::replace(current, fresh);
        self.update(|s| {
            s.pid = Some(current.pid);
            s.since = Some(current.started);
            s.state = State::Online;
        });
        if old.exited.is_none() {
            let exit = self.stop_process(old.pid, &mut old.exit).await;
            self.update(|s| s.last_exit = Some(exit));
        }
        self.event(
            Level::Info,
            format!("reloaded: pid {} serves now", current.pid),
        )
        .await;
        Ok(())
    }

    /// Stops the current process, recording the state around it.
    async fn stop_current(&self, current: &mut Running) -> ExitInfo {
        self.update(|s| s.state = State::Stopping);
        let exit = match current.exited.take() {
            Some(exit) => exit,
            None => self.stop_process(current.pid, &mut current.exit).await,
        };
        self.update(|s| {
            s.pid = None;
            s.since = None;
            s.last_exit = Some(exit.clone());
        });
        exit
    }

    async fn mark_online(&self, started: Instant) {
        self.update(|s| s.state = State::Online);
        self.event(
            Level::Info,
            format!("online after {} ms", started.elapsed().as_millis()),
        )
        .await;
    }

    /// Binds the notify socket for a `ready = "notify"` program: a file in the state folder, or
    /// for a program switched to another user, who cannot reach that folder, an abstract socket
    /// that heeds only that user (see [`super::notify`]). Returns it with its address.
    fn notify_socket(&self) -> std::io::Result<Option<(NotifySocket, String)>> {
        if !matches!(self.program.ready, Ready::Notify { .. }) {
            return Ok(None);
        }
        let other_user = spawn::switches_to(&self.program)
            .map(|run_as| run_as.uid)
            .filter(|&uid| uid != nix::unistd::geteuid().as_raw());
        if let Some(uid) = other_user {
            return NotifySocket::bind_abstract(uid).map(Some);
        }
        let path = self.context.notify_dir.join(format!(
            "{}.{}.{}.sock",
            self.program.name,
            self.index,
            self.generation % 2
        ));
        NotifySocket::bind_path(&path).map(Some)
    }

    /// Graceful stop: the stop signal to the process group, SIGKILL after `stop_timeout`, and
    /// SIGKILL to whatever of the group outlives its leader. Returns how the process ended.
    async fn stop_process(&self, pid: u32, exit: &mut oneshot::Receiver<ExitInfo>) -> ExitInfo {
        let group = Pid::from_raw(pid as i32);
        let signal = self.program.stop_signal.0;
        let _ = killpg(group, signal);
        let deadline = tokio::time::Instant::now() + self.program.stop_timeout;
        let status = match tokio::time::timeout_at(deadline, &mut *exit).await {
            Ok(status) => status.unwrap_or(ExitInfo::Unknown),
            Err(_) => {
                self.event(
                    Level::Warn,
                    format!(
                        "did not stop within {} ms of {signal}; sending SIGKILL",
                        self.program.stop_timeout.as_millis()
                    ),
                )
                .await;
                let _ = killpg(group, Signal::SIGKILL);
                exit.await.unwrap_or(ExitInfo::Signal("SIGKILL".into()))
            }
        };
        reap_group(group, deadline).await;
        status
    }
}

/// Waits for the rest of a process group (grandchildren still draining) until `deadline`, then
/// kills what is left, so no grandchild outlives a stop.
async fn reap_group(group: Pid, deadline: tokio::time::Instant) {
    const CHECK: Duration = Duration::from_millis(20);
    while killpg(group, None).is_ok() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(CHECK).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}
