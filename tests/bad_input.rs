//! Property tests on every parser that reads input from outside: the
//! svc.toml loader, the query-string parser, the JSON body reader and validators, the API's
//! environment settings, and the log pipeline: a child's raw output cut into lines by the pipe
//! reader, each line turned into one JSON record (`svc::logs::record::format_line`), and the
//! records read back by `svc logs` (history, `-n`, filters, gzip), plus the reader on files of
//! any bytes and the timestamp/level parsers.
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
use serde_json::{Map, Number, Value};
use svc::logs::capture::{MAX_LINE, Splitter};
use svc::logs::family::Family;
use svc::logs::read::render::Renderer;
use svc::logs::read::{Filter, Output, history};
use svc::logs::record::{Level, Origin, Stream, format_line};

/// How long one input may take before the test calls it a hang (generous: a loaded machine is slow).
const PER_INPUT: Duration = Duration::from_secs(5);

/// Runs `f` on its own thread and fails when it panics or does not finish within [`PER_INPUT`].
fn within<T: Send + 'static>(
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
fn run<S: Strategy>(
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

// ---------------------------------------------------------------------------------------------
// Shared generators
// ---------------------------------------------------------------------------------------------

/// Strings meant to hurt: control characters, CR/LF, NUL, RTL marks, emoji, long runs, regex and
/// LIKE metacharacters, numbers out of every range, operator names.
fn hostile_text() -> impl Strategy<Value = String> {
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

// ---------------------------------------------------------------------------------------------
// svc.toml
// ---------------------------------------------------------------------------------------------

const TOML_KEYS: &[&str] = &[
    "command",
    "instances",
    "cwd",
    "env",
    "autostart",
    "restart",
    "restart_delay",
    "max_restart_delay",
    "min_uptime",
    "max_restarts",
    "stop_signal",
    "stop_timeout",
    "ready",
    "listen",
    "logs",
    "http",
    "tcp",
    "notify",
    "uptime",
    "timeout",
    "max_size",
    "keep",
    "compress",
    "state_dir",
    "log_dir",
    "metrics",
    "PORT",
    "LOG_LEVEL",
    "restrat",
    "\"quoted key\"",
    "\"ké y\"",
    "a.b",
    "'lit'",
    "\"\"",
    "env.PORT",
    "programs.x.command",
];

fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOML_KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z_][a-zA-Z0-9_-]{0,10}",
        1 => "[ -~]{1,8}",
    ]
}

fn toml_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"100ms\"",
            "\"5s\"",
            "\"1h 30m\"",
            "\"soon\"",
            "\"0s\"",
            "\"99999999999999999999s\"",
            "\"10MiB\"",
            "\"1GB\"",
            "\"99999999999999999999GiB\"",
            "\"SIGTERM\"",
            "\"TERM\"",
            "\"SIGNOPE\"",
            "\"notify\"",
            "\"always\"",
            "\"on-failure\"",
            "\"never\"",
            "\"\"",
            "\"127.0.0.1:3000\"",
            "\"[::1]:0\"",
            "\"http://127.0.0.1:1/ready\"",
            "\"ftp://x\"",
            "[\"svc\", \"api\"]",
            "[\"sleep\", \"1\"]",
            "[]",
            "[\"\"]",
            "nan",
            "inf",
            "-inf",
            "true",
            "false",
            "1979-05-27T07:32:00Z",
            "0x10",
            "0o7",
            "0b1",
            "1_000",
            "+1",
            "-0",
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{15,40}",
        any::<f64>().prop_map(|f| format!("{f:?}")),
        hostile_text().prop_map(|s| format!("{s:?}")),
        "'[^'\n]{0,12}'",
        "\"\"\"[ -~\n]{0,20}\"\"\"",
        "[ -~]{0,12}",
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    toml_leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((toml_key(), inner), 0..4).prop_map(|kv| {
                let pairs: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "[daemon]", "[env]", "[logs]", "[programs.api]", "[programs.worker]", "[programs.web]",
            "[programs.\"we ird\"]", "[programs.\"\"]", "[programs.api.env]", "[programs.api.logs]",
            "[programs.api.ready]", "[[programs]]", "[programs]", "[daemon.x]", "[", "]", "[[",
            "[programs.api]\ncommand = [\"svc\", \"api\"]",
        ])
        .prop_map(str::to_owned),
        8 => (toml_key(), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "#[ -~]{0,20}",
        1 => "[ -~]{0,30}",
        1 => Just(String::new()),
    ]
}

/// The repo's own svc.toml, cut, spliced and extended at random.
fn mutated_svc_toml() -> impl Strategy<Value = String> {
    let base = include_str!("../svc.toml");
    let lines: Vec<String> = base.lines().map(str::to_owned).collect();
    let n = lines.len();
    prop::collection::vec((0..n, 0usize..4, toml_line()), 1..6).prop_map(move |edits| {
        let mut out = lines.clone();
        for (at, op, line) in edits {
            let at = at.min(out.len().saturating_sub(1));
            match op {
                0 if !out.is_empty() => {
                    out.remove(at);
                }
                1 => out.insert(at, line),
                2 if !out.is_empty() => out[at] = line,
                _ if !out.is_empty() => {
                    let copy = out[at].clone();
                    out.insert(at, copy);
                }
                _ => out.push(line),
            }
        }
        out.join("\n")
    })
}

fn toml_document() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(toml_line(), 0..25).prop_map(|l| l.join("\n")),
        2 => mutated_svc_toml(),
        1 => ".{0,200}",
    ]
}

