//! Extractors whose failures are [`ApiError`]s in the API's shape: a JSON body (media type, size
//! limit, time limit, syntax with position) and an id in the path.

use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use super::error::{ApiError, ErrorCode};
use crate::domain::{FieldError, ObjectId};

/// The body limit in bytes, taken from the router's state.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long a body may take to arrive, taken from the router's state: a client that trickles
/// its body (slow loris) gets 408 instead of holding the request open forever.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// A request body that is JSON: `Content-Type: application/json`, at most the body limit,
/// arrived within the body timeout, and well-formed. Its shape is checked by the domain
/// afterwards.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S> FromRequest<S> for JsonBody
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
    BodyTimeout: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let BodyLimit(limit) = BodyLimit::from_ref(state);
        let BodyTimeout(timeout) = BodyTimeout::from_ref(state);
        if !is_json(request.headers().get(CONTENT_TYPE)) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Content-Type must be application/json",
            ));
        }
        let too_large = || {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("The request body is larger than the limit of {limit} bytes"),
            )
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let collected =
            tokio::time::timeout(timeout, Limited::new(request.into_body(), limit).collect()).await;
        let Ok(collected) = collected else {
            return Err(ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "The request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            ));
        };
        let bytes = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => return Err(too_large()),
            Err(_) => {
                return Err(ApiError::invalid(
                    "The request body could not be read",
                    crate::domain::Invalid::one("body", "could not be read"),
                ));
            }
        };
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| syntax_error(&bytes, &e))
    }
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// A 400 that says where the JSON broke: byte position, line and column.
fn syntax_error(bytes: &[u8], error: &serde_json::Error) -> ApiError {
    let position = byte_offset(bytes, error.line(), error.column());
    let what = match error.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data | serde_json::error::Category::Io => "invalid data",
    };
    let message = format!(
        "Malformed JSON at position {position} (line {}, column {}): {what}",
        error.line(),
        error.column()
    );
    ApiError {
        details: vec![FieldError::new("body", message.clone())],
        ..ApiError::new(ErrorCode::ValidationError, message)
    }
}

/// The 0-based byte offset of serde_json's 1-based line and column.
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    line_start + column.saturating_sub(1)
}

/// The `:id` of the path, as an [`ObjectId`]; anything else is `400 INVALID_ID`.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub ObjectId);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_id(""))?;
        ObjectId::parse(&raw)
            .map(Id)
            .map_err(|_| ApiError::invalid_id(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn media_types() {
        let json = |v: &str| is_json(Some(&HeaderValue::from_str(v).unwrap()));
        assert!(json("application/json"));
        assert!(json("Application/JSON; charset=utf-8"));
        assert!(!json("text/plain"));
        assert!(!json("application/jsonp"));
        assert!(!json("application/x-www-form-urlencoded"));
        assert!(!is_json(None));
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let body = b"{\n  \"title\": ,\n}";
        let error = serde_json::from_slice::<Value>(body).unwrap_err();
        let api = syntax_error(body, &error);
        assert_eq!(api.code, ErrorCode::ValidationError);
        assert!(
            api.message.contains("position 13 (line 2, column 12)"),
            "{}",
            api.message
        );
        assert_eq!(body[13], b',');
    }
}
