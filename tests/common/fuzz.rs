//! Property-test plumbing for every parser that reads input from outside (svc.toml, query
//! strings, JSON bodies, the API's environment, log lines; the targets live with their areas:
//! `supervisor::config_input`, `api::{query,body,env}_input`, `logs::line_input`).
//!
//! `cargo fuzz` needs a nightly toolchain, so these are proptest generators that produce both
//! valid-looking and hostile input. Properties for every target:
//! - no panic;
//! - no hang: each input runs on its own thread and must finish within [`PER_INPUT`];
//! - every rejection is an error that names a field, parameter or key the input holds (or the
//!   body / a line of the file), and every acceptance satisfies the type's invariants.
//!
//! Case counts: `PROPTEST_CASES` when set (the long run, `scripts/faults.sh`), else a per-target
//! default that keeps each target to a few seconds in CI. Each test prints a `FIGURE` line with
//! the number of inputs it executed (shrinking included).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Number, Value};

/// How long one input may take before the test calls it a hang (generous: a loaded machine is slow).
pub const PER_INPUT: Duration = Duration::from_secs(5);

/// Runs `f` on its own thread and fails when it panics or does not finish within [`PER_INPUT`].
pub fn within<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TestCaseError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| TestCaseError::fail(format!("cannot spawn: {e}")))?;
    match rx.recv_timeout(PER_INPUT) {
        Ok(value) => Ok(value),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!(
            "{what}: no answer within {PER_INPUT:?} (a hang)"
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(TestCaseError::fail(format!("{what}: panicked")))
        }
    }
}

/// Runs `check` on `cases` inputs of `strategy` (or `PROPTEST_CASES`) and prints the count.
pub fn run<S: Strategy>(
    target: &str,
    default_cases: u32,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let executed = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |input| {
        executed.fetch_add(1, Ordering::Relaxed);
        check(input)
    });
    eprintln!(
        "FIGURE bad-input {target}: {} inputs in {:.1} s, no panic, no hang",
        executed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if let Err(error) = result {
        panic!("{target}: {error}");
    }
}

/// Strings meant to hurt: control characters, CR/LF, NUL, RTL marks, emoji, long runs, regex and
/// LIKE metacharacters, numbers out of every range, operator names.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "\0",
            "a\r\nBcc: x@evil.example",
            "\u{202e}gnp.exe",
            "🙂🙂🙂",
            "ééé",
            "$ne",
            "$gt",
            "{\"$ne\":\"\"}",
            "__proto__",
            ".*",
            "%",
            "_",
            "\\",
            "[",
            "]",
            "%00",
            "%zz",
            "%",
            "1e309",
            "-1e309",
            "9223372036854775808",
            "18446744073709551616",
            "NaN",
            "Infinity",
            "-Infinity",
            "-0",
            "0x10",
            "1_000",
            "٣",
            "\u{FEFF}1",
            "\t",
            "\u{7f}",
            "' OR 1=1 --",
            "\"; DROP TABLE products; --",
            "${jndi:ldap://x}",
        ])
        .prop_map(str::to_owned),
        ".{0,40}",
        "[ -~]{0,60}",
        (prop::char::any(), 1usize..400).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

/// JSON scalars: every type, numbers at the edges of `f64`, valid-looking and broken emails and
/// passwords, hostile strings.
pub fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1e12,
            1e12 + 1.0,
            1e308,
            -1e-308,
            5e-324,
            0.1
        ])
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "a@b.co",
            "Ann@Example.COM",
            " a@b.co ",
            "a@b",
            "@b.co",
            "a@-b.co",
            "a..b@c.co",
            "correct horse",
            "12345678",
            "1234567",
            "phone",
            "  Phone  ",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        hostile_text().prop_map(Value::String),
    ]
}
