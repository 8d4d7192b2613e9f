//! The queue store's health as the worker sees it, logged once per change of state (not once per
//! failed attempt), so an outage of an hour is two log lines, not thousands; each change also
//! sets `svc_worker_up`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::queue::QueueError;

/// Up or down, with the log line on each change.
#[derive(Debug, Default)]
pub struct StoreHealth {
    down: AtomicBool,
}

impl StoreHealth {
    /// Records a failure; logs an error only when the store was up (each later failure only
    /// at debug level, for whoever follows the retries).
    pub fn failed(&self, error: &QueueError) {
        if !self.down.swap(true, Ordering::SeqCst) {
            super::metrics::set_up(false);
            tracing::error!(%error, "queue store unavailable; retrying with backoff");
        } else {
            tracing::debug!(%error, "queue store still down");
        }
    }

    /// Records a success; logs only when the store was down.
    pub fn ok(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            super::metrics::set_up(true);
            tracing::info!("queue store available again");
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

/// Exponential retry delays: `first`, doubling, capped at `max`.
#[derive(Debug, Clone)]
pub struct RetryDelay {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl RetryDelay {
    pub fn new(first: Duration, max: Duration) -> Self {
        RetryDelay {
            first,
            max,
            next: first,
        }
    }

    /// The delay to wait now; the following one doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut d = RetryDelay::new(Duration::from_millis(100), Duration::from_millis(500));
        let got: Vec<u128> = (0..5).map(|_| d.next_delay().as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 500, 500]);
        d.reset();
        assert_eq!(d.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn state_changes_flip_once() {
        let health = StoreHealth::default();
        let down = || QueueError::from(crate::queue::UnavailableCause::TakeReply);
        health.failed(&down());
        health.failed(&down());
        assert!(health.is_down());
        health.ok();
        assert!(!health.is_down());
    }
}