#[test]
fn svc_toml_loading_never_panics_or_hangs_and_names_the_key_of_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("svc.toml");
    run("svc.toml", 3000, toml_document(), |text| {
        std::fs::write(&path, &text).unwrap();
        let file = path.clone();
        let loaded = within("svc.toml", move || svc::config::Config::load(&file))?;
        let lines = text.lines().count().max(1);
        match loaded {
            Ok(config) => {
                for program in &config.programs {
                    prop_assert!((1..=256).contains(&program.instances));
                    prop_assert!(!program.command.is_empty() && !program.command[0].is_empty());
                    prop_assert!(
                        program
                            .name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                        "accepted program name {:?}",
                        program.name
                    );
                    prop_assert!(program.restart.delay <= program.restart.max_delay);
                }
            }
            Err(svc::config::ConfigError::Invalid { problems }) => {
                prop_assert!(!problems.is_empty());
                for problem in problems {
                    prop_assert!(!problem.key.is_empty(), "no key: {problem}");
                    prop_assert!(!problem.message.is_empty(), "no message: {problem}");
                    prop_assert!(
                        (1..=lines + 1).contains(&problem.line),
                        "line {} of a {lines}-line file: {problem}",
                        problem.line
                    );
                }
            }
            Err(other) => prop_assert!(false, "a text file could not be read: {other}"),
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------------

const QUERY_NAMES: &[&str] = &[
    "search",
    "category",
    "brand",
    "tags",
    "inStock",
    "minPrice",
    "maxPrice",
    "price[gt]",
    "price[gte]",
    "price[lt]",
    "price[lte]",
    "sort",
    "page",
    "limit",
    "fields",
    "includeDeleted",
    "price[ne]",
    "price[$ne]",
    "price[$gt]",
    "price[regex]",
    "price[]",
    "price[",
    "price]",
    "category[$ne]",
    "search[$regex]",
    "stock[gte]",
    "page[$gt]",
    "__proto__",
    "",
    "%5B",
    "a[b][c]",
];

fn query_name() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => prop::sample::select(QUERY_NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z$\\[\\]._%-]{0,12}",
        1 => hostile_text(),
    ]
}

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[0-9]{1,40}",
        2 => "-?[0-9]{1,7}(\\.[0-9]{0,4})?",
        2 => prop::sample::select(vec![
            "1", "10", "100", "1000000", "1000001", "0", "true", "false", "1e309", "1e3",
            "9223372036854775808", "4294967296", "NaN", "inf", "Infinity", "-0", "0x10", "+1",
            "1.", ".5", "price:asc,-createdAt,title", "-price", "price:up", "price,-price",
            "title,price", "id", "passwordHash", "a,,b", "phone", "50%", "_", "%_", ".*", "(a|b)*",
            "^$", "[a-z]+", "\\", "%00", "a%0Ab", "%E2%80%AE", "%ff%fe", "%zz", "%",
        ])
        .prop_map(str::to_owned),
        2 => hostile_text(),
    ]
}

/// Raw query strings: pairs joined with every separator mistake, some percent-encoded whole.
fn query_string() -> impl Strategy<Value = String> {
    let pair =
        (query_name(), query_value(), 0usize..5).prop_map(|(name, value, style)| match style {
            0 => form_urlencoded::Serializer::new(String::new())
                .append_pair(&name, &value)
                .finish(),
            1 => name,
            2 => format!("{name}=={value}"),
            _ => format!("{name}={value}"),
        });
    prop_oneof![
        6 => (prop::collection::vec(pair, 0..24), prop::sample::select(vec!["&", "&&", ";", "&amp;"]))
            .prop_map(|(pairs, sep)| pairs.join(sep)),
        1 => "[ -~]{0,300}",
        1 => (1usize..3000).prop_map(|n| (0..n).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&")),
        1 => (1usize..3000).prop_map(|n| "page=1&".repeat(n)),
    ]
}

/// The decoded parameter names of `raw`, as the parser sees them.
fn decoded_names(raw: &str) -> Vec<String> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect()
}

/// Every error names a parameter the query holds (cut to 64 characters plus `…`).
fn errors_name_parameters(
    raw: &str,
    errors: &[svc::domain::FieldError],
) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty(), "an empty rejection for {raw:?}");
    let names = decoded_names(raw);
    for error in errors {
        prop_assert!(
            !error.message.is_empty(),
            "no message for {:?}",
            error.field
        );
        let shown = error.field.strip_suffix('…').unwrap_or(&error.field);
        prop_assert!(shown.chars().count() <= 64, "a long name reflected whole");
        prop_assert!(
            names.iter().any(|n| n.starts_with(shown)) || (shown == "query" && names.len() > 64),
            "error {:?} ({}) names no parameter of {raw:?}",
            error.field,
            error.message
        );
    }
    Ok(())
}

#[test]
fn query_strings_never_panic_or_hang_and_every_error_names_a_parameter() {
    run("query strings", 3000, query_string(), |raw| {
        let input = raw.clone();
        let (products, users, item, none) = within("query", move || {
            (
                svc::query::parse_products(Some(&input)),
                svc::query::parse_users(Some(&input)),
                svc::query::parse_item(Some(&input)),
                svc::query::parse_none(Some(&input)),
            )
        })?;
        match products {
            Ok(q) => {
                prop_assert!((1..=1_000_000).contains(&q.page.page));
                prop_assert!((1..=100).contains(&q.page.limit));
                prop_assert!(!q.sort.is_empty());
                if let Some(search) = &q.filter.search {
                    prop_assert!(!search.is_empty() && search.chars().count() <= 100);
                    prop_assert!(!search.chars().any(char::is_control));
                }
                prop_assert!(q.filter.tags.len() <= 20);
                let bounds = [q.filter.price.lower, q.filter.price.upper];
                for bound in bounds.iter().flatten() {
                    prop_assert!(bound.value.is_finite() && bound.value >= 0.0);
                }
                if let (Some(low), Some(high)) = (q.filter.price.lower, q.filter.price.upper) {
                    prop_assert!(low.value <= high.value);
                }
            }
            Err(invalid) => errors_name_parameters(&raw, &invalid.0)?,
        }
        match users {
            Ok(q) => prop_assert!((1..=1_000_000).contains(&q.page.page)),
            Err(invalid) => errors_name_parameters(&raw, &invalid.0)?,
        }
        if let Err(invalid) = item {
            errors_name_parameters(&raw, &invalid.0)?;
        }
        match none {
            Ok(()) => prop_assert!(decoded_names(&raw).is_empty(), "{raw:?} taken by a write"),
            Err(invalid) => errors_name_parameters(&raw, &invalid.0)?,
        }
        Ok(())
    });
}

