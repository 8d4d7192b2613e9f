//! `cron_restart`: a cron expression, parsed once at load, and its next run in the daemon's local
//! time zone.
//!
//! Parsing and the search for the next run are croner's: it follows Vixie cron's daylight-saving
//! rules (a fixed-time job whose time falls in a skipped hour runs at the first instant after it;
//! in a repeated hour it runs once, an interval job on both passes), which a hand-rolled walk over
//! the calendar gets wrong. The local zone is chrono's `Local` (`TZ` when set, else
//! `/etc/localtime`), through `LocalZone`, which fixes the order of a repeated hour's two
//! instants that croner relies on.

use std::fmt;
use std::time::SystemTime;

use chrono::{DateTime, FixedOffset, Local, MappedLocalTime, NaiveDate, NaiveDateTime, TimeZone};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Serialize, Serializer};

/// How to write an expression, for every error message.
const HINT: &str = "write 5 fields (minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\") \
                    or 6 with seconds first (e.g. \"*/30 * * * * *\")";

/// Why a cron expression was refused.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error("{expression:?} has {fields} field{s}; {hint}", s = plural(*.fields), hint = HINT)]
    FieldCount { expression: String, fields: usize },
    #[error("{expression:?} is not a cron expression ({source}); {hint}", hint = HINT)]
    Invalid {
        expression: String,
        #[source]
        source: croner::errors::CronError,
    },
}

/// The `s` of "fields", unless there is one.
fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// A parsed cron expression; serializes as the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    expression: String,
    cron: Cron,
}

impl CronSchedule {
    /// Parses `expression`: 5 fields, or 6 with seconds first.
    ///
    /// # Errors
    /// [`CronError`], saying what is wrong with the expression and how to write one.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(CronError::FieldCount {
                expression: expression.to_owned(),
                fields,
            });
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(expression)
            .map_err(|source| CronError::Invalid {
                expression: expression.to_owned(),
                source,
            })?;
        Ok(CronSchedule {
            expression: expression.trim().to_owned(),
            cron,
        })
    }

    /// The first run strictly after `now`, in the process's local time zone; `None` when the
    /// expression never matches again (e.g. `0 0 30 2 *`, February the 30th).
    pub fn next_after(&self, now: SystemTime) -> Option<SystemTime> {
        let local: DateTime<LocalZone> =
            DateTime::<chrono::Utc>::from(now).with_timezone(&LocalZone);
        let mut next = self.cron.find_next_occurrence(&local, false).ok()?;
        if next <= local {
            // croner answers the start itself when it is a run in the second pass of a
            // repeated hour (an hourly job at 01:00 the second time): look from a second on.
            let later = local + chrono::TimeDelta::seconds(1);
            next = self.cron.find_next_occurrence(&later, true).ok()?;
        }
        Some(SystemTime::from(next))
    }

    /// The expression as written in svc.toml.
    pub fn expression(&self) -> &str {
        &self.expression
    }
}

/// chrono's `Local`, but a wall-clock time that occurs twice (the hour repeated when daylight
/// saving ends) resolves to its two instants in time order, as chrono documents and croner
/// expects. chrono's Unix `Local` gives them in another order, so a daily 01:30 job ran at the
/// second 01:30, an hour late.
#[derive(Clone, Copy, Debug)]
struct LocalZone;

impl TimeZone for LocalZone {
    type Offset = FixedOffset;

