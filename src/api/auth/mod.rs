//! Who is calling, and what they may do.
//!
//! [`Auth`] holds what the handlers need to log people in and check tokens: the signing
//! [`Keys`], the tokens' lifetimes, the password [`Hasher`], and the account lockout. [`Caller`]
//! is the extractor that turns `Authorization: Bearer …` into a verified caller (or a 401);
//! [`Caller::require_admin`] and [`Caller::may_access`] are the two authorization rules:
//!
//! - writes to the catalogue, `includeDeleted`, and the user list need an admin, checked against
//!   the store on every such request, so a demotion or a deletion takes effect at once rather
//!   than when the access token expires;
//! - a user may read and delete only itself; another user's id answers 404, as if it did not
//!   exist (its existence is none of the caller's business).
//!
//! Tokens travel only in the `Authorization` header, never in cookies, so there is no
//! cross-site request forgery surface.

mod caller;
pub mod lockout;

use std::sync::Arc;
use std::time::Duration;

pub use caller::{Caller, gone};
pub use lockout::Lockout;

use crate::auth::password::Hasher;
use crate::auth::token::{self, Claims, Keys};
use crate::domain::{ObjectId, Role, Timestamp};

/// The accounts' machinery shared by the handlers. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub keys: Arc<Keys>,
    /// An access token's lifetime (`AUTH_TOKEN_TTL`).
    pub token_ttl: Duration,
    /// A refresh token's lifetime (`AUTH_REFRESH_TTL`).
    pub refresh_ttl: Duration,
    pub hasher: Hasher,
    pub lockout: Lockout,
}

impl Auth {
    /// A signed access token for `user`.
    pub fn access_token(&self, user: ObjectId, role: Role, now: Timestamp) -> String {
        token::issue(&self.keys, &Claims::new(user, role, now, self.token_ttl))
    }
}
