//! Stand-ins for `svc api` and `svc worker` until those land: they log a JSON line per second,
//! report readiness, and exit 0 on SIGTERM, which is all the supervisor needs of a program.

use std::process::ExitCode;
use std::time::Duration;

/// Runs the placeholder called `role` until SIGTERM/SIGINT.
pub fn run(role: &'static str) -> ExitCode {
    crate::telemetry::init_json(crate::telemetry::stdout_lines());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = match crate::shutdown::on_terminate() {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(%error, "cannot install signal handlers");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(role, "placeholder started");
        crate::sd_notify::ready();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => tracing::info!(role, "placeholder alive"),
            }
        }
        crate::sd_notify::stopping();
        tracing::info!(role, "placeholder stopped");
        ExitCode::SUCCESS
    })
}
