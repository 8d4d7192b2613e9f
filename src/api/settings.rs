//! The API's settings, read from the environment (svc.toml `[env]`, `.env`, or the shell).
//!
//! Every variable is validated up front and every problem is reported at once, naming the
//! variable: a typo must stop the start, never silently become a default.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client_ip::IpNet;
use crate::auth::token::MIN_KEY;
use crate::queue::Backend;
use crate::queue::redis::RedisConfig;
use crate::store::mongo::{self, MongoConfig};

/// Everything `svc api` is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST` (127.0.0.1) and `PORT` (3000; 0 picks a free port).
    pub addr: SocketAddr,
    /// `DATA_DIR` (`data`): where the embedded database (and the embedded queue) live.
    pub data_dir: PathBuf,
    /// `DB_URL` (with `DB_POOL_MAX`, `DB_TIMEOUT`): which store backend.
    pub database: Database,
    /// The email queue: Redis when `REDIS_URL` or `REDIS_HOST`/`REDIS_PORT` is set (with the
    /// TLS files, see [`RedisConfig`]), else the embedded queue in `DATA_DIR` (`QUEUE_NAME`).
    /// With Redis, the rate limit counts there too ([`Settings::redis`]).
    pub queue: Backend,
    /// `LOG_LEVEL` (`info`), checked here so a bad value stops the start.
    pub log_level: String,
    /// `CORS_ORIGINS`: the origins browsers may call from; empty allows none.
    pub cors: CorsOrigins,
    /// `RATE_LIMIT` (`100/15m`, or `off`).
    pub rate_limit: Option<RateLimit>,
    /// `BODY_LIMIT` (`10kb` = 10,000 bytes).
    pub body_limit: usize,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `HEADER_TIMEOUT` (10 s): a request's head must arrive within it, and a kept-alive
    /// connection may idle this long; then the connection is closed (slow loris).
    pub header_timeout: Duration,
    /// `BODY_TIMEOUT` (10 s): a request body must arrive within it, else 408.
    pub body_timeout: Duration,
    /// How long in-flight requests may finish after SIGTERM (not an env variable: it must stay
    /// under the supervisor's `stop_timeout`, 10 s by default).
    pub drain_timeout: Duration,
    /// The accounts: token keys and lifetimes, the limit on `/api/auth/*` (`AUTH_*`).
    pub auth: AuthSettings,
    /// `METRICS_ALLOW`: besides loopback, the clients that may read `/metrics` (CIDRs).
    pub metrics_allow: Vec<IpNet>,
    /// `METRICS_TOKEN`: a bearer token that may read `/metrics` from anywhere.
    pub metrics_token: Option<Secret>,
}

/// `AUTH_*`.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `AUTH_SECRET`: the access tokens' signing key; `None` on the embedded store means the key
    /// file in `DATA_DIR` (see [`crate::auth::secret`]). Required with `DB_URL`.
    pub secret: Option<Secret>,
    /// `AUTH_SECRET_PREVIOUS`: still verifies tokens (key rotation); never signs.
    pub previous: Option<Secret>,
    /// `AUTH_TOKEN_TTL` (15m): an access token's lifetime.
    pub token_ttl: Duration,
    /// `AUTH_REFRESH_TTL` (14d): a refresh token's lifetime, renewed by each refresh.
    pub refresh_ttl: Duration,
    /// `AUTH_RATE_LIMIT` (`20/15m`, or `off`): requests per client to `/api/auth/*`.
    pub rate_limit: Option<RateLimit>,
}

/// A value that must never reach a log line: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The store backend, chosen by `DB_URL`.
#[derive(Debug, Clone)]
pub enum Database {
    /// `DB_URL` unset: SQLite in `$DATA_DIR/svc.db`.
    Embedded,
    /// `DB_URL=mongodb://…` or `mongodb+srv://…`.
    Mongo(Box<MongoConfig>),
}

/// `CORS_ORIGINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin (without credentials).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

/// `RATE_LIMIT`: at most `max` requests per client per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u64,
    pub window: Duration,
}

/// Every invalid variable, with what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError(pub Vec<(String, String)>);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(var, msg)| format!("{var}: {msg}"))
            .collect();
        write!(f, "invalid configuration: {}", parts.join("; "))
    }
}

