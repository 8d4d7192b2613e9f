//! The raw TOML schema of svc.toml, as serde reads it, and the parse that locates its first
//! syntax or type error. [`super::resolve`] turns it into the validated [`super::Config`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::depends::RawDependsOn;
use super::problems::located;
use super::ready::RawReady;
use super::values::{ByteSize, EnvValue, HumanDuration, SignalName};
use super::{ConfigError, LogPolicy};

/// The whole file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) daemon: RawDaemon,
    #[serde(default)]
    pub(super) env: BTreeMap<String, EnvValue>,
    #[serde(default)]
    pub(super) logs: RawLogs,
    #[serde(default)]
    pub(super) programs: BTreeMap<String, Spanned<RawProgram>>,
}

/// `[daemon]`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    #[serde(default = "default_state_dir")]
    pub(super) state_dir: PathBuf,
    #[serde(default = "default_log_dir")]
    pub(super) log_dir: PathBuf,
    /// `IP:PORT` for the daemon's Prometheus endpoint; off when absent.
    pub(super) metrics: Option<std::net::SocketAddr>,
    /// A group (name or id) that may read the logs.
    pub(super) log_group: Option<Spanned<String>>,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            state_dir: default_state_dir(),
            log_dir: default_log_dir(),
            metrics: None,
            log_group: None,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("run")
}
fn default_log_dir() -> PathBuf {
    PathBuf::from("logs")
}

/// `[logs]`, and a program's `logs` override (where every key is optional).
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogs {
    pub(super) max_size: Option<ByteSize>,
    pub(super) keep: Option<u32>,
    pub(super) compress: Option<bool>,
}

impl RawLogs {
    pub(super) fn over(self, base: LogPolicy) -> LogPolicy {
        LogPolicy {
            max_size: self.max_size.map_or(base.max_size, |s| s.0),
            keep: self.keep.unwrap_or(base.keep),
            compress: self.compress.unwrap_or(base.compress),
        }
    }
}

/// `always | on-failure | never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    #[default]
    Always,
    OnFailure,
    Never,
}

/// One `[programs.NAME]` table, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProgram {
    pub(super) command: Spanned<Vec<String>>,
    #[serde(default = "one")]
    pub(super) instances: Spanned<u32>,
    pub(super) cwd: Option<PathBuf>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, EnvValue>,
    #[serde(default = "yes")]
    pub(super) autostart: bool,
    #[serde(default)]
    pub(super) restart: RestartMode,
    #[serde(default = "default_restart_delay")]
    pub(super) restart_delay: HumanDuration,
    #[serde(default = "default_max_restart_delay")]
    pub(super) max_restart_delay: Spanned<HumanDuration>,
    #[serde(default = "default_min_uptime")]
    pub(super) min_uptime: HumanDuration,
    #[serde(default = "default_max_restarts")]
    pub(super) max_restarts: u32,
    #[serde(default = "default_stop_signal")]
    pub(super) stop_signal: SignalName,
    #[serde(default = "default_stop_timeout")]
    pub(super) stop_timeout: HumanDuration,
    pub(super) ready: Option<Spanned<RawReady>>,
    pub(super) listen: Option<Spanned<String>>,
    pub(super) logs: Option<RawLogs>,
    /// The account to run as (a root daemon drops the child to it); the daemon's own when absent.
    pub(super) user: Option<Spanned<String>>,
    /// The group to run as; the user's primary group when absent.
    pub(super) group: Option<Spanned<String>>,
    /// Paths whose changes restart the program (see `triggers.rs` for these six keys).
    pub(super) watch: Option<Spanned<Vec<PathBuf>>>,
    pub(super) watch_ignore: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) watch_delay: Option<Spanned<HumanDuration>>,
    pub(super) max_memory: Option<Spanned<ByteSize>>,
    pub(super) memory_check: Option<Spanned<HumanDuration>>,
    pub(super) cron_restart: Option<Spanned<String>>,
    /// Programs to start first (see `depends.rs`).
    pub(super) depends_on: Option<Spanned<RawDependsOn>>,
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn yes() -> bool {
    true
}
fn default_restart_delay() -> HumanDuration {
    HumanDuration(Duration::from_millis(100))
}
fn default_max_restart_delay() -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(Duration::from_secs(30)))
}
fn default_min_uptime() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_max_restarts() -> u32 {
    10
}
fn default_stop_signal() -> SignalName {
    SignalName(nix::sys::signal::Signal::SIGTERM)
}
fn default_stop_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// The TOML parse: the first syntax or type error, with its line and key.
pub(super) fn parse(file: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    let problem = |span: Option<Range<usize>>, key: String, message: String| {
        let offset = span.map_or(0, |s| s.start);
        ConfigError::Invalid {
            problems: vec![located(file, text, offset, key, message)],
        }
    };
    let deserializer = toml::Deserializer::parse(text)
        .map_err(|e| problem(e.span(), "(syntax)".into(), e.message().to_owned()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let key = match key.as_str() {
            "." => "(top level)".into(),
            // An empty TOML key (`"" = 1`) would otherwise leave the key blank.
            "" => "\"\"".into(),
            _ => key,
        };
        problem(inner.span(), key, inner.message().to_owned())
    })
}
