//! When an instance counts as ready: after a quiet uptime, on `READY=1`, or once an HTTP or TCP
//! probe answers, each bounded by the program's timeout.

use std::time::Duration;

use super::notify::{NotifyMessage, NotifySocket};
use super::probe;
use crate::config::Ready;

/// An instance that did not get ready within its `ready` timeout.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not ready within {} ms", .timeout.as_millis())]
pub struct NotReady {
    pub timeout: Duration,
}

/// Resolves when the instance is ready by its `ready` setting, or fails after the timeout.
/// For `notify`, readiness arrives as a message (see [`recv_notify`]): this only times it out.
pub async fn wait_ready(ready: &Ready) -> Result<(), NotReady> {
    let timeout = match ready {
        Ready::Uptime { after } => {
            tokio::time::sleep(*after).await;
            return Ok(());
        }
        Ready::Notify { timeout } | Ready::Http { timeout, .. } | Ready::Tcp { timeout, .. } => {
            *timeout
        }
    };
    let check = async {
        match ready {
            Ready::Http { target, .. } => {
                while !probe::http_once(target).await {
                    tokio::time::sleep(probe::PROBE_INTERVAL).await;
                }
            }
            Ready::Tcp { addr, .. } => {
                while !probe::tcp_once(addr).await {
                    tokio::time::sleep(probe::PROBE_INTERVAL).await;
                }
            }
            Ready::Notify { .. } | Ready::Uptime { .. } => std::future::pending().await,
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| NotReady { timeout })
}

/// The next message on the notify socket; never resolves without one.
pub async fn recv_notify(socket: Option<&NotifySocket>) -> NotifyMessage {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    match socket.recv().await {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "notify socket failed");
            std::future::pending().await
        }
    }
}
