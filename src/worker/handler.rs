//! What the worker does with a job: the [`Handler`] trait (so the run loop can be driven by other
//! handlers, as the benchmark does) and the email handler `svc worker` runs.

use async_trait::async_trait;
use lettre::message::Mailbox;
use serde_json::{Value, json};

use super::mail::{Delivered, MailError, Mailer, Transport, render};
use crate::queue::JobRecord;
use crate::queue::jobs::{WELCOME_EMAIL, WelcomeEmail};

/// Why a job's attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// May pass on a later attempt: retried while attempts remain.
    #[error("{0}")]
    Retryable(String),
    /// Will fail the same way every time (unknown job, malformed data): failed at once.
    #[error("{0}")]
    Unrecoverable(String),
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
        let mail: WelcomeEmail = serde_json::from_value(job.data.clone())
            .map_err(|e| JobError::Unrecoverable(format!("malformed {WELCOME_EMAIL} data: {e}")))?;
        let message = render::welcome(&mail, &self.from, &job.id)
            .map_err(|e| JobError::Unrecoverable(format!("malformed {WELCOME_EMAIL} data: {e}")))?;
        match self.mailer.send(&job.id, message).await {
            Ok(Delivered::File(path)) => {
                Ok(json!({"transport": "file", "path": path.display().to_string()}))
            }
            Ok(Delivered::Smtp) => Ok(json!({"transport": "smtp"})),
            // The user id, not the address, says whose email it was (the jobId is on the line).
            Err(MailError::Transient(reason)) => Err(JobError::Retryable(format!(
                "user {}: {reason}",
                mail.user_id
            ))),
            Err(MailError::Permanent(reason)) => Err(JobError::Unrecoverable(format!(
                "user {}: {reason}",
                mail.user_id
            ))),
        }
    }
}

#[async_trait]
impl<M: Mailer> Handler for EmailHandler<M> {
    async fn handle(&self, job: &JobRecord) -> Result<Value, JobError> {
        match job.name.as_str() {
            WELCOME_EMAIL => self.welcome(job).await,
            other => Err(JobError::Unrecoverable(format!(
                "unknown job name {other:?} (this worker handles {WELCOME_EMAIL:?})"
            ))),
        }
    }
}
