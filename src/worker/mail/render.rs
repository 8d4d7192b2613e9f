//! The welcome email: a multipart/alternative message with a plain-text and an HTML part.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use crate::domain::user::name_problem;
use crate::queue::jobs::WelcomeEmail;

/// Why an email could not be built (the job's data is at fault; retrying cannot help). No
/// variant carries the recipient's address: these messages are logged.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("invalid recipient address: {0}")]
    Address(#[source] lettre::address::AddressError),
    #[error("the recipient's name is empty")]
    EmptyName,
    /// The name breaks the API's rule for names ([`name_problem`]): a producer other than the
    /// API (the Node app) sent it.
    #[error("the recipient's name {0}")]
    Name(&'static str),
    #[error("cannot build the message: {0}")]
    Build(#[source] lettre::error::Error),
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
    // A newline in a header value would let the data add headers (`Bcc:`) to the email; an
    // encoded word, a bidi control or a zero-width character would make the name read as
    // something it is not.
    if let Some(problem) = name_problem(name) {
        return Err(RenderError::Name(problem));
    }
    let address = mail
        .email
        .trim()
        .parse::<lettre::Address>()
        .map_err(RenderError::Address)?;
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
        .raw_header(subject(name))
        .message_id(Some(format!("<{}@{domain}>", message_id_part(job_id))))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(RenderError::Build)
}

/// The bytes of the name put in one encoded word: 40 base64 characters, so `Subject: Welcome, `
/// and the word fit in 76 columns, as do the folded lines after it.
const ENCODED_WORD_BYTES: usize = 30;

/// `Subject: Welcome, NAME!`, the name encoded as it is in `To:`: a name of plain ASCII
/// (letters, digits, space, `-_.',`) as it is, any other as RFC 2047 encoded words
/// (`=?utf-8?b?…?=`), folded. lettre would leave an ASCII word such as `=?utf-8?b?…?=` raw, for
/// the reader to decode into anything; as the content of an encoded word it is plain text.
fn subject(name: &str) -> HeaderValue {
    let header = HeaderName::new_from_ascii_str("Subject");
    let raw = format!("Welcome, {name}!");
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -_.',".contains(c));
    if plain {
        return HeaderValue::new(header, raw);
    }
    let text = format!("{name}!");
    let mut words = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(ENCODED_WORD_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!("=?utf-8?b?{}?=", STANDARD.encode(&rest[..end])));
        rest = &rest[end..];
    }
    let encoded = format!("Welcome, {}", words.join("\r\n "));
    HeaderValue::dangerous_new_pre_encoded(header, raw, encoded)
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
    use crate::queue::jobs::JobOrigin;

    fn mail(name: &str, email: &str) -> WelcomeEmail {
        WelcomeEmail {
            user_id: "7".into(),
            email: email.into(),
            name: name.into(),
            origin: JobOrigin::default(),
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
        let err = welcome(&mail("A", "not-an-address"), &from, "j").unwrap_err();
        assert!(matches!(err, RenderError::Address(..)));
        assert!(!err.to_string().contains("not-an-address"), "{err}");
        assert!(matches!(
            welcome(&mail(" ", "a@example.com"), &from, "j"),
            Err(RenderError::EmptyName)
        ));
    }

    #[test]
    fn names_the_api_would_refuse_are_refused() {
        let from: Mailbox = "no-reply@example.com".parse().unwrap();
        for bad in [
            "=?utf-8?b?YWRtaW4=?=",
            "Ann\r\nBcc: x@example.com",
            "Ann\u{202E}",
            "A\u{200B}nn",
        ] {
            assert!(
                matches!(
                    welcome(&mail(bad, "a@example.com"), &from, "j"),
                    Err(RenderError::Name(_))
                ),
                "{bad:?}"
            );
        }
    }

    /// The `Subject:` header of `message`, unfolded.
    fn subject_of(message: &Message) -> String {
        let raw = String::from_utf8(message.formatted()).unwrap();
        let start = raw.find("\r\nSubject: ").unwrap() + 2;
        let mut header = String::new();
        for (i, line) in raw[start..].split("\r\n").enumerate() {
            if i > 0 && !line.starts_with(' ') {
                break;
            }
            assert!(line.len() <= 76, "{line:?}");
            header.push_str(line);
        }
        header
    }

    fn decode_words(header: &str) -> String {
        let value = header.strip_prefix("Subject: Welcome, ").unwrap();
        let mut out = Vec::new();
        for word in value.split(' ') {
            let b64 = word
                .strip_prefix("=?utf-8?b?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap_or_else(|| panic!("not an encoded word: {word:?} in {header:?}"));
            out.extend(STANDARD.decode(b64).unwrap());
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_subject_encodes_the_name_unless_it_is_plain_ascii() {
        let from: Mailbox = "no-reply@example.com".parse().unwrap();
        let plain = welcome(&mail("Ada O'Hara-Byron", "a@example.com"), &from, "j").unwrap();
        assert_eq!(subject_of(&plain), "Subject: Welcome, Ada O'Hara-Byron!");
        for name in [
            "Zoë",
            "José Ñúñez",
            "李小龙 and a long name that needs more than one encoded word, folded",
            "Ann \"=? x ?\" <b@example.com>",
            "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂",
        ] {
            let message = welcome(&mail(name, "a@example.com"), &from, "j").unwrap();
            let header = subject_of(&message);
            assert!(header.is_ascii(), "{header:?}");
            assert_eq!(decode_words(&header), format!("{name}!"), "{header:?}");
        }
    }
}
