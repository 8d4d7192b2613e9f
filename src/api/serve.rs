//! The HTTP/1.1 accept loop: `axum::serve` plus the one thing it cannot do, a header timeout.
//!
//! `axum::serve` builds each hyper connection without a timer, and hyper enforces
//! `header_read_timeout` only with one. So behind `axum::serve` a client that sends its request
//! head a byte at a time (slow loris), or opens a connection and says nothing, holds a socket
//! and a task for as long as it likes; a few thousand such clients exhaust the file descriptors.
//! This loop gives every connection tokio's timer and a header timeout: the head of each request
//! must arrive within it (on a kept-alive connection the clock starts when the previous response
//! is sent, so it also bounds idle connections), or hyper closes the connection. Bodies are
//! bounded separately, by the JSON extractor's body timeout ([`super::extract`]).
//!
//! Everything else is as `axum::serve`: the peer address as `ConnectInfo`, accept errors such
//! as `EMFILE` waited out rather than fatal, and a graceful stop that refuses new connections,
//! closes idle ones and lets the others finish their request.

use std::future::Future;
use std::io;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::error_chain::chain;

/// At a stop, how long connections accepted just before it get to start their first request.
const FIRST_REQUEST_GRACE: Duration = Duration::from_millis(250);

/// How long to wait before accepting again after an error such as `EMFILE`.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The router requests are handed to, which can be replaced while serving: the API serves
/// probes and 503s until its store opens, then its full router (see [`super::app`]).
#[derive(Clone)]
pub struct RouterSlot(Arc<RwLock<Router>>);

impl RouterSlot {
    pub fn new(router: Router) -> Self {
        RouterSlot(Arc::new(RwLock::new(router)))
    }

    /// Replaces the router; requests already running finish on the old one.
    pub fn set(&self, router: Router) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = router;
    }

    /// The router for the next request (a cheap clone).
    pub fn current(&self) -> Router {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Serves the router in `slot` on `listener` until `stop` completes, then stops accepting and
/// waits for the open connections to finish their requests (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    slot: RouterSlot,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::error!(error = %chain(&error), "cannot accept a connection; pausing");
                        tokio::select! {
                            () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                            () = &mut stop => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let slot = slot.clone();
        let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            slot.current().oneshot(request.map(axum::body::Body::new))
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %chain(&error), %peer, "connection closed with an error");
            }
        });
    }
    drop(listener);
    // hyper closes a connection at once when no request is in progress on it, which includes one
    // accepted just before the stop whose request has not been read yet: give those a moment to
    // start their request, so that a drain (a reload, a scale-down) answers them instead.
    tokio::time::sleep(FIRST_REQUEST_GRACE.min(header_timeout)).await;
    graceful.shutdown().await;
}

/// Errors of one connection (the client gave up before we accepted it), not of the listener.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