impl Settings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`SettingsError`] listing every invalid variable.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The Redis server when one is configured: the queue and the rate limit's counters live
    /// there.
    pub fn redis(&self) -> Option<&RedisConfig> {
        match &self.queue {
            Backend::Redis(config) => Some(config),
            Backend::Sqlite { .. } => None,
        }
    }

    /// Reads the variables from `lookup` (tests pass a map).
    ///
    /// # Errors
    /// [`SettingsError`] listing every invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut read =
            |name: &str, default: &str, parse: &dyn Fn(&str) -> Result<(), String>| -> String {
                let value = lookup(name)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty());
                let value = value.unwrap_or_else(|| default.to_owned());
                if let Err(message) = parse(&value) {
                    problems.push((name.to_owned(), message));
                }
                value
            };
        let host = read("HOST", "127.0.0.1", &|v| parse_host(v).map(drop));
        let port = read("PORT", "3000", &|v| parse_port(v).map(drop));
        let data_dir = read("DATA_DIR", "data", &|_| Ok(()));
        let log_level = read("LOG_LEVEL", "info", &check_log_level);
        let cors = read("CORS_ORIGINS", "", &|v| parse_cors(v).map(drop));
        let rate = read("RATE_LIMIT", "100/15m", &|v| parse_rate_limit(v).map(drop));
        let body = read("BODY_LIMIT", "10kb", &|v| parse_size(v).map(drop));
        let proxies = read("TRUSTED_PROXIES", "", &|v| parse_proxies(v).map(drop));
        let header_timeout = read("HEADER_TIMEOUT", "10s", &|v| parse_timeout(v).map(drop));
        let body_timeout = read("BODY_TIMEOUT", "10s", &|v| parse_timeout(v).map(drop));
        let db_url = read("DB_URL", "", &check_db_url);
        let pool_max = read("DB_POOL_MAX", "", &|v| parse_pool_max(v).map(drop));
        let db_timeout = read("DB_TIMEOUT", "", &|v| parse_db_timeout(v).map(drop));
        let auth_secret = read("AUTH_SECRET", "", &check_secret);
        let auth_previous = read("AUTH_SECRET_PREVIOUS", "", &check_secret);
        let token_ttl = read("AUTH_TOKEN_TTL", "15m", &|v| {
            parse_ttl(v, Duration::from_secs(1), Duration::from_secs(86_400)).map(drop)
        });
        let refresh_ttl = read("AUTH_REFRESH_TTL", "14d", &|v| {
            parse_ttl(
                v,
                Duration::from_secs(60),
                Duration::from_secs(365 * 86_400),
            )
            .map(drop)
        });
        let auth_rate = read("AUTH_RATE_LIMIT", "20/15m", &|v| {
            parse_rate_limit(v).map(drop)
        });
        let metrics_allow = read("METRICS_ALLOW", "", &|v| parse_proxies(v).map(drop));
        let metrics_token = read("METRICS_TOKEN", "", &check_metrics_token);
        if auth_secret.is_empty() && mongo::is_mongo_url(&db_url) {
            problems.push((
                "AUTH_SECRET".to_owned(),
                "is required with DB_URL (every instance must sign with the same key): set at least 32 bytes, e.g. from `openssl rand -base64 48`".to_owned(),
            ));
        }
        if !auth_previous.is_empty() && auth_secret.is_empty() {
            problems.push((
                "AUTH_SECRET_PREVIOUS".to_owned(),
                "only verifies tokens: set AUTH_SECRET to the new key as well".to_owned(),
            ));
        }
        // Every Redis variable (TLS files included) is checked by the Redis configuration itself,
        // so the API, the worker and `svc queue` accept or refuse one environment alike.
        let queue = match RedisConfig::parse(&lookup) {
            Ok(Some(redis)) => Backend::Redis(Box::new(redis)),
            Ok(None) => Backend::embedded(Path::new(&data_dir), &lookup),
            Err(found) => {
                problems.extend(found.into_iter().map(|p| (p.var.to_owned(), p.message)));
                Backend::embedded(Path::new(&data_dir), &lookup)
            }
        };
        let mut database = Database::Embedded;
        if mongo::is_mongo_url(&db_url) {
            // Invalid knobs are reported above; the URL is still checked, so all come at once.
            let pool_max = parse_pool_max(&pool_max).ok().flatten();
            let timeout = parse_db_timeout(&db_timeout).ok().flatten();
            match MongoConfig::new(&db_url, pool_max, timeout) {
                Ok(config) => database = Database::Mongo(Box::new(config)),
                Err(message) => problems.push(("DB_URL".to_owned(), message)),
            }
        }
        if !problems.is_empty() {
            return Err(SettingsError(problems));
        }
        let invalid = |var: &str| SettingsError(vec![(var.to_owned(), "is invalid".to_owned())]);
        Ok(Settings {
            addr: SocketAddr::new(
                parse_host(&host).map_err(|_| invalid("HOST"))?,
                parse_port(&port).map_err(|_| invalid("PORT"))?,
            ),
            data_dir: PathBuf::from(data_dir),
            database,
            queue,
            log_level,
            cors: parse_cors(&cors).map_err(|_| invalid("CORS_ORIGINS"))?,
            rate_limit: parse_rate_limit(&rate).map_err(|_| invalid("RATE_LIMIT"))?,
            body_limit: parse_size(&body).map_err(|_| invalid("BODY_LIMIT"))?,
            trusted_proxies: parse_proxies(&proxies).map_err(|_| invalid("TRUSTED_PROXIES"))?,
            header_timeout: parse_timeout(&header_timeout)
                .map_err(|_| invalid("HEADER_TIMEOUT"))?,
            body_timeout: parse_timeout(&body_timeout).map_err(|_| invalid("BODY_TIMEOUT"))?,
            drain_timeout: Duration::from_secs(8),
            auth: AuthSettings {
                secret: secret(auth_secret),
                previous: secret(auth_previous),
                token_ttl: humantime::parse_duration(&token_ttl)
                    .map_err(|_| invalid("AUTH_TOKEN_TTL"))?,
                refresh_ttl: humantime::parse_duration(&refresh_ttl)
                    .map_err(|_| invalid("AUTH_REFRESH_TTL"))?,
                rate_limit: parse_rate_limit(&auth_rate).map_err(|_| invalid("AUTH_RATE_LIMIT"))?,
            },
            metrics_allow: parse_proxies(&metrics_allow).map_err(|_| invalid("METRICS_ALLOW"))?,
            metrics_token: secret(metrics_token),
        })
    }
}

