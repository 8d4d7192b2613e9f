//! Why a control did not take effect on an instance, and why a process could not be started or
//! swapped in. Their texts are what the daemon logs and what `svc` prints.

use nix::errno::Errno;

use crate::protocol::ExitInfo;
use crate::supervisor::readiness::NotReady;

/// Why a control (start, signal, reload, restart) did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("instance actor is gone")]
    Gone,
    #[error("not running")]
    NotRunning,
    #[error("not running (waiting to restart)")]
    WaitingToRestart,
    #[error("not online yet; nothing to reload")]
    NotOnline,
    #[error(transparent)]
    Signal(Errno),
    #[error("cannot start: {0}")]
    CannotStart(#[source] StartError),
    /// The replacement of a reload could not even be started; the old process keeps running.
    #[error(transparent)]
    NoReplacement(StartError),
    #[error("reload failed: {0}; the old process keeps running")]
    ReloadFailed(#[source] ReloadError),
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("notify socket: {0}")]
    NotifySocket(#[source] std::io::Error),
    #[error("{command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a reload's new process was not swapped in.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the new process exited with {0} before it was ready")]
    ExitedEarly(ExitInfo),
    #[error(transparent)]
    NotReady(NotReady),
}
