//! Password hashing: argon2id with the crate's defaults (OWASP's minimum: m = 19 MiB, t = 2,
//! p = 1), off the async threads, at most one hash per core at a time.
//!
//! Checking a login costs the same whether or not the account exists: an unknown email is
//! checked against a dummy hash made with the same parameters ([`Hasher::verify_or_dummy`]), so
//! the response time does not tell which emails are registered.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// Why a hash could not be made or checked (never because the password was wrong).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the hashing slots are closed")]
    Closed,
}

/// Hashes one password (blocking; tens of milliseconds and 19 MiB).
///
/// # Errors
/// [`HashError::Hash`] when argon2 refuses (it does not for the bounded passwords we accept).
pub fn hash_blocking(password: &Password) -> Result<String, HashError> {
    let hash: Result<PasswordHash, _> =
        Argon2::default().hash_password(password.expose().as_bytes());
    hash.map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (blocking). A malformed stored hash never
/// matches.
pub fn verify_blocking(password: &Password, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        tracing::error!("a stored password hash is malformed; the login is refused");
        return false;
    };
    Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, with the same parameters as real ones.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = super::hex(&super::random_bytes::<16>());
        Password::new(&random)
            .ok()
            .and_then(|p| hash_blocking(&p).ok())
            .unwrap_or_default()
    })
}

/// Bounded, off-thread hashing for the API. Cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    /// Each hash takes 19 MiB and a core for tens of ms: a burst of sign-ups and logins queues
    /// here rather than exhausting memory or starving the request threads.
    slots: Arc<Semaphore>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// One slot per core the process may use.
    pub fn new() -> Self {
        Hasher {
            slots: Arc::new(Semaphore::new(Self::slots())),
        }
    }

    /// How many hashes run at once.
    pub fn slots() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Makes the dummy hash now, so the first login of an unknown email is not the fast one.
    pub async fn warm_up(&self) {
        let _ = self.blocking(|| dummy_hash().len()).await;
    }

    /// Hashes `password`.
    ///
    /// # Errors
    /// [`HashError`] when hashing fails.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.blocking(move || hash_blocking(&password)).await?
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is none, so both
    /// cases take the same time. `false` for the dummy.
    ///
    /// # Errors
    /// [`HashError`] when the hashing task fails.
    pub async fn verify_or_dummy(
        &self,
        password: Password,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        self.blocking(move || match hash {
            Some(hash) => verify_blocking(&password, &hash),
            None => {
                let _ = verify_blocking(&password, dummy_hash());
                false
            }
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _turn = self.slots.acquire().await.map_err(|_| HashError::Closed)?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_the_dummy_never() {
        let hasher = Hasher::new();
        let password = Password::new("correct horse").unwrap();
        let hash = hasher.hash(password.clone()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            hasher
                .verify_or_dummy(password.clone(), Some(hash.clone()))
                .await
                .unwrap()
        );
        let wrong = Password::new("battery staple").unwrap();
        assert!(!hasher.verify_or_dummy(wrong, Some(hash)).await.unwrap());
        assert!(
            !hasher
                .verify_or_dummy(password.clone(), None)
                .await
                .unwrap()
        );
        assert!(!verify_blocking(&password, "not a phc string"));
    }
}
