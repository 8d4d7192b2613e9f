//! The severity of a record: read loosely from what children write, strictly from the command line.

use std::fmt;
use std::str::FromStr;

/// The severity of a record, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Reads the level names loggers use, in any case (`WARNING`, `fatal`, `Err`...).
    pub fn parse_loose(text: &str) -> Option<Level> {
        let level = match text.trim().to_ascii_lowercase().as_str() {
            "trace" | "verbose" | "silly" => Level::Trace,
            "debug" | "dbg" => Level::Debug,
            "info" | "information" | "notice" | "log" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "fatal" | "critical" | "crit" | "panic" | "alert" | "emerg"
            | "emergency" => Level::Error,
            _ => return None,
        };
        Some(level)
    }

    /// pino's and bunyan's numeric levels: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    pub fn from_number(number: f64) -> Option<Level> {
        let level = match number {
            n if !(0.0..=100.0).contains(&n) => return None,
            n if n < 20.0 => Level::Trace,
            n if n < 30.0 => Level::Debug,
            n if n < 40.0 => Level::Info,
            n if n < 50.0 => Level::Warn,
            _ => Level::Error,
        };
        Some(level)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?}; use trace, debug, info, warn or error")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;
    /// The strict form, for the command line: one of the five names.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            _ => Err(UnknownLevel(text.to_owned())),
        }
    }
}
