//! The `svc` binary: parse the command line and dispatch; everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = svc::cli::Cli::parse();
    match svc::cli::commands::run(cli) {
        Ok(code) => code,
        Err(error) => error.report(),
    }
}
