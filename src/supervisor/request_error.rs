//! Why the daemon refused or failed a control request. The text is the error reply's `message`
//! and [`RequestError::invalid_config`] its flag, so `svc` prints and exits as it always has.

use std::sync::Arc;

use super::instance::InstanceError;
use crate::config::ConfigError;
use crate::logs::RotateError;
use crate::protocol::{ErrorReply, Response};

/// A request the daemon did not carry out.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(
        "unknown program {}; the daemon runs {} (after editing svc.toml, `svc reload` applies it)",
        .unknown.join(", "),
        .running.join(", ")
    )]
    UnknownPrograms {
        unknown: Vec<String>,
        running: Vec<String>,
    },
    #[error("unknown program {0}")]
    UnknownProgram(String),
    /// Not a signal name; the text says which names are.
    #[error("{0}")]
    BadSignal(String),
    #[error(transparent)]
    Instance(InstanceFailure),
    #[error("could not signal {}", join(.0, "; "))]
    NotSignalled(Vec<InstanceFailure>),
    #[error("{0}\nnothing was changed")]
    InvalidConfig(#[source] ConfigError),
    #[error("{0}; nothing was changed")]
    UnreadableConfig(#[source] ConfigError),
    /// Changed `[daemon]` settings, which a running daemon cannot take.
    #[error("{}nothing was changed", refusals(.0))]
    RefusedDaemonKeys(Vec<&'static str>),
    /// Preparing the changes failed (a `listen` address in use), so none was applied.
    #[error("{0:#}; nothing was changed")]
    NotApplied(anyhow::Error),
    #[error("cannot run {requested} instances; at most {max}")]
    TooManyInstances { requested: u32, max: u32 },
    #[error(transparent)]
    Rotate(#[from] RotateError),
}

/// A control that did not take effect on one instance.
#[derive(Debug, thiserror::Error)]
#[error("{program}[{index}]: {source}")]
pub struct InstanceFailure {
    pub program: Arc<str>,
    pub index: u32,
    #[source]
    pub source: InstanceError,
}

impl RequestError {
    /// Whether the config file is what was wrong, so nothing changed (`svc` exits 2).
    pub fn invalid_config(&self) -> bool {
        matches!(
            self,
            RequestError::InvalidConfig(_) | RequestError::RefusedDaemonKeys(_)
        )
    }
}

impl From<RequestError> for Response {
    fn from(error: RequestError) -> Response {
        Response::Error(ErrorReply {
            message: error.to_string(),
            invalid_config: error.invalid_config(),
        })
    }
}

/// One line per refused `[daemon]` key, each ending in a newline.
fn refusals(keys: &[&str]) -> String {
    keys.iter()
        .map(|key| {
            format!(
                "[daemon] {key} cannot change while the daemon runs; `svc stop && svc start` applies it\n"
            )
        })
        .collect()
}

fn join(failures: &[InstanceFailure], separator: &str) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(error: RequestError) -> ErrorReply {
        match Response::from(error) {
            Response::Error(reply) => reply,
            other => panic!("not an error reply: {other:?}"),
        }
    }

    #[test]
    fn replies_read_as_before() {
        let unknown = reply(RequestError::UnknownPrograms {
            unknown: vec!["nope".into()],
            running: vec!["api".into(), "worker".into()],
        });
        assert_eq!(
            unknown.message,
            "unknown program nope; the daemon runs api, worker (after editing svc.toml, `svc reload` applies it)"
        );
        assert!(!unknown.invalid_config);

        let failure = |index, source| InstanceFailure {
            program: Arc::from("web"),
            index,
            source,
        };
        let signal = reply(RequestError::NotSignalled(vec![
            failure(0, InstanceError::NotRunning),
            failure(1, InstanceError::WaitingToRestart),
        ]));
        assert_eq!(
            signal.message,
            "could not signal web[0]: not running; web[1]: not running (waiting to restart)"
        );

        let refused = reply(RequestError::RefusedDaemonKeys(vec!["log_dir", "metrics"]));
        assert_eq!(
            refused.message,
            "[daemon] log_dir cannot change while the daemon runs; `svc stop && svc start` applies it\n\
             [daemon] metrics cannot change while the daemon runs; `svc stop && svc start` applies it\n\
             nothing was changed"
        );
        assert!(refused.invalid_config);
    }
}
