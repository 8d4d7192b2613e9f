//! Zero-downtime replacement: a new process beside the running one, swapped in once ready.

use super::{Actor, InstanceError, ReloadError, Running};
use crate::logs::Level;
use crate::protocol::{ExitInfo, State};
use crate::supervisor::notify::NotifyMessage;
use crate::supervisor::readiness::{recv_notify, wait_ready};

impl Actor {
    /// Starts a new process beside `current`, waits until it is ready, then drains `current` and
    /// makes the new one current. If the new one fails, it is stopped and `current` stays.
    pub(super) async fn reload(&mut self, current: &mut Running) -> Result<(), InstanceError> {
        let mut fresh = self.launch().map_err(InstanceError::NoReplacement)?;
        self.event(
            Level::Info,
            format!(
                "reloading: started pid {} beside pid {}",
                fresh.pid, current.pid
            ),
        );
        let program = self.program.clone();
        let ready = wait_ready(&program.ready);
        tokio::pin!(ready);
        let outcome = loop {
            tokio::select! {
                result = &mut ready => break result.map_err(ReloadError::NotReady),
                message = recv_notify(fresh.notify.as_ref()) => {
                    if matches!(message, NotifyMessage::Ready) {
                        break Ok(());
                    }
                }
                status = &mut fresh.exit => {
                    let exit = status.unwrap_or(ExitInfo::Unknown);
                    fresh.exited = Some(exit.clone());
                    break Err(ReloadError::ExitedEarly(exit));
                }
                status = &mut current.exit, if current.exited.is_none() => {
                    current.exited = Some(status.unwrap_or(ExitInfo::Unknown));
                }
            }
        };
        if let Err(reason) = outcome {
            let error = InstanceError::ReloadFailed(reason);
            self.event(Level::Error, error.to_string());
            if fresh.exited.is_none() {
                self.stop_process(fresh.pid, &mut fresh.exit).await;
            }
            return Err(error);
        }
        let mut old = std::mem::replace(current, fresh);
        self.update(|s| {
            s.pid = Some(current.pid);
            s.since = Some(current.started.into_std());
            s.state = State::Online;
        });
        if old.exited.is_none() {
            let exit = self.stop_process(old.pid, &mut old.exit).await;
            self.update(|s| s.last_exit = Some(exit));
        }
        self.event(
            Level::Info,
            format!("reloaded: pid {} serves now", current.pid),
        );
        Ok(())
    }
}
