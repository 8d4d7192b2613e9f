//! Event-driven reaping: on every SIGCHLD, `waitpid(-1, WNOHANG)` until nothing is left, and hand
//! each exit to whoever watches that pid. Orphans re-parented to the daemon (a child subreaper)
//! are reaped the same way, so no zombie stays behind.
//!
//! The daemon runs on a current-thread runtime: a child is spawned and [`Reaper::watch`]ed without
//! an `.await` in between, so the reaper cannot reap it before it is watched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::protocol::ExitInfo;

/// Routes exit statuses to the tasks that watch the pids.
#[derive(Clone, Default)]
pub struct Reaper {
    watchers: Arc<Mutex<HashMap<i32, oneshot::Sender<ExitInfo>>>>,
}

impl Reaper {
    /// Starts reaping on SIGCHLD.
    ///
    /// # Errors
    /// Fails when the SIGCHLD handler cannot be installed.
    pub fn start() -> std::io::Result<Reaper> {
        let reaper = Reaper::default();
        let mut sigchld = signal(SignalKind::child())?;
        let task = reaper.clone();
        tokio::spawn(async move {
            loop {
                task.reap_all();
                if sigchld.recv().await.is_none() {
                    return;
                }
            }
        });
        Ok(reaper)
    }

    /// Returns a receiver for the exit of `pid`. Call it right after the spawn, before any await.
    pub fn watch(&self, pid: u32) -> oneshot::Receiver<ExitInfo> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(pid as i32, tx);
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<ExitInfo>>> {
        self.watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reaps every child that has exited.
    fn reap_all(&self) {
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitInfo::Code(code)),
                Ok(WaitStatus::Signaled(pid, signal, _)) => {
                    (pid, ExitInfo::Signal(signal.as_str().to_owned()))
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(error) => {
                    tracing::error!(%error, "waitpid failed");
                    return;
                }
            };
            match self.lock().remove(&pid.as_raw()) {
                Some(tx) => {
                    let _ = tx.send(exit);
                }
                None => tracing::debug!(pid = pid.as_raw(), ?exit, "reaped an orphan"),
            }
        }
    }
}
