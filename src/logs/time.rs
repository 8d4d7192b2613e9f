//! Timestamps of log records: RFC 3339, UTC, milliseconds (`2026-11-29T10:42:07.123Z`).
//!
//! That one fixed-width shape is what the writer puts in every `time` field, so readers can compare
//! times as strings. Children bring their own shapes (RFC 3339 with an offset, epoch milliseconds
//! from pino, epoch seconds); [`parse`] turns the unambiguous ones into a [`SystemTime`]. humantime
//! formats but only parses `Z` times, hence the small parser here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// Parses an RFC 3339 timestamp (`T` or space between date and time, optional fraction, `Z` or
/// `±HH:MM`). Returns `None` for anything else.
pub fn parse(text: &str) -> Option<SystemTime> {
    let b = text.trim().as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos: u64 = 0;
    if let Some((b'.', tail)) = rest.split_first() {
        let len = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        for (i, c) in tail[..len].iter().enumerate().take(9) {
            nanos += u64::from(c - b'0') * 10u64.pow(8 - i as u32);
        }
        rest = &tail[len..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = digits(&[*h1, *h2])? * 60 + digits(&[*m1, *m2])?;
            let secs = (minutes * 60) as i64;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos as u32))
}

/// Reads an epoch number as a time: milliseconds when it is that large (pino's `time`), else
/// seconds (possibly fractional). Values before 2001 or after 2286 are not taken for times.
pub fn from_epoch(number: f64) -> Option<SystemTime> {
    const SECONDS_2001: f64 = 978_307_200.0;
    const SECONDS_2286: f64 = 9_999_999_999.0;
    let millis = if number > SECONDS_2286 {
        number
    } else {
        number * 1000.0
    };
    if !(SECONDS_2001 * 1000.0..=SECONDS_2286 * 1000.0).contains(&millis) {
        return None;
    }
    // Whole milliseconds: 1764412927.123 s must not print as .122.
    UNIX_EPOCH.checked_add(Duration::from_millis(millis.round() as u64))
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> Option<String> {
        parse(text).map(format)
    }

    #[test]
    fn parses_rfc3339_shapes_into_utc_milliseconds() {
        let cases = [
            ("2026-11-29T10:42:07.123Z", "2026-11-29T10:42:07.123Z"),
            ("2026-11-29T10:42:07Z", "2026-11-29T10:42:07.000Z"),
            ("2026-11-29 10:42:07.123456789Z", "2026-11-29T10:42:07.123Z"),
            ("2026-11-29T12:42:07.5+02:00", "2026-11-29T10:42:07.500Z"),
            ("2026-11-29T00:12:07-01:30", "2026-11-29T01:42:07.000Z"),
            ("2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z"),
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ];
        for (input, want) in cases {
            assert_eq!(round(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for input in [
            "",
            "yesterday",
            "2026-11-29",
            "2026-11-29T10:42:07",
            "2026-13-29T10:42:07Z",
            "2026-11-29T10:42:07.Z",
            "2026-11-29T10:42:07+0200",
            "20x6-11-29T10:42:07Z",
        ] {
            assert_eq!(parse(input), None, "{input}");
        }
    }

    #[test]
    fn epoch_numbers_are_milliseconds_or_seconds() {
        let ms = from_epoch(1_764_412_927_123.0).map(format);
        assert_eq!(ms.as_deref(), Some("2025-11-29T10:42:07.123Z"));
        let s = from_epoch(1_764_412_927.5).map(format);
        assert_eq!(s.as_deref(), Some("2025-11-29T10:42:07.500Z"));
        assert_eq!(from_epoch(42.0), None);
        assert_eq!(from_epoch(-1.0), None);
    }
}
