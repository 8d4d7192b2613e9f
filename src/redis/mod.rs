//! Redis as svc reaches it, for every part that uses it: where the server is and how to trust it
//! (`REDIS_URL` or `REDIS_HOST`/`REDIS_PORT`, the `REDIS_TLS_*` files: [`Endpoint`]), the client
//! built from that ([`connection::client`]) and the connections with their timeouts and
//! reconnects ([`Connections`]).
//!
//! The BullMQ queue (`queue::redis`) and the API's rate limiter (`api::rate_limit::redis`) both
//! connect through here, so one environment reaches the same server alike from each, and neither
//! depends on the other. This module knows no keys and no queue: its users own their data.

mod config;
pub mod connection;
pub mod tls;

pub use config::{Endpoint, Problem, Server, setting};
pub use connection::{Connections, Timeouts};

/// Why reaching Redis failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// An address the redis crate cannot use (`var` is `REDIS_URL` or `REDIS_HOST`).
    #[error("{var} is not usable ({source})")]
    Address {
        var: &'static str,
        #[source]
        source: redis::RedisError,
    },
    /// A client could not be built from the settings (TLS material included).
    #[error("Redis connection settings: {source}")]
    Client {
        #[source]
        source: redis::RedisError,
    },
    /// The server cannot be reached or failed the command; callers may retry later.
    #[error("redis at {server}: {source}")]
    Unavailable {
        /// The server without credentials.
        server: String,
        #[source]
        source: redis::RedisError,
    },
    /// The TLS handshake failed: retrying will not help, the certificates must change.
    #[error(
        "redis at {server}: TLS handshake failed: {source} (check the server certificate against \
         REDIS_TLS_CA_FILE, and REDIS_TLS_CERT_FILE/REDIS_TLS_KEY_FILE if the server requires a \
         client certificate)"
    )]
    Tls {
        /// The server without credentials.
        server: String,
        #[source]
        source: redis::RedisError,
    },
}

impl RedisError {
    /// Whether the settings are at fault (nothing was connected), not the server.
    pub fn is_config(&self) -> bool {
        matches!(self, RedisError::Address { .. } | RedisError::Client { .. })
    }
}
