//! The user aggregate. A password exists only on the way in ([`NewUser`], [`ProfilePatch`],
//! [`LoginRequest`]); a [`User`] has no password or hash field, so none can ever be serialized
//! into a response or a log line.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::id::ObjectId;
use super::time::Timestamp;
use super::validate::{self, Invalid, Reader};

pub const MAX_NAME: usize = 100;
pub const MAX_EMAIL: usize = 254;
pub const MIN_PASSWORD: usize = 8;
/// Bounded so a client cannot make the server hash megabytes.
pub const MAX_PASSWORD: usize = 128;

/// A stored user, as shown to clients.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: ObjectId,
    pub name: String,
    pub email: Email,
    pub role: Role,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
}

impl User {
    /// A new user with a fresh id and `role`, created at `now`.
    pub fn register(name: String, email: Email, role: Role, now: Timestamp) -> Self {
        User {
            id: ObjectId::new(),
            name,
            email,
            role,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

/// What a user may do. Sign-up always makes a [`Role::User`]; only `svc user create --admin`
/// and `svc user set-role` make an admin, so no HTTP request can grant itself rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses `user` or `admin`.
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(format!("{other:?} is not a role (user or admin)")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated `PATCH /api/users/me`: a new `name`, and/or a new `password`, which needs the
/// `currentPassword` (a stolen access token alone cannot take the account over).
#[derive(Debug, Clone)]
pub struct ProfilePatch {
    pub name: Option<String>,
    /// The new password and the current one it must be checked against.
    pub password: Option<(Password, Password)>,
}

impl ProfilePatch {
    /// Validates a patch body: `name`, `password`, `currentPassword`; at least one change.
    ///
    /// # Errors
    /// [`Invalid`] naming every bad, missing or unknown field.
    pub fn from_json(body: &Value) -> Result<Self, Invalid> {
        let mut r = Reader::new(body, &["name", "password", "currentPassword"])?;
        let name = r.field("name", name);
        let password = r.field("password", Password::from_json);
        let current = r.field("currentPassword", Password::any_from_json);
        match (
            r.raw("password").is_some(),
            r.raw("currentPassword").is_some(),
        ) {
            (true, false) => r.fail("currentPassword", "is required to change the password"),
            (false, true) => r.fail("currentPassword", "is only accepted with a new password"),
            _ => {}
        }
        if r.raw("name").is_none() && r.raw("password").is_none() {
            r.fail("body", "must change name or password");
        }
        r.finish()?;
        Ok(ProfilePatch {
            name,
            password: password.zip(current),
        })
    }
}

/// A validated `POST /api/auth/login` body.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub email: Email,
    pub password: Password,
}

impl LoginRequest {
    /// Validates `{email, password}`. The password is only bounded in length here (a login
    /// must not reveal the sign-up rules' history), never checked for strength.
    ///
    /// # Errors
    /// [`Invalid`] naming every bad, missing or unknown field.
    pub fn from_json(body: &Value) -> Result<Self, Invalid> {
        let mut r = Reader::new(body, &["email", "password"])?;
        let email = r.required("email", Email::from_json);
        let password = r.required("password", Password::any_from_json);
        r.finish()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(LoginRequest { email, password }),
            _ => Err(Invalid::one("body", "is incomplete")),
        }
    }
}

/// A validated `{refreshToken}` body (`POST /api/auth/refresh` and `/logout`).
#[derive(Clone)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl RefreshRequest {
    /// Validates `{refreshToken}`: a string of a sane length (the store only sees its hash).
    ///
    /// # Errors
    /// [`Invalid`] naming the bad, missing or unknown field.
    pub fn from_json(body: &Value) -> Result<Self, Invalid> {
        let mut r = Reader::new(body, &["refreshToken"])?;
        let token = r.required("refreshToken", |value| match value {
            Value::String(token) if (1..=512).contains(&token.len()) => Ok(token.clone()),
            Value::String(_) => Err("must be 1 to 512 characters".into()),
            _ => Err("must be a string".into()),
        });
        r.finish()?;
        token
            .map(|refresh_token| RefreshRequest { refresh_token })
            .ok_or_else(|| Invalid::one("body", "is incomplete"))
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshRequest(<redacted>)")
    }
}

/// A validated sign-up.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub email: Email,
    pub password: Password,
}

