//! Secret values kept out of what svc shows: `svc config check` prints the environment it
//! resolved with the secrets masked, unless `--show-secrets` asks for them.
//!
//! A value is secret when its key says so (it contains `PASS`, `SECRET`, `TOKEN`, `KEY` or
//! `CREDENTIAL`, in any case): the whole value is masked. Any other value that is a URL with a
//! password (`SMTP_URL=smtp://user:pass@host`, `REDIS_URL=redis://:pass@host`) keeps everything
//! but the password. The mask is visible (`***`), so it stays obvious that the value is set.

use std::borrow::Cow;

/// What a masked value, or a masked URL password, is shown as.
pub const MASK: &str = "***";

/// The parts of a key that mark its value as secret (compared in upper case).
const SECRET_WORDS: &[&str] = &["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL"];

/// The value of `key` as it may be shown: [`MASK`] for a key that looks secret, a URL with its
/// password replaced by [`MASK`], or `value` itself. An empty value stays empty (nothing is set).
pub fn mask<'a>(key: &str, value: &'a str) -> Cow<'a, str> {
    if value.is_empty() {
        return Cow::Borrowed(value);
    }
    let key = key.to_ascii_uppercase();
    if SECRET_WORDS.iter().any(|word| key.contains(word)) {
        return Cow::Borrowed(MASK);
    }
    mask_url(value)
}

/// `value` with the password of its URL replaced by [`MASK`] (`scheme://user:***@host`); any
/// other value unchanged.
pub fn mask_url(value: &str) -> Cow<'_, str> {
    match password_span(value) {
        Some((start, end)) => Cow::Owned(format!("{}{MASK}{}", &value[..start], &value[end..])),
        None => Cow::Borrowed(value),
    }
}

/// Whether `value` is a URL with a password (`scheme://user:password@host`).
pub fn url_has_password(value: &str) -> bool {
    password_span(value).is_some()
}

/// The byte range of the password in `scheme://user:password@host…`, if there is one.
fn password_span(value: &str) -> Option<(usize, usize)> {
    let (scheme, _) = value.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return None;
    }
    let authority_start = scheme.len() + 3;
    let rest = &value[authority_start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let colon = userinfo.find(':')?;
    Some((
        authority_start + colon + 1,
        authority_start + userinfo.len(),
    ))
}

/// Masks every environment value of `program` that looks secret (see [`mask`]), and the
/// password of its HTTP readiness URL.
pub fn mask_program(program: &mut super::Program) {
    mask_env(&mut program.env);
    if let super::Ready::Http { url, .. } = &mut program.ready {
        *url = mask_url(url).into_owned();
    }
}

/// Masks every value of `env` that looks secret.
pub fn mask_env(env: &mut std::collections::BTreeMap<String, String>) {
    for (key, value) in env.iter_mut() {
        *value = mask(key, value).into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_look_secret_hide_the_whole_value() {
        for key in [
            "REDIS_PASSWORD",
            "db_pass",
            "AUTH_SECRET",
            "METRICS_TOKEN",
            "API_KEY",
            "Aws_Credentials",
            "PASSPHRASE",
        ] {
            assert_eq!(mask(key, "hunter2"), MASK, "{key}");
        }
        assert_eq!(mask("AUTH_SECRET", ""), "", "an empty value shows as unset");
    }

    #[test]
    fn url_passwords_are_masked_and_the_rest_is_kept() {
        let cases = [
            ("smtp://user:secret@host:25", "smtp://user:***@host:25"),
            (
                "smtps://ann%40x.org:p%3Ass@mail.example.com?tls=required",
                "smtps://ann%40x.org:***@mail.example.com?tls=required",
            ),
            (
                "redis://:hunter2@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "mongodb+srv://app:pw@a.example.com,b.example.com/db",
                "mongodb+srv://app:***@a.example.com,b.example.com/db",
            ),
            ("https://u:p@x@host/path@z", "https://u:***@host/path@z"),
        ];
        for (value, shown) in cases {
            assert_eq!(mask("SMTP_URL", value), shown, "{value}");
            assert_eq!(mask("ANYTHING", value), shown, "{value}");
        }
    }

    #[test]
    fn other_values_are_shown_as_they_are() {
        for value in [
            "info",
            "3000",
            "smtp://127.0.0.1:2525",
            "smtp://user@host:25",
            "https://host/a:b@c",
            "http://host:8080/?q=a:b@c",
            "not a url: a:b@c",
            "1st://a:b@c",
        ] {
            assert_eq!(mask("SOME_URL", value), value, "{value}");
        }
    }
}
