//! Why a queue operation failed.

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backing store cannot be reached; callers may retry later.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("invalid job: {0}")]
    Invalid(String),
    /// The queue's settings (environment) are unusable; nothing was opened.
    #[error("queue configuration: {0}")]
    Config(String),
}

impl From<crate::redis::RedisError> for QueueError {
    /// Unusable settings are the queue's configuration; anything else means Redis is unavailable.
    fn from(error: crate::redis::RedisError) -> Self {
        if error.is_config() {
            QueueError::Config(error.to_string())
        } else {
            QueueError::Unavailable(error.to_string())
        }
    }
}
