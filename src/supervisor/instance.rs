//! One actor per program instance: it forks the process, watches its readiness and its exit, and
//! applies the restart policy. Everything it reacts to — the child's exit, readiness, a control
//! message, the end of a backoff — arrives as an event in one `select!`, so a crash is seen the
//! moment it happens (no polling).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot, watch};

use super::backoff::{self, Decision};
use super::notify::{NotifyMessage, NotifySocket};
use super::probe;
use super::reaper::Reaper;
use super::spawn::{self, Placement};
use crate::config::{Program, Ready};
use crate::logs::{Capture, Level, LogHandle, Source};
use crate::protocol::{ExitInfo, State};

/// What the daemon can ask of an instance.
pub enum Control {
    /// Start if not running; acknowledged once the instance is starting (or already running).
    Start(oneshot::Sender<()>),
    /// Stop if running; acknowledged once no process is left.
    Stop(oneshot::Sender<()>),
    /// Send a signal to the running process.
    Signal(Signal, oneshot::Sender<Result<(), String>>),
    /// Zero-downtime restart: start a new process beside the running one, wait until it is
    /// ready, then drain the old one. On failure the old one keeps running.
    Reload(oneshot::Sender<Result<(), String>>),
}

/// The instance as the daemon sees it at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: State,
    pub pid: Option<u32>,
    pub since: Option<Instant>,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    pub reason: Option<String>,
}

/// The daemon's handle to one instance actor.
#[derive(Clone)]
pub struct InstanceHandle {
    pub program: Arc<Program>,
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
    /// Listening sockets the daemon holds for programs with `listen`, by program name.
    pub listeners: Arc<std::collections::HashMap<String, std::os::fd::OwnedFd>>,
}

impl InstanceHandle {
    /// Starts the actor of instance `index` of `program`, initially stopped.
    pub fn spawn(program: Arc<Program>, index: u32, context: Context) -> InstanceHandle {
        let (control, rx) = mpsc::channel(8);
        let (status_tx, status) = watch::channel(Snapshot {
            state: State::Stopped,
            pid: None,
            since: None,
            restarts: 0,
            last_exit: None,
            reason: None,
        });
        let actor = Actor {
            name: Arc::from(program.name.as_str()),
            program: program.clone(),
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
            program,
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
        let (ack, acked) = oneshot::channel();
        if self.control.send(Control::Start(ack)).await.is_ok() && acked.await.is_ok() {
            let mut status = self.status.clone();
            let _ = status.wait_for(|s| s.state.is_settled()).await;
        }
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
    pub async fn reload(&self) -> Result<(), String> {
        self.ask(Control::Reload).await
    }

    /// Sends a control that expects a yes/no answer, and waits for it.
    async fn ask(
        &self,
        control: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Control,
    ) -> Result<(), String> {
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
                Control::Start(ack) => {
                    self.streak = 0;
                    self.supervise(ack).await;
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
                Control::Signal(_, reply) | Control::Reload(reply) => {
                    let _ = reply.send(Err("not running".into()));
                }
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        self.status.send_modify(change);
    }

    async fn event(&self, level: Level, msg: String) {
        self.context
            .logs
            .event(&self.name, self.index, level, msg)
            .await;
    }

    /// Runs the process, restarting it by policy, until it is stopped or comes to rest.
    async fn supervise(&mut self, ack: oneshot::Sender<()>) {
        let mut ack = Some(ack);
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
                RunEnd::SpawnFailed(reason) => {
                    self.event(Level::Error, format!("cannot start: {reason}"))
                        .await;
                    self.update(|s| {
                        s.state = State::Errored;
                        s.reason = Some(format!("cannot start: {reason}"));
                    });
                    return;
                }
                RunEnd::Exited {
                    exit,
                    uptime,
                    failure,
                } => (exit, uptime, failure),
            };
            let (decision, streak) =
                backoff::decide(&self.program.restart, &exit, uptime, self.streak);
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
                        s.reason = Some(why);
                    });
                    if !self.wait_backoff(delay, &mut ack).await {
                        return;
                    }
                    self.update(|s| s.restarts += 1);
                }
            }
        }
    }

    /// Waits out a backoff. Returns false when a stop ended the supervision meanwhile.
    async fn wait_backoff(
        &mut self,
        delay: Duration,
        ack: &mut Option<oneshot::Sender<()>>,
    ) -> bool {
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
                    Some(Control::Start(start_ack)) => {
                        // An explicit start skips the rest of the backoff.
                        *ack = Some(start_ack);
                        return true;
                    }
                    Some(Control::Signal(_, reply)) => {
                        let _ = reply.send(Err("not running (waiting to restart)".into()));
                    }
                    Some(Control::Reload(reply)) => {
                        // Nothing runs to replace: the restart after this backoff starts afresh.
                        let _ = reply.send(Ok(()));
                    }
                },
            }
        }
    }

    /// One run: fork, wait for readiness, then for the exit or a stop.
    async fn run_once(&mut self, ack: &mut Option<oneshot::Sender<()>>) -> RunEnd {
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
            let _ = ack.send(());
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
                    let exit = status.unwrap_or(ExitInfo::Code(-1));
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
                        let _ = start_ack.send(());
                    }
                    Some(Control::Signal(signal, reply)) => {
                        let sent = kill(Pid::from_raw(current.pid as i32), signal).map_err(|e| e.to_string());
                        let _ = reply.send(sent);
                    }
                    Some(Control::Reload(reply)) if !online => {
                        let _ = reply.send(Err("not online yet; nothing to reload".into()));
                    }
                    Some(Control::Reload(reply)) => {
                        let result = self.reload(&mut current).await;
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
            listener: self.context.listeners.get(&self.program.name),
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
                    let exit = status.unwrap_or(ExitInfo::Code(-1));
                    fresh.exited = Some(exit.clone());
                    break Err(format!("the new process exited with {exit} before it was ready"));
                }
                status = &mut current.exit, if current.exited.is_none() => {
                    current.exited = Some(status.unwrap_or(ExitInfo::Code(-1)));
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
            Ok(status) => status.unwrap_or(ExitInfo::Code(-1)),
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

/// Resolves when the instance is ready by its `ready` setting, or fails after the timeout.
/// For `notify`, readiness arrives as a message (see [`recv_notify`]): this only times it out.
async fn wait_ready(ready: &Ready) -> Result<(), String> {
    let timeout = match ready {
        Ready::Uptime { after } => {
            tokio::time::sleep(*after).await;
            return Ok(());
        }
        Ready::Notify { timeout } | Ready::Http { timeout, .. } | Ready::Tcp { timeout, .. } => {
            *timeout
        }
    };
    let check = async {
        match ready {
            Ready::Http { url, .. } => match probe::HttpTarget::parse(url) {
                Ok(target) => {
                    while !probe::http_once(&target).await {
                        tokio::time::sleep(probe::PROBE_INTERVAL).await;
                    }
                }
                Err(_) => std::future::pending().await,
            },
            Ready::Tcp { addr, .. } => {
                while !probe::tcp_once(addr).await {
                    tokio::time::sleep(probe::PROBE_INTERVAL).await;
                }
            }
            Ready::Notify { .. } | Ready::Uptime { .. } => std::future::pending().await,
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| format!("not ready within {} ms", timeout.as_millis()))
}

/// The next message on the notify socket; never resolves without one.
async fn recv_notify(socket: Option<&NotifySocket>) -> NotifyMessage {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    match socket.recv().await {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "notify socket failed");
            std::future::pending().await
        }
    }
}
