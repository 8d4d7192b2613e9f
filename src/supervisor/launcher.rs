//! How an instance actor starts and signals its processes. The daemon forks real ones through
//! [`Forker`], its only implementation; the actor's unit tests put a scripted child behind the
//! same trait, so its restart, backoff and stop timing can be tested under paused time.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::oneshot;

use super::reaper::Reaper;
use super::spawn::{self, Child, Placement};
use crate::config::Program;
use crate::protocol::ExitInfo;

/// A started process and the news of its end.
pub struct Launched {
    pub child: Child,
    /// Resolves with how the process ended; closed when that is not known.
    pub exit: oneshot::Receiver<ExitInfo>,
}

/// Starts processes and sends them signals.
pub trait Launcher: Send + Sync + 'static {
    /// Starts one process of `program`, already watched for its exit (no `.await` in between,
    /// so the exit cannot be missed).
    ///
    /// # Errors
    /// The program cannot be started.
    fn launch(&self, program: &Program, placement: &Placement<'_>) -> std::io::Result<Launched>;

    /// Sends `signal` to the process `pid` only.
    ///
    /// # Errors
    /// The signal cannot be delivered (the process is gone).
    fn signal(&self, pid: u32, signal: Signal) -> Result<(), Errno>;

    /// Sends `signal` to the process group that `leader` leads; `None` only checks that some
    /// process of the group is still alive.
    ///
    /// # Errors
    /// No process of the group is left.
    fn signal_group(&self, leader: u32, signal: Option<Signal>) -> Result<(), Errno>;
}

/// Forks real processes and hands their exits over from the daemon's reaper.
pub struct Forker {
    reaper: Reaper,
}

impl Forker {
    pub fn new(reaper: Reaper) -> Forker {
        Forker { reaper }
    }
}

impl Launcher for Forker {
    fn launch(&self, program: &Program, placement: &Placement<'_>) -> std::io::Result<Launched> {
        let child = spawn::spawn(program, placement)?;
        let exit = self.reaper.watch(child.pid);
        Ok(Launched { child, exit })
    }

    fn signal(&self, pid: u32, signal: Signal) -> Result<(), Errno> {
        kill(as_pid(pid), signal)
    }

    fn signal_group(&self, leader: u32, signal: Option<Signal>) -> Result<(), Errno> {
        killpg(as_pid(leader), signal)
    }
}

fn as_pid(pid: u32) -> Pid {
    Pid::from_raw(pid as i32)
}
