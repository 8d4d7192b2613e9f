//! Refresh tokens: 256 random bits, shown to the client once and stored only as their SHA-256,
//! so a copy of the database holds nothing that logs anyone in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh refresh token (43 URL-safe characters).
pub fn generate() -> String {
    URL_SAFE_NO_PAD.encode(super::random_bytes::<32>())
}

/// What the store keeps of `token`: its SHA-256, hex. A fast hash is right here: the token has
/// 256 bits of entropy, so there is nothing to guess, unlike a password.
pub fn fingerprint(token: &str) -> String {
    super::sha256_hex(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_as_hashes() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(fingerprint(&a).len(), 64);
        assert_eq!(fingerprint(&a), fingerprint(&a));
        assert!(!fingerprint(&a).contains(&a));
    }
}
