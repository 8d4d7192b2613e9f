//! The account lockout: after [`MAX_FAILURES`] failed logins for one email within
//! [`WINDOW`], logins for that email answer 429 until the window ends, the right password
//! included. Counted where the rate limit counts (the store, or Redis), so it holds across every
//! instance; keyed by a hash of the email, so no address is written to a counter, and counted
//! for unknown emails too, so the lockout does not reveal which accounts exist.

use std::sync::Arc;
use std::time::Duration;

use crate::api::rate_limit::{Decision, Limiter, RateLimiter};
use crate::api::settings::RateLimit;
use crate::domain::Email;

/// Failed logins per account and window.
pub const MAX_FAILURES: u64 = 5;
/// The window, aligned to the epoch like the rate limit's.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The lockout's limit.
pub const LIMIT: RateLimit = RateLimit {
    max: MAX_FAILURES,
    window: WINDOW,
};

/// Failed logins per account. Cheap to clone.
#[derive(Clone)]
pub struct Lockout {
    failures: Limiter,
}

impl Lockout {
    /// Counts failures in `counter` (whose limit is [`LIMIT`]).
    pub fn new(counter: Arc<dyn RateLimiter>) -> Self {
        Lockout {
            failures: Limiter::new(counter),
        }
    }

    /// `Some` with the window's end while `email` is locked out. A counter that does not answer
    /// locks nobody out (logged once, like the rate limit).
    pub async fn locked(&self, email: &Email) -> Option<Decision> {
        self.failures
            .peek(&key(email))
            .await
            .filter(|decision| !decision.allowed)
    }

    /// Counts one failed login for `email`.
    pub async fn failed(&self, email: &Email) {
        let _ = self.failures.check(&key(email)).await;
    }
}

fn key(email: &Email) -> String {
    let digest = crate::auth::sha256_hex(email.as_str());
    format!("login:{}", &digest[..32])
}
