//! The one way a test waits for something: poll a condition until it holds, for at most
//! [`PATIENCE`]. A test never sleeps for a condition; it polls, so it goes on as soon as the
//! condition holds and a slow machine only costs time when something is wrong.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for anything that should happen (a start-up on a loaded machine
/// included). Long, because a failing test is rare and a flaky one costs more.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// For waits over bulk work that takes long by design: a thousand jobs after a restart of their
/// queue, a whole `svc` command that itself waits for programs to become ready.
pub const LONG_PATIENCE: Duration = Duration::from_secs(120);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds; panics naming `what` after [`PATIENCE`].
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    wait_until_within(what, PATIENCE, condition);
}

/// [`wait_until`] with a limit of its own, for work that takes long by design
/// ([`LONG_PATIENCE`], or a fault run's own duration).
pub fn wait_until_within(what: &str, timeout: Duration, condition: impl FnMut() -> bool) {
    assert!(
        holds_within(timeout, condition),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// Polls `probe` until it returns a value and returns that; panics naming `what` after
/// [`PATIENCE`].
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_until(what, || {
        found = probe();
        found.is_some()
    });
    found.expect("the wait ended when the probe returned a value")
}

/// Whether `condition` comes to hold within `timeout`: for a test that reports what it saw when
/// the wait failed, or that checks something does not happen.
pub fn holds_within(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// The exit status of `child` once it has exited, or `None` when it is still running after
/// `timeout`.
pub fn exit_within(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let mut status = None;
    holds_within(timeout, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    status
}

/// [`wait_until`] with an async condition, for tests on a tokio runtime.
pub async fn wait_until_async<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(
        holds_within_async(PATIENCE, condition).await,
        "timed out after {PATIENCE:?} waiting for {what}"
    );
}

/// [`wait_for`] with an async probe, for tests on a tokio runtime.
pub async fn wait_for_async<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`holds_within`] with an async condition, for tests on a tokio runtime.
pub async fn holds_within_async<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
