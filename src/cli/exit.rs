//! Exit codes and the one-line error (plus a hint) the CLI prints.

use std::fmt;
use std::process::ExitCode;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the request failed (a program did not come online, a signal could not be sent...).
    Failure = 1,
    /// 2: bad usage or an invalid config.
    Usage = 2,
    /// 3: the daemon is not running.
    DaemonDown = 3,
}

/// An error the CLI reports: one line, an optional hint, an exit code.
#[derive(Debug)]
pub struct CliError {
    pub kind: ExitKind,
    pub message: String,
    pub hint: Option<String>,
}

pub type CliResult = Result<ExitCode, CliError>;

impl CliError {
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            kind: ExitKind::Failure,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            kind: ExitKind::Usage,
            message: message.into(),
            hint: None,
        }
    }

    pub fn daemon_down(message: impl Into<String>) -> Self {
        CliError {
            kind: ExitKind::DaemonDown,
            message: message.into(),
            hint: Some("start it with `svc start`".into()),
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prints the error to stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("{self}");
        ExitCode::from(self.kind as u8)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(error: crate::config::ConfigError) -> Self {
        CliError::usage(error.to_string()).hint("check the file with `svc config check`")
    }
}