#[test]
fn page_and_limit_accept_exactly_the_documented_ranges() {
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..1_000_002).prop_map(|n| n.to_string()),
        "[0-9]{0,25}",
        query_value(),
    ];
    run(
        "page/limit oracle",
        2000,
        (number.clone(), number),
        |(page, limit)| {
            let raw = form_urlencoded::Serializer::new(String::new())
                .append_pair("page", &page)
                .append_pair("limit", &limit)
                .finish();
            let input = raw.clone();
            let parsed = within("page/limit", move || {
                svc::query::parse_products(Some(&input))
            })?;
            let in_range = |text: &str, max: u64| {
                !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && text.parse::<u64>().is_ok_and(|n| (1..=max).contains(&n))
            };
            let (page_ok, limit_ok) = (in_range(&page, 1_000_000), in_range(&limit, 100));
            match parsed {
                Ok(q) => {
                    prop_assert!(page_ok && limit_ok, "{raw:?} accepted");
                    prop_assert_eq!(q.page.page.to_string(), page.trim_start_matches('0'));
                    prop_assert_eq!(q.page.limit.to_string(), limit.trim_start_matches('0'));
                }
                Err(invalid) => {
                    let mut named: Vec<&str> = invalid.0.iter().map(|e| e.field.as_str()).collect();
                    named.sort_unstable();
                    let mut expected = Vec::new();
                    if !limit_ok {
                        expected.push("limit");
                    }
                    if !page_ok {
                        expected.push("page");
                    }
                    prop_assert_eq!(named, expected, "for {:?}", raw);
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// JSON bodies
// ---------------------------------------------------------------------------------------------

const BODY_KEYS: &[&str] = &[
    "title",
    "description",
    "price",
    "brand",
    "category",
    "tags",
    "stock",
    "name",
    "email",
    "password",
    "id",
    "_id",
    "createdAt",
    "deletedAt",
    "isAdmin",
    "role",
    "$ne",
    "$gt",
    "$where",
    "__proto__",
    "constructor",
    "price.$gt",
    "",
    " title",
    "TITLE",
    "🙂",
];

fn json_leaf() -> impl Strategy<Value = Value> {
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

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(body_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(BODY_KEYS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// A sign-up whose fields are each valid-looking or hostile, so the user validator's
/// acceptance is exercised too (random objects rarely hold three valid fields at once).
fn sign_up() -> impl Strategy<Value = Value> {
    let valid_or = |valid: &'static str| {
        prop_oneof![
            2 => Just(Value::String(valid.to_owned())),
            1 => hostile_text().prop_map(Value::String),
            1 => hostile_text().prop_map(move |h| Value::String(format!("{valid}{h}"))),
        ]
    };
    (valid_or("Ann"), valid_or("ann@example.com"), valid_or("correct horse"))
        .prop_map(|(name, email, password)| {
            serde_json::json!({"name": name, "email": email, "password": password})
        })
}

/// Mostly objects with the known fields (values valid-looking or hostile), some anything.
fn json_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => sign_up(),
        4 => prop::collection::btree_map(body_key(), json_value(), 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        1 => json_value(),
        1 => (1usize..120).prop_map(|depth| {
            let mut v = Value::String("deep".into());
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            serde_json::json!({"title": v, "price": 1})
        }),
    ]
}

/// Every error names a key of the body, or the body itself.
fn errors_name_fields(
    body: &Value,
    errors: &[svc::domain::FieldError],
) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty());
    for error in errors {
        prop_assert!(!error.message.is_empty());
        let known = error.field == "body"
            || ["title", "price", "name", "email", "password"].contains(&error.field.as_str())
            || body
                .as_object()
                .is_some_and(|m| m.contains_key(&error.field));
        prop_assert!(
            known,
            "error names {:?}, not a field of {body}",
            error.field
        );
    }
    Ok(())
}

#[test]
fn body_validators_never_panic_or_hang_and_name_every_bad_field() {
    use svc::domain::product::{MAX_PRICE, MAX_STOCK};
    use svc::domain::{NewProduct, NewUser, ProductPatch};
    run("JSON body validators", 3000, json_body(), |body| {
        let input = body.clone();
        let (new, patch, user) = within("validators", move || {
            (
                NewProduct::from_json(&input),
                ProductPatch::from_json(&input),
                NewUser::from_json(&input),
            )
        })?;
        match new {
            Ok(p) => {
                let len = p.title.chars().count();
                prop_assert!((1..=200).contains(&len) && p.title.trim() == p.title);
                prop_assert!(p.price.is_finite() && (0.0..=MAX_PRICE).contains(&p.price));
                prop_assert!((0..=MAX_STOCK).contains(&p.stock));
                prop_assert!(p.tags.len() <= 20);
                prop_assert!(p.tags.iter().all(|t| (1..=30).contains(&t.chars().count())));
            }
            Err(invalid) => errors_name_fields(&body, &invalid.0)?,
        }
        match patch {
            Ok(p) => {
                prop_assert!(body.as_object().is_some_and(|m| !m.is_empty()));
                if let Some(price) = p.price {
                    prop_assert!(price.is_finite() && price >= 0.0);
                }
            }
            Err(invalid) => errors_name_fields(&body, &invalid.0)?,
        }
        match user {
            Ok(u) => {
                let email = u.email.as_str();
                prop_assert_eq!(email, email.trim().to_lowercase());
                prop_assert!(email.contains('@'));
                prop_assert!((1..=100).contains(&u.name.chars().count()));
                prop_assert!(
                    !u.name.chars().any(char::is_control),
                    "a name with control characters would fail its welcome email: {:?}",
                    u.name
                );
                prop_assert!((8..=128).contains(&u.password.expose().chars().count()));
            }
            Err(invalid) => errors_name_fields(&body, &invalid.0)?,
        }
        Ok(())
    });
}

/// Raw request bodies: JSON text cut, spliced and broken, deep nesting, numbers past `f64`,
/// `NaN`/`Infinity`, invalid UTF-8, a BOM, and bodies right at the size limit.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let text = || json_body().prop_map(|v| v.to_string().into_bytes());
    prop_oneof![
        3 => (text(), any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..6))
            .prop_map(|(mut bytes, at, junk)| {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, junk);
                bytes
            }),
        2 => (text(), any::<prop::sample::Index>()).prop_map(|(mut bytes, at)| {
            bytes.truncate(at.index(bytes.len() + 1));
            bytes
        }),
        1 => text(),
        2 => prop::sample::select(vec![
            "{\"title\":\"t\",\"price\":1e309}", "{\"title\":\"t\",\"price\":-1e309}",
            "{\"title\":\"t\",\"price\":NaN}", "{\"title\":\"t\",\"price\":Infinity}",
            "{\"title\":\"t\",\"price\":123456789012345678901234567890}",
            "{\"title\":\"t\",\"stock\":9223372036854775808,\"price\":1}",
            "{\"title\":\"t\",\"price\":1,\"price\":2}", "\u{FEFF}{}", "{\"a\":\"\\ud800\"}",
            "{\"title\":\"\\u0000\",\"price\":1}", "[]", "null", "\"s\"", "1", "", " ", "{",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => (1usize..10_000, prop::sample::select(vec![b'[', b'{'])).prop_map(|(n, open)| {
            if open == b'{' {
                "{\"a\":".repeat(n / 5).into_bytes()
            } else {
                vec![b'['; n]
            }
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (9_990usize..10_010).prop_map(|n| {
            let mut body = br#"{"title":"padded","price":1}"#.to_vec();
            body.resize(n, b' ');
            body
        }),
    ]
}

/// The body limits the JSON extractor reads from the router's state: the API's defaults.
#[derive(Clone)]
struct Limits;

const LIMIT: usize = 10_000;

impl axum::extract::FromRef<Limits> for svc::api::extract::BodyLimit {
    fn from_ref(_: &Limits) -> Self {
        svc::api::extract::BodyLimit(LIMIT)
    }
}

impl axum::extract::FromRef<Limits> for svc::api::extract::BodyTimeout {
    fn from_ref(_: &Limits) -> Self {
        svc::api::extract::BodyTimeout(Duration::from_secs(10))
    }
}

#[test]
fn json_bodies_are_read_or_refused_with_the_position_and_never_hang() {
    use axum::extract::FromRequest;
    use svc::api::error::ErrorCode;
    use svc::api::extract::JsonBody;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    run("JSON body reader", 3000, body_bytes(), |bytes| {
        let len = bytes.len();
        let request = axum::http::Request::post("/api/products")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(bytes.clone()))
            .unwrap();
        let read = runtime
            .block_on(async {
                tokio::time::timeout(PER_INPUT, JsonBody::from_request(request, &Limits)).await
            })
            .map_err(|_| TestCaseError::fail("the body reader hung"))?;
        match read {
            Ok(JsonBody(value)) => {
                prop_assert!(len <= LIMIT);
                prop_assert_eq!(serde_json::from_slice::<Value>(&bytes).ok(), Some(value));
            }
            Err(error) if len > LIMIT => prop_assert_eq!(error.code, ErrorCode::PayloadTooLarge),
            Err(error) => {
                prop_assert_eq!(error.code, ErrorCode::ValidationError, "{:?}", error);
                prop_assert_eq!(error.details.len(), 1);
                prop_assert_eq!(error.details[0].field.as_str(), "body");
                let position: usize = error
                    .message
                    .split("position ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        TestCaseError::fail(format!("no position: {}", error.message))
                    })?;
                prop_assert!(position <= len, "position {position} past {len} bytes");
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// The API's environment
// ---------------------------------------------------------------------------------------------

const ENV_NAMES: &[&str] = &[
    "HOST",
    "PORT",
    "DATA_DIR",
    "LOG_LEVEL",
    "CORS_ORIGINS",
    "RATE_LIMIT",
    "BODY_LIMIT",
    "TRUSTED_PROXIES",
    "DB_URL",
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "AUTH_SECRET",
    "AUTH_SECRET_PREVIOUS",
    "AUTH_TOKEN_TTL",
    "AUTH_REFRESH_TTL",
    "AUTH_RATE_LIMIT",
    "METRICS_ALLOW",
    "METRICS_TOKEN",
];

fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "0",
            "3000",
            "65535",
            "65536",
            "-1",
            "localhost",
            "::1",
            "0.0.0.0",
            "999.1.1.1",
            "info",
            "debug",
            "svc=debug,info",
            "loud",
            "off",
            "*",
            "https://a.example",
            "https://a.example,http://b.example:8080",
            "a.example",
            "100/15m",
            "0/1s",
            "1/0s",
            "1/25h",
            "5/1s",
            "10kb",
            "1MiB",
            "0",
            "99999999999999999999mb",
            "10.0.0.0/8",
            "10.0.0.0/33",
            "::1/128",
            "mongodb://x",
            "redis://127.0.0.1:6379",
            "15m",
            "14d",
            "0123456789abcdef0123456789abcdef",
            "x",
            "",
        ])
        .prop_map(str::to_owned),
        hostile_text(),
    ]
}

#[test]
fn api_settings_are_read_or_refused_naming_each_variable() {
    let env = prop::collection::btree_map(prop::sample::select(ENV_NAMES), env_value(), 0..8);
    run("API settings", 3000, env, |vars| {
        let lookup = vars.clone();
        let read = within("settings", move || {
            svc::api::Settings::from_lookup(|name| lookup.get(name).cloned())
        })?;
        if let Err(error) = read {
            prop_assert!(!error.0.is_empty());
            for (var, message) in &error.0 {
                prop_assert!(vars.contains_key(var.as_str()) || ENV_NAMES.contains(&var.as_str()));
                prop_assert!(!message.is_empty(), "no message for {var}");
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Log lines: a child's output → one record per line (the daemon's writer side) → `svc logs`
// ---------------------------------------------------------------------------------------------

/// The time the daemon read a line (what a record without a readable time of its own gets).
const READ_AT: &str = "2026-11-29T10:42:07.123Z";

/// Where records come from: two programs, one with a name that needs escaping.
const ORIGINS: [Origin<'static>; 2] = [
    Origin {
        program: "api",
        instance: 0,
        pid: Some(4242),
    },
    Origin {
        program: "wörk\"er",
        instance: 3,
        pid: None,
    },
];

/// Keys loggers write, including every one the daemon owns, renames or normalises.
const LOG_KEYS: &[&str] = &[
    "time",
    "timestamp",
    "level",
    "msg",
    "message",
    "program",
    "instance",
    "pid",
    "requestId",
    "reqId",
    "request_id",
    "requestID",
    "req_id",
    "stream",
    "source",
    "part",
    "levelName",
    "originalTime",
    "hostname",
    "err",
    "",
];

/// The request ids the filter tests look for (they also appear as values).
const REQUEST_IDS: &[&str] = &["r-1", "1", "\"", ""];

fn log_level_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "trace", "DEBUG", "Info", "notice", "warning", "WARN", "err", "fatal", "chatty",
            " error ", "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        prop::sample::select(vec![
            10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 35.5, -1.0, 100.0, 100.5, 1e300
        ])
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        json_leaf(),
    ]
}

fn log_time_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        rfc3339ish().prop_map(Value::String),
        prop::sample::select(vec![
            1_764_412_927_123.0,
            1_764_412_927.5,
            978_307_200.0,
            978_307_199.0,
            9_999_999_999.0,
            9_999_999_999_999.0,
            10_000_000_000_000.0,
            1e308,
            -5.0,
            0.0,
        ])
        .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        json_leaf(),
    ]
}

/// Timestamps that look like RFC 3339, right or subtly wrong (any digits, any offset).
fn rfc3339ish() -> impl Strategy<Value = String> {
    "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|z|[+-][0-9]{2}:[0-9]{2}|[+-][0-9]{4})?"
}

/// A field's value: any JSON, small (generation dominates the cost of these cases).
fn log_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(LOG_KEYS), inner, 0..4).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            ),
        ]
    })
}

