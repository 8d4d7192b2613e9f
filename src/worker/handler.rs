//! What the worker does with a job: the [`Handler`] trait (so the run loop can be driven by other
//! handlers, as the benchmark does) and the email handler `svc worker` runs.

use async_trait::async_trait;
use lettre::message::Mailbox;
use serde::Deserialize;
use serde_json::{Value, json};

use super::mail::render::{self, RenderError};
use super::mail::{Delivered, MailError, Mailer, Transport};
use crate::queue::JobRecord;
use crate::queue::jobs::{WELCOME_EMAIL, WelcomeEmail};

/// Why a job's attempt failed; [`JobError::is_retryable`] says whether a later attempt may pass.
/// The text is what the queue keeps as the job's failure (`failedReason`).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job's data is not its payload's shape.
    #[error("malformed {job} data: {source}")]
    Malformed {
        job: &'static str,
        source: serde_json::Error,
    },
    /// The payload cannot make an email (an unusable address or name).
    #[error("malformed {job} data: {source}")]
    Unrenderable {
        job: &'static str,
        source: RenderError,
    },
    /// No handler for this job name.
    #[error("unknown job name {name:?} (this worker handles {handled:?})")]
    UnknownJob { name: String, handled: &'static str },
    /// The email could not be delivered. The user id, not the address, says whose email it
    /// was (the jobId is on the line).
    #[error("user {user_id}: {source}")]
    Delivery { user_id: String, source: MailError },
}

impl JobError {
    /// Whether another attempt may pass: only a delivery failure that is not permanent; the
    /// others fail the same way every time, so the job fails at once.
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::Delivery { source, .. } if !source.is_permanent())
    }
}

/// Runs one attempt of a job; the `Ok` value is stored as the job's return value.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, job: &JobRecord) -> Result<Value, JobError>;
}

/// The handler of the email queue: `welcome-email` jobs, delivered by a [`Mailer`] (the
/// configured [`Transport`] in `svc worker`).
#[derive(Debug, Clone)]
pub struct EmailHandler<M = Transport> {
    mailer: M,
    from: Mailbox,
}

impl<M: Mailer> EmailHandler<M> {
    pub fn new(mailer: M, from: Mailbox) -> Self {
        EmailHandler { mailer, from }
    }

    async fn welcome(&self, job: &JobRecord) -> Result<Value, JobError> {
        let mail = WelcomeEmail::deserialize(&job.data).map_err(|source| JobError::Malformed {
            job: WELCOME_EMAIL,
            source,
        })?;
        let message = render::welcome(&mail, &self.from, &job.id).map_err(|source| {
            JobError::Unrenderable {
                job: WELCOME_EMAIL,
                source,
            }
        })?;
        match self.mailer.send(&job.id, message).await {
            Ok(Delivered::File(path)) => {
                Ok(json!({"transport": "file", "path": path.display().to_string()}))
            }
            Ok(Delivered::Smtp) => Ok(json!({"transport": "smtp"})),
            Err(source) => Err(JobError::Delivery {
                user_id: mail.user_id,
                source,
            }),
        }
    }
}

#[async_trait]
impl<M: Mailer> Handler for EmailHandler<M> {
    async fn handle(&self, job: &JobRecord) -> Result<Value, JobError> {
        match job.name.as_str() {
            WELCOME_EMAIL => self.welcome(job).await,
            other => Err(JobError::UnknownJob {
                name: other.to_owned(),
                handled: WELCOME_EMAIL,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_delivery_failure_that_may_pass_is_retried() {
        let delivery = |source| JobError::Delivery {
            user_id: "7".into(),
            source,
        };
        let refused = delivery(MailError::SmtpRefused {
            reply: "550 <address>: unknown".into(),
        });
        assert_eq!(
            refused.to_string(),
            "user 7: SMTP server refused the email: 550 <address>: unknown"
        );
        assert!(!refused.is_retryable());
        let busy = delivery(MailError::SmtpFailed {
            reply: "421 busy".into(),
        });
        assert!(busy.is_retryable());
        assert!(std::error::Error::source(&busy).is_some());

        let unknown = JobError::UnknownJob {
            name: "x".into(),
            handled: WELCOME_EMAIL,
        };
        assert_eq!(
            unknown.to_string(),
            r#"unknown job name "x" (this worker handles "welcome-email")"#
        );
        assert!(!unknown.is_retryable());
        let malformed = JobError::Malformed {
            job: WELCOME_EMAIL,
            source: WelcomeEmail::deserialize(&json!({"userId": "1"})).unwrap_err(),
        };
        assert_eq!(
            malformed.to_string(),
            "malformed welcome-email data: missing field `email`"
        );
        assert!(!malformed.is_retryable());
    }
}
