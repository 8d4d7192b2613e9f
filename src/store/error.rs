//! Why a store operation failed, with the driver's or codec's error kept as the source.
//!
//! The API shows none of it (a 503 or an opaque 500). Each level's message ends with its
//! cause's, as the project's other errors do, so printing the error alone still says what went
//! wrong; logs print the whole chain ([`crate::error_chain`]), which adds what lies deeper (e.g.
//! SQLite's result code) without repeating a message.

use std::borrow::Cow;
use std::sync::Arc;

/// Any error beneath the store that has no variant of its own in [`Failure`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record (or it is soft-deleted and was not asked for).
    #[error("not found")]
    NotFound,
    /// A user with this email exists already.
    #[error("email already registered")]
    EmailTaken,
    /// The database cannot serve now (busy, locked, cannot be opened); a retry may work.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Failure),
    /// Anything else: a bug or a corrupt row.
    #[error("store failure: {0}")]
    Internal(#[source] Failure),
}

impl StoreError {
    /// [`StoreError::Unavailable`] because `source` failed while the store did `what`.
    pub fn unavailable(what: impl Into<Cow<'static, str>>, source: impl Into<Cause>) -> Self {
        StoreError::Unavailable(Failure::context(what, source))
    }

    /// [`StoreError::Internal`] because `source` failed while the store did `what`.
    pub fn internal(what: impl Into<Cow<'static, str>>, source: impl Into<Cause>) -> Self {
        StoreError::Internal(Failure::context(what, source))
    }
}

/// What failed beneath the store: a driver's error as it is, or what the store was doing and the
/// error that stopped it, or (when nothing beneath failed) just what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// SQLite refused or failed a statement.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The MongoDB driver failed a call.
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    /// One failure reported to several callers (e.g. every request waiting for one connection
    /// attempt).
    #[error(transparent)]
    Shared(Arc<Failure>),
    /// `source` failed while the store did `what`.
    #[error("{what}: {source}")]
    Context {
        what: Cow<'static, str>,
        #[source]
        source: Cause,
    },
    /// Nothing beneath failed; the store found this wrong (a corrupt row, a timeout, a closed
    /// pool).
    #[error("{0}")]
    Message(Cow<'static, str>),
}

impl Failure {
    /// `source` failed while the store did `what`.
    pub fn context(what: impl Into<Cow<'static, str>>, source: impl Into<Cause>) -> Self {
        Failure::Context {
            what: what.into(),
            source: source.into(),
        }
    }
}

impl From<&'static str> for Failure {
    fn from(message: &'static str) -> Self {
        Failure::Message(Cow::Borrowed(message))
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Message(Cow::Owned(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_chain::chain;

    #[test]
    fn the_chain_names_the_kind_then_the_driver_error() {
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        );
        let error = StoreError::Unavailable(locked.into());
        // rusqlite's own source adds the result code.
        assert_eq!(
            chain(&error).to_string(),
            "store unavailable: database is locked: Error code 5: database is locked"
        );
    }

    #[test]
    fn context_comes_before_its_cause() {
        let error = StoreError::internal(
            "cannot store the job",
            std::io::Error::other("no space left"),
        );
        assert_eq!(
            chain(&error).to_string(),
            "store failure: cannot store the job: no space left"
        );
        assert_eq!(
            error.to_string(),
            "store failure: cannot store the job: no space left"
        );
    }

    #[test]
    fn a_shared_failure_reads_like_the_original() {
        let shared = Arc::new(Failure::from("could not connect within 2s"));
        let error = StoreError::Unavailable(Failure::Shared(shared));
        assert_eq!(
            chain(&error).to_string(),
            "store unavailable: could not connect within 2s"
        );
    }
}
