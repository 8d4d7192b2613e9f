//! Durations and wall-clock readings in whole milliseconds: the unit of BullMQ's fields, our
//! Redis scripts' arguments, the SQLite and MongoDB columns and the rate limit's windows.
//!
//! Written once so every part converts alike: a value too large for the target type saturates
//! (it never wraps into a negative or a small number), and a clock set before 1970 reads 0.
//! Two widths, named by their type: `u64` for Redis and JSON, `i64` for SQLite and BSON
//! integers (and [`crate::domain::time::Timestamp`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `d` in whole milliseconds, saturating at `u64::MAX`.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `d` in whole milliseconds, saturating at `i64::MAX`.
pub fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds from the Unix epoch to `time`; 0 for a time before it.
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// Milliseconds since the Unix epoch now.
pub fn now_millis() -> u64 {
    unix_millis(SystemTime::now())
}

/// Milliseconds since the Unix epoch now, as a signed integer.
pub fn now_millis_i64() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis_i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_instead_of_wrapping() {
        assert_eq!(millis(Duration::from_micros(2_999)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(millis_i64(Duration::from_secs(90)), 90_000);
        assert_eq!(millis_i64(Duration::MAX), i64::MAX);
    }

    #[test]
    fn the_epoch_is_zero_and_earlier_times_read_zero() {
        assert_eq!(unix_millis(UNIX_EPOCH), 0);
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            unix_millis(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            1_700_000_000_123
        );
        // 2023-11-14: any clock reading now is later.
        assert!(now_millis() > 1_700_000_000_000);
        assert!(now_millis_i64() > 1_700_000_000_000);
    }
}
