//! How long a failed job waits before its next attempt: BullMQ's `backoff` option, fixed or
//! exponential, with optional jitter.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The wait before a retry: BullMQ's `backoff` option (`{type, delay, jitter}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    pub strategy: Strategy,
    /// The first wait.
    pub delay: Duration,
    /// From 0 to 1: each wait is drawn from `[(1 - jitter)·w, w]` for the strategy's wait `w`,
    /// so jobs that failed together (a mail server down for all) do not all retry at once.
    pub jitter: f64,
}

/// How the wait grows with the attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// The same wait every time.
    Fixed,
    /// `delay · 2^(attempt-1)`: 1 s, 2 s, 4 s for 1000 ms.
    Exponential,
}

impl Strategy {
    /// BullMQ's name for it (`backoff.type`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Fixed => "fixed",
            Strategy::Exponential => "exponential",
        }
    }
}

impl Backoff {
    /// The same `delay` every time, without jitter.
    pub const fn fixed(delay: Duration) -> Self {
        Backoff {
            strategy: Strategy::Fixed,
            delay,
            jitter: 0.0,
        }
    }

    /// `delay`, then twice that, and so on, without jitter.
    pub const fn exponential(delay: Duration) -> Self {
        Backoff {
            strategy: Strategy::Exponential,
            delay,
            jitter: 0.0,
        }
    }

    /// The wait before the attempt after failed attempt number `attempt` (1-based), with
    /// the jitter applied.
    pub fn delay_for(self, attempt: u32) -> Duration {
        let wait = match self.strategy {
            Strategy::Fixed => self.delay,
            Strategy::Exponential => {
                let factor = 1u32
                    .checked_shl(attempt.saturating_sub(1))
                    .unwrap_or(u32::MAX);
                self.delay.saturating_mul(factor)
            }
        };
        if self.jitter > 0.0 {
            wait.mul_f64(1.0 - self.jitter.min(1.0) * fastrand::f64())
        } else {
            wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_from_the_delay() {
        let b = Backoff::exponential(Duration::from_secs(1));
        let delays: Vec<u64> = (1..=4).map(|n| b.delay_for(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8]);
        assert_eq!(
            Backoff::fixed(Duration::from_secs(3)).delay_for(5),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay_for(200),
            Duration::from_secs(1).saturating_mul(u32::MAX)
        );
    }

    #[test]
    fn jitter_spreads_each_wait_below_the_strategys() {
        let b = Backoff {
            jitter: 0.5,
            ..Backoff::exponential(Duration::from_millis(1000))
        };
        let waits: Vec<Duration> = (0..500).map(|_| b.delay_for(3)).collect();
        let (low, high) = (Duration::from_millis(2000), Duration::from_millis(4000));
        assert!(waits.iter().all(|w| (low..=high).contains(w)), "{waits:?}");
        // Spread, not one value: the draws cover both halves of the range.
        let middle = Duration::from_millis(3000);
        assert!(waits.iter().any(|w| *w < middle) && waits.iter().any(|w| *w > middle));
    }
}
