//! `svc.toml`: the schema, loading, validation and the resolved configuration.
//!
//! Loading is strict: unknown keys, wrong types, bad durations, sizes and signal names are refused
//! with `file:line:column: key: message`. Syntax and type errors stop the parse at the first one
//! (TOML cannot go on); the semantic checks after it report every problem at once. Relative paths
//! resolve against the folder of the file itself.

pub mod cron;
mod depends;
mod http_target;
mod identity;
mod problems;
mod raw;
mod ready;
mod resolve;
pub mod secrets;
mod triggers;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use cron::CronSchedule;
pub use depends::{Condition, dependency_closure, dependency_order};
pub use http_target::{HttpTarget, HttpTargetError};
pub use identity::{Loader, RunAs};
pub use raw::RestartMode;
pub use triggers::{GlobError, Globs, MemoryLimit, Watch};
use values::{HumanDuration, SignalName};

/// The config file used when neither `--config` nor `$SVC_CONFIG` names one.
pub const DEFAULT_FILE: &str = "svc.toml";

/// One problem found in a config file, located by line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `programs.api.restart_delay`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.key,
            self.message
        )
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// The resolved configuration: every default applied, every path absolute.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file this was loaded from.
    pub file: PathBuf,
    /// Where `svc.pid` and `svc.sock` live (mode 0700).
    pub state_dir: PathBuf,
    /// Where the daemon writes the programs' logs and its own `svc.log` (0750, refused when it
    /// is a symlink, another user's, or writable by group or others).
    pub log_dir: PathBuf,
    /// `[daemon] log_group`: the log folder and files get this group, which may read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<LogGroup>,
    /// Where the daemon serves Prometheus metrics (`[daemon] metrics`); no TCP port when `None`.
    pub metrics: Option<std::net::SocketAddr>,
    /// Log rotation for every program without an override.
    pub logs: LogPolicy,
    /// `.env` next to the file, then `[env]` (which wins).
    pub env: BTreeMap<String, String>,
    /// In the order of their names.
    pub programs: Vec<Program>,
}

/// A group by name and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGroup {
    pub name: String,
    pub gid: u32,
}

/// Size-based rotation of the log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogPolicy {
    pub max_size: u64,
    pub keep: u32,
    pub compress: bool,
}

/// One `[programs.NAME]` table, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Program {
    pub name: String,
    /// argv; a leading `svc` has been replaced by the path of this binary.
    pub command: Vec<String>,
    pub instances: u32,
    pub cwd: PathBuf,
    /// `[env]` merged with the program's own `env` (which wins).
    pub env: BTreeMap<String, String>,
    pub autostart: bool,
    pub restart: RestartPolicy,
    pub stop_signal: SignalName,
    #[serde(serialize_with = "human")]
    pub stop_timeout: Duration,
    pub ready: Ready,
    /// A listening socket the daemon binds once and passes to every instance as fd 3
    /// (`LISTEN_FDS=1`): one accept queue, so reloads and crashes drop no connection.
    pub listen: Option<std::net::SocketAddr>,
    pub logs: LogPolicy,
    /// `user` and `group`: the account a root daemon drops the program's processes to (with
    /// that user's supplementary groups). `None`: they run as the daemon does.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    /// `watch`: restart the program when files under these paths change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
    /// `max_memory`: restart an instance whose process group stays above this size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<MemoryLimit>,
    /// `cron_restart`: restart the program at these times (the daemon's local time zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron_restart: Option<CronSchedule>,
    /// `depends_on`: the programs to start first, each with how far it must have got.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Condition>,
}

impl Program {
    /// The program's `DATA_DIR` as it resolves it: its env's, else `data`, against its `cwd`.
    /// `None` for a program that neither sets `DATA_DIR` nor is this binary (`exe`), so has no
    /// such folder.
    pub fn data_dir(&self, exe: &str) -> Option<PathBuf> {
        let data = self.env.get("DATA_DIR");
        if data.is_none() && self.command.first().is_none_or(|c| c != exe) {
            return None;
        }
        Some(self.cwd.join(data.map_or("data", String::as_str)))
    }
}

/// When and how fast a program is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    /// The first backoff; doubles per unstable restart.
    #[serde(serialize_with = "human")]
    pub delay: Duration,
    /// The backoff never grows past this.
    #[serde(serialize_with = "human")]
    pub max_delay: Duration,
    /// A run shorter than this is unstable; a longer one resets the backoff.
    #[serde(serialize_with = "human")]
    pub min_uptime: Duration,
    /// Consecutive unstable restarts before the program is `errored`.
    pub max_restarts: u32,
}

