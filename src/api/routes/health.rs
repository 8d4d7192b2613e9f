//! Liveness, readiness and the Prometheus scrape.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::error::{ApiError, ErrorCode};
use crate::api::gate::PROBE_TIMEOUT;
use crate::api::state::AppState;
use crate::domain::FieldError;
use crate::queue::EMAIL_QUEUE;
use crate::store::Probe;

/// How long `/metrics` waits for the queue and outbox counts.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `/ready` waits for the queue; the store's probe has its own bound
/// ([`PROBE_TIMEOUT`]). Both run at once, so `/ready` answers within a second.
const READY_QUEUE_TIMEOUT: Duration = Duration::from_millis(800);

/// `GET /health`, `GET /api/health`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: 200 when the database serves reads and writes and the queue answers, else 503
/// naming what is down. The database's answer also refreshes the store gate.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (probe, queue) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, state.store_health.probe()),
        tokio::time::timeout(READY_QUEUE_TIMEOUT, state.queue.ping()),
    );
    let probe = probe.unwrap_or_else(|_| Probe {
        reads: false,
        writes: false,
        error: Some(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    });
    state.gate.record(&probe);
    let mut down = Vec::new();
    if !(probe.reads && probe.writes) {
        let what = if probe.reads {
            "refuses writes"
        } else {
            "is down"
        };
        down.push(("database", what, probe.error.unwrap_or_default()));
    }
    match queue {
        Ok(Ok(())) => {}
        Ok(Err(error)) => down.push(("queue", "is down", error.to_string())),
        Err(_) => down.push(("queue", "is down", "no answer within 800 ms".to_owned())),
    }
    if down.is_empty() {
        return Ok(Json(
            json!({"status": "ready", "checks": {"database": "ok", "queue": "ok"}}),
        ));
    }
    let names: Vec<&str> = down.iter().map(|(name, ..)| *name).collect();
    for (name, _, error) in &down {
        tracing::warn!(dependency = name, error, "not ready");
    }
    Err(ApiError {
        details: down
            .iter()
            .map(|(name, what, _)| FieldError::new(*name, *what))
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
    scrape(&state.metrics)
}

/// The Prometheus text, with the process gauges refreshed first.
pub fn scrape(metrics: &crate::api::metrics::Metrics) -> Response {
    crate::api::metrics::record_process();
    let mut response = metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `/ready` and every API route while the store cannot be opened (see
/// [`crate::api::unavailable_router`]).
pub async fn not_open() -> ApiError {
    ApiError {
        details: vec![
            FieldError::new("database", "is not open yet"),
            FieldError::new("queue", "is not open yet"),
        ],
        retry_after: Some(5),
        ..ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The database is unavailable; try again later",
        )
    }
}
