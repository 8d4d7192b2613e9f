//! `/api/users`: sign-up (public; hashes the password, records the welcome email), list (admin),
//! read and soft delete (the user itself, or an admin). No response or log line ever holds a
//! password or its hash.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::{Id, JsonBody};
use crate::api::request::RequestId;
use crate::api::state::AppState;
use crate::domain::{NewUser, ObjectId, Role, Timestamp, User};
use crate::query::{self, PageMeta};
use crate::queue::EMAIL_QUEUE;
use crate::queue::jobs::{JobOrigin, WelcomeEmail};
use crate::store::OutboxMessage;

const WHAT: &str = "User";

fn bad_query(error: crate::domain::Invalid) -> ApiError {
    ApiError::invalid("Invalid query parameters", error)
}

/// `POST /api/users` → 201 with the user, always of role `user`. The user and its
/// `welcome-email` job are stored in one transaction (see [`crate::api::relay`]); the relay then
/// puts the job on the queue.
pub async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let new = NewUser::from_json(&body).map_err(|e| ApiError::invalid("Invalid user", e))?;
    let hash = state
        .auth
        .hasher
        .hash(new.password)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let user = User::register(new.name, new.email, Role::User, Timestamp::now());
    let welcome = WelcomeEmail {
        user_id: user.id.to_string(),
        email: user.email.to_string(),
        name: user.name.clone(),
        origin: JobOrigin::request(request_id),
    };
    let message = OutboxMessage {
        queue: EMAIL_QUEUE.to_owned(),
        job: welcome.job(),
    };
    let user = state
        .users
        .insert(user, hash, message)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    state.relay_wake.notify_one();
    tracing::info!(userId = %user.id, "user created");
    Ok(super::data(StatusCode::CREATED, user))
}

/// `GET /api/users?page&limit&includeDeleted`, newest first: admins only.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin(&state).await?;
    let query = query::parse_users(raw.as_deref()).map_err(bad_query)?;
    let page = state
        .users
        .list(&query)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    let items = page
        .items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| ApiError::internal(&e))?;
    Ok(super::list(items, PageMeta::new(query.page, page.total)))
}

/// `GET /api/users/:id[?includeDeleted=true]`: the user itself, or an admin
/// (`includeDeleted` is an admin's).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let include_deleted = read_access(&state, &caller, id, raw.as_deref()).await?;
    let user = state
        .users
        .get(id, include_deleted)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    Ok(super::data(StatusCode::OK, user))
}

/// Checks that `caller` may read user `id` with the query `raw` (only `includeDeleted`), and
/// returns `includeDeleted`: also used by the welcome-email route.
///
/// # Errors
/// 400 for a bad query, 404 for another user's id, 403 for `includeDeleted` without admin.
pub async fn read_access(
    state: &AppState,
    caller: &Caller,
    id: ObjectId,
    raw: Option<&str>,
) -> Result<bool, ApiError> {
    caller.may_access(state, id).await?;
    let include_deleted = query::parse_item(raw).map_err(bad_query)?;
    if include_deleted {
        caller.require_admin(state).await?;
    }
    Ok(include_deleted)
}

/// `DELETE /api/users/:id`: soft delete, by the user itself or an admin; every login of the
/// user ends with it.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.may_access(&state, id).await?;
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let user = soft_delete(&state, id).await?;
    Ok(super::data(StatusCode::OK, user))
}

/// Soft-deletes user `id` and revokes its refresh tokens (shared with `DELETE /api/users/me`).
///
/// # Errors
/// 404 when there is no such live user; 503 when the store cannot answer.
pub async fn soft_delete(state: &AppState, id: ObjectId) -> Result<User, ApiError> {
    let now = Timestamp::now();
    let user = state
        .users
        .soft_delete(id, now)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    // A refresh of a deleted user is refused anyway (it reads the user); this also tidies up.
    if let Err(error) = state.sessions.end_all_sessions(id, now).await {
        tracing::warn!(%error, userId = %id, "deleted user's sessions not revoked; their refreshes are refused anyway");
    }
    tracing::info!(userId = %user.id, "user deleted");
    Ok(user)
}
