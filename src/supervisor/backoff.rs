//! The restart policy as a pure function: given how a run ended, what happens next.
//!
//! A run shorter than `min_uptime` is *unstable*. Each consecutive unstable exit doubles the delay
//! (from `restart_delay` up to `max_restart_delay`); after `max_restarts` of them in a row the
//! program is `errored`. A stable run resets the streak.

use std::time::Duration;

use crate::config::{RestartMode, RestartPolicy};

/// What to do after a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start again after this delay.
    Restart(Duration),
    /// It ended cleanly and its policy keeps it ended.
    Exited,
    /// Give up: too many unstable restarts, or a failure under `restart = "never"`.
    Errored,
}

/// Decides what follows a run that ended after `uptime` (`success`: with exit code 0), given the
/// number of consecutive unstable runs before it. Returns the decision and the new streak.
pub fn decide(
    policy: &RestartPolicy,
    success: bool,
    uptime: Duration,
    streak: u32,
) -> (Decision, u32) {
    let streak = if uptime < policy.min_uptime {
        streak + 1
    } else {
        0
    };
    let restart = match policy.mode {
        RestartMode::Always => true,
        RestartMode::OnFailure => !success,
        RestartMode::Never => false,
    };
    if !restart {
        let decision = if success {
            Decision::Exited
        } else {
            Decision::Errored
        };
        return (decision, streak);
    }
    if streak > policy.max_restarts {
        return (Decision::Errored, streak);
    }
    (Decision::Restart(delay(policy, streak)), streak)
}

/// The delay before the next start: `restart_delay · 2^(streak-1)`, capped.
fn delay(policy: &RestartPolicy, streak: u32) -> Duration {
    let doublings = streak.saturating_sub(1);
    policy
        .delay
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(policy.max_delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn policy(mode: RestartMode) -> RestartPolicy {
        RestartPolicy {
            mode,
            delay: MS(100),
            max_delay: MS(1000),
            min_uptime: MS(5000),
            max_restarts: 3,
        }
    }

    #[test]
    fn transitions() {
        use Decision::*;
        // A crash and a kill are both failures to the policy.
        let crash = false;
        let clean = true;
        let killed = false;
        let short = MS(10);
        let long = MS(10_000);
        // (mode, success, uptime, streak before) -> (decision, streak after)
        let table = [
            (RestartMode::Always, crash, short, 0, Restart(MS(100)), 1),
            (RestartMode::Always, crash, short, 1, Restart(MS(200)), 2),
            (RestartMode::Always, crash, short, 2, Restart(MS(400)), 3),
            (RestartMode::Always, crash, short, 3, Errored, 4),
            (RestartMode::Always, crash, long, 3, Restart(MS(100)), 0),
            (RestartMode::Always, clean, long, 0, Restart(MS(100)), 0),
            (RestartMode::Always, killed, short, 0, Restart(MS(100)), 1),
            (RestartMode::OnFailure, clean, short, 0, Exited, 1),
            (RestartMode::OnFailure, crash, long, 0, Restart(MS(100)), 0),
            (RestartMode::OnFailure, killed, long, 0, Restart(MS(100)), 0),
            (RestartMode::Never, clean, long, 0, Exited, 0),
            (RestartMode::Never, crash, long, 0, Errored, 0),
        ];
        for (mode, success, uptime, before, want, after) in table {
            assert_eq!(
                decide(&policy(mode), success, uptime, before),
                (want, after),
                "{mode:?} success {success} {uptime:?} streak {before}"
            );
        }
    }

    #[test]
    fn delay_caps_at_max() {
        let mut p = policy(RestartMode::Always);
        p.max_restarts = 100;
        assert_eq!(decide(&p, false, MS(1), 10).0, Decision::Restart(MS(1000)));
        assert_eq!(decide(&p, false, MS(1), 99).0, Decision::Restart(MS(1000)));
    }
}