fn secret(value: String) -> Option<Secret> {
    (!value.is_empty()).then_some(Secret(value))
}

/// `AUTH_SECRET`, `AUTH_SECRET_PREVIOUS`: at least [`MIN_KEY`] bytes. The value is never
/// repeated in the message.
fn check_secret(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() >= MIN_KEY {
        return Ok(());
    }
    Err(format!(
        "is {} bytes; a signing key needs at least {MIN_KEY} (e.g. `openssl rand -base64 48`)",
        value.len()
    ))
}

/// `METRICS_TOKEN`: unset, or at least 16 characters (it is a password).
fn check_metrics_token(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() >= 16 {
        return Ok(());
    }
    Err("must be at least 16 characters (e.g. `openssl rand -hex 24`)".into())
}

/// A lifetime like `15m` or `14d`, within `min..=max`.
fn parse_ttl(value: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value)
        .map_err(|_| format!("{value:?} is not a duration like 15m or 14d"))?;
    if duration < min || duration > max {
        return Err(format!(
            "{value:?} must be from {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(duration)
}

fn parse_host(value: &str) -> Result<IpAddr, String> {
    if value.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    value
        .parse()
        .map_err(|_| format!("{value:?} is not an IP address (e.g. 127.0.0.1, 0.0.0.0 or ::1)"))
}

fn parse_port(value: &str) -> Result<u16, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a port number from 0 to 65535"))
}

/// Levels (`info`) or tracing directives (`svc=debug,tower_http=warn`).
fn check_log_level(value: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let ok = value.split(',').all(|part| {
        let level = part.rsplit_once('=').map_or(
            part,
            |(target, level)| {
                if target.is_empty() { "" } else { level }
            },
        );
        LEVELS.contains(&level.to_ascii_lowercase().as_str())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a log level (trace, debug, info, warn, error, off) or a list of target=level directives"
        ))
    }
}

