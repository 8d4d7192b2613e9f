//! `/api/users/me`: the caller's own account. Read it, change the name or the password (which
//! needs the current one, and ends every login of the account), or delete it.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;

use crate::api::auth::{Caller, gone};
use crate::api::error::ApiError;
use crate::api::extract::JsonBody;
use crate::api::state::AppState;
use crate::domain::{FieldError, Invalid, ProfilePatch, Timestamp};
use crate::query;
use crate::store::StoreError;

fn bad_query(error: Invalid) -> ApiError {
    ApiError::invalid("Invalid query parameters", error)
}

/// `GET /api/users/me`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let user = caller.account(&state).await?;
    Ok(super::data(StatusCode::OK, user))
}

/// `PATCH /api/users/me` `{name?, password?, currentPassword?}`.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let patch = ProfilePatch::from_json(&body).map_err(|e| ApiError::invalid("Invalid user", e))?;
    let user = caller.account(&state).await?;
    let new_hash = match patch.password {
        Some((new, current)) => {
            super::auth::check_password(&state, &user.email, current)
                .await
                .map_err(|error| match error.code.status() {
                    // A wrong current password is a bad field, not a failed authentication:
                    // the caller's token stays good.
                    StatusCode::UNAUTHORIZED => ApiError {
                        details: vec![FieldError::new(
                            "currentPassword",
                            "is not the current password",
                        )],
                        ..ApiError::new(
                            crate::api::error::ErrorCode::ValidationError,
                            "Invalid user",
                        )
                    },
                    _ => error,
                })?;
            Some(
                state
                    .auth
                    .hasher
                    .hash(new)
                    .await
                    .map_err(|e| ApiError::internal(&e))?,
            )
        }
        None => None,
    };
    let now = Timestamp::now();
    let changed_password = new_hash.is_some();
    let user = state
        .users
        .update_profile(caller.id, patch.name, new_hash, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => gone(),
            other => ApiError::store(other, "User"),
        })?;
    if changed_password {
        state
            .sessions
            .end_all_sessions(caller.id, now)
            .await
            .map_err(|e| ApiError::store(e, "Session"))?;
        tracing::info!(userId = %user.id, "password changed; every login of the account ended");
    } else {
        tracing::info!(userId = %user.id, "profile updated");
    }
    Ok(super::data(StatusCode::OK, user))
}

/// `DELETE /api/users/me`: soft delete; every login of the account ends.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let user = super::users::soft_delete(&state, caller.id)
        .await
        .map_err(|e| {
            if e.code.status() == StatusCode::NOT_FOUND {
                gone()
            } else {
                e
            }
        })?;
    Ok(super::data(StatusCode::OK, user))
}
