//! Where Redis is, read from the environment with the Node app's variable names: `REDIS_URL`, or
//! `REDIS_HOST` + `REDIS_PORT` (+ `REDIS_PASSWORD`, `REDIS_DB`); TLS with a `rediss://` URL,
//! optionally with `REDIS_TLS_CA_FILE` (a private CA) and `REDIS_TLS_CERT_FILE` +
//! `REDIS_TLS_KEY_FILE` (mutual TLS, see [`super::tls`]).
//!
//! This is the one place these variables are checked: the queue's settings (read by the worker,
//! `svc queue …` and the API, which also counts its rate limit in Redis) start from
//! [`Endpoint::parse`], so one environment is accepted or refused by every part of svc alike.
//! `REDIS_URL` and `REDIS_HOST`/`REDIS_PORT` exclude each other, and `REDIS_PORT` (6379 when
//! unset) needs `REDIS_HOST`. TLS is chosen by the URL's scheme only, never silently downgraded:
//! the TLS file variables without a `rediss://` URL are refused.
//!
//! The password never appears in `Debug` or [`Endpoint::describe`], nor a key file's bytes.

use std::path::Path;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use super::RedisError;
use super::tls::{self, TlsFiles};

/// The server to connect to and the TLS material to connect with.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub server: Server,
    /// The CA and client certificate of a `rediss://` URL (empty otherwise).
    pub tls: TlsFiles,
}

/// How to reach the server.
#[derive(Clone, PartialEq, Eq)]
pub enum Server {
    /// `REDIS_URL` (`redis[s]://[user:password@]host:port[/db]`).
    Url(String),
    /// `REDIS_HOST` / `REDIS_PORT` / `REDIS_PASSWORD` / `REDIS_DB` (plain TCP).
    Host {
        host: String,
        port: u16,
        password: Option<String>,
        db: i64,
    },
}

/// One invalid variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub var: &'static str,
    pub message: String,
}

impl Problem {
    pub fn new(var: &'static str, message: impl Into<String>) -> Self {
        Problem {
            var,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.var, self.message)
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("server", &self.describe())
            .field("tls", &self.tls)
            .finish()
    }
}

