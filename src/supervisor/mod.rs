//! The daemon: one actor per program instance, the control socket, the log writer and the reaper.
//!
//! Lifecycle: lock the pid file, bind the socket, start the autostart programs, tell
//! `$NOTIFY_SOCKET` (systemd, or the `svc start` that launched us) `READY=1` once they settled,
//! then serve requests until `svc stop`, SIGTERM or SIGINT. Shutdown drains every instance in
//! parallel, terminates orphans, and exits only when no child is left.

pub mod backoff;
#[cfg_attr(not(test), allow(dead_code))]
mod cron;
mod instance;
#[cfg_attr(not(test), allow(dead_code))]
mod memory;
mod metrics;
mod notify;
mod orphans;
pub mod probe;
mod procstat;
mod reaper;
mod spawn;
#[cfg_attr(not(test), allow(dead_code))]
mod watch;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::Signal;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::server::{ControlSocket, Handler};
use crate::control::state_dir::{self, PidFile};
use crate::logs::{Layout, LogHandle};
use crate::protocol::{ErrorReply, InstanceStatus, Request, Response, StatusReport};
use instance::{Context, InstanceHandle};
use procstat::CpuMeter;

/// Set by `svc start` on the daemon it launches: its `$NOTIFY_SOCKET` is good for `READY=1` only.
pub const LAUNCHED_BY_START: &str = "SVC_LAUNCHED_BY_START";

/// How long shutdown waits for orphans (processes that left their group) to exit after SIGTERM.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// How long shutdown waits for open control connections to get their answers.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

/// Runs the daemon for `config` until `shutdown` is cancelled or `svc stop` asks it to exit.
///
/// # Errors
/// Fails when another daemon runs for this config, or the state folder, socket, or log folder
/// cannot be set up.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).context("cannot become a child subreaper")?;
    state_dir::prepare(&config.state_dir)?;
    let pid_file = PidFile::acquire(&config.pid_path())?;
    let socket = ControlSocket::bind(&config.socket_path())
        .with_context(|| format!("cannot bind {}", config.socket_path().display()))?;
    let notify_dir = config.state_dir.join("notify");
    state_dir::prepare(&notify_dir)?;
    let layout = Layout::from_config(&config);
    layout.prepare()?;
    let (logs, writer) = LogHandle::start(&layout)
        .with_context(|| format!("cannot open the logs in {}", config.log_dir.display()))?;
    let reaper = reaper::Reaper::start().context("cannot watch SIGCHLD")?;
    let context = Context {
        reaper,
        logs: logs.clone(),
        notify_dir,
        listeners: Arc::new(bind_listeners(&config)?),
    };
    let instances = config
        .programs
        .iter()
        .flat_map(|program| {
            let program = Arc::new(program.clone());
            (0..program.instances).map(move |index| (program.clone(), index))
        })
        .map(|(program, index)| InstanceHandle::spawn(program, index, context.clone()))
        .collect();
    drop(context);
    let supervisor = Arc::new(Supervisor {
        instances,
        cpu: CpuMeter::default(),
        shutdown: shutdown.clone(),
        connections: TaskTracker::new(),
        logs,
    });
    if let Some(addr) = config.metrics {
        let source = supervisor.clone();
        metrics::serve(addr, Arc::new(move || source.report()), shutdown.clone()).await?;
    }
    tracing::info!(pid = std::process::id(), config = %config.file.display(), "daemon started");
    warn_of_root_programs(&config);

    let autostart = supervisor.clone();
    tokio::spawn(async move {
        autostart.start_all(autostart.select(&[], true)).await;
        crate::sd_notify::ready();
    });
    socket
        .serve(
            supervisor.clone(),
            shutdown.clone(),
            &supervisor.connections,
        )
        .await;

    tracing::info!("daemon stopping: draining every program");
    if std::env::var_os(LAUNCHED_BY_START).is_none() {
        crate::sd_notify::stopping();
    }
    supervisor.stop_all(supervisor.select(&[], false)).await;
    orphans::terminate_all(ORPHAN_GRACE).await;
    supervisor.connections.close();
    let _ = tokio::time::timeout(CONNECTION_GRACE, supervisor.connections.wait()).await;
    drop(socket);
    drop(supervisor);
    let _ = writer.await;
    drop(pid_file);
    tracing::info!("daemon stopped");
    Ok(())
}

/// A root daemon runs a program without `user` as root: say so once, naming them all.
fn warn_of_root_programs(config: &Config) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let as_root: Vec<&str> = config
        .programs
        .iter()
        .filter(|p| p.run_as.is_none())
        .map(|p| p.name.as_str())
        .collect();
    if !as_root.is_empty() {
        tracing::warn!(
            programs = %as_root.join(", "),
            "the daemon runs as root and these programs have no `user`, so they run as root too; \
             give each a `user` in svc.toml"
        );
    }
}

/// Binds the `listen` socket of every program that has one; the daemon holds them for its life.
fn bind_listeners(config: &Config) -> anyhow::Result<HashMap<String, OwnedFd>> {
    config
        .programs
        .iter()
        .filter_map(|p| p.listen.map(|addr| (p, addr)))
        .map(|(program, addr)| {
            let listener = std::net::TcpListener::bind(addr).with_context(|| {
                format!(
                    "cannot listen on {addr} for programs.{}.listen",
                    program.name
                )
            })?;
            Ok((program.name.clone(), OwnedFd::from(listener)))
        })
        .collect()
}

