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

use async_trait::async_trait;
use lettre::Message;

/// Why a send failed; [`MailError::is_permanent`] says whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The outbox file could not be written (a full disk, a file where the folder should be).
    #[error("cannot {action} {}: {source}", path.display())]
    Outbox {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The blocking task writing the outbox file did not finish.
    #[error("outbox task failed: {0}")]
    OutboxTask(#[source] tokio::task::JoinError),
    /// The server was unreachable or replied 4xx: may pass. The reply is kept as redacted text
    /// ([`redact_addresses`]), not as lettre's error, whose text names the recipient.
    #[error("SMTP delivery failed: {reply}")]
    SmtpFailed { reply: String },
    /// The server replied 5xx (unknown mailbox, rejected content): will not pass by retrying.
    #[error("SMTP server refused the email: {reply}")]
    SmtpRefused { reply: String },
}

impl MailError {
    /// Whether the same send would fail the same way every time.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::SmtpRefused { .. })
    }
}

/// `text` with every email address in it replaced by `<address>`: an SMTP server's reply names
/// the recipient (`550 5.1.1 <ann@example.com>: Recipient address rejected`), and such a reply
/// is logged and stored as the job's failure. An address in angle brackets loses them too.
pub fn redact_addresses(text: &str) -> String {
    const REDACTED: &str = "<address>";
    let local = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let domain = |c: char| c.is_alphanumeric() || "-.[]:".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| local(c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = rest[at + 1..]
            .char_indices()
            .find(|&(_, c)| !domain(c))
            .map_or(rest.len(), |(i, _)| at + 1 + i);
        let domain_part = rest[at + 1..end].trim_end_matches(['.', ':']);
        let end = at + 1 + domain_part.len();
        if start == at || !domain_part.chars().any(char::is_alphanumeric) {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            continue;
        }
        let bracketed = rest[..start].ends_with('<') && rest[end..].starts_with('>');
        let (start, end) = if bracketed {
            (start - 1, end + 1)
        } else {
            (start, end)
        };
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where an email went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    File(PathBuf),
    Smtp,
}

/// Delivers a job's email: what the email handler needs of a transport.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Delivers `message` for job `job_id`; idempotent per job (see the module doc).
    ///
    /// # Errors
    /// [`MailError`] saying whether a retry may help.
    async fn send(&self, job_id: &str, message: Message) -> Result<Delivered, MailError>;
}

/// The configured transport.
#[derive(Debug, Clone)]
pub enum Transport {
    Outbox(outbox::Outbox),
    Smtp(smtp::Smtp),
}

#[async_trait]
impl Mailer for Transport {
    async fn send(&self, job_id: &str, message: Message) -> Result<Delivered, MailError> {
        let started = std::time::Instant::now();
        let sent = match self {
            Transport::Outbox(outbox) => outbox
                .write(job_id, &message.formatted())
                .await
                .map(Delivered::File),
            Transport::Smtp(smtp) => smtp.send(message).await.map(|()| Delivered::Smtp),
        };
        super::metrics::sent(self.kind(), started.elapsed());
        sent
    }
}

impl Transport {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Outbox(_) => "file",
            Transport::Smtp(_) => "smtp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_addresses;

    #[test]
    fn addresses_are_redacted_from_replies() {
        let cases = [
            (
                "permanent error (550): 5.1.1 <ann.lee+x@example.com>: Recipient address rejected",
                "permanent error (550): 5.1.1 <address>: Recipient address rejected",
            ),
            (
                "550 No such user bob@mail.example.org. Bye",
                "550 No such user <address>. Bye",
            ),
            (
                "to a@b, c@d and zoë@exämple.de",
                "to <address>, <address> and <address>",
            ),
            ("user@[192.0.2.1]: refused", "<address>: refused"),
            ("RCPT TO:<ann@example.com> 550", "RCPT TO:<address> 550"),
        ];
        for (reply, redacted) in cases {
            assert_eq!(redact_addresses(reply), redacted, "{reply}");
        }
        for unchanged in ["451 4.7.1 greylisted", "a @ b", "@home", "50@ 3", "x@."] {
            assert_eq!(redact_addresses(unchanged), unchanged);
        }
    }
}
