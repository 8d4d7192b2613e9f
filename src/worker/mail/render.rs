//! The welcome email: a multipart/alternative message with a plain-text and an HTML part.

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

use crate::queue::jobs::WelcomeEmail;

/// Why an email could not be built (the job's data is at fault; retrying cannot help).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("invalid recipient address {0:?}: {1}")]
    Address(String, String),
    #[error("the recipient's name is empty")]
    EmptyName,
    #[error("the recipient's name contains control characters")]
    ControlCharacters,
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// Renders the welcome email for `mail`, sent from `from`, with a `Message-ID` derived from
/// `job_id` so every attempt of the job produces the same id.
///
/// # Errors
/// [`RenderError`] when the job's address or name are unusable.
pub fn welcome(mail: &WelcomeEmail, from: &Mailbox, job_id: &str) -> Result<Message, RenderError> {
    let name = mail.name.trim();
    if name.is_empty() {
        return Err(RenderError::EmptyName);
    }
    // A newline in a header value would let the data add headers (`Bcc:`) to the email.
    if name.chars().any(char::is_control) {
        return Err(RenderError::ControlCharacters);
    }
    let address = mail
        .email
        .trim()
        .parse::<lettre::Address>()
        .map_err(|e| RenderError::Address(mail.email.clone(), e.to_string()))?;
    let to = Mailbox::new(Some(name.to_owned()), address);
    let domain = from.email.domain();
    let text = format!(
        "Hello {name},\n\nwelcome aboard! Your account is ready.\n\nIf you did not sign up, you can ignore this email.\n"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>Hello {},</p>\n<p>welcome aboard! Your account is ready.</p>\n\
         <p>If you did not sign up, you can ignore this email.</p>\n</body></html>\n",
        escape_html(name)
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(format!("Welcome, {name}!"))
        .message_id(Some(format!("<{}@{domain}>", message_id_part(job_id))))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| RenderError::Build(e.to_string()))
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The job id reduced to characters a `Message-ID` may hold.
fn message_id_part(job_id: &str) -> String {
    job_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(name: &str, email: &str) -> WelcomeEmail {
        WelcomeEmail {
            user_id: "7".into(),
            email: email.into(),
            name: name.into(),
            request_id: None,
        }
    }

    #[test]
    fn renders_text_and_html_alternatives() {
        let from: Mailbox = "svc <no-reply@example.com>".parse().unwrap();
        let message =
            welcome(&mail("Ada <script>", "ada@example.com"), &from, "welcome-7").unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("Message-ID: <welcome-7@example.com>"), "{raw}");
        assert!(raw.contains("Ada &lt;script&gt;"));
        assert!(raw.contains("To: "));
    }

    #[test]
    fn bad_addresses_and_empty_names_are_refused() {
        let from: Mailbox = "no-reply@example.com".parse().unwrap();
        assert!(matches!(
            welcome(&mail("A", "not-an-address"), &from, "j"),
            Err(RenderError::Address(..))
        ));
        assert!(matches!(
            welcome(&mail(" ", "a@example.com"), &from, "j"),
            Err(RenderError::EmptyName)
        ));
    }
}
