//! `svc completions SHELL`.

use std::process::ExitCode;

use crate::cli::{CliResult, CompletionsArgs};

pub fn run(args: &CompletionsArgs) -> CliResult {
    clap_complete::generate(
        args.shell,
        &mut crate::cli::command(),
        "svc",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}
