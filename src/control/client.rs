//! The CLI's side of the control socket.

use std::path::Path;

use tokio::io::BufReader;
use tokio::net::UnixStream;

use crate::protocol::{self, FrameError, Request, Response};

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens on the socket (no daemon, or a stale socket file).
    #[error("the daemon is not running (no answer on {0})")]
    NotRunning(String),
    #[error("cannot reach the daemon on {path}: {source}")]
    Connect {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to the daemon: {0}")]
    Frame(#[from] FrameError),
    #[error("the daemon closed the connection without an answer")]
    NoAnswer,
}

/// Whether a daemon listens on `socket` (a connection is accepted).
pub fn answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Sends one request and waits for the answer.
///
/// # Errors
/// [`ClientError::NotRunning`] when no daemon listens; protocol and I/O errors otherwise.
pub async fn request(socket: &Path, request: &Request) -> Result<Response, ClientError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(socket.display().to_string())
            }
            _ => ClientError::Connect {
                path: socket.display().to_string(),
                source,
            },
        })?;
    let (read, mut write) = stream.into_split();
    // The daemon may answer and close before reading (e.g. refusing another user): a failed
    // write still leaves its answer to read.
    let sent = protocol::write_frame(&mut write, request).await;
    match protocol::read_frame(&mut BufReader::new(read)).await {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(sent.err().map_or(ClientError::NoAnswer, ClientError::Frame)),
        Err(error) => Err(sent.err().unwrap_or(error).into()),
    }
}
