//! `/api/users`: sign-up (hashes the password, records the welcome email), list, read, soft
//! delete. No response or log line ever holds a password or its hash.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::extract::{Id, JsonBody};
use crate::api::request::RequestId;
use crate::api::state::AppState;
use crate::domain::{NewUser, Password, Timestamp, User};
use crate::query::{self, PageMeta};
use crate::queue::EMAIL_QUEUE;
use crate::queue::jobs::WelcomeEmail;
use crate::store::OutboxMessage;

const WHAT: &str = "User";

fn bad_query(error: crate::domain::Invalid) -> ApiError {
    ApiError::invalid("Invalid query parameters", error)
}

/// `POST /api/users` → 201 with the user. The user and its `welcome-email` job are stored in
/// one transaction (see [`crate::api::relay`]); the relay then puts the job on the queue.
pub async fn create(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let new = NewUser::from_json(&body).map_err(|e| ApiError::invalid("Invalid user", e))?;
    let hash = hash_password(&state, new.password).await?;
    let user = User::register(new.name, new.email, Timestamp::now());
    let welcome = WelcomeEmail {
        user_id: user.id.to_string(),
        email: user.email.to_string(),
        name: user.name.clone(),
        request_id: Some(request_id),
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

/// `GET /api/users?page&limit&includeDeleted`, newest first.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
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

/// `GET /api/users/:id[?includeDeleted=true]`.
pub async fn get(
    State(state): State<AppState>,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let include_deleted = query::parse_item(raw.as_deref()).map_err(bad_query)?;
    let user = state
        .users
        .get(id, include_deleted)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    Ok(super::data(StatusCode::OK, user))
}

/// `DELETE /api/users/:id`: soft delete.
pub async fn delete(
    State(state): State<AppState>,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let user = state
        .users
        .soft_delete(id, Timestamp::now())
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    tracing::info!(userId = %user.id, "user deleted");
    Ok(super::data(StatusCode::OK, user))
}

/// argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1), off the async threads.
async fn hash_password(state: &AppState, password: Password) -> Result<String, ApiError> {
    let _turn = state
        .hashing
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let hashed = tokio::task::spawn_blocking(move || {
        let hash: Result<PasswordHash, _> =
            Argon2::default().hash_password(password.expose().as_bytes());
        hash.map(|h| h.to_string())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    hashed.map_err(|e| ApiError::internal(&format!("password hashing failed: {e}")))
}