fn parse_cors(value: &str) -> Result<CorsOrigins, String> {
    if value == "*" {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| format!("{origin:?} is not an origin like https://app.example.com"))?;
        let host_ok = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !host_ok {
            return Err(format!(
                "{origin:?} is not an origin like https://app.example.com (no path)"
            ));
        }
        origins.push(origin.to_ascii_lowercase());
    }
    Ok(CorsOrigins::List(origins))
}

fn parse_rate_limit(value: &str) -> Result<Option<RateLimit>, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let usage = || format!("{value:?} is not a limit like 100/15m (requests per window) or off");
    let (max, window) = value.split_once('/').ok_or_else(usage)?;
    let max: u64 = max.trim().parse().map_err(|_| usage())?;
    let window = humantime::parse_duration(window.trim()).map_err(|_| usage())?;
    if max == 0 {
        return Err(format!(
            "{value:?}: the limit must be at least 1 request (or use off)"
        ));
    }
    if window < Duration::from_secs(1) || window > Duration::from_secs(86_400) {
        return Err(format!("{value:?}: the window must be from 1s to 24h"));
    }
    Ok(Some(RateLimit { max, window }))
}

/// `10kb` (10,000 bytes), `16KiB`, `1mb`, or plain bytes; 1 byte to 100 MB.
fn parse_size(value: &str) -> Result<usize, String> {
    let usage = || format!("{value:?} is not a size like 10kb, 64KiB or 1mb");
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "kib" => 1 << 10,
        "mb" | "m" => 1_000_000,
        "mib" => 1 << 20,
        _ => return Err(usage()),
    };
    let bytes = digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(usage)?;
    if bytes == 0 || bytes > 100_000_000 {
        return Err(format!("{value:?} must be from 1 byte to 100mb"));
    }
    Ok(bytes)
}

/// A read timeout: `10s`, `500ms`, `1m`; from 100 ms to 10 minutes.
fn parse_timeout(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value)
        .map_err(|_| format!("{value:?} is not a duration like 10s or 500ms"))?;
    if duration < Duration::from_millis(100) || duration > Duration::from_secs(600) {
        return Err(format!("{value:?} must be from 100ms to 10m"));
    }
    Ok(duration)
}

fn parse_proxies(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<IpNet>().map_err(|e| format!("{p:?}: {e}")))
        .collect()
}

/// `DB_URL`: unset for the embedded store, or a MongoDB URL (checked in full by
/// [`MongoConfig::new`]).
fn check_db_url(value: &str) -> Result<(), String> {
    if value.is_empty() || mongo::is_mongo_url(value) {
        return Ok(());
    }
    Err("must be a mongodb:// or mongodb+srv:// URL, or unset for the embedded store".into())
}

/// `DB_POOL_MAX`: connections per MongoDB server; unset takes the URL's `maxPoolSize` or 10.
fn parse_pool_max(value: &str) -> Result<Option<u32>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let range = mongo::POOL_MAX_RANGE;
    value
        .parse::<u32>()
        .ok()
        .filter(|n| range.contains(n))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "{value:?} is not a number of connections from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// `DB_TIMEOUT`: `5s`, `500ms`, or plain milliseconds (`5000`, as `serverSelectionTimeoutMS`).
fn parse_db_timeout(value: &str) -> Result<Option<Duration>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let usage = || format!("{value:?} is not a duration like 5s, 500ms or 5000 (milliseconds)");
    let timeout = if value.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_millis(value.parse().map_err(|_| usage())?)
    } else {
        humantime::parse_duration(value).map_err(|_| usage())?
    };
    let range = mongo::TIMEOUT_RANGE;
    if !range.contains(&timeout) {
        return Err(format!(
            "{value:?} must be from {} to {}",
            humantime::format_duration(*range.start()),
            humantime::format_duration(*range.end())
        ));
    }
    Ok(Some(timeout))
}

#[cfg(test)]
mod tests;
