//! Why a queue operation failed: one of three kinds a caller acts on (try again later, fix the
//! job, fix the settings), each with a typed cause that keeps its source.

use std::path::PathBuf;

use crate::redis::{Problem, RedisError};
use crate::sqlite::PoolError;

use super::{MAX_DATA_BYTES, MAX_PRIORITY};

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backing store cannot be reached; callers may retry later.
    #[error("queue unavailable: {0}")]
    Unavailable(#[source] UnavailableCause),
    /// A job (to add, or as stored) or a request about jobs is not acceptable.
    #[error("invalid job: {0}")]
    Invalid(#[source] InvalidReason),
    /// The queue's settings (environment) are unusable; nothing was opened.
    #[error("queue configuration: {0}")]
    Config(#[source] ConfigCause),
}

/// Why the backing store could not do it.
#[derive(Debug, thiserror::Error)]
pub enum UnavailableCause {
    #[error("{0}")]
    Redis(#[source] RedisError),
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// The database file could not be opened or its tables made.
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The blocking task running a database call panicked or was cancelled.
    #[error("queue task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The connection pool is closed, or the caller gave up before the write began.
    #[error("{0}")]
    Pool(#[source] PoolError),
    #[error("unexpected answer from the take script")]
    TakeReply,
    /// A finishing script answered with a code it never returns.
    #[error("unexpected answer {0} from a queue script")]
    ScriptCode(i64),
}

/// What is wrong with a job or a request about jobs.
#[derive(Debug, thiserror::Error)]
pub enum InvalidReason {
    #[error("the job name must have 1 to 200 characters")]
    NameLength,
    #[error("a custom job id must have 1 to 200 characters")]
    IdLength,
    #[error("custom job id `{0}` is not allowed (it may not be an integer or contain `:`)")]
    IdForm(String),
    #[error("a custom job id may not contain control characters")]
    IdControl,
    #[error("priority {0} is above the limit of {MAX_PRIORITY}")]
    Priority(u32),
    #[error("job data is {0} bytes; the limit is {MAX_DATA_BYTES}")]
    DataSize(usize),
    /// A value could not be written as JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// A known BullMQ job option (named) has the wrong JSON type.
    #[error("job option `{0}` has the wrong type")]
    OptionType(String),
    #[error("unsupported backoff type `{0}`")]
    BackoffType(String),
    #[error("unknown state `{0}` (waiting, prioritized, delayed, active, completed or failed)")]
    UnknownState(String),
    #[error("active jobs are held by workers and cannot be cleaned")]
    CleanActive,
    /// A stored job's JSON field is not JSON.
    #[error("job {id}: stored {field} not JSON: {source}")]
    StoredJson {
        id: String,
        field: StoredField,
        #[source]
        source: serde_json::Error,
    },
    /// A stored job's options are JSON but not options svc can read.
    #[error("job {id}: {source}")]
    StoredOptions {
        id: String,
        #[source]
        source: Box<QueueError>,
    },
    /// A stored job's row names a state svc does not know.
    #[error("job {id}: unknown state `{state}`")]
    StoredState { id: String, state: String },
    /// A job in Redis is in no structure svc knows.
    #[error("job {id} is in a state svc does not know ({state})")]
    UnknownPlace { id: String, state: String },
}

/// A stored job's field that holds JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredField {
    Data,
    Opts,
    ReturnValue,
}

impl std::fmt::Display for StoredField {
    /// The field with its verb, as the message reads: "stored opts are not JSON".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredField::Data => "data is",
            StoredField::Opts => "opts are",
            StoredField::ReturnValue => "returnvalue is",
        })
    }
}

/// A stored job's `field` of job `id` is not JSON.
pub(crate) fn stored_json(id: &str, field: StoredField, source: serde_json::Error) -> QueueError {
    InvalidReason::StoredJson {
        id: id.to_owned(),
        field,
        source,
    }
    .into()
}

/// Why the queue's settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigCause {
    /// The Redis settings parse but no client can be built from them.
    #[error("{0}")]
    Redis(#[source] RedisError),
    /// Invalid variables, every one named.
    #[error("{}", join(.0))]
    Variables(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    let text: Vec<String> = problems.iter().map(Problem::to_string).collect();
    text.join("; ")
}

impl From<InvalidReason> for QueueError {
    fn from(reason: InvalidReason) -> Self {
        QueueError::Invalid(reason)
    }
}

impl From<UnavailableCause> for QueueError {
    fn from(cause: UnavailableCause) -> Self {
        QueueError::Unavailable(cause)
    }
}

impl From<RedisError> for QueueError {
    /// Unusable settings are the queue's configuration; anything else means Redis is unavailable.
    fn from(error: RedisError) -> Self {
        if error.is_config() {
            QueueError::Config(ConfigCause::Redis(error))
        } else {
            QueueError::Unavailable(UnavailableCause::Redis(error))
        }
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(error: rusqlite::Error) -> Self {
        QueueError::Unavailable(UnavailableCause::Sqlite(error))
    }
}

impl From<PoolError> for QueueError {
    fn from(error: PoolError) -> Self {
        QueueError::Unavailable(match error {
            PoolError::Sqlite(e) => UnavailableCause::Sqlite(e),
            PoolError::Task(e) => UnavailableCause::Task(e),
            other => UnavailableCause::Pool(other),
        })
    }
}

impl From<tokio::task::JoinError> for QueueError {
    fn from(error: tokio::task::JoinError) -> Self {
        QueueError::Unavailable(UnavailableCause::Task(error))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn messages_read_as_before_and_keep_their_cause() {
        let invalid = QueueError::from(InvalidReason::IdForm("12".into()));
        assert_eq!(
            invalid.to_string(),
            "invalid job: custom job id `12` is not allowed (it may not be an integer or contain `:`)"
        );
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let stored = stored_json("7", StoredField::Opts, json);
        assert!(
            stored
                .to_string()
                .starts_with("invalid job: job 7: stored opts are not JSON: "),
            "{stored}"
        );
        let sqlite = QueueError::from(rusqlite::Error::InvalidQuery);
        assert!(
            sqlite
                .to_string()
                .starts_with("queue unavailable: sqlite: ")
        );
        let cause = sqlite.source().and_then(|cause| cause.source());
        assert!(cause.is_some_and(|e| e.is::<rusqlite::Error>()));
    }
}
