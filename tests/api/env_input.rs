//! The API's environment settings of any value: read or refused naming each variable, no panic.
//! Plumbing and properties: `common::fuzz`.

use proptest::prelude::*;

use crate::common::fuzz::{hostile_text, run, within};

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
