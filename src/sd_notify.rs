//! The client side of the systemd notify protocol (`READY=1`, `STOPPING=1` on `$NOTIFY_SOCKET`).
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
