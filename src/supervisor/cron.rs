//! `cron_restart`: waiting for a program's next scheduled restart.
//!
//! The schedule is wall-clock time, the sleep is monotonic: a suspended machine or a clock that
//! is set (NTP, an operator) moves one against the other. So the wait sleeps at most
//! [`RECHECK`] at a time and asks the clock again, and a run is never early and at most that
//! late.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::config::CronSchedule;

/// The longest single sleep before the wall clock is read again.
const RECHECK: Duration = Duration::from_secs(60);

/// The wall clock and the timer, injectable so tests can run a schedule on their own time.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// Waits `duration`: tokio's timer, unless a test's clock says otherwise.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Sleeps until the next run of `schedule` after `clock`'s now, and returns that run's time.
/// A schedule with no run left (load refuses those) waits forever.
pub async fn wait_next(schedule: &CronSchedule, clock: &dyn Clock) -> SystemTime {
    let Some(next) = schedule.next_after(clock.now()) else {
        return std::future::pending().await;
    };
    loop {
        let Ok(left) = next.duration_since(clock.now()) else {
            return next;
        };
        if left.is_zero() {
            return next;
        }
        clock.sleep(left.min(RECHECK)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cron::tests::with_tz;
    use std::sync::Mutex;
    use std::time::UNIX_EPOCH;

    /// A wall clock that moves only when the wait sleeps (at once), and may be set forward.
    struct TestClock {
        now: Mutex<SystemTime>,
        /// Every sleep the wait asked for.
        sleeps: Mutex<Vec<Duration>>,
        /// Set the clock to this after the first sleep (a resume from suspend).
        jump_to: Option<SystemTime>,
    }

    impl TestClock {
        fn at(seconds: u64) -> TestClock {
            TestClock {
                now: Mutex::new(UNIX_EPOCH + Duration::from_secs(seconds)),
                sleeps: Mutex::new(Vec::new()),
                jump_to: None,
            }
        }

        fn slept(&self) -> Duration {
            self.sleeps.lock().unwrap().iter().sum()
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> SystemTime {
            *self.now.lock().unwrap()
        }

        fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            let mut sleeps = self.sleeps.lock().unwrap();
            let mut now = self.now.lock().unwrap();
            *now += duration;
            if let (Some(jump), true) = (self.jump_to, sleeps.is_empty()) {
                *now = jump;
            }
            sleeps.push(duration);
            Box::pin(std::future::ready(()))
        }
    }

    /// 2026-01-15 10:20:30 UTC.
    const BASE: u64 = 1_768_472_430;

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// Waits for the next run of `expression` from `BASE`: the run's time, and how long the
    /// wait slept.
    fn wait(expression: &str) -> (u64, Duration) {
        let clock = TestClock::at(BASE);
        let schedule = CronSchedule::parse(expression).unwrap();
        let run = block_on(wait_next(&schedule, &clock));
        let run = run.duration_since(UNIX_EPOCH).unwrap().as_secs();
        (run, clock.slept())
    }

    #[test]
    fn waits_until_the_next_run_and_returns_it() {
        with_tz(
            "UTC",
            concat!(module_path!(), "::waits_until_the_next_run_and_returns_it"),
            || {
                let midnight = BASE - (10 * 3600 + 20 * 60 + 30);
                let table: &[(&str, u64)] = &[
                    ("*/2 * * * * *", BASE + 2),
                    ("5 * * * * *", BASE + 35),
                    ("*/15 * * * *", BASE + 9 * 60 + 30),
                    ("0 3 * * *", midnight + 86_400 + 3 * 3600),
                    ("30 2 1 * *", midnight + 17 * 86_400 + 2 * 3600 + 30 * 60),
                ];
                for (expression, expected) in table {
                    let (run, slept) = wait(expression);
                    assert_eq!(run, *expected, "{expression}");
                    assert_eq!(slept, Duration::from_secs(expected - BASE), "{expression}");
                }
            },
        );
    }

    #[test]
    fn each_sleep_is_at_most_a_minute() {
        let clock = TestClock::at(BASE);
        let schedule = CronSchedule::parse("0 0 1 1 *").unwrap();
        let next = schedule.next_after(clock.now()).unwrap();
        assert_eq!(block_on(wait_next(&schedule, &clock)), next);
        let sleeps = clock.sleeps.lock().unwrap();
        assert!(sleeps.len() > 1, "{sleeps:?}");
        assert!(sleeps.iter().all(|s| *s <= RECHECK), "{sleeps:?}");
    }

    #[tokio::test]
    async fn the_system_clock_wakes_at_the_run_never_before() {
        let schedule = CronSchedule::parse("* * * * * *").unwrap();
        let before = SystemTime::now();
        let run = wait_next(&schedule, &SystemClock).await;
        assert!(run > before, "{run:?} after {before:?}");
        assert!(SystemTime::now() >= run);
    }

    #[test]
    fn the_local_time_zone_decides_the_run() {
        // 03:00 in New York (EST, UTC-5) on 2026-01-16 is 08:00 UTC.
        with_tz(
            "America/New_York",
            concat!(module_path!(), "::the_local_time_zone_decides_the_run"),
            || {
                let midnight = BASE - (10 * 3600 + 20 * 60 + 30);
                assert_eq!(wait("0 3 * * *").0, midnight + 86_400 + 8 * 3600);
            },
        );
    }

    #[test]
    fn a_clock_set_past_the_run_ends_the_wait_at_the_next_check() {
        // New Year's midnight: months away in any time zone.
        let schedule = CronSchedule::parse("0 0 1 1 *").unwrap();
        let mut clock = TestClock::at(BASE);
        let next = schedule.next_after(clock.now()).unwrap();
        // The machine resumes from a long suspend during the first sleep.
        clock.jump_to = Some(next + Duration::from_secs(5));
        assert_eq!(block_on(wait_next(&schedule, &clock)), next);
        assert_eq!(clock.sleeps.lock().unwrap().as_slice(), [RECHECK]);
    }
}
