//! One file per resource; [`router`](super::router) mounts them.

pub mod auth;
pub mod health;
pub mod me;
pub mod products;
pub mod users;
pub mod welcome_email;

use axum::Json;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::query::PageMeta;

/// `{"success":true,"data":…}` with `status`.
pub fn data(status: StatusCode, data: impl Serialize) -> (StatusCode, Json<Value>) {
    (status, Json(json!({"success": true, "data": data})))
}

/// `{"success":true,"data":[…],"meta":{…}}`.
pub fn list(items: Vec<Value>, meta: PageMeta) -> Json<Value> {
    Json(json!({"success": true, "data": items, "meta": meta}))
}
