//! The SMTP transport (lettre, rustls), configured from `SMTP_URL`.

use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{MailError, redact_addresses};

/// How long one SMTP conversation step may take before the attempt fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An SMTP relay.
#[derive(Debug, Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Smtp {
    /// Builds the transport for `url` (`smtp://host:port`, `smtp://…?tls=required`,
    /// `smtps://user:pass@host`).
    ///
    /// # Errors
    /// lettre's error when the URL is not a usable SMTP URL.
    pub fn from_url(url: &str) -> Result<Self, lettre::transport::smtp::Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(TIMEOUT))
            .build();
        Ok(Smtp { transport })
    }

    /// Sends one message.
    ///
    /// # Errors
    /// [`MailError::SmtpRefused`] for a 5xx reply, else [`MailError::SmtpFailed`]; the server's
    /// reply in either has its email addresses redacted (it often names the recipient).
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reply = redact_addresses(&e.to_string());
                Err(if e.is_permanent() {
                    MailError::SmtpRefused { reply }
                } else {
                    MailError::SmtpFailed { reply }
                })
            }
        }
    }
}
