//! A circuit breaker in front of every MongoDB call, so requests fail fast while the server is
//! unreachable instead of each waiting out the server-selection timeout.
//!
//! Closed (normal): calls run. A call that finds the database unavailable opens the breaker for
//! [`COOL_DOWN`]: calls fail at once. After that, one call at a time is let through as a probe
//! (the others still fail at once); its success closes the breaker, its failure opens it again.
//! Probes come from requests, `/ready` and the outbox relay's retries, so the API notices a
//! server that is back within about a cool-down.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long calls fail at once after a call found the database unavailable.
pub const COOL_DOWN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// A probe is running.
    Probing,
}

#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    cool_down: Duration,
}

/// Permission to run one call; report how it went with [`Pass::record`]. A pass dropped
/// without a record (the caller was cancelled, e.g. the client hung up) says nothing about the
/// database; a dropped probe lets the next call probe at once, so the breaker never waits for
/// a probe that is gone.
#[must_use]
pub struct Pass<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Breaker {
    pub fn new(cool_down: Duration) -> Self {
        Breaker {
            state: Mutex::new(State::Closed),
            cool_down,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A pass for one call at `now`, or `None` when the call must fail at once.
    pub fn admit(&self, now: Instant) -> Option<Pass<'_>> {
        let mut state = self.state();
        let probe = match *state {
            State::Closed => false,
            State::Open { until } if now >= until => {
                *state = State::Probing;
                true
            }
            State::Open { .. } | State::Probing => return None,
        };
        Some(Pass {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    fn record_at(&self, reachable: bool, now: Instant) {
        *self.state() = if reachable {
            State::Closed
        } else {
            State::Open {
                until: now + self.cool_down,
            }
        };
    }
}

impl Pass<'_> {
    /// Reports whether the database answered (any answer, an error included, counts).
    pub fn record(mut self, reachable: bool, now: Instant) {
        self.recorded = true;
        self.breaker.record_at(reachable, now);
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            let mut state = self.breaker.state();
            if *state == State::Probing {
                *state = State::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_opens_then_one_probe_at_a_time_closes() {
        let breaker = Breaker::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let a = breaker.admit(t0).expect("closed admits");
        let b = breaker.admit(t0).expect("closed admits every call");
        a.record(false, t0);
        assert!(breaker.admit(t0).is_none(), "open refuses");
        assert!(breaker.admit(t0 + sec / 2).is_none(), "still cooling down");
        b.record(false, t0);
        let probe = breaker
            .admit(t0 + sec * 2)
            .expect("after the cool-down, a probe");
        assert!(breaker.admit(t0 + sec * 2).is_none(), "only one probe");
        probe.record(false, t0 + sec * 2);
        assert!(
            breaker.admit(t0 + sec * 2).is_none(),
            "a failed probe opens again"
        );
        let probe = breaker.admit(t0 + sec * 4).expect("next probe");
        probe.record(true, t0 + sec * 4);
        assert!(breaker.admit(t0 + sec * 4).is_some(), "a good probe closes");
    }

    #[test]
    fn a_dropped_probe_lets_the_next_call_probe() {
        let breaker = Breaker::new(Duration::from_secs(60));
        let t0 = Instant::now();
        breaker.admit(t0).unwrap().record(false, t0);
        let later = t0 + Duration::from_secs(61);
        drop(breaker.admit(later).expect("probe"));
        assert!(
            breaker
                .admit(Instant::now() + Duration::from_secs(61))
                .is_some(),
            "not stuck waiting for the lost probe"
        );
    }

    #[test]
    fn a_cancelled_call_says_nothing_about_the_database() {
        let breaker = Breaker::new(Duration::from_secs(60));
        let t0 = Instant::now();
        drop(breaker.admit(t0).expect("closed"));
        assert!(breaker.admit(t0).is_some(), "still closed");
    }
}
