//! `svc worker`: the email-queue worker.

use std::process::ExitCode;

/// Runs the worker until SIGTERM.
pub fn main() -> ExitCode {
    crate::placeholder::run("worker")
}