/// A JSON object as a logger writes it: known keys with values of any type, the special
/// fields (`level`, `time`, `timestamp`, request ids) often present, nesting.
fn log_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => prop::sample::select(LOG_KEYS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ];
    let request_id = prop_oneof![
        3 => prop::sample::select(REQUEST_IDS).prop_map(|s| Value::String(s.to_owned())),
        1 => Just(Value::from(1)),
        1 => json_leaf(),
    ];
    (
        prop::collection::btree_map(key, log_value(), 0..6),
        proptest::option::of(log_level_value()),
        proptest::option::of(log_time_value()),
        proptest::option::of(log_time_value()),
        proptest::option::of((prop::sample::select(&LOG_KEYS[8..13]), request_id)),
    )
        .prop_map(|(fields, level, time, timestamp, request_id)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            let mut set = |key: &str, value: Option<Value>| {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            };
            set("level", level);
            set("time", time);
            set("timestamp", timestamp);
            if let Some((key, id)) = request_id {
                set(key, Some(id));
            }
            object
        })
}

/// `depth` nested arrays or objects: past serde_json's recursion limit (128) the line is text.
fn nested(depth: usize, arrays: bool) -> Vec<u8> {
    let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
    format!("{{\"msg\":{}1{}}}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

/// One line of a child's output (it may hold newlines itself: then it is several).
fn child_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => log_object().prop_map(|m| Value::Object(m).to_string().into_bytes()),
        1 => (log_object(), "[ \t\r\u{b}\u{c}]{0,3}", "[ \t\r\u{c}]{0,3}").prop_map(
            |(m, before, after)| format!("{before}{}{after}", Value::Object(m)).into_bytes()
        ),
        2 => prop::collection::vec(any::<u8>(), 0..200),
        2 => hostile_text().prop_map(String::into_bytes),
        1 => (1usize..3000, any::<bool>()).prop_map(|(depth, arrays)| nested(depth, arrays)),
    ]
}

