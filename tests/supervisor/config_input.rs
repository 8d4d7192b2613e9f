//! svc.toml of any shape (the repository's own file cut, spliced and extended, random keys and
//! values) through the loader: no panic, no hang, every problem named by its key. Plumbing and
//! properties: `common::fuzz`.

use proptest::prelude::*;

use crate::common::fuzz::{hostile_text, run, within};

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
    let base = include_str!("../../svc.toml");
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
