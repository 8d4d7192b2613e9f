//! Mail: rendering the welcome email and the two transports that deliver it — SMTP when
//! `SMTP_URL` is set, otherwise a file outbox of `.eml` files (one per job, written atomically).
//!
//! Either transport is idempotent enough for an at-least-once queue: the outbox names the file
//! after the job, so a retry replaces it instead of adding a second one; over SMTP the
//! `Message-ID` is derived from the job id, so a receiver can recognise a resend.

pub mod outbox;
pub mod render;
pub mod smtp;

use std::path::PathBuf;

use lettre::Message;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A failure that may pass (a full disk, a refused or unreachable server, a 4xx reply).
    #[error("{0}")]
    Transient(String),
    /// A failure that will not pass by retrying (a 5xx reply: unknown mailbox, rejected content).
    #[error("{0}")]
    Permanent(String),
}

/// Where an email went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    File(PathBuf),
    Smtp,
}

/// The configured transport.
#[derive(Debug, Clone)]
pub enum Transport {
    Outbox(outbox::Outbox),
    Smtp(smtp::Smtp),
}

impl Transport {
    /// Delivers `message` for job `job_id`.
    ///
    /// # Errors
    /// [`MailError`] saying whether a retry may help.
    pub async fn send(&self, job_id: &str, message: Message) -> Result<Delivered, MailError> {
        match self {
            Transport::Outbox(outbox) => outbox
                .write(job_id, &message.formatted())
                .await
                .map(Delivered::File),
            Transport::Smtp(smtp) => smtp.send(message).await.map(|()| Delivered::Smtp),
        }
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Outbox(_) => "file",
            Transport::Smtp(_) => "smtp",
        }
    }
}