/// A line around and past [`MAX_LINE`]: text or a JSON object, in characters of 1 to 4 bytes
/// (so the cuts meet character boundaries) or NUL / CR.
fn huge_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["a", "é", "€", "🙂", "\0", "\r"]),
        (MAX_LINE - 8)..(MAX_LINE * 2 + 8),
        any::<bool>(),
    )
        .prop_map(|(unit, bytes, json)| {
            let text = unit.repeat(bytes / unit.len());
            if json {
                Value::Object(Map::from_iter([("msg".to_owned(), Value::String(text))]))
                    .to_string()
                    .into_bytes()
            } else {
                text.into_bytes()
            }
        })
}

/// A child's whole output: lines ended by `\n` or `\r\n` (the last maybe unended), read from
/// the pipe in pieces of arbitrary sizes.
#[derive(Debug, Clone)]
struct ChildOutput {
    bytes: Vec<u8>,
    reads: Vec<usize>,
    stream: Stream,
    /// Where the records are split between a finished (older) and the current file.
    split: prop::sample::Index,
    /// Whether the older file is compressed.
    gz: bool,
    /// `svc logs -n N`.
    last: prop::sample::Index,
}

fn child_output() -> impl Strategy<Value = ChildOutput> {
    (
        prop::collection::vec((child_line(), any::<bool>()), 0..8),
        proptest::option::weighted(0.1, (huge_line(), any::<prop::sample::Index>())),
        any::<bool>(),
        prop::collection::vec(1usize..80_000, 1..8),
        any::<bool>(),
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |(mut lines, huge, unended, reads, stderr, split, gz, last)| {
                if let Some((line, at)) = huge {
                    lines.insert(at.index(lines.len() + 1), (line, false));
                }
                let mut bytes = Vec::new();
                let count = lines.len();
                for (i, (line, crlf)) in lines.into_iter().enumerate() {
                    bytes.extend_from_slice(&line);
                    if !(unended && i + 1 == count) {
                        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                    }
                }
                let stream = if stderr {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                ChildOutput {
                    bytes,
                    reads,
                    stream,
                    split,
                    gz,
                    last,
                }
            },
        )
}

/// The lines of a byte stream (what a reader of the pipe should see), without their `\n`.
fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    body.split(|&b| b == b'\n').collect()
}

