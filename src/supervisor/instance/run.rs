//! One run of the process: fork it, wait for readiness, then for its exit or a control.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Actor, Control, InstanceError, Reply, RunEnd, Running, StartError};
use crate::config::Ready;
use crate::logs::{Level, Source};
use crate::protocol::{ExitInfo, State};
use crate::supervisor::launcher::Launched;
use crate::supervisor::notify::{NotifyMessage, NotifySocket};
use crate::supervisor::readiness::{NotReady, recv_notify, wait_ready};
use crate::supervisor::spawn::{self, Placement};

impl Actor {
    /// One run: fork, wait for readiness, then for the exit or a stop.
    pub(super) async fn run_once(&mut self, ack: &mut Option<Reply>) -> RunEnd {
        let mut current = match self.launch() {
            Ok(running) => running,
            Err(reason) => return RunEnd::SpawnFailed(reason),
        };
        self.update(|s| {
            s.state = State::Starting;
            s.pid = Some(current.pid);
            s.since = Some(current.started.into_std());
            s.reason = None;
        });
        if let Some(ack) = ack.take() {
            let _ = ack.send(Ok(()));
        }
        self.event(Level::Info, format!("started (pid {})", current.pid));

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
                        self.mark_online(current.started);
                    }
                    NotifyMessage::Stopping => {
                        self.update(|s| s.state = State::Stopping);
                        self.event(Level::Info, "draining (STOPPING=1)".into());
                    }
                    NotifyMessage::Ready | NotifyMessage::Other => {}
                },
                result = &mut ready, if !online => match result {
                    Ok(()) => {
                        online = true;
                        self.mark_online(current.started);
                    }
                    Err(not_ready) => {
                        self.event(Level::Error, format!("{not_ready}; stopping it"));
                        let exit = self.stop_current(&mut current).await;
                        return self.exited(exit, Duration::ZERO, Some(not_ready));
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
                        let sent = self.context.launcher.signal(current.pid, signal).map_err(InstanceError::Signal);
                        let _ = reply.send(sent);
                    }
                    Some(Control::Adopt(program, listener)) => self.adopt(program, listener),
                    Some(Control::Restart { cause, reply, .. }) => {
                        self.event(Level::Info, format!("restarting ({}): {}", cause.reason.as_str(), cause.detail));
                        self.stop_current(&mut current).await;
                        self.record_restart(cause);
                        self.streak = 0;
                        *ack = Some(reply);
                        return RunEnd::Replaced;
                    }
                    Some(Control::Reload(_, reply)) if !online => {
                        let _ = reply.send(Err(InstanceError::NotOnline));
                    }
                    Some(Control::Reload(cause, reply)) => {
                        let result = self.reload(&mut current).await;
                        if result.is_ok() {
                            self.record_restart(cause);
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
    pub(super) async fn finish_captures(&mut self) {
        for capture in self.captures.drain(..) {
            capture.finish().await;
        }
    }

    /// Records the end of the current process.
    pub(super) fn exited(
        &self,
        exit: ExitInfo,
        uptime: Duration,
        failure: Option<NotReady>,
    ) -> RunEnd {
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

    /// Forks one process of this instance and starts capturing its output.
    pub(super) fn launch(&mut self) -> Result<Running, StartError> {
        self.generation += 1;
        let notify = self.notify_socket().map_err(StartError::NotifySocket)?;
        let placement = Placement {
            instance: self.index,
            notify_socket: notify.as_ref().map(|(_, address)| address.as_str()),
            listener: self.listener.as_deref(),
        };
        let Launched { child, exit } = self
            .context
            .launcher
            .launch(&self.program, &placement)
            .map_err(|source| StartError::Spawn {
                command: self.program.command[0].clone(),
                source,
            })?;
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

    pub(super) fn mark_online(&self, started: Instant) {
        self.update(|s| s.state = State::Online);
        self.event(
            Level::Info,
            format!("online after {} ms", started.elapsed().as_millis()),
        );
    }

    /// Binds the notify socket for a `ready = "notify"` program: a file in the state folder, or
    /// for a program switched to another user, who cannot reach that folder, an abstract socket
    /// that heeds only that user (see [`super::notify`]). Returns it with its address.
    pub(super) fn notify_socket(&self) -> std::io::Result<Option<(NotifySocket, String)>> {
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
}
