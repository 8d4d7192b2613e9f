//! The daemon: one actor per program instance, the control socket, the log writer and the reaper.
//!
//! Lifecycle: lock the pid file, bind the socket, start the autostart programs (each after the
//! programs it depends on), tell `$NOTIFY_SOCKET` (systemd, or the `svc start` that launched us)
//! `READY=1` once they settled, then serve requests until `svc stop`, SIGTERM or SIGINT; SIGHUP
//! applies a changed svc.toml. Shutdown drains every instance (dependents before what they
//! depend on), terminates orphans, and exits only when no child is left.

pub mod backoff;
mod cron;
mod instance;
mod launcher;
mod memory;
mod metrics;
mod notify;
mod orphans;
mod plan;
pub mod probe;
mod procstat;
mod programs;
mod readiness;
mod reaper;
mod request_error;
mod requests;
mod spawn;
mod triggers;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::control::server::ControlSocket;
use crate::control::state_dir::{self, PidFile};
use crate::logs::{Layout, LogHandle};
use instance::Context;
use procstat::CpuMeter;
use programs::Programs;
use requests::Supervisor;

/// Set by `svc start` on the daemon it launches: its `$NOTIFY_SOCKET` is good for `READY=1` only.
pub const LAUNCHED_BY_START: &str = "SVC_LAUNCHED_BY_START";

/// How long shutdown waits for orphans (processes that left their group) to exit after SIGTERM.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// How long shutdown waits for open control connections to get their answers.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

/// Runs the daemon for `config` until `shutdown` is cancelled or `svc stop` asks it to exit.
///
/// # Errors
/// Fails when another daemon runs for this config, or the state folder, socket, log folder or
/// a `listen` address cannot be set up.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
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
    let programs = Programs::new(Context {
        launcher: Arc::new(launcher::Forker::new(reaper)),
        logs: logs.clone(),
        notify_dir,
    });
    let listeners = config
        .programs
        .iter()
        .map(programs::bind_listener)
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (program, listener) in config.programs.iter().zip(listeners) {
        programs.add(Arc::new(program.clone()), listener);
    }
    let metrics_addr = config.metrics;
    warn_of_root_programs(&config);
    tracing::info!(pid = std::process::id(), config = %config.file.display(), "daemon started");
    let supervisor = Arc::new(Supervisor {
        programs: Arc::new(programs),
        config: tokio::sync::Mutex::new(config),
        cpu: CpuMeter::default(),
        shutdown: shutdown.clone(),
        connections: TaskTracker::new(),
        logs,
    });
    supervisor.arm_all_triggers(&*supervisor.config.lock().await);
    if let Some(addr) = metrics_addr {
        let source = supervisor.clone();
        metrics::serve(addr, Arc::new(move || source.report()), shutdown.clone()).await?;
    }

    let autostart = supervisor.clone();
    tokio::spawn(async move {
        autostart.programs.start(&[], true).await;
        crate::sd_notify::ready();
    });
    let on_hangup = supervisor.clone();
    let stop_hangups = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop_hangups.cancelled() => return,
                signal = hangups.recv() => {
                    if signal.is_none() {
                        return;
                    }
                    on_hangup.apply_on_hangup().await;
                }
            }
        }
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
    supervisor.disarm_all_triggers();
    supervisor.programs.stop(&[]).await;
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
