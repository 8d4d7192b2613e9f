//! The daemon's side of the control socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};

use crate::protocol::{self, ErrorReply, FrameError, Request, Response};

/// Why a connection got an error reply before its request reached the handler.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("permission denied: the daemon belongs to uid {owner}")]
    NotOwner { owner: u32 },
    #[error("timed out waiting for a request")]
    Timeout,
    #[error("bad request: {0}")]
    BadRequest(#[source] FrameError),
}

impl From<Refusal> for Response {
    fn from(refusal: Refusal) -> Response {
        Response::Error(ErrorReply::new(refusal.to_string()))
    }
}

/// Answers one request; implemented by the supervisor.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, request: Request) -> Response;
}

/// A bound control socket; the socket file is removed when this is dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds the socket at `path` with mode 0600 (umask set before bind: no chmod race),
    /// replacing a stale socket file left by a dead daemon.
    ///
    /// The caller must hold the pid-file lock, which proves that no live daemon owns `path`.
    ///
    /// # Errors
    /// Fails when the socket cannot be bound.
    pub fn bind(path: &Path) -> std::io::Result<ControlSocket> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        Ok(ControlSocket {
            listener: bound?,
            path: path.to_path_buf(),
        })
    }

    /// Accepts connections until `shutdown` is cancelled, answering each on its own task,
    /// tracked by `connections` so a shutdown can let them finish.
    pub async fn serve<H: Handler>(
        &self,
        handler: Arc<H>,
        shutdown: tokio_util::sync::CancellationToken,
        connections: &tokio_util::task::TaskTracker,
    ) {
        let me = nix::unistd::geteuid().as_raw();
        loop {
            let stream = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "accept on the control socket failed");
                        continue;
                    }
                },
            };
            let handler = handler.clone();
            connections.spawn(async move {
                if let Err(error) = serve_one(stream, me, handler).await {
                    tracing::debug!(%error, "control connection ended with an error");
                }
            });
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One connection: check the peer, read one request (with a timeout), answer it.
async fn serve_one<H: Handler>(
    stream: UnixStream,
    me: u32,
    handler: Arc<H>,
) -> Result<(), FrameError> {
    let peer = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    if peer != me {
        tracing::warn!(peer, "refused a control connection from another user");
        let reply = Response::from(Refusal::NotOwner { owner: me });
        return protocol::write_frame(&mut write, &reply).await;
    }
    let mut reader = BufReader::new(read);
    let request = match tokio::time::timeout(
        protocol::READ_TIMEOUT,
        protocol::read_frame::<_, Request>(&mut reader),
    )
    .await
    {
        Err(_) => Refusal::Timeout.into(),
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => Refusal::BadRequest(e).into(),
        Ok(Ok(Some(request))) => handler.handle(request).await,
    };
    protocol::write_frame(&mut write, &request).await
}
