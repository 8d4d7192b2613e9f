//! The daemon's side of an instance: asking the actor and watching its snapshot.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Actor, Cause, Context, Control, InstanceError, InstanceHandle, Reply, Snapshot};
use crate::config::Program;
use crate::protocol::{ExitInfo, RestartReason, State};

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
    pub async fn signal(&self, signal: Signal) -> Result<(), InstanceError> {
        self.ask(|reply| Control::Signal(signal, reply)).await
    }

    /// Replaces the running process without a gap (see [`Control::Reload`]).
    pub async fn reload(&self, cause: Cause) -> Result<(), InstanceError> {
        self.ask(|reply| Control::Reload(cause, reply)).await
    }

    /// Stops and starts the process (see [`Control::Restart`]), then waits until the new one is
    /// online or has failed.
    pub async fn restart(&self, cause: Cause, start_if_stopped: bool) -> Result<(), InstanceError> {
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
    async fn ask(&self, control: impl FnOnce(Reply) -> Control) -> Result<(), InstanceError> {
        let (reply, replied) = oneshot::channel();
        self.control
            .send(control(reply))
            .await
            .map_err(|_| InstanceError::Gone)?;
        replied.await.map_err(|_| InstanceError::Gone)?
    }
}
