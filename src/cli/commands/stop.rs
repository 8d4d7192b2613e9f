//! `svc stop [PROGRAM...]`: drain programs; with no names, everything and then the daemon.

use std::fs::File;
use std::process::ExitCode;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use super::{load_config, request, runtime, status};
use crate::cli::{CliError, CliResult, GlobalArgs};
use crate::config::Config;
use crate::protocol::{Names, Request};

/// How long to wait for the daemon process to exit once it has stopped every program.
const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(global: &GlobalArgs, names: &[String]) -> CliResult {
    let config = load_config(global)?;
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
        wait_daemon_exit(&config).await?;
        println!(
            "stopped {} instances; daemon (pid {}) exited",
            report.instances.len(),
            report.daemon_pid
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits until the daemon releases its pid-file lock, i.e. has exited.
async fn wait_daemon_exit(config: &Config) -> Result<(), CliError> {
    let Ok(file) = File::open(config.pid_path()) else {
        return Ok(());
    };
    let wait =
        tokio::task::spawn_blocking(move || Flock::lock(file, FlockArg::LockShared).map(drop));
    match tokio::time::timeout(DAEMON_EXIT_TIMEOUT, wait).await {
        Ok(_) => Ok(()),
        Err(_) => Err(CliError::failure(
            "the daemon stopped every program but has not exited",
        )),
    }
}