/// The value of `name` from `get`, trimmed; `None` when unset or blank.
pub fn setting(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Endpoint {
    /// Whether `get` names a server at all (`REDIS_URL`, `REDIS_HOST` or `REDIS_PORT`).
    pub fn is_set(get: &dyn Fn(&str) -> Option<String>) -> bool {
        ["REDIS_URL", "REDIS_HOST", "REDIS_PORT"]
            .iter()
            .any(|name| setting(get, name).is_some())
    }

    /// The endpoint `get` describes (the environment, or a map in tests); `None` when no server
    /// is named ([`Endpoint::is_set`]). Reads the TLS files.
    ///
    /// # Errors
    /// Every invalid variable, at most one problem each.
    pub fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, Vec<Problem>> {
        let text = |name: &str| setting(get, name);
        let mut problems = Vec::new();
        if !Self::is_set(get) {
            for var in [tls::CA_FILE, tls::CERT_FILE, tls::KEY_FILE] {
                if text(var).is_some() {
                    problems.push(Problem::new(var, "needs a rediss:// REDIS_URL"));
                }
            }
            return if problems.is_empty() {
                Ok(None)
            } else {
                Err(problems)
            };
        }
        let (host, port) = (text("REDIS_HOST"), text("REDIS_PORT"));
        let server = match text("REDIS_URL") {
            Some(url) => {
                if host.is_some() {
                    problems.push(Problem::new(
                        "REDIS_HOST",
                        "give either REDIS_URL or REDIS_HOST/REDIS_PORT, not both",
                    ));
                } else if port.is_some() {
                    problems.push(Problem::new(
                        "REDIS_PORT",
                        "give either REDIS_URL or REDIS_HOST/REDIS_PORT, not both",
                    ));
                }
                if let Err(message) = check_url(&url) {
                    problems.push(Problem::new("REDIS_URL", message));
                }
                Server::Url(url)
            }
            None => {
                let port = match port.as_deref().map(str::parse::<u16>) {
                    _ if host.is_none() => {
                        problems.push(Problem::new("REDIS_PORT", "needs REDIS_HOST"));
                        6379
                    }
                    None => 6379,
                    Some(Ok(p)) if p > 0 => p,
                    Some(_) => {
                        problems.push(Problem::new(
                            "REDIS_PORT",
                            format!(
                                "{:?} is not a port number from 1 to 65535",
                                port.unwrap_or_default()
                            ),
                        ));
                        6379
                    }
                };
                let db = match text("REDIS_DB").map(|d| (d.parse::<i64>(), d)) {
                    None => 0,
                    Some((Ok(db), _)) if db >= 0 => db,
                    Some((_, raw)) => {
                        problems.push(Problem::new(
                            "REDIS_DB",
                            format!("{raw:?} is not a database number (0, 1, …)"),
                        ));
                        0
                    }
                };
                Server::Host {
                    host: host.unwrap_or_else(|| "127.0.0.1".into()),
                    port,
                    password: get("REDIS_PASSWORD").filter(|p| !p.is_empty()),
                    db,
                }
            }
        };
        let tls = read_tls(&text, server.is_tls(), &mut problems);
        if problems.is_empty() {
            Ok(Some(Endpoint { server, tls }))
        } else {
            Err(problems)
        }
    }

    /// The server at `url`, with the built-in roots if it is a `rediss://` URL (tests, tools).
    pub fn for_url(url: &str) -> Self {
        Endpoint {
            server: Server::Url(url.to_owned()),
            tls: TlsFiles::default(),
        }
    }

    /// The connection parameters for the redis crate.
    ///
    /// # Errors
    /// [`RedisError::Address`] when the URL or host cannot be used.
    pub fn connection_info(&self) -> Result<ConnectionInfo, RedisError> {
        match &self.server {
            Server::Url(url) => {
                url.as_str()
                    .into_connection_info()
                    .map_err(|source| RedisError::Address {
                        var: "REDIS_URL",
                        source,
                    })
            }
            Server::Host {
                host,
                port,
                password,
                db,
            } => {
                let mut redis = RedisConnectionInfo::default().set_db(*db);
                if let Some(password) = password {
                    redis = redis.set_password(password);
                }
                ConnectionAddr::Tcp(host.clone(), *port)
                    .into_connection_info()
                    .map(|info| info.set_redis_settings(redis))
                    .map_err(|source| RedisError::Address {
                        var: "REDIS_HOST",
                        source,
                    })
            }
        }
    }

    /// Whether connections use TLS (a `rediss://` URL).
    pub fn uses_tls(&self) -> bool {
        self.server.is_tls()
    }

    /// The server without credentials: `redis://host:port/db`, `rediss://***@host:6380`.
    pub fn describe(&self) -> String {
        match &self.server {
            Server::Url(url) => redact(url),
            Server::Host { host, port, db, .. } => format!("redis://{host}:{port}/{db}"),
        }
    }
}

impl Server {
    fn is_tls(&self) -> bool {
        matches!(self, Server::Url(url) if url.starts_with("rediss://"))
    }
}

/// `REDIS_URL`: a `redis://` or `rediss://` URL the redis crate accepts, without `#insecure`
/// (which would turn certificate checks off: give the CA instead).
fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err("must be a redis:// or rediss:// URL".into());
    }
    let info = url
        .into_connection_info()
        .map_err(|e| format!("is not a usable Redis URL ({e})"))?;
    if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr() {
        return Err(format!(
            "#insecure (no certificate check) is not supported; give the server's CA in {} instead",
            tls::CA_FILE
        ));
    }
    Ok(())
}

/// The TLS files: read and checked when `tls` (a `rediss://` URL), refused otherwise.
fn read_tls(
    text: &dyn Fn(&str) -> Option<String>,
    tls: bool,
    problems: &mut Vec<Problem>,
) -> TlsFiles {
    let (ca, cert, key) = (
        text(tls::CA_FILE),
        text(tls::CERT_FILE),
        text(tls::KEY_FILE),
    );
    if !tls {
        for (var, value) in [
            (tls::CA_FILE, &ca),
            (tls::CERT_FILE, &cert),
            (tls::KEY_FILE, &key),
        ] {
            if value.is_some() {
                problems.push(Problem::new(
                    var,
                    "needs a rediss:// REDIS_URL (TLS is chosen by the URL's scheme)",
                ));
            }
        }
        return TlsFiles::default();
    }
    let mut files = TlsFiles::default();
    if let Some(path) = ca {
        match tls::read_ca(Path::new(&path)) {
            Ok(file) => files.ca = Some(file),
            Err(message) => problems.push(Problem::new(tls::CA_FILE, message)),
        }
    }
    match (cert, key) {
        (Some(cert), Some(key)) => match tls::read_identity(Path::new(&cert), Path::new(&key)) {
            Ok(identity) => files.identity = Some(identity),
            Err((var, message)) => problems.push(Problem::new(var, message)),
        },
        (Some(_), None) => problems.push(Problem::new(
            tls::KEY_FILE,
            format!("needed with {}", tls::CERT_FILE),
        )),
        (None, Some(_)) => problems.push(Problem::new(
            tls::CERT_FILE,
            format!("needed with {}", tls::KEY_FILE),
        )),
        (None, None) => {}
    }
    files
}

