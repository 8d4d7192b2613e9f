//! Liveness, readiness and the Prometheus scrape.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::error::{ApiError, ErrorCode};
use crate::api::state::AppState;
use crate::domain::FieldError;
use crate::queue::EMAIL_QUEUE;

/// How long `/ready` waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`, `GET /api/health`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: 200 when the database and the queue answer, else 503 naming what is down.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let database = tokio::time::timeout(CHECK_TIMEOUT, state.store_health.ping()).await;
    let queue = tokio::time::timeout(CHECK_TIMEOUT, state.queue.ping()).await;
    let mut down = Vec::new();
    match database {
        Ok(Ok(())) => {}
        Ok(Err(error)) => down.push(("database", error.to_string())),
        Err(_) => down.push(("database", "no answer within 2s".to_owned())),
    }
    match queue {
        Ok(Ok(())) => {}
        Ok(Err(error)) => down.push(("queue", error.to_string())),
        Err(_) => down.push(("queue", "no answer within 2s".to_owned())),
    }
    if down.is_empty() {
        return Ok(Json(
            json!({"status": "ready", "checks": {"database": "ok", "queue": "ok"}}),
        ));
    }
    let names: Vec<&str> = down.iter().map(|(name, _)| *name).collect();
    for (name, error) in &down {
        tracing::warn!(dependency = name, error, "not ready");
    }
    Err(ApiError {
        details: names
            .iter()
            .map(|name| FieldError::new(*name, "is down"))
            .collect(),
        retry_after: Some(5),
        ..ApiError::new(
            ErrorCode::ServiceUnavailable,
            format!("Not ready: {} down", names.join(" and ")),
        )
    })
}

/// `GET /metrics`: Prometheus text, with the queue and process gauges refreshed first.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(CHECK_TIMEOUT, state.queue.counts()).await {
        Ok(Ok(counts)) => {
            let states = [
                ("waiting", counts.waiting),
                ("active", counts.active),
                ("delayed", counts.delayed),
                ("prioritized", counts.prioritized),
                ("completed", counts.completed),
                ("failed", counts.failed),
            ];
            for (name, n) in states {
                metrics::gauge!("queue_jobs", "queue" => EMAIL_QUEUE, "state" => name)
                    .set(n as f64);
            }
            metrics::gauge!("queue_up", "queue" => EMAIL_QUEUE).set(1.0);
        }
        _ => metrics::gauge!("queue_up", "queue" => EMAIL_QUEUE).set(0.0),
    }
    if let Ok(Ok(backlog)) = tokio::time::timeout(CHECK_TIMEOUT, state.outbox.backlog()).await {
        metrics::gauge!("outbox_backlog").set(backlog as f64);
    }
    crate::api::metrics::record_process();
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