/// The daemon's state: every instance handle, and what request handling needs.
struct Supervisor {
    /// In config order: by program name, then instance index.
    instances: Vec<InstanceHandle>,
    cpu: CpuMeter,
    /// Cancelled to make the daemon exit.
    shutdown: CancellationToken,
    /// Requests in flight, so a shutdown answers them before exiting.
    connections: TaskTracker,
    /// The log writer: lines it could not write, and `svc logs --rotate`.
    logs: LogHandle,
}

impl Supervisor {
    /// The instances of the named programs; with no names, all (or only autostart ones).
    fn select(&self, names: &[String], autostart_only: bool) -> Vec<InstanceHandle> {
        self.instances
            .iter()
            .filter(|i| {
                if names.is_empty() {
                    !autostart_only || i.program.autostart
                } else {
                    names.contains(&i.program.name)
                }
            })
            .cloned()
            .collect()
    }

    /// Names that match no program, as an error reply.
    fn unknown(&self, names: &[String]) -> Option<Response> {
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !self.instances.iter().any(|i| &i.program.name == *n))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            return None;
        }
        let mut known: Vec<&str> = self
            .instances
            .iter()
            .map(|i| i.program.name.as_str())
            .collect();
        known.dedup();
        Some(error(format!(
            "unknown program {}; svc.toml has {}",
            unknown.join(", "),
            known.join(", ")
        )))
    }

    /// Starts the instances in parallel; returns when each is online or has failed.
    async fn start_all(&self, instances: Vec<InstanceHandle>) {
        in_parallel(instances, |i| async move { i.start().await }).await;
    }

    /// Stops the instances in parallel; returns when no process of theirs is left.
    async fn stop_all(&self, instances: Vec<InstanceHandle>) {
        in_parallel(instances, |i| async move { i.stop().await }).await;
    }

    fn status(&self) -> Response {
        Response::Status(self.report())
    }

    /// The state of every instance, with its process figures.
    fn report(&self) -> StatusReport {
        let live: Vec<u32> = self
            .instances
            .iter()
            .filter_map(|i| i.snapshot().pid)
            .collect();
        self.cpu.retain(&live);
        let instances = self
            .instances
            .iter()
            .map(|handle| {
                let snapshot = handle.snapshot();
                let running = snapshot.pid.zip(snapshot.since);
                InstanceStatus {
                    name: handle.program.name.clone(),
                    instance: handle.index,
                    pid: snapshot.pid,
                    state: snapshot.state,
                    restarts: snapshot.restarts,
                    uptime_secs: running.map(|(_, since)| since.elapsed().as_secs()),
                    memory_bytes: running.and_then(|(pid, _)| procstat::rss_bytes(pid)),
                    cpu_percent: running.and_then(|(pid, since)| self.cpu.percent(pid, since)),
                    last_exit: snapshot.last_exit,
                    reason: snapshot.reason,
                    log_lines_dropped: self.logs.dropped(&handle.program.name, handle.index),
                }
            })
            .collect();
        StatusReport {
            daemon_pid: std::process::id(),
            instances,
            log_lines_dropped: self.logs.dropped_total(),
            log_refused: self.logs.refused(),
        }
    }

    /// Reloads the instances one at a time, so the others serve meanwhile; stops at the first
    /// failure (whose old process keeps running).
    async fn reload(&self, names: &[String]) -> Response {
        for instance in self.select(names, false) {
            if let Err(reason) = instance.reload().await {
                return error(format!(
                    "{}[{}]: {reason}",
                    instance.program.name, instance.index
                ));
            }
        }
        self.status()
    }

    async fn signal(&self, names: &[String], signal: &str) -> Response {
        let signal: Signal = match signal.parse::<crate::config::values::SignalName>() {
            Ok(s) => s.0,
            Err(message) => return error(message),
        };
        let mut failures = Vec::new();
        for instance in self.select(names, false) {
            if let Err(reason) = instance.signal(signal).await {
                failures.push(format!(
                    "{}[{}]: {reason}",
                    instance.program.name, instance.index
                ));
            }
        }
        if failures.is_empty() {
            self.status()
        } else {
            error(format!("could not signal {}", failures.join("; ")))
        }
    }
}

#[async_trait::async_trait]
impl Handler for Supervisor {
    async fn handle(&self, request: Request) -> Response {
        let names = match &request {
            Request::Start(n) | Request::Stop(n) | Request::Restart(n) | Request::Reload(n) => {
                n.names.as_slice()
            }
            Request::Signal(s) => s.names.as_slice(),
            Request::Status | Request::RotateLogs => &[],
        };
        if let Some(reply) = self.unknown(names) {
            return reply;
        }
        match request {
            Request::Status => self.status(),
            Request::Start(n) => {
                self.start_all(self.select(&n.names, true)).await;
                self.status()
            }
            Request::Stop(n) => {
                self.stop_all(self.select(&n.names, false)).await;
                if n.names.is_empty() {
                    self.shutdown.cancel();
                }
                self.status()
            }
            Request::Restart(n) => {
                let selected = self.select(&n.names, false);
                self.stop_all(selected.clone()).await;
                self.start_all(selected).await;
                self.status()
            }
            Request::Signal(s) => self.signal(&s.names, &s.signal).await,
            Request::RotateLogs => match self.logs.rotate().await {
                Ok(()) => self.status(),
                Err(e) => error(e.to_string()),
            },
            Request::Reload(n) => self.reload(&n.names).await,
        }
    }
}

/// Runs `action` on every instance concurrently and waits for all of them.
async fn in_parallel<F, Fut>(instances: Vec<InstanceHandle>, action: F)
where
    F: Fn(InstanceHandle) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut set = JoinSet::new();
    for instance in instances {
        set.spawn(action(instance));
    }
    set.join_all().await;
}

fn error(message: String) -> Response {
    Response::Error(ErrorReply { message })
}
