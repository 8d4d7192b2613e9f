//! `/api/auth`: log in, refresh, log out.
//!
//! - `POST /api/auth/login` `{email, password}` → an access token and a refresh token. A wrong
//!   password, an unknown email and a deleted account get the same 401 `INVALID_CREDENTIALS`
//!   after the same work (an unknown email is checked against a dummy hash). After
//!   [`lockout::MAX_FAILURES`] failures in the window, the account answers 429 until it ends.
//! - `POST /api/auth/refresh` `{refreshToken}` → a new pair; the token presented is spent.
//!   Presenting a spent token again revokes its whole login (reuse detection).
//! - `POST /api/auth/logout` (Bearer) `{refreshToken}` → 204; that login's refresh tokens stop
//!   working at once.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::extract::JsonBody;
use crate::api::rate_limit::too_many;
use crate::api::state::AppState;
use crate::auth::refresh;
use crate::clock;
use crate::domain::{
    Email, Invalid, LoginRequest, ObjectId, Password, RefreshRequest, Role, Timestamp, User,
};
use crate::query;
use crate::store::{Rotation, StoreError, StoredToken};

/// What login and refresh answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The access token's lifetime in seconds.
    pub expires_in: u64,
    pub refresh_token: String,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "Invalid email or password")
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthenticated("The refresh token is not valid; log in again")
}

fn bad_query(error: Invalid) -> ApiError {
    ApiError::invalid("Invalid query parameters", error)
}

/// `POST /api/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let login =
        LoginRequest::from_json(&body).map_err(|e| ApiError::invalid("Invalid login", e))?;
    let user = check_password(&state, &login.email, login.password).await?;
    let pair = start_login(&state, user.id, user.role).await?;
    tracing::info!(userId = %user.id, "logged in");
    Ok(super::data(StatusCode::OK, pair))
}

/// The live account of `email` when `password` is its password, with the lockout before the
/// check and a failure counted after it; the same work whether or not the account exists.
/// Shared with the password change of `PATCH /api/users/me`.
///
/// # Errors
/// 429 while the account is locked out, 401 `INVALID_CREDENTIALS` for a wrong password or an
/// unknown account, 503 when the store cannot answer.
pub async fn check_password(
    state: &AppState,
    email: &Email,
    password: Password,
) -> Result<User, ApiError> {
    let lockout = &state.auth.lockout;
    if let Some(decision) = lockout.locked(email).await {
        tracing::warn!("login refused: too many failed logins for this account");
        return Err(too_many(
            &decision,
            "Too many failed logins for this account; try again later",
        ));
    }
    let stored = state
        .users
        .credentials(email)
        .await
        .map_err(|e| ApiError::store(e, "User"))?;
    let hash = stored.as_ref().map(|c| c.password_hash.clone());
    let matches = state
        .auth
        .hasher
        .verify_or_dummy(password, hash)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match stored {
        Some(credentials) if matches => Ok(credentials.user),
        _ => {
            lockout.failed(email).await;
            metrics::counter!("auth_login_failures_total").increment(1);
            tracing::info!("login failed: wrong email or password");
            Err(invalid_credentials())
        }
    }
}

/// A new login of `user`: a session with its first refresh token, and an access token.
async fn start_login(state: &AppState, user: ObjectId, role: Role) -> Result<TokenPair, ApiError> {
    let now = Timestamp::now();
    let (refresh_token, stored) = new_refresh_token(state, now);
    state
        .sessions
        .start_session(user, stored, now)
        .await
        .map_err(|e| ApiError::store(e, "Session"))?;
    Ok(pair(state, user, role, now, refresh_token))
}

fn new_refresh_token(state: &AppState, now: Timestamp) -> (String, StoredToken) {
    let token = refresh::generate();
    let ttl = clock::millis_i64(state.auth.refresh_ttl);
    let stored = StoredToken {
        hash: refresh::fingerprint(&token),
        expires_at: Timestamp::from_millis(now.millis().saturating_add(ttl)),
    };
    (token, stored)
}

fn pair(
    state: &AppState,
    user: ObjectId,
    role: Role,
    now: Timestamp,
    refresh_token: String,
) -> TokenPair {
    TokenPair {
        access_token: state.auth.access_token(user, role, now),
        token_type: "Bearer",
        expires_in: state.auth.token_ttl.as_secs(),
        refresh_token,
    }
}

/// The token of a refresh or logout body.
fn refresh_token_of(body: &Value) -> Result<String, ApiError> {
    RefreshRequest::from_json(body)
        .map(|request| request.refresh_token)
        .map_err(|e| ApiError::invalid("Invalid request", e))
}

/// `POST /api/auth/refresh`.
pub async fn refresh(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let presented = refresh_token_of(&body)?;
    let now = Timestamp::now();
    let (refresh_token, next) = new_refresh_token(&state, now);
    let rotation = state
        .sessions
        .rotate(&refresh::fingerprint(&presented), next, now)
        .await
        .map_err(|e| ApiError::store(e, "Session"))?;
    let user_id = match rotation {
        Rotation::Rotated { user_id } => user_id,
        Rotation::Reused { user_id } => {
            metrics::counter!("auth_refresh_reuse_total").increment(1);
            tracing::warn!(userId = %user_id, "a spent refresh token was presented again; that login is revoked");
            return Err(invalid_refresh());
        }
        Rotation::Invalid => return Err(invalid_refresh()),
    };
    // The role may have changed since the login; a deleted user gets nothing.
    let user = match state.users.get(user_id, false).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(invalid_refresh()),
        Err(error) => return Err(ApiError::store(error, "User")),
    };
    Ok(super::data(
        StatusCode::OK,
        pair(&state, user.id, user.role, now, refresh_token),
    ))
}

/// `POST /api/auth/logout`: ends the login the refresh token belongs to, if it is the caller's.
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let presented = refresh_token_of(&body)?;
    let ended = state
        .sessions
        .end_session(
            &refresh::fingerprint(&presented),
            caller.id,
            Timestamp::now(),
        )
        .await
        .map_err(|e| ApiError::store(e, "Session"))?;
    if ended {
        tracing::info!(userId = %caller.id, "logged out");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refresh_bodies_are_strict() {
        assert_eq!(
            refresh_token_of(&json!({"refreshToken": "abc"})).unwrap(),
            "abc"
        );
        for bad in [
            json!({}),
            json!({"refreshToken": 1}),
            json!({"refreshToken": ""}),
            json!({"refreshToken": "a", "role": "admin"}),
            json!("abc"),
        ] {
            assert!(refresh_token_of(&bad).is_err(), "{bad}");
        }
    }
}
