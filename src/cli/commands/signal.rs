//! `svc signal PROGRAM SIGNAL`.

use std::process::ExitCode;

use super::{reach_daemon, request, runtime};
use crate::cli::{CliResult, GlobalArgs, SignalArgs};
use crate::protocol::{Request, SignalRequest};

pub fn run(global: &GlobalArgs, args: &SignalArgs) -> CliResult {
    let config = reach_daemon(global)?;
    let req = Request::Signal(SignalRequest {
        names: vec![args.name.clone()],
        signal: args.signal.clone(),
    });
    let report = runtime()?.block_on(request(&config, &req))?;
    let count = report
        .instances
        .iter()
        .filter(|i| i.name == args.name)
        .count();
    println!(
        "sent {} to {} ({count} instance{})",
        args.signal,
        args.name,
        if count == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
