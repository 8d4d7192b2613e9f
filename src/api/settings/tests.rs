use super::*;
use std::collections::HashMap;

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// `vars`, plus an `AUTH_SECRET` when they name a `DB_URL` but no secret (which is refused
/// on its own, see `auth_settings`).
fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if map.contains_key("DB_URL") {
        map.entry("AUTH_SECRET".into()).or_insert(KEY.into());
    }
    Settings::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn auth_settings() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.auth.secret, None, "the embedded store makes its own key");
    assert_eq!(s.auth.token_ttl, Duration::from_secs(900));
    assert_eq!(s.auth.refresh_ttl, Duration::from_secs(14 * 86_400));
    assert_eq!(
        s.auth.rate_limit,
        Some(RateLimit {
            max: 20,
            window: Duration::from_secs(900)
        })
    );
    assert!(s.metrics_allow.is_empty() && s.metrics_token.is_none());
    let mongo =
        Settings::from_lookup(|name| (name == "DB_URL").then(|| "mongodb://db/shop".to_owned()))
            .unwrap_err();
    assert_eq!(mongo.0[0].0, "AUTH_SECRET");
    assert!(mongo.to_string().contains("is required with DB_URL"));
    let short = settings(&[("AUTH_SECRET", "sekrit-value")]).unwrap_err();
    assert_eq!(short.0[0].0, "AUTH_SECRET");
    assert!(
        !short.to_string().contains("sekrit"),
        "a secret is never repeated: {short}"
    );
    assert_eq!(
        named(&[("AUTH_SECRET_PREVIOUS", KEY)]),
        ["AUTH_SECRET_PREVIOUS"]
    );
    assert_eq!(named(&[("AUTH_TOKEN_TTL", "0s")]), ["AUTH_TOKEN_TTL"]);
    assert_eq!(named(&[("AUTH_REFRESH_TTL", "2y")]), ["AUTH_REFRESH_TTL"]);
    assert_eq!(named(&[("AUTH_RATE_LIMIT", "many")]), ["AUTH_RATE_LIMIT"]);
    assert_eq!(named(&[("METRICS_ALLOW", "pods")]), ["METRICS_ALLOW"]);
    assert_eq!(named(&[("METRICS_TOKEN", "short")]), ["METRICS_TOKEN"]);
    let s = settings(&[
        ("AUTH_SECRET", KEY),
        ("AUTH_TOKEN_TTL", "2s"),
        ("AUTH_RATE_LIMIT", "off"),
    ])
    .unwrap();
    assert_eq!(s.auth.token_ttl, Duration::from_secs(2));
    assert_eq!(s.auth.rate_limit, None);
    assert!(!format!("{s:?}").contains(KEY), "Debug hides the secret");
}

fn named(vars: &[(&str, &str)]) -> Vec<String> {
    settings(vars)
        .unwrap_err()
        .0
        .into_iter()
        .map(|(var, _)| var)
        .collect()
}

#[test]
fn defaults() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.addr, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(s.data_dir, PathBuf::from("data"));
    assert_eq!(s.body_limit, 10_000);
    assert_eq!(
        s.rate_limit,
        Some(RateLimit {
            max: 100,
            window: Duration::from_secs(900)
        })
    );
    assert_eq!(s.cors, CorsOrigins::List(vec![]));
    assert!(s.trusted_proxies.is_empty());
    assert_eq!(s.header_timeout, Duration::from_secs(10));
    assert_eq!(s.body_timeout, Duration::from_secs(10));
}