/// Feeds `bytes` to a [`Splitter`] in reads of the given sizes; every piece and its part.
fn split_pipe(bytes: &[u8], reads: &[usize]) -> Vec<(Vec<u8>, u32)> {
    let mut splitter = Splitter::default();
    let mut pieces = Vec::new();
    let mut collect = |chunk: Option<svc::logs::capture::Chunk>| {
        if let Some(chunk) = chunk {
            for piece in &chunk.lines {
                pieces.push((chunk.data[piece.range.clone()].to_vec(), piece.part));
            }
        }
    };
    let mut rest = bytes;
    for size in reads.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (now, later) = rest.split_at((*size).min(rest.len()));
        splitter.buffer().extend_from_slice(now);
        collect(splitter.take(false));
        rest = later;
    }
    collect(splitter.take(true));
    pieces
}

/// The keys of a JSON object in the order written, duplicates kept.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn trim_line_end(mut line: &[u8]) -> &[u8] {
    while let Some(rest) = line
        .strip_suffix(b"\n")
        .or_else(|| line.strip_suffix(b"\r"))
    {
        line = rest;
    }
    line
}

/// The object a whole line is, when it is one (surrounding ASCII whitespace allowed).
fn line_object(line: &[u8]) -> Option<Map<String, Value>> {
    let line = trim_line_end(line);
    let start = line.iter().position(|b| !b.is_ascii_whitespace())?;
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace())?;
    serde_json::from_slice(&line[start..=end]).ok()
}

fn default_level(stream: Stream) -> Level {
    match stream {
        Stream::Stdout => Level::Info,
        Stream::Stderr => Level::Error,
    }
}

/// A child's time value as the record's `time`, when the daemon can read it.
fn normalised_time(value: &Value) -> Option<String> {
    use svc::logs::time;
    let at = match value {
        Value::String(text) => time::parse(text)?,
        Value::Number(n) => time::from_epoch(n.as_f64()?)?,
        _ => return None,
    };
    Some(time::format(at))
}

/// `value` printed and read back: what a reader of a record gets for a value the daemon parsed
/// (serde_json reads some floats one unit in the last place off, so compare after the same trip).
fn reparsed(value: &Value) -> Value {
    serde_json::from_str(&value.to_string()).unwrap_or(Value::Null)
}

/// Checks one record against the piece of output it was made from.
fn check_record(
    piece: &[u8],
    part: u32,
    stream: Stream,
    origin: Origin<'_>,
    level: Level,
    raw: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert!(raw.ends_with(b"\n"), "a record ends its line");
    let raw = &raw[..raw.len() - 1];
    prop_assert!(!raw.contains(&b'\n'), "one line per record");
    let record: Map<String, Value> = serde_json::from_slice(raw)
        .map_err(|e| TestCaseError::fail(format!("not a JSON object ({e}): {raw:?}")))?;
    let keys = serde_json::from_slice::<Keys>(raw)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .0;
    prop_assert_eq!(keys.len(), record.len(), "duplicate keys in {:?}", keys);
    prop_assert_eq!(
        &keys[..6],
        &["time", "level", "msg", "program", "instance", "pid"][..]
    );
    if record.contains_key("requestId") {
        prop_assert_eq!(keys[6].as_str(), "requestId");
    }
    // Where it came from: always the daemon's values.
    prop_assert_eq!(&record["program"], origin.program);
    prop_assert_eq!(&record["instance"], origin.instance);
    prop_assert_eq!(&record["pid"], &origin.pid.map_or(Value::Null, Value::from));
    prop_assert_eq!(&record["level"], level.as_str());
    let time = record["time"].as_str().unwrap_or_default();
    prop_assert!(
        time.len() == 24 && svc::logs::time::parse(time).is_some(),
        "time {time:?}"
    );

    let object = if part == 0 { line_object(piece) } else { None };
    let Some(mut child) = object else {
        // Text: wrapped whole, nothing lost but invalid UTF-8 (replaced) and the line end.
        let text = String::from_utf8_lossy(if part == 0 {
            trim_line_end(piece)
        } else {
            piece
        });
        prop_assert_eq!(&record["msg"], &Value::String(text.into_owned()));
        prop_assert_eq!(level, default_level(stream));
        prop_assert_eq!(time, READ_AT);
        let mut expected = 6;
        if stream == Stream::Stderr {
            prop_assert_eq!(&record["stream"], "stderr");
            expected += 1;
        }
        if part > 0 {
            prop_assert_eq!(&record["part"], part);
            expected += 1;
        }
        prop_assert_eq!(record.len(), expected, "extra keys in {:?}", record);
        return Ok(());
    };

    // An object: the child's fields stay; the daemon's conventions apply to the few it owns.
    let child_level = child.remove("level");
    let parsed_level = match &child_level {
        Some(Value::String(text)) => Level::parse_loose(text),
        Some(Value::Number(n)) => n.as_f64().and_then(Level::from_number),
        _ => None,
    };
    prop_assert_eq!(level, parsed_level.unwrap_or(default_level(stream)));
    let mut moved = Vec::new();
    if let (Some(value), None) = (&child_level, parsed_level) {
        prop_assert_eq!(
            &record["levelName"],
            &reparsed(value),
            "an unknown level is kept"
        );
        moved.push("levelName");
    }
    match child.remove("time") {
        Some(value) => match normalised_time(&value) {
            Some(normal) => prop_assert_eq!(time, normal.as_str()),
            None => {
                prop_assert_eq!(
                    &record["originalTime"],
                    &reparsed(&value),
                    "an unreadable time is kept"
                );
                prop_assert_eq!(time, READ_AT);
                moved.push("originalTime");
            }
        },
        None => match child.get("timestamp").and_then(normalised_time) {
            Some(normal) => {
                prop_assert_eq!(time, normal.as_str());
                child.remove("timestamp");
            }
            None => prop_assert_eq!(time, READ_AT),
        },
    }
    let msg = match child.remove("msg") {
        Some(msg) => msg,
        None => child
            .remove("message")
            .unwrap_or(Value::String(String::new())),
    };
    prop_assert_eq!(&record["msg"], &reparsed(&msg));
    for owned in ["program", "instance", "pid"] {
        child.remove(owned);
    }
    let request_id = child.remove("requestId").or_else(|| {
        ["reqId", "request_id", "requestID", "req_id"]
            .iter()
            .find_map(|alias| child.remove(*alias))
    });
    let request_id = request_id.map(|id| reparsed(&id));
    prop_assert_eq!(record.get("requestId"), request_id.as_ref());
    let mut expected = 6 + usize::from(request_id.is_some());
    if stream == Stream::Stderr && !child.contains_key("stream") {
        prop_assert_eq!(&record["stream"], "stderr");
        expected += 1;
    }
    // The daemon's moves win over a child's own `levelName` / `originalTime`: the only child
    // fields a record can lose (documented in docs/LOGS.md).
    for key in &moved {
        child.remove(*key);
        expected += 1;
    }
    // Everything else the child wrote, unchanged.
    for (key, value) in &child {
        prop_assert_eq!(
            record.get(key),
            Some(&reparsed(value)),
            "the child's {:?} was lost",
            key
        );
    }
    prop_assert_eq!(
        record.len(),
        expected + child.len(),
        "extra keys in {:?}",
        record
    );
    Ok(())
}

