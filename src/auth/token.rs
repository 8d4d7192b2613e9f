//! Access tokens: JWTs (RFC 7519) signed with HMAC-SHA-256, and nothing else.
//!
//! The algorithm is pinned by construction: a token is accepted only when its header is exactly
//! the one this module writes (`{"alg":"HS256","typ":"JWT"}`), so `alg: none`, an asymmetric
//! algorithm or any other header is refused before a signature is even looked at (no algorithm
//! confusion). The signature is compared in constant time; `exp` and `iss` are checked.
//! Tokens signed with the previous key ([`Keys::previous`]) still verify, so a key can be
//! rotated without logging everyone out.
//!
//! Why not a JWT crate: the maintained one requires an asymmetric crypto backend (RSA, ECDSA,
//! EdDSA or aws-lc-rs) to be compiled in, for one HMAC we already have.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::{ObjectId, Role, Timestamp};

/// The only header ever written or accepted: `{"alg":"HS256","typ":"JWT"}`, base64url.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/// The issuer every token names.
pub const ISSUER: &str = "svc";
/// The shortest signing key accepted (bytes): HMAC-SHA-256's own strength.
pub const MIN_KEY: usize = 32;

/// The signing keys: new tokens are signed with `current`; `previous` only verifies.
#[derive(Clone)]
pub struct Keys {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    pub fn new(current: Vec<u8>, previous: Option<Vec<u8>>) -> Self {
        Keys { current, previous }
    }
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub role: Role,
    pub iss: String,
    /// Issued at and expires at, seconds since the epoch.
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// Claims for `user` with `role`, valid for `ttl` from `now`.
    pub fn new(user: ObjectId, role: Role, now: Timestamp, ttl: Duration) -> Self {
        let iat = now.millis().div_euclid(1000);
        Claims {
            sub: user.to_string(),
            role,
            iss: ISSUER.to_owned(),
            iat,
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// The user's id.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] when `sub` is not an id (no token we sign has that).
    pub fn user(&self) -> Result<ObjectId, TokenError> {
        ObjectId::parse(&self.sub).map_err(|_| TokenError::Malformed)
    }
}

/// Why a token was refused. The API answers each with the same 401; the kinds are for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT this service issues")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// Signs `claims` with the current key.
pub fn issue(keys: &Keys, claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(payload));
    let mut mac = mac(&keys.current);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks `token` (header, signature with either key, issuer, expiry at `now`) and returns its
/// claims.
///
/// # Errors
/// [`TokenError`] saying why it is refused.
pub fn verify(keys: &Keys, token: &str, now: Timestamp) -> Result<Claims, TokenError> {
    let mut parts = token.splitn(3, '.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if header != HEADER {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let signed_by = |key: &[u8]| {
        let mut mac = mac(key);
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).is_ok()
    };
    if !(signed_by(&keys.current) || keys.previous.as_deref().is_some_and(signed_by)) {
        return Err(TokenError::BadSignature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.iss != ISSUER {
        return Err(TokenError::Malformed);
    }
    if claims.exp <= now.millis().div_euclid(1000) {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &[u8], previous: Option<&[u8]>) -> Keys {
        Keys::new(current.to_vec(), previous.map(<[u8]>::to_vec))
    }

    fn claims(ttl: u64) -> Claims {
        Claims::new(
            ObjectId::new(),
            Role::User,
            Timestamp::now(),
            Duration::from_secs(ttl),
        )
    }

    #[test]
    fn a_token_verifies_with_its_key_and_the_previous_key_still_verifies() {
        let old = keys(&[1; 32], None);
        let claims = claims(60);
        let token = issue(&old, &claims);
        assert_eq!(verify(&old, &token, Timestamp::now()), Ok(claims.clone()));
        let rotated = keys(&[2; 32], Some(&[1; 32]));
        assert_eq!(verify(&rotated, &token, Timestamp::now()), Ok(claims));
        let forgotten = keys(&[2; 32], None);
        assert_eq!(
            verify(&forgotten, &token, Timestamp::now()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_refused() {
        let keys = keys(&[1; 32], None);
        let claims = claims(60);
        let token = issue(&keys, &claims);
        // A payload that makes the holder an admin, with the old signature.
        let mut admin = claims.clone();
        admin.role = Role::Admin;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(&keys, &forged, Timestamp::now()),
            Err(TokenError::BadSignature)
        );
        // alg: none, and an unsigned token.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none}.{forged_payload}.");
        assert_eq!(
            verify(&keys, &unsigned, Timestamp::now()),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify(
                &keys,
                &format!("{HEADER}.{forged_payload}."),
                Timestamp::now()
            ),
            Err(TokenError::BadSignature)
        );
        // Expired.
        let later = Timestamp::from_millis(Timestamp::now().millis() + 61_000);
        assert_eq!(verify(&keys, &token, later), Err(TokenError::Expired));
        for junk in ["", "a.b", "a.b.c.d", "..", "x.y.z"] {
            assert!(verify(&keys, junk, Timestamp::now()).is_err(), "{junk}");
        }
    }
}
