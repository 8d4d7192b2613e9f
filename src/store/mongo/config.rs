//! What the MongoDB backend is configured with: `DB_URL`, `DB_POOL_MAX`, `DB_TIMEOUT`.
//!
//! The URL is parsed here, without any network access (a `mongodb+srv://` name is resolved only
//! when connecting), so a malformed URL or option stops the start instead of failing later.

use std::fmt;
use std::time::Duration;

use mongodb::options::{ConnectionString, HostInfo};

/// The database used when the URL names none (`mongodb://host/` or `mongodb://host`).
pub const DEFAULT_DATABASE: &str = "svc";
/// Connections per server when neither `DB_POOL_MAX` nor the URL's `maxPoolSize` says.
pub const DEFAULT_POOL_MAX: u32 = 10;
/// How long a database call may take, server selection included, when neither `DB_TIMEOUT` nor
/// the URL's `serverSelectionTimeoutMS` says. The driver's own default (30 s) would let requests
/// hang behind an unreachable server; the embedded store's busy timeout is 5 s too.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds on `DB_POOL_MAX`.
pub const POOL_MAX_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;
/// Bounds on `DB_TIMEOUT`.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(300);

/// A validated MongoDB configuration. `Debug` never shows the URL (it may hold a password).
#[derive(Clone)]
pub struct MongoConfig {
    /// The parsed `DB_URL`; its options are applied when connecting.
    pub(crate) connection: ConnectionString,
    /// From the URL's path, else [`DEFAULT_DATABASE`].
    pub database: String,
    /// `DB_POOL_MAX`, else the URL's `maxPoolSize`, else [`DEFAULT_POOL_MAX`].
    pub pool_max: u32,
    /// `DB_TIMEOUT`, else the URL's `serverSelectionTimeoutMS`, else [`DEFAULT_TIMEOUT`]: the
    /// server selection and connect timeout, and the bound on every store call.
    pub timeout: Duration,
}

impl fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoConfig")
            .field("hosts", &self.hosts())
            .field("database", &self.database)
            .field("pool_max", &self.pool_max)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Whether `url` asks for MongoDB (`mongodb://` or `mongodb+srv://`).
pub fn is_mongo_url(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

impl MongoConfig {
    /// Validates `url` and takes the knobs (already range-checked by the caller, `None` when the
    /// variable is unset).
    ///
    /// # Errors
    /// A message for the `DB_URL` variable: the driver's reason, or a bad database name.
    pub fn new(
        url: &str,
        pool_max: Option<u32>,
        timeout: Option<Duration>,
    ) -> Result<Self, String> {
        if !is_mongo_url(url) {
            return Err("must be a mongodb:// or mongodb+srv:// URL".into());
        }
        let connection = ConnectionString::parse(url)
            .map_err(|e| format!("is not a valid MongoDB URL: {}", e.kind))?;
        let database = match connection.default_database.as_deref() {
            None | Some("") => DEFAULT_DATABASE.to_owned(),
            Some(name) => check_database_name(name)?,
        };
        let pool_max = pool_max
            .or(connection.max_pool_size)
            .unwrap_or(DEFAULT_POOL_MAX);
        let timeout = timeout
            .or(connection.server_selection_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        Ok(MongoConfig {
            connection,
            database,
            pool_max,
            timeout,
        })
    }

    /// The seed hosts (or the SRV name) for logs: never the credentials.
    pub fn hosts(&self) -> String {
        match &self.connection.host_info {
            HostInfo::HostIdentifiers(hosts) => hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            HostInfo::DnsRecord(name) => format!("srv:{name}"),
            _ => "?".to_owned(),
        }
    }
}

/// MongoDB's rules for database names (no `/\. "$*<>:|?`, no NUL, under 64 bytes).
fn check_database_name(name: &str) -> Result<String, String> {
    const FORBIDDEN: &[char] = &[
        '/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?', '\0',
    ];
    if name.len() > 63 || name.contains(FORBIDDEN) {
        return Err(format!(
            "names the database {name:?}, which MongoDB does not allow (at most 63 bytes, none of /\\. \"$*<>:|?)"
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_comes_from_the_path() {
        let config = MongoConfig::new(
            "mongodb://127.0.0.1:27017/shop?directConnection=true",
            None,
            None,
        )
        .unwrap();
        assert_eq!(config.database, "shop");
        assert_eq!(config.hosts(), "127.0.0.1:27017");
        assert_eq!(
            (config.pool_max, config.timeout),
            (DEFAULT_POOL_MAX, DEFAULT_TIMEOUT)
        );
        for url in ["mongodb://db", "mongodb://db/", "mongodb://db/?w=majority"] {
            assert_eq!(
                MongoConfig::new(url, None, None).unwrap().database,
                "svc",
                "{url}"
            );
        }
    }

    #[test]
    fn knobs_win_over_url_options_which_win_over_defaults() {
        let url = "mongodb://db/?maxPoolSize=50&serverSelectionTimeoutMS=2000";
        let config = MongoConfig::new(url, None, None).unwrap();
        assert_eq!(
            (config.pool_max, config.timeout),
            (50, Duration::from_secs(2))
        );
        let config = MongoConfig::new(url, Some(3), Some(Duration::from_millis(700))).unwrap();
        assert_eq!(
            (config.pool_max, config.timeout),
            (3, Duration::from_millis(700))
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_secrets() {
        for url in [
            "postgres://db",
            "mongodb://",
            "mongodb://db/?maxPoolSize=lots",
            "mongodb://db/bad.name",
            "mongodb://db/a$b",
        ] {
            assert!(MongoConfig::new(url, None, None).is_err(), "{url}");
        }
        let config = MongoConfig::new("mongodb://user:s3cret@db:1/x", None, None).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(MongoConfig::new("mongodb+srv://cluster.example.com/app", None, None).is_ok());
    }
}