/// Collects what `svc logs` prints.
#[derive(Default)]
struct Printed(Vec<Vec<u8>>);

impl Output for Printed {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.0.push(line.to_vec());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn notice(&mut self, _: &str) {}
}

/// A log whose records are `older` (a finished file, maybe compressed) then `current` (the
/// file being written), in a temp folder.
fn write_log(
    older: &[u8],
    current: &[u8],
    gz: bool,
) -> Result<(tempfile::TempDir, Family), TestCaseError> {
    use std::io::Write;
    let fail = |e: std::io::Error| TestCaseError::fail(e.to_string());
    let dir = tempfile::tempdir().map_err(fail)?;
    let family = Family::new(dir.path(), "app.log");
    if gz {
        let file = std::fs::File::create(family.gz_path(1)).map_err(fail)?;
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        encoder.write_all(older).map_err(fail)?;
        encoder.finish().map_err(fail)?;
    } else {
        std::fs::write(family.path(1), older).map_err(fail)?;
    }
    std::fs::write(family.path(2), current).map_err(fail)?;
    Ok((dir, family))
}

/// What `svc logs` (with `filter`, `-n last`) prints of `family`.
fn read_log(
    family: &Family,
    filter: &Filter,
    last: Option<usize>,
) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let mut printed = Printed::default();
    history(family, filter, last, &mut printed).map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(printed.0)
}

/// Whether `svc logs --request-id want` should show `record`.
fn has_request_id(record: &Map<String, Value>, want: &str) -> bool {
    match record.get("requestId") {
        Some(Value::String(id)) => id == want,
        Some(Value::Number(n)) => n.to_string() == want,
        _ => false,
    }
}

fn check_child_output(case: &ChildOutput) -> Result<(), TestCaseError> {
    // The pipe reader: every line once, long ones in numbered pieces that join back.
    let pieces = split_pipe(&case.bytes, &case.reads);
    let lines = lines_of(&case.bytes);
    let mut pieces_iter = pieces.iter();
    // Which pieces make each line.
    let mut groups = Vec::new();
    let mut next = 0;
    for line in &lines {
        let mut joined = Vec::new();
        let mut parts = Vec::new();
        for (bytes, part) in pieces_iter.by_ref() {
            prop_assert!(bytes.len() <= MAX_LINE, "a piece of {} bytes", bytes.len());
            joined.extend_from_slice(bytes);
            parts.push(*part);
            if *part == 0 || joined.len() >= line.len() {
                break;
            }
        }
        prop_assert!(joined == *line, "the pieces do not join back to the line");
        groups.push(next..next + parts.len());
        next += parts.len();
        if line.len() > MAX_LINE {
            prop_assert!(parts.len() > 1);
            let numbered: Vec<u32> = (1..).take(parts.len()).collect();
            prop_assert_eq!(parts, numbered);
        } else {
            prop_assert_eq!(parts, vec![0]);
        }
    }
    prop_assert!(pieces_iter.next().is_none(), "pieces beyond the lines");

    // The writer: one record per piece.
    let mut records = Vec::new();
    let mut parsed = Vec::new();
    for (i, (piece, part)) in pieces.iter().enumerate() {
        let origin = ORIGINS[i % 2];
        let mut out = Vec::new();
        let level = format_line(&mut out, piece, case.stream, *part, origin, READ_AT);
        check_record(piece, *part, case.stream, origin, level, &out)?;
        for color in [false, true] {
            let mut shown = Vec::new();
            Renderer { json: false, color }.render(&out[..out.len() - 1], &mut shown);
        }
        out.pop();
        let record: Map<String, Value> =
            serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        parsed.push((record, level));
        records.push(out);
    }

    // A long line's pieces: their messages join back to the line (when it is UTF-8).
    for (line, range) in lines.iter().zip(&groups) {
        if let Ok(text) = std::str::from_utf8(line)
            && range.len() > 1
        {
            let joined: String = parsed[range.clone()]
                .iter()
                .map(|(record, _)| record["msg"].as_str().unwrap_or_default())
                .collect();
            prop_assert!(joined == text, "the pieces' messages do not join back");
        }
    }

    // The reader: every record back, in order, from a finished (maybe gzip) file and the
    // current one; `-n`, program, level and request-id filters pick exactly theirs.
    let at = case.split.index(records.len() + 1);
    let file = |range: &[Vec<u8>]| -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in range {
            bytes.extend_from_slice(record);
            bytes.push(b'\n');
        }
        bytes
    };
    let (_dir, family) = write_log(&file(&records[..at]), &file(&records[at..]), case.gz)?;
    let read = |filter: &Filter, last: Option<usize>| read_log(&family, filter, last);
    let pick = |keep: &dyn Fn(&Map<String, Value>, Level) -> bool| -> Vec<Vec<u8>> {
        records
            .iter()
            .zip(&parsed)
            .filter(|(_, (record, level))| keep(record, *level))
            .map(|(raw, _)| raw.clone())
            .collect()
    };
    prop_assert!(
        read(&Filter::default(), None)? == records,
        "svc logs lost or changed records"
    );
    let n = case.last.index(records.len() + 2);
    let tail = records[records.len().saturating_sub(n)..].to_vec();
    prop_assert!(
        read(&Filter::default(), Some(n))? == tail,
        "svc logs -n {n}"
    );
    let program = Filter {
        programs: vec![ORIGINS[1].program.to_owned()],
        ..Filter::default()
    };
    let want = pick(&|r, _| r["program"] == ORIGINS[1].program);
    prop_assert!(read(&program, None)? == want, "svc logs <program>");
    let warn = Filter {
        min_level: Some(Level::Warn),
        ..Filter::default()
    };
    let want = pick(&|_, level| level >= Level::Warn);
    prop_assert!(read(&warn, None)? == want, "svc logs --level warn");
    let want_tail = want[want.len().saturating_sub(n)..].to_vec();
    prop_assert!(
        read(&warn, Some(n))? == want_tail,
        "svc logs --level warn -n {n}"
    );
    let id = REQUEST_IDS[n % REQUEST_IDS.len()];
    let request = Filter {
        request_id: Some(id.to_owned()),
        ..Filter::default()
    };
    let want = pick(&|r, _| has_request_id(r, id));
    prop_assert!(
        read(&request, None)? == want,
        "svc logs --request-id {id:?}"
    );
    Ok(())
}

