//! Stopping a process: its stop signal, SIGKILL after `stop_timeout`, and the rest of its group.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::oneshot;

use super::{Actor, Running};
use crate::logs::Level;
use crate::protocol::{ExitInfo, State};
use crate::supervisor::launcher::Launcher;

impl Actor {
    /// Stops the current process, recording the state around it.
    pub(super) async fn stop_current(&self, current: &mut Running) -> ExitInfo {
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

    /// Graceful stop: the stop signal to the process group, SIGKILL after `stop_timeout`, and
    /// SIGKILL to whatever of the group outlives its leader. Returns how the process ended.
    pub(super) async fn stop_process(
        &self,
        pid: u32,
        exit: &mut oneshot::Receiver<ExitInfo>,
    ) -> ExitInfo {
        let launcher = &*self.context.launcher;
        let signal = self.program.stop_signal.0;
        let _ = launcher.signal_group(pid, Some(signal));
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
                );
                let _ = launcher.signal_group(pid, Some(Signal::SIGKILL));
                exit.await.unwrap_or(ExitInfo::Signal("SIGKILL".into()))
            }
        };
        reap_group(launcher, pid, deadline).await;
        status
    }
}

/// Waits for the rest of a process group (grandchildren still draining) until `deadline`, then
/// kills what is left, so no grandchild outlives a stop.
async fn reap_group(launcher: &dyn Launcher, leader: u32, deadline: tokio::time::Instant) {
    const CHECK: Duration = Duration::from_millis(20);
    while launcher.signal_group(leader, None).is_ok() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(CHECK).await;
    }
    let _ = launcher.signal_group(leader, Some(Signal::SIGKILL));
}
