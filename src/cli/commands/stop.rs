//! `svc stop [PROGRAM...]`: drain programs; with no names, everything and then the daemon.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use super::{reach_daemon, request, runtime, status};
use crate::cli::{CliError, CliResult, GlobalArgs};
use crate::protocol::{Names, Request};

/// How long to wait for the daemon process to exit once it has stopped every program.
const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(global: &GlobalArgs, names: &[String]) -> CliResult {
    let config = reach_daemon(global)?;
    runtime()?.block_on(async {
        let names = Names {
            names: names.to_vec(),
        };
        let everything = names.names.is_empty();
        let report = request(&config, &Request::Stop(names)).await?;
        if !everything {
            print!("{}", status::render(&report));
            return Ok(ExitCode::SUCCESS);
        }
        wait_exit(report.daemon_pid).await?;
        println!(
            "stopped {} instances; daemon (pid {}) exited",
            report.instances.len(),
            report.daemon_pid
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits until the daemon process has exited, through a pidfd (no polling).
async fn wait_exit(pid: u32) -> Result<(), CliError> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        // ESRCH: it is already gone.
        return Ok(());
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the fd, which stays open until it is dropped.
    let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| CliError::failure(format!("cannot watch the daemon: {e}")))?;
    match tokio::time::timeout(DAEMON_EXIT_TIMEOUT, fd.readable()).await {
        Ok(_) => Ok(()),
        Err(_) => Err(CliError::failure(format!(
            "the daemon (pid {pid}) stopped every program but has not exited"
        ))),
    }
}
