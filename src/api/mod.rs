//! `svc api`: the HTTP service.

use std::process::ExitCode;

/// Runs the API until SIGTERM.
pub fn main() -> ExitCode {
    crate::placeholder::run("api")
}