/// How the daemon learns that an instance is ready (`online`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Ready {
    /// Online once it has stayed up this long (the default, 1 s: a program that dies at once
    /// fails `svc start` instead of flashing `online`).
    Uptime {
        #[serde(serialize_with = "human")]
        after: Duration,
    },
    /// Online when it sends `READY=1` on `$NOTIFY_SOCKET`.
    Notify {
        #[serde(serialize_with = "human")]
        timeout: Duration,
    },
    /// Online when `GET url` answers 2xx.
    Http {
        url: String,
        /// `url`, parsed at load.
        #[serde(skip)]
        target: HttpTarget,
        #[serde(serialize_with = "human")]
        timeout: Duration,
    },
    /// Online when a TCP connection to `addr` succeeds.
    Tcp {
        addr: String,
        #[serde(serialize_with = "human")]
        timeout: Duration,
    },
}

fn human<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    HumanDuration(*d).serialize(s)
}

impl Config {
    /// Finds the config file: `explicit` (from `--config` or `$SVC_CONFIG`), else `./svc.toml`.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        explicit.map_or_else(|| PathBuf::from(DEFAULT_FILE), Path::to_path_buf)
    }

    /// Reads, parses and validates the config file at `path`, and the `.env` beside it.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when a file cannot be read; [`ConfigError::Invalid`] listing every
    /// problem found, each with its file, line and key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_for(path, Loader::current())
    }

    /// [`Config::load`] for a daemon that will run with the ids of `daemon` rather than this
    /// process's, which `user` and `group` are checked against: `svc startup` writes a unit for
    /// a root daemon, or one running as `--user-name`, whoever runs it.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_for(path: &Path, daemon: Loader) -> Result<Config, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::path::absolute(path).map_err(read_error)?;
        let text = std::fs::read_to_string(&file).map_err(read_error)?;
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let dotenv = read_dotenv(&dir.join(".env"))?;
        resolve::resolve_for(&file, &text, &dir, dotenv, daemon)
    }

    /// What a client needs to reach the daemon of `path` when the file does not load (an edit
    /// in progress, say): the defaults, with `[daemon] state_dir` and `log_dir` taken from what
    /// of the file still parses (TOML syntax errors are skipped past). No programs. `None` when
    /// the file cannot be read.
    pub fn fallback(path: &Path) -> Option<Config> {
        let file = std::path::absolute(path).ok()?;
        let text = std::fs::read_to_string(&file).ok()?;
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let (table, _errors) = toml::de::DeTable::parse_recoverable(&text);
        let mut daemon = toml::Table::new();
        if let Some(written) = table
            .get_ref()
            .get("daemon")
            .and_then(|d| d.get_ref().as_table())
        {
            for key in ["state_dir", "log_dir"] {
                if let Some(value) = written.get(key).and_then(|v| v.get_ref().as_str()) {
                    daemon.insert(key.to_owned(), toml::Value::String(value.to_owned()));
                }
            }
        }
        let mut root = toml::Table::new();
        root.insert("daemon".to_owned(), toml::Value::Table(daemon));
        resolve::resolve_for(
            &file,
            &root.to_string(),
            &dir,
            BTreeMap::new(),
            Loader::ROOT,
        )
        .ok()
    }

    /// The control socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.state_dir.join("svc.sock")
    }

    /// The pid file's path (also the lock that keeps one daemon per config).
    pub fn pid_path(&self) -> PathBuf {
        self.state_dir.join("svc.pid")
    }

    /// The daemon's own log: start-up errors and lifecycle, so a failing start can be diagnosed.
    pub fn daemon_log_path(&self) -> PathBuf {
        self.log_dir.join("svc.log")
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }
}

/// Reads `KEY=value` lines from a `.env` file; a missing file is no error.
fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BTreeMap::new());
        }
        Err(e) => return Err(dotenv_problem(path, &e)),
    };
    iter.map(|item| item.map_err(|e| dotenv_problem(path, &e)))
        .collect()
}

fn dotenv_problem(path: &Path, error: &dotenvy::Error) -> ConfigError {
    let (line, message) = match error {
        dotenvy::Error::LineParse(text, index) => (
            0,
            format!("cannot parse {text:?} (at character {index}); write KEY=value"),
        ),
        other => (0, other.to_string()),
    };
    ConfigError::Invalid {
        problems: vec![Problem {
            file: path.to_path_buf(),
            line,
            column: 0,
            key: ".env".into(),
            message,
        }],
    }
}