    fn from_offset(_offset: &FixedOffset) -> LocalZone {
        LocalZone
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<FixedOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
        match Local.offset_from_local_datetime(local) {
            // The larger offset from UTC is the earlier instant of the same wall-clock time.
            MappedLocalTime::Ambiguous(a, b) if a.local_minus_utc() < b.local_minus_utc() => {
                MappedLocalTime::Ambiguous(b, a)
            }
            other => other,
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
        Local.offset_from_utc_datetime(utc)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expression)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Runs `body`, the test `test` (its path, `concat!(module_path!(), "::NAME")`), with the
    /// local time zone `tz`. chrono reads `TZ` for `Local`, and setting an environment variable
    /// in a test binary whose other threads read it is unsound, so the test runs again in a
    /// child copy of this binary started with `TZ=tz`, and passes when the child ran it and it
    /// passed.
    pub(crate) fn with_tz(tz: &str, test: &str, body: impl FnOnce()) {
        const CHILD: &str = "SVC_TEST_TZ_CHILD";
        if std::env::var_os(CHILD).is_some() {
            assert_eq!(std::env::var("TZ").as_deref(), Ok(tz));
            body();
            return;
        }
        // libtest names a test by its path without the crate's name.
        let name = test.split_once("::").map_or(test, |(_, rest)| rest);
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1"])
            .env("TZ", tz)
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{name} with TZ={tz}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// 2026-01-15 10:20:30 UTC, a Thursday.
    const BASE: u64 = 1_768_472_430;

    #[test]
    fn next_runs_after_a_fixed_instant_in_utc() {
        let midnight = BASE - (10 * 3600 + 20 * 60 + 30);
        let table: &[(&str, u64)] = &[
            // 03:00 tomorrow.
            ("0 3 * * *", midnight + 86_400 + 3 * 3600),
            // The next quarter hour: 10:30:00.
            ("*/15 * * * *", BASE + 9 * 60 + 30),
            // Seconds first: the next even second, strictly after now (BASE is even).
            ("*/2 * * * * *", BASE + 2),
            // Second 5 of every minute: 10:21:05.
            ("5 * * * * *", BASE + 35),
            // Mondays at 09:00: 2026-01-19.
            ("0 9 * * MON", midnight + 4 * 86_400 + 9 * 3600),
        ];
        with_tz(
            "UTC",
            concat!(module_path!(), "::next_runs_after_a_fixed_instant_in_utc"),
            || {
                for (expression, expected) in table {
                    let schedule = CronSchedule::parse(expression).unwrap();
                    assert_eq!(
                        schedule.next_after(at(BASE)),
                        Some(at(*expected)),
                        "{expression}"
                    );
                }
            },
        );
    }

    #[test]
    fn local_time_follows_tz() {
        with_tz(
            "America/New_York",
            concat!(module_path!(), "::local_time_follows_tz"),
            || {
                // 03:00 in New York on 2026-01-16 is 08:00 UTC (EST, UTC-5).
                let next = CronSchedule::parse("0 3 * * *")
                    .unwrap()
                    .next_after(at(BASE));
                assert_eq!(
                    next,
                    Some(at(BASE - (10 * 3600 + 20 * 60 + 30) + 86_400 + 8 * 3600))
                );
            },
        );
    }

    #[test]
    fn daylight_saving_changes_follow_vixie_cron() {
        // New York, 2026: 02:00-03:00 EST is skipped on 03-08 (at 07:00 UTC), and 01:00-02:00
        // is repeated on 11-01 (01:30 is 05:30 UTC in EDT, then 06:30 UTC in EST).
        let table: &[(&str, &str, u64, &[u64])] = &[
            (
                "a daily run in the skipped hour runs right after it, then as usual",
                "30 2 * * *",
                1_772_920_800,                   // 03-07 22:00 UTC
                &[1_772_953_200, 1_773_037_800], // 03-08 07:00, 03-09 06:30 UTC
            ),
            (
                "a daily run in the repeated hour runs once, at the first pass",
                "30 1 * * *",
                1_793_491_200,                   // 11-01 00:00 UTC
                &[1_793_511_000, 1_793_601_000], // 11-01 05:30, 11-02 06:30 UTC
            ),
            (
                "an hourly run runs in both passes of the repeated hour",
                "0 * * * *",
                1_793_507_400, // 11-01 04:30 UTC, 00:30 EDT
                &[1_793_509_200, 1_793_512_800, 1_793_516_400], // 05:00, 06:00, 07:00 UTC
            ),
        ];
        with_tz(
            "America/New_York",
            concat!(
                module_path!(),
                "::daylight_saving_changes_follow_vixie_cron"
            ),
            || {
                for (what, expression, from, runs) in table {
                    let schedule = CronSchedule::parse(expression).unwrap();
                    let mut now = at(*from);
                    for run in *runs {
                        now = schedule.next_after(now).unwrap();
                        assert_eq!(now, at(*run), "{what}");
                    }
                }
            },
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let error = CronSchedule::parse("0 3 * *").unwrap_err().to_string();
        assert!(
            error.starts_with("\"0 3 * *\" has 4 fields; write 5 fields"),
            "{error}"
        );
        let error = CronSchedule::parse("0 0 3 * * * 2030")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("\"0 0 3 * * * 2030\" has 7 fields;"),
            "{error}"
        );
        let error = CronSchedule::parse("61 3 * * *").unwrap_err().to_string();
        assert!(
            error.starts_with("\"61 3 * * *\" is not a cron expression ("),
            "{error}"
        );
        assert!(CronSchedule::parse("0 3 * * FUNDAY").is_err());
        assert!(CronSchedule::parse("").is_err());
    }

    #[test]
    fn a_schedule_keeps_its_text_and_serializes_as_it() {
        let schedule = CronSchedule::parse(" 0 3 * * * ").unwrap();
        assert_eq!(schedule.expression(), "0 3 * * *");
        assert_eq!(serde_json::to_string(&schedule).unwrap(), "\"0 3 * * *\"");
    }

    #[test]
    fn an_expression_that_never_matches_has_no_next_run() {
        with_tz(
            "UTC",
            concat!(
                module_path!(),
                "::an_expression_that_never_matches_has_no_next_run"
            ),
            || {
                let schedule = CronSchedule::parse("0 0 30 2 *").unwrap();
                assert_eq!(schedule.next_after(at(BASE)), None);
            },
        );
    }
}
