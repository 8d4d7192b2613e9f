//! The request id: the one value that ties an HTTP request's log lines to those of the jobs it
//! caused, across programs (`svc logs --request-id`).
//!
//! It enters once, at the API's edge ([`RequestId::from_header`]: a client's `X-Request-ID`
//! when it is safe to echo and log, else a new UUID), and then travels typed: in the request's
//! extensions, in the job payload ([`crate::queue::jobs::JobOrigin`]) and on the relay's and the
//! worker's spans ([`RequestId::record_on`]).

use std::fmt;

use serde::Serialize;

/// Longest accepted client-supplied request id.
pub const MAX_LEN: usize = 128;

/// The id of the request that caused some work.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

/// Why a client's request id was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request id is 1 to {MAX_LEN} characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
pub struct InvalidRequestId;

impl RequestId {
    /// A client's id, when it is 1–128 characters of `[A-Za-z0-9._-]` (safe in a header, a log
    /// line and a shell command).
    ///
    /// # Errors
    /// [`InvalidRequestId`] for anything else.
    pub fn parse(id: &str) -> Result<Self, InvalidRequestId> {
        let safe = (1..=MAX_LEN).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if safe {
            Ok(RequestId(id.to_owned()))
        } else {
            Err(InvalidRequestId)
        }
    }

    /// A new random id (a UUID).
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::new_v4().to_string())
    }

    /// The id of a request whose `X-Request-ID` header is `header`: the client's when valid,
    /// else a new one.
    pub fn from_header(header: Option<&str>) -> Self {
        header
            .and_then(|id| Self::parse(id).ok())
            .unwrap_or_else(Self::generate)
    }

    /// A job's request id as its producer wrote it: svc's own producers only ever write ids
    /// made by [`RequestId::from_header`], and another producer's (a Node app's) is kept
    /// verbatim, so its logs can still be followed by it. `None` for an empty one (it
    /// identifies nothing).
    pub fn from_job(id: String) -> Option<Self> {
        (!id.is_empty()).then_some(RequestId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Records this id as `requestId` on `span` (declared with `requestId = Empty`), so every
    /// line logged inside the span carries it.
    pub fn record_on(&self, span: &tracing::Span) {
        span.record("requestId", self.as_str());
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_taken_only_when_safe() {
        let taken = |id: &str| RequestId::from_header(Some(id));
        assert_eq!(taken("abc-123_x.y").as_str(), "abc-123_x.y");
        assert_eq!(taken(&"a".repeat(MAX_LEN)).as_str(), "a".repeat(MAX_LEN));
        for bad in ["", "a b", "a\"b", "<script>", "ü", &"a".repeat(MAX_LEN + 1)] {
            let id = taken(bad);
            assert_ne!(id.as_str(), bad);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok(), "{bad:?} → {id}");
            assert_eq!(RequestId::parse(bad), Err(InvalidRequestId));
        }
        assert!(uuid::Uuid::parse_str(RequestId::from_header(None).as_str()).is_ok());
    }

    #[test]
    fn a_job_keeps_its_producers_id_as_written_but_not_an_empty_one() {
        let id = RequestId::from_job("node req 7".into()).unwrap();
        assert_eq!(id.as_str(), "node req 7");
        assert_eq!(serde_json::to_value(&id).unwrap(), "node req 7");
        assert_eq!(RequestId::from_job(String::new()), None);
    }
}
