//! The outermost middleware: everything every response gets, whatever produced it.
//!
//! - the request id ([`RequestId::from_header`]: `X-Request-ID` when it is 1–128 characters of
//!   `[A-Za-z0-9._-]`, else a new UUID); put in the request's extensions for handlers, echoed on
//!   the response and recorded as `requestId` on a span around the request, so every log line of
//!   the request carries it;
//! - the error body: an [`ApiError`] left on a response is rendered here, with path and id;
//! - the security headers (helmet's defaults, stricter where an API allows) and no server banner;
//! - the metrics (count by route and status, latency, in flight) and one JSON access log line.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::{self, ApiError};
use super::metrics::{IN_FLIGHT, LATENCY, REQUESTS};
pub use crate::telemetry::RequestId;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Helmet's defaults, made stricter for a JSON API (no HTML is ever served: nothing may load,
/// frame or embed a response).
const SECURITY_HEADERS: [(&str, &str); 13] = [
    (
        "content-security-policy",
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("referrer-policy", "no-referrer"),
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-frame-options", "DENY"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
    ("cache-control", "no-store"),
];

/// The id to use for a request with these headers.
pub fn request_id(headers: &HeaderMap) -> RequestId {
    RequestId::from_header(headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()))
}

/// The middleware itself (see the module doc).
pub async fn context(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    request.extensions_mut().insert(id.clone());

    // An error-level span is enabled at every log level but `off`, so `requestId` reaches even
    // the warnings of a service run with LOG_LEVEL=warn.
    let span = tracing::error_span!("request", requestId = %id);
    let in_flight = InFlight::start();
    let mut response = next.run(request).instrument(span.clone()).await;
    drop(in_flight);

    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        response = with_error_body(response, &error, &path, id.as_str());
    }
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.remove(axum::http::header::SERVER);
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        headers.insert(REQUEST_ID, value);
    }

    let status = response.status();
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(LATENCY, &labels[..2]).record(elapsed.as_secs_f64());
    let duration_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    span.in_scope(|| access_log(method.as_str(), &path, status, duration_ms));
    response
}

/// Counts a request in `http_requests_in_flight` until dropped, so a request whose client went
/// away (its future dropped mid-way) is uncounted too.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn start() -> Self {
        let gauge = metrics::gauge!(IN_FLIGHT);
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Replaces the (empty) body of an error response with the rendered error, keeping its status
/// and headers (`Retry-After`, `RateLimit-*`, CORS).
fn with_error_body(response: Response, error: &ApiError, path: &str, id: &str) -> Response {
    let (mut parts, _) = response.into_parts();
    let (rendered, body) = error::render(error, path, id).into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    if let Some(content_type) = rendered.headers.get(CONTENT_TYPE) {
        parts.headers.insert(CONTENT_TYPE, content_type.clone());
    }
    Response::from_parts(parts, body)
}

/// One line per request; 5xx at error level (they reach error.log), 4xx at warn.
fn access_log(method: &str, path: &str, status: StatusCode, duration_ms: f64) {
    let status = status.as_u16();
    if status >= 500 {
        tracing::error!(
            method,
            path,
            status,
            durationMs = duration_ms,
            "request completed"
        );
    } else if status >= 400 {
        tracing::warn!(
            method,
            path,
            status,
            durationMs = duration_ms,
            "request completed"
        );
    } else {
        tracing::info!(
            method,
            path,
            status,
            durationMs = duration_ms,
            "request completed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_id_comes_from_a_safe_header_or_is_new() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-123_x.y"));
        assert_eq!(request_id(&headers).as_str(), "abc-123_x.y");
        headers.insert(REQUEST_ID, HeaderValue::from_static("<script>"));
        assert!(uuid::Uuid::parse_str(request_id(&headers).as_str()).is_ok());
        let not_text = HeaderValue::from_bytes(b"\xff").unwrap();
        headers.insert(REQUEST_ID, not_text);
        assert!(uuid::Uuid::parse_str(request_id(&headers).as_str()).is_ok());
        assert!(uuid::Uuid::parse_str(request_id(&HeaderMap::new()).as_str()).is_ok());
    }
}