#[test]
fn values_are_read() {
    let s = settings(&[
        ("HOST", "0.0.0.0"),
        ("PORT", "0"),
        ("CORS_ORIGINS", "https://a.example, http://localhost:5173"),
        ("RATE_LIMIT", "10/1m"),
        ("BODY_LIMIT", "64KiB"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ("LOG_LEVEL", "svc=debug,warn"),
    ])
    .unwrap();
    assert_eq!(s.addr.port(), 0);
    assert_eq!(
        s.cors,
        CorsOrigins::List(vec![
            "https://a.example".into(),
            "http://localhost:5173".into()
        ])
    );
    assert_eq!(
        s.rate_limit,
        Some(RateLimit {
            max: 10,
            window: Duration::from_secs(60)
        })
    );
    assert_eq!(s.body_limit, 65_536);
    assert_eq!(s.trusted_proxies.len(), 2);
    assert_eq!(settings(&[("RATE_LIMIT", "off")]).unwrap().rate_limit, None);
    assert_eq!(
        settings(&[("CORS_ORIGINS", "*")]).unwrap().cors,
        CorsOrigins::Any
    );
}

#[test]
fn db_url_chooses_the_backend() {
    assert!(matches!(
        settings(&[]).unwrap().database,
        Database::Embedded
    ));
    let s = settings(&[
        (
            "DB_URL",
            "mongodb://127.0.0.1:27017/shop?directConnection=true",
        ),
        ("DB_POOL_MAX", "20"),
        ("DB_TIMEOUT", "1500"),
    ])
    .unwrap();
    let Database::Mongo(config) = s.database else {
        panic!("not mongo");
    };
    assert_eq!(config.database, "shop");
    assert_eq!(config.pool_max, 20);
    assert_eq!(config.timeout, Duration::from_millis(1500));
    let Database::Mongo(config) = settings(&[("DB_URL", "mongodb+srv://cluster.example.net")])
        .unwrap()
        .database
    else {
        panic!("not mongo");
    };
    assert_eq!(config.database, "svc");
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert!(
        settings(&[("DB_POOL_MAX", "5"), ("DB_TIMEOUT", "2s")]).is_ok(),
        "the knobs are checked, and harmless, without MongoDB"
    );
}

#[test]
fn every_invalid_variable_is_named() {
    let mut names = named(&[
        ("PORT", "70000"),
        ("HOST", "example.com"),
        ("LOG_LEVEL", "verbose"),
        ("CORS_ORIGINS", "app.example.com"),
        ("RATE_LIMIT", "100"),
        ("BODY_LIMIT", "10 furlongs"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("DB_URL", "postgres://x"),
        ("REDIS_URL", "localhost:6379"),
    ]);
    names.sort();
    assert_eq!(
        names,
        [
            "BODY_LIMIT",
            "CORS_ORIGINS",
            "DB_URL",
            "HOST",
            "LOG_LEVEL",
            "PORT",
            "RATE_LIMIT",
            "REDIS_URL",
            "TRUSTED_PROXIES"
        ]
    );
    assert_eq!(named(&[("RATE_LIMIT", "0/1m")]), ["RATE_LIMIT"]);
    assert_eq!(named(&[("RATE_LIMIT", "5/1ms")]), ["RATE_LIMIT"]);
    assert_eq!(named(&[("BODY_LIMIT", "0")]), ["BODY_LIMIT"]);
    assert_eq!(named(&[("HEADER_TIMEOUT", "soon")]), ["HEADER_TIMEOUT"]);
    assert_eq!(named(&[("BODY_TIMEOUT", "1ms")]), ["BODY_TIMEOUT"]);
    let quick = settings(&[("HEADER_TIMEOUT", "500ms"), ("BODY_TIMEOUT", "2s")]).unwrap();
    assert_eq!(quick.header_timeout, Duration::from_millis(500));
    assert_eq!(quick.body_timeout, Duration::from_secs(2));
    assert_eq!(named(&[("DB_URL", "mongodb://db/a.b")]), ["DB_URL"]);
    assert_eq!(
        named(&[("DB_URL", "mongodb://db/?maxPoolSize=x")]),
        ["DB_URL"]
    );
    assert_eq!(named(&[("DB_POOL_MAX", "0")]), ["DB_POOL_MAX"]);
    assert_eq!(named(&[("DB_POOL_MAX", "many")]), ["DB_POOL_MAX"]);
    assert_eq!(named(&[("DB_TIMEOUT", "soon")]), ["DB_TIMEOUT"]);
    assert_eq!(named(&[("DB_TIMEOUT", "10ms")]), ["DB_TIMEOUT"]);
    assert_eq!(named(&[("DB_TIMEOUT", "1h")]), ["DB_TIMEOUT"]);
    assert_eq!(named(&[("REDIS_PORT", "abc")]), ["REDIS_PORT"]);
    assert!(settings(&[("REDIS_HOST", "cache")]).is_ok());
    assert_eq!(
        named(&[("REDIS_URL", "redis://cache"), ("REDIS_HOST", "cache")]),
        ["REDIS_HOST"]
    );
    assert_eq!(named(&[("REDIS_PORT", "6379")]), ["REDIS_PORT"]);
    let message = settings(&[("PORT", "x")]).unwrap_err().to_string();
    assert!(message.contains("PORT:"), "{message}");
}
