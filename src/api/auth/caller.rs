//! The [`Caller`] extractor: a verified access token, or a 401 in the API's shape.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::api::error::ApiError;
use crate::api::state::AppState;
use crate::auth::token;
use crate::domain::{ObjectId, Role, Timestamp, User};
use crate::store::StoreError;

/// The caller a valid access token names. As `Option<Caller>`, a request without an
/// `Authorization` header is anonymous; a header with a bad token is a 401 either way (a client
/// whose token expired must learn it, not silently get the anonymous view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: ObjectId,
    /// The role the token was issued with; [`Caller::require_admin`] checks the store too.
    pub role: Role,
}

impl Caller {
    /// Passes only an admin whose account is still live and still an admin in the store.
    ///
    /// # Errors
    /// 403 for a user, 401 when the account is gone, 503 when the store cannot answer.
    pub async fn require_admin(&self, state: &AppState) -> Result<(), ApiError> {
        if self.role != Role::Admin {
            return Err(ApiError::forbidden());
        }
        match self.account(state).await?.role {
            Role::Admin => Ok(()),
            Role::User => Err(ApiError::forbidden()),
        }
    }

    /// The caller's live account, as the store has it now.
    ///
    /// # Errors
    /// 401 when the account no longer exists (deleted since the token was issued), 503 when
    /// the store cannot answer.
    pub async fn account(&self, state: &AppState) -> Result<User, ApiError> {
        match state.users.get(self.id, false).await {
            Ok(user) => Ok(user),
            Err(StoreError::NotFound) => Err(gone()),
            Err(error) => Err(ApiError::store(error, "User")),
        }
    }

    /// Whether the caller may see or delete user `id`: its own account, or any as an admin.
    /// Anyone else's id is answered as not found.
    ///
    /// # Errors
    /// 404 for another user's id; as [`Caller::require_admin`] for an admin's account.
    pub async fn may_access(&self, state: &AppState, id: ObjectId) -> Result<(), ApiError> {
        if self.id == id {
            return Ok(());
        }
        if self.role == Role::Admin {
            return self.require_admin(state).await;
        }
        Err(ApiError::not_found("User"))
    }
}

/// 401 for a token whose account no longer exists (deleted since it was issued).
pub fn gone() -> ApiError {
    ApiError::unauthenticated("This account no longer exists; log in again")
}

fn bearer(parts: &Parts) -> Option<Result<&str, ApiError>> {
    let header = parts.headers.get(AUTHORIZATION)?;
    let malformed =
        || ApiError::unauthenticated("The Authorization header must be `Bearer <access token>`");
    let Ok(text) = header.to_str() else {
        return Some(Err(malformed()));
    };
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Some(Ok(token.trim()))
        }
        _ => Some(Err(malformed())),
    }
}

fn verify(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let claims = token::verify(&state.auth.keys, token, Timestamp::now()).map_err(|error| {
        tracing::info!(%error, "access token refused");
        match error {
            token::TokenError::Expired => ApiError::unauthenticated(
                "The access token has expired; refresh it or log in again",
            ),
            _ => ApiError::unauthenticated("The access token is not valid"),
        }
    })?;
    let id = claims
        .user()
        .map_err(|_| ApiError::unauthenticated("The access token is not valid"))?;
    Ok(Caller {
        id,
        role: claims.role,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts) {
            Some(token) => verify(state, token?),
            None => Err(ApiError::unauthenticated(
                "This needs an access token: `Authorization: Bearer <token>` from POST /api/auth/login",
            )),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        bearer(parts).map(|token| verify(state, token?)).transpose()
    }
}
