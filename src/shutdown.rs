//! SIGTERM/SIGINT → a [`CancellationToken`], shared by the daemon, the API and the worker.
//!
//! Long-running parts take the token and stop when it is cancelled; nothing calls
//! `process::exit` from deep inside.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled on the first SIGTERM or SIGINT.
///
/// Must be called inside a tokio runtime.
///
/// # Errors
/// Fails when the signal handlers cannot be installed.
pub fn on_terminate() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
        }
        cancel.cancel();
    });
    Ok(token)
}