impl NewUser {
    /// Validates a create body: `name`, `email` and `password`, nothing else.
    ///
    /// # Errors
    /// [`Invalid`] naming every bad, missing or unknown field.
    pub fn from_json(body: &Value) -> Result<Self, Invalid> {
        let mut r = Reader::new(body, &["name", "email", "password"])?;
        let name = r.required("name", name);
        let email = r.required("email", Email::from_json);
        let password = r.required("password", Password::from_json);
        r.finish()?;
        match (name, email, password) {
            (Some(name), Some(email), Some(password)) => Ok(NewUser {
                name,
                email,
                password,
            }),
            _ => Err(Invalid::one("body", "is incomplete")),
        }
    }
}

/// The display name: 1–100 characters that pass [`name_problem`]. It goes into the welcome
/// email's `To:` and `Subject:` headers, so the worker refuses such a name; refusing it here as
/// well means no user is created whose email can never be sent.
fn name(value: &Value) -> Result<String, String> {
    let name = validate::text(value, 1, MAX_NAME)?;
    match name_problem(&name) {
        Some(problem) => Err(problem.into()),
        None => Ok(name),
    }
}

/// What is wrong with `name` as a user's display name, if anything (the API and the worker
/// apply the same rule):
/// - control characters: a CR/LF in a header value would add headers (`Bcc:`) to the email;
/// - RFC 2047 encoded words (`=?charset?b?…?=`): a mail reader decodes them, so a name could
///   show as anything, an address included;
/// - bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C): they
///   reorder the text around them ("Trojan Source"), so what a reader sees is not what is there;
/// - zero-width characters (U+200B–U+200D, U+2060, U+FEFF): invisible, they make two names that
///   look the same differ.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.chars().any(char::is_control) {
        return Some("must not contain control characters");
    }
    if let Some(start) = name.find("=?")
        && name[start + 2..].contains("?=")
    {
        return Some("must not contain MIME encoded words (=?…?=)");
    }
    let bidi = |c: char| {
        matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
    };
    if name.chars().any(bidi) {
        return Some("must not contain bidirectional control characters");
    }
    let zero_width = |c: char| matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    if name.chars().any(zero_width) {
        return Some("must not contain zero-width characters");
    }
    None
}

/// A trimmed, lowercased email address of a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses `text`: trimmed, lowercased, `local@domain.tld`, no spaces.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let email = text.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.chars().count() > MAX_EMAIL {
            return Err(format!("must be at most {MAX_EMAIL} characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address".into());
        };
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        if !(labels_ok && local_ok) {
            return Err("must be an email address".into());
        }
        Ok(Email(email))
    }

    fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(text) => Self::parse(text),
            _ => Err("must be a string".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext password on its way to the hasher; `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    fn from_json(value: &Value) -> Result<Self, String> {
        let Value::String(text) = value else {
            return Err("must be a string".into());
        };
        let len = text.chars().count();
        if len < MIN_PASSWORD {
            return Err(format!("must be at least {MIN_PASSWORD} characters"));
        }
        if len > MAX_PASSWORD {
            return Err(format!("must be at most {MAX_PASSWORD} characters"));
        }
        Ok(Password(text.clone()))
    }

    /// A password to check, not to set: any non-empty string up to [`MAX_PASSWORD`].
    fn any_from_json(value: &Value) -> Result<Self, String> {
        let Value::String(text) = value else {
            return Err("must be a string".into());
        };
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.chars().count() > MAX_PASSWORD {
            return Err(format!("must be at most {MAX_PASSWORD} characters"));
        }
        Ok(Password(text.clone()))
    }

    /// A password from a trusted source (the operator's terminal), with the sign-up's rules.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn new(text: &str) -> Result<Self, String> {
        Self::from_json(&Value::String(text.to_owned()))
    }

    /// The plaintext, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
