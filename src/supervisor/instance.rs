//! One actor per program instance: it forks the process, watches its readiness and its exit, and
//! applies the restart policy. Everything it reacts to — the child's exit, readiness, a control
//! message, the end of a backoff — arrives as an event in one `select!`, so a crash is seen the
//! moment it happens (no polling).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, oneshot, watch};

use super::backoff::{self, Decision};
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
    /// Folder (mode 0700) for the instances' notify sockets.
    pub notify_dir: PathBuf,
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
            capture: None,
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
        let (reply, replied) = oneshot::channel();
        self.control
            .send(Control::Signal(signal, reply))
            .await
            .map_err(|_| "instance actor is gone".to_owned())?;
        replied
            .await
            .map_err(|_| "instance actor is gone".to_owned())?
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
    /// The output capture of the current run: finished before its exit is logged, so a crash's
    /// last words come before "exited" in the log.
    capture: Option<Capture>,
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
                Control::Signal(_, reply) => {
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
            self.finish_capture().await;
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
                },
            }
        }
    }

    /// One run: fork, wait for readiness, then for the exit or a stop.
    async fn run_once(&mut self, ack: &mut Option<oneshot::Sender<()>>) -> RunEnd {
        let notify = match self.notify_socket() {
            Ok(notify) => notify,
            Err(error) => return RunEnd::SpawnFailed(format!("notify socket: {error}")),
        };
        let placement = Placement {
            instance: self.index,
            notify_socket: notify.as_ref().map(|(path, _)| path.as_str()),
        };
        // No await between the fork and the watch: the reaper cannot miss this child.
        let child = match spawn::spawn(&self.program, &placement) {
            Ok(child) => child,
            Err(error) => {
                return RunEnd::SpawnFailed(format!("{}: {error}", self.program.command[0]));
            }
        };
        let mut exit = self.context.reaper.watch(child.pid);
        let started = Instant::now();
        self.update(|s| {
            s.state = State::Starting;
            s.pid = Some(child.pid);
            s.since = Some(started);
            s.reason = None;
        });
        if let Some(ack) = ack.take() {
            let _ = ack.send(());
        }
        let source = Source {
            program: self.name.clone(),
            instance: self.index,
            pid: child.pid,
        };
        self.capture = Some(
            self.context
                .logs
                .capture(source, child.stdout, child.stderr),
        );
        self.event(Level::Info, format!("started (pid {})", child.pid))
            .await;

        let pid = child.pid;
        let notify = notify.map(|(_, socket)| socket);
        let ready = wait_ready(&self.program.ready);
        tokio::pin!(ready);
        let mut online = false;
        loop {
            tokio::select! {
                status = &mut exit => {
                    let exit = status.unwrap_or(ExitInfo::Code(-1));
                    self.update(|s| {
                        s.pid = None;
                        s.since = None;
                        s.last_exit = Some(exit.clone());
                    });
                    return RunEnd::Exited { exit, uptime: started.elapsed(), failure: None };
                }
                message = recv_notify(notify.as_ref()) => match message {
                    NotifyMessage::Ready if !online => {
                        online = true;
                        self.mark_online(started).await;
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
                        self.mark_online(started).await;
                    }
                    Err(reason) => {
                        self.event(Level::Error, format!("{reason}; stopping it")).await;
                        let exit = self.stop_process(pid, &mut exit).await;
                        return RunEnd::Exited { exit, uptime: Duration::ZERO, failure: Some(reason) };
                    }
                },
                control = self.rx.recv() => match control {
                    None => {
                        self.stop_process(pid, &mut exit).await;
                        let (tx, _) = oneshot::channel();
                        return RunEnd::Stopped(tx);
                    }
                    Some(Control::Stop(stop_ack)) => {
                        self.stop_process(pid, &mut exit).await;
                        return RunEnd::Stopped(stop_ack);
                    }
                    Some(Control::Start(start_ack)) => {
                        let _ = start_ack.send(());
                    }
                    Some(Control::Signal(signal, reply)) => {
                        let sent = kill(Pid::from_raw(pid as i32), signal).map_err(|e| e.to_string());
                        let _ = reply.send(sent);
                    }
                },
            }
        }
    }

    /// Waits until the output of the run that just ended has reached the log writer.
    async fn finish_capture(&mut self) {
        if let Some(capture) = self.capture.take() {
            capture.finish().await;
        }
    }

    async fn mark_online(&self, started: Instant) {
        self.update(|s| s.state = State::Online);
        self.event(
            Level::Info,
            format!("online after {} ms", started.elapsed().as_millis()),
        )
        .await;
    }

    /// Binds the notify socket for a `ready = "notify"` program.
    fn notify_socket(&self) -> std::io::Result<Option<(String, UnixDatagram)>> {
        if !matches!(self.program.ready, Ready::Notify { .. }) {
            return Ok(None);
        }
        let path = self
            .context
            .notify_dir
            .join(format!("{}.{}.sock", self.program.name, self.index));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let socket = UnixDatagram::bind(&path)?;
        Ok(Some((path.to_string_lossy().into_owned(), socket)))
    }

    /// Graceful stop: the stop signal to the process group, SIGKILL after `stop_timeout`, and
    /// SIGKILL to whatever of the group outlives its leader. Returns how the process ended.
    async fn stop_process(&self, pid: u32, exit: &mut oneshot::Receiver<ExitInfo>) -> ExitInfo {
        self.update(|s| s.state = State::Stopping);
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
        self.update(|s| {
            s.pid = None;
            s.since = None;
            s.last_exit = Some(status.clone());
        });
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

/// A state change a program reported on its notify socket.
enum NotifyMessage {
    Ready,
    Stopping,
    Other,
}

/// The next message on the notify socket; never resolves without one.
async fn recv_notify(socket: Option<&UnixDatagram>) -> NotifyMessage {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; 4096];
    match socket.recv(&mut buf).await {
        Ok(n) => {
            let lines = || buf[..n].split(|&b| b == b'\n');
            if lines().any(|line| line == b"READY=1") {
                NotifyMessage::Ready
            } else if lines().any(|line| line == b"STOPPING=1") {
                NotifyMessage::Stopping
            } else {
                NotifyMessage::Other
            }
        }
        Err(error) => {
            tracing::warn!(%error, "notify socket failed");
            std::future::pending().await
        }
    }
}