/// Runs `f` on a thread with a large stack: generating these nested strategies recurses deeper
/// than a test thread's 2 MiB allow in a debug build.
fn with_large_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let runner = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(scope, f)
            .expect("spawn");
        if let Err(panic) = runner.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

#[test]
fn log_lines_of_any_bytes_become_one_json_record_each_that_svc_logs_reads_back() {
    with_large_stack(|| {
        run(
            "log lines (pipe → record → svc logs)",
            500,
            child_output(),
            |case| within("log lines", move || check_child_output(&case))?,
        )
    });
}

/// What a torn or foreign file holds: records, their pieces, anything.
fn log_file_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            2 => child_line(),
            1 => (log_object(), any::<prop::sample::Index>()).prop_map(|(m, cut)| {
                let text = Value::Object(m).to_string().into_bytes();
                let at = cut.index(text.len() + 1);
                text[..at].to_vec()
            }),
            1 => Just(Vec::new()),
        ],
        0..10,
    )
    .prop_map(|lines| lines.join(&b'\n'))
}

#[test]
fn svc_logs_reads_any_file_without_panic_and_shows_only_what_matches() {
    with_large_stack(|| {
        let case = (
            log_file_bytes(),
            log_file_bytes(),
            any::<bool>(),
            0usize..12,
        );
        run(
            "log reader (any file)",
            500,
            case,
            |(older, current, gz, last)| {
                within("log reader", move || {
                    let (_dir, family) = write_log(&older, &current, gz)?;
                    let all = read_log(&family, &Filter::default(), None)?;
                    // Every non-empty line of the finished file, and the current file's complete lines.
                    let complete = match current.iter().rposition(|&b| b == b'\n') {
                        Some(end) => &current[..=end],
                        None => &current[..0],
                    };
                    let expected: Vec<Vec<u8>> = older
                        .split(|&b| b == b'\n')
                        .chain(complete.split(|&b| b == b'\n'))
                        .filter(|l| !l.is_empty())
                        .map(<[u8]>::to_vec)
                        .collect();
                    prop_assert!(all == expected, "svc logs did not show the file's lines");
                    let tail = read_log(&family, &Filter::default(), Some(last))?;
                    prop_assert!(tail == expected[expected.len().saturating_sub(last)..].to_vec());
                    for filter in [
                        Filter {
                            min_level: Some(Level::Warn),
                            ..Filter::default()
                        },
                        Filter {
                            programs: vec!["api".into()],
                            ..Filter::default()
                        },
                        Filter {
                            request_id: Some("r-1".into()),
                            ..Filter::default()
                        },
                    ] {
                        let shown = read_log(&family, &filter, Some(last))?;
                        prop_assert!(shown.len() <= last);
                        for line in read_log(&family, &filter, None)? {
                            prop_assert!(filter.matches(&line));
                            prop_assert!(
                                serde_json::from_slice::<Map<String, Value>>(&line).is_ok()
                            );
                        }
                    }
                    Ok(())
                })?
            },
        );
    });
}

#[test]
fn timestamps_and_levels_of_any_text_parse_or_are_refused_without_panic() {
    use svc::logs::time;
    let input = (
        prop_oneof![rfc3339ish(), hostile_text(), ".{0,40}"],
        any::<f64>(),
    );
    run("log times and levels", 5000, input, |(text, number)| {
        within("times", move || {
            if let Some(at) = time::parse(&text) {
                // What the writer prints reads back as the same instant (to the millisecond).
                let printed = time::format(at);
                prop_assert_eq!(printed.len(), 24);
                let again = time::parse(&printed);
                prop_assert_eq!(again.map(time::format), Some(printed));
            }
            if let Some(at) = time::from_epoch(number) {
                prop_assert!(time::parse(&time::format(at)).is_some());
            }
            let _ = Level::parse_loose(&text);
            let _ = Level::from_number(number);
            Ok(())
        })?
    });
}
