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

/// A dependency that is not serving: its name, what is wrong, and the error behind it.
pub struct Down {
    pub name: &'static str,
    pub what: &'static str,
    pub error: String,
}

/// Asks the database (reads and writes) and the queue at once, each within its bound, and
/// names what is down; empty when everything serves. The database's answer also refreshes the
/// store gate. Shared by `/ready` and the start-up `READY=1` (see [`crate::api::app`]).
pub async fn check(state: &AppState) -> Vec<Down> {
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
        down.push(Down {
            name: "database",
            what: if probe.reads {
                "refuses writes"
            } else {
                "is down"
            },
            error: probe.error.unwrap_or_default(),
        });
    }
    let queue_error = match queue {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!(
            "no answer within {} ms",
            READY_QUEUE_TIMEOUT.as_millis()
        )),
    };
    if let Some(error) = queue_error {
        down.push(Down {
            name: "queue",
            what: "is down",
            error,
        });
    }
    down
}

/// `GET /ready`: 200 when the database serves reads and writes and the queue answers, else 503
/// naming what is down.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let down = check(&state).await;
    if down.is_empty() {
        return Ok(Json(
            json!({"status": "ready", "checks": {"database": "ok", "queue": "ok"}}),
        ));
    }
    let names: Vec<&str> = down.iter().map(|d| d.name).collect();
    for d in &down {
        tracing::warn!(dependency = d.name, error = d.error, "not ready");
    }
    Err(ApiError {
        details: down
            .iter()
            .map(|d| FieldError::new(d.name, d.what))
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
            for (state, n) in counts.by_state() {
                metrics::gauge!("queue_jobs", "queue" => EMAIL_QUEUE, "state" => state.name())
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
