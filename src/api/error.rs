//! The API's one error shape:
//! `{"success":false,"message","code","timestamp","path","requestId","details":[{"field","message"}]?}`.
//!
//! A handler (or an extractor, or the fallback) returns an [`ApiError`]; its response carries the
//! error as an extension and no body yet. The request middleware, which knows the path and the
//! request id, renders the body ([`render`]). So every error, wherever it starts, has the same
//! shape. Client faults name the field; our faults are an opaque 500 whose cause is logged, never
//! sent (no driver message, stack trace or secret in a response).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::{FieldError, Invalid};
use crate::error_chain::chain;
use crate::store::StoreError;

/// The machine-readable error codes and their statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationError,
    InvalidId,
    /// No valid access token where one is needed (401, with `WWW-Authenticate: Bearer`).
    Unauthenticated,
    /// A wrong email or password at login (401): the same answer for both.
    InvalidCredentials,
    /// Authenticated, but the caller's role may not do this (403).
    Forbidden,
    NotFound,
    EmailTaken,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    RateLimited,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::EmailTaken => "EMAIL_TAKEN",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::ValidationError | ErrorCode::InvalidId => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::EmailTaken => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<FieldError>,
    /// Seconds, for `Retry-After` on 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// 400 with the problems of an input.
    pub fn invalid(message: impl Into<String>, invalid: Invalid) -> Self {
        ApiError {
            details: invalid.0,
            ..Self::new(ErrorCode::ValidationError, message)
        }
    }

    /// 401 `UNAUTHENTICATED`: `message` says what to send.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden() -> Self {
        Self::new(
            ErrorCode::Forbidden,
            "This needs an administrator's access token",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn invalid_id(raw: &str) -> Self {
        let shown: String = raw.chars().take(64).collect();
        ApiError {
            details: vec![FieldError::new(
                "id",
                format!("{shown:?} must be a 24-character hexadecimal id"),
            )],
            ..Self::new(ErrorCode::InvalidId, "Invalid id")
        }
    }

    /// 500: logs `cause` with its sources (inside the request's span, so with its requestId)
    /// and hides it.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %chain(cause), "request failed");
        Self::new(ErrorCode::InternalError, "Internal server error")
    }

    /// 503: logs `cause` with its sources as a warning and hides it.
    pub fn unavailable(what: &str, cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %chain(cause), "{what} unavailable");
        ApiError {
            retry_after: Some(5),
            ..Self::new(
                ErrorCode::ServiceUnavailable,
                format!("The {what} is unavailable; try again later"),
            )
        }
    }

    /// The store's error for a record called `what` (e.g. "Product").
    pub fn store(error: StoreError, what: &str) -> Self {
        match error {
            StoreError::NotFound => Self::not_found(what),
            StoreError::EmailTaken => ApiError {
                details: vec![FieldError::new("email", "is already registered")],
                ..Self::new(ErrorCode::EmailTaken, "Email already registered")
            },
            StoreError::Unavailable(_) => Self::unavailable("database", &error),
            StoreError::Internal(_) => Self::internal(&error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.code.status().into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme that would succeed.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// The body of an error response, for the request at `path` with id `request_id`.
pub fn render(error: &ApiError, path: &str, request_id: &str) -> Response {
    let mut body = json!({
        "success": false,
        "message": error.message,
        "code": error.code.as_str(),
        "timestamp": crate::domain::Timestamp::now().to_rfc3339(),
        "path": path,
        "requestId": request_id,
    });
    if !error.details.is_empty()
        && let Some(map) = body.as_object_mut()
    {
        map.insert("details".into(), json!(error.details));
    }
    (error.code.status(), Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_never_show_their_cause() {
        let error = ApiError::store(
            StoreError::Internal("SQLITE_CORRUPT: secret path /var/x".into()),
            "Product",
        );
        assert_eq!(error.code, ErrorCode::InternalError);
        assert!(!error.message.contains("SQLITE"));
        let error = ApiError::store(
            StoreError::Unavailable("database is locked".into()),
            "Product",
        );
        assert_eq!(
            (error.code, error.retry_after),
            (ErrorCode::ServiceUnavailable, Some(5))
        );
        assert!(!error.message.contains("locked"));
        assert_eq!(
            ApiError::store(StoreError::NotFound, "Product").message,
            "Product not found"
        );
        assert_eq!(
            ApiError::store(StoreError::EmailTaken, "User")
                .code
                .status(),
            StatusCode::CONFLICT
        );
    }
}
