//! `/api/products`: list (the query engine) and read for everyone; `includeDeleted`, create,
//! patch, soft delete and restore for admins.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::{Id, JsonBody};
use crate::api::state::AppState;
use crate::domain::{NewProduct, Product, ProductField, ProductPatch, Timestamp};
use crate::query::{self, PageMeta};

const WHAT: &str = "Product";

fn bad_query(error: crate::domain::Invalid) -> ApiError {
    ApiError::invalid("Invalid query parameters", error)
}

/// `includeDeleted=true` shows what was deleted: an admin's view (401 anonymous, 403 a user).
async fn deleted_view(
    state: &AppState,
    caller: Option<&Caller>,
    include_deleted: bool,
) -> Result<(), ApiError> {
    if !include_deleted {
        return Ok(());
    }
    match caller {
        Some(caller) => caller.require_admin(state).await,
        None => Err(ApiError::unauthenticated(
            "includeDeleted=true needs an administrator's access token",
        )),
    }
}

/// `POST /api/products` → 201 with the product.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin(&state).await?;
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let new = NewProduct::from_json(&body).map_err(|e| ApiError::invalid("Invalid product", e))?;
    let product = state
        .products
        .insert(Product::create(new, Timestamp::now()))
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    tracing::info!(productId = %product.id, "product created");
    Ok(super::data(StatusCode::CREATED, product))
}

/// `GET /api/products?…` → a page of products (see [`crate::query`] for the parameters).
pub async fn list(
    State(state): State<AppState>,
    caller: Option<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = query::parse_products(raw.as_deref()).map_err(bad_query)?;
    deleted_view(&state, caller.as_ref(), query.filter.include_deleted).await?;
    let page = state
        .products
        .list(&query)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    let items = page
        .items
        .iter()
        .map(|p| project(p, query.fields.as_deref()))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(super::list(items, PageMeta::new(query.page, page.total)))
}

/// `GET /api/products/:id[?includeDeleted=true]`.
pub async fn get(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let include_deleted = query::parse_item(raw.as_deref()).map_err(bad_query)?;
    deleted_view(&state, caller.as_ref(), include_deleted).await?;
    let product = state
        .products
        .get(id, include_deleted)
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    Ok(super::data(StatusCode::OK, product))
}

/// `PATCH /api/products/:id` with any non-empty subset of the writable fields.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin(&state).await?;
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let patch =
        ProductPatch::from_json(&body).map_err(|e| ApiError::invalid("Invalid product", e))?;
    let product = state
        .products
        .update(id, patch, Timestamp::now())
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    tracing::info!(productId = %product.id, "product updated");
    Ok(super::data(StatusCode::OK, product))
}

/// `DELETE /api/products/:id`: soft delete (sets `deletedAt`).
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin(&state).await?;
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let product = state
        .products
        .soft_delete(id, Timestamp::now())
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    tracing::info!(productId = %product.id, "product deleted");
    Ok(super::data(StatusCode::OK, product))
}

/// `POST /api/products/:id/restore`: clears `deletedAt`.
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin(&state).await?;
    query::parse_none(raw.as_deref()).map_err(bad_query)?;
    let product = state
        .products
        .restore(id, Timestamp::now())
        .await
        .map_err(|e| ApiError::store(e, WHAT))?;
    tracing::info!(productId = %product.id, "product restored");
    Ok(super::data(StatusCode::OK, product))
}

/// The product as JSON, cut to `fields` (plus `id`, always) when a projection was asked for.
fn project(product: &Product, fields: Option<&[ProductField]>) -> Result<Value, ApiError> {
    let full = serde_json::to_value(product).map_err(|e| ApiError::internal(&e))?;
    let (Some(fields), Value::Object(mut all)) = (fields, full.clone()) else {
        return Ok(full);
    };
    let mut out = Map::new();
    for field in std::iter::once(ProductField::Id).chain(fields.iter().copied()) {
        if let Some(value) = all.remove(field.name()) {
            out.insert(field.name().to_owned(), value);
        }
    }
    Ok(Value::Object(out))
}