/// A URL without its `user:password@` part.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<Endpoint>, Vec<Problem>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Endpoint::parse(&|name| map.get(name).cloned())
    }

    fn endpoint(vars: &[(&str, &str)]) -> Endpoint {
        parse(vars).unwrap().unwrap()
    }

    fn problems(vars: &[(&str, &str)]) -> Vec<&'static str> {
        let mut vars: Vec<&str> = parse(vars)
            .unwrap_err()
            .into_iter()
            .map(|p| p.var)
            .collect();
        vars.sort_unstable();
        vars
    }

    #[test]
    fn nothing_set_means_no_redis() {
        assert!(parse(&[]).unwrap().is_none());
        assert!(parse(&[("REDIS_URL", " ")]).unwrap().is_none());
    }

    #[test]
    fn host_and_port_build_a_server_and_hide_the_password() {
        let e = endpoint(&[
            ("REDIS_HOST", "cache.local"),
            ("REDIS_PORT", "6390"),
            ("REDIS_PASSWORD", "s3cret"),
            ("REDIS_DB", "2"),
        ]);
        assert_eq!(e.describe(), "redis://cache.local:6390/2");
        assert!(!format!("{e:?}").contains("s3cret"));
        assert!(e.connection_info().is_ok());
        assert!(!e.uses_tls());
    }

    #[test]
    fn a_urls_credentials_are_redacted() {
        let e = endpoint(&[("REDIS_URL", "redis://app:pw@127.0.0.1:6379/1")]);
        assert_eq!(e.describe(), "redis://***@127.0.0.1:6379/1");
        assert!(!format!("{e:?}").contains("pw@"));
    }

    #[test]
    fn every_bad_variable_is_named() {
        let both = parse(&[("REDIS_URL", "redis://h"), ("REDIS_HOST", "h")]).unwrap_err();
        assert_eq!(both.len(), 1);
        assert!(both[0].to_string().contains("not both"), "{both:?}");
        assert_eq!(
            parse(&[("REDIS_PORT", "6379")]).unwrap_err()[0].to_string(),
            "REDIS_PORT: needs REDIS_HOST"
        );
        assert_eq!(
            problems(&[
                ("REDIS_HOST", "h"),
                ("REDIS_PORT", "seventy"),
                ("REDIS_DB", "-1"),
            ]),
            ["REDIS_DB", "REDIS_PORT"]
        );
        assert_eq!(problems(&[("REDIS_URL", "http://x")]), ["REDIS_URL"]);
        assert_eq!(problems(&[("REDIS_URL", "localhost:6379")]), ["REDIS_URL"]);
    }

    #[test]
    fn one_problem_per_variable() {
        assert_eq!(problems(&[("REDIS_PORT", "abc")]), ["REDIS_PORT"]);
        assert_eq!(
            problems(&[("REDIS_URL", "redis://h"), ("REDIS_PORT", "1")]),
            ["REDIS_PORT"]
        );
    }

    #[test]
    fn rediss_urls_are_tls_and_the_files_need_them() {
        let e = endpoint(&[("REDIS_URL", "rediss://:pw@cache.example:6380/0")]);
        assert!(e.uses_tls());
        assert!(e.tls.is_empty(), "the built-in roots");
        assert_eq!(e.describe(), "rediss://***@cache.example:6380/0");
        assert!(e.connection_info().is_ok());
        assert!(!endpoint(&[("REDIS_URL", "redis://h")]).uses_tls());
        assert_eq!(
            problems(&[("REDIS_URL", "rediss://h:6380/#insecure")]),
            ["REDIS_URL"]
        );
        assert_eq!(
            problems(&[("REDIS_URL", "redis://h"), ("REDIS_TLS_CA_FILE", "/ca.pem")]),
            ["REDIS_TLS_CA_FILE"]
        );
        assert_eq!(
            problems(&[("REDIS_HOST", "h"), ("REDIS_TLS_CERT_FILE", "/c.pem")]),
            ["REDIS_TLS_CERT_FILE"]
        );
        assert_eq!(
            problems(&[("REDIS_TLS_KEY_FILE", "/k.pem")]),
            ["REDIS_TLS_KEY_FILE"]
        );
        assert_eq!(
            problems(&[
                ("REDIS_URL", "rediss://h"),
                ("REDIS_TLS_CERT_FILE", "/c.pem")
            ]),
            ["REDIS_TLS_KEY_FILE"]
        );
        let missing = parse(&[
            ("REDIS_URL", "rediss://h"),
            ("REDIS_TLS_CA_FILE", "/nowhere/ca.pem"),
        ])
        .unwrap_err();
        assert_eq!(missing[0].var, "REDIS_TLS_CA_FILE");
        assert!(
            missing[0].message.contains("/nowhere/ca.pem"),
            "{missing:?}"
        );
    }
}
