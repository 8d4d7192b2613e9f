//! Accounts' secrets, with no HTTP in sight: password hashing ([`password`]), the signed access
//! tokens ([`token`]) and their signing key ([`secret`]), and the opaque refresh tokens
//! ([`refresh`]). The API ([`crate::api::auth`]) and `svc user` build on these.

pub mod password;
pub mod refresh;
pub mod secret;
pub mod token;

/// `n` bytes from the operating system's CSPRNG.
///
/// # Panics
/// When the operating system has no randomness to give, which no token may be made without.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// SHA-256 of `text`, lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(text.as_bytes()))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}
