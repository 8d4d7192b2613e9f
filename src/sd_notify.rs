//! The client side of two systemd protocols that the svc daemon speaks too: readiness
//! (`READY=1`, `STOPPING=1` on `$NOTIFY_SOCKET`) and socket activation (`LISTEN_FDS`).
//!
//! `svc api` and `svc worker` use it to tell their supervisor (the svc daemon, or systemd) that they
//! are ready; without `$NOTIFY_SOCKET` every call is a no-op.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (e.g. `"READY=1"`) to `$NOTIFY_SOCKET`, if set.
///
/// # Errors
/// Fails when the socket is set but the datagram cannot be sent.
pub fn notify(state: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(&path)?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// Tells the supervisor that this process is ready; a failure is logged, not fatal.
pub fn ready() {
    if let Err(error) = notify("READY=1") {
        tracing::warn!(%error, "could not send READY=1 to NOTIFY_SOCKET");
    }
}

/// Tells the supervisor that this process is draining.
pub fn stopping() {
    if let Err(error) = notify("STOPPING=1") {
        tracing::warn!(%error, "could not send STOPPING=1 to NOTIFY_SOCKET");
    }
}

/// The first descriptor a supervisor passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: std::os::fd::RawFd = 3;

/// Takes the listening socket passed by the supervisor (`LISTEN_FDS=1`, fd 3), if any, so every
/// instance of a program accepts from one shared queue. `LISTEN_PID`, when set, must be ours.
/// Call it once: the descriptor becomes the caller's.
pub fn take_listener() -> Option<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    if std::env::var("LISTEN_FDS").ok()? != "1" {
        return None;
    }
    if std::env::var("LISTEN_PID").is_ok_and(|pid| pid != std::process::id().to_string()) {
        return None;
    }
    // SAFETY: by the protocol, fd 3 is an open listening socket handed to this process and owned
    // by nothing else in it; it is taken once.
    Some(unsafe { std::net::TcpListener::from_raw_fd(LISTEN_FDS_START) })
}
