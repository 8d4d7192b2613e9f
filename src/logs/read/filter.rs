//! Which records `svc logs` shows: by program, minimum level, request id and time.
//!
//! Scanning a gigabyte for one request must not parse a gigabyte of JSON, so a filter offers a
//! [`Filter::needle`]: bytes every matching line contains. The scanner finds candidate lines with
//! a fast substring search and only those get parsed and checked exactly by [`Filter::matches`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use crate::logs::Level;

/// The conditions a record must meet; an empty filter passes everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Any of these programs (all when empty).
    pub programs: Vec<String>,
    /// This level or above.
    pub min_level: Option<Level>,
    /// Exactly this `requestId`.
    pub request_id: Option<String>,
    /// At or after this time (RFC 3339 UTC milliseconds, as the writer formats `time`).
    pub since: Option<String>,
}

/// The fields a filter looks at.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow)]
    program: Option<Cow<'a, str>>,
    #[serde(rename = "requestId")]
    request_id: Option<Value>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
            && self.min_level.is_none()
            && self.request_id.is_none()
            && self.since.is_none()
    }

    /// Bytes that every matching line contains, when the filter implies some.
    pub fn needle(&self) -> Option<Vec<u8>> {
        if let Some(id) = &self.request_id {
            // The id as it appears inside a JSON string (escaped, without quotes).
            let quoted = serde_json::to_string(id).ok()?;
            return Some(quoted.as_bytes()[1..quoted.len() - 1].to_vec());
        }
        if let [program] = self.programs.as_slice() {
            let mut needle = b"\"program\":".to_vec();
            needle.extend_from_slice(serde_json::to_string(program).ok()?.as_bytes());
            return Some(needle);
        }
        None
    }

    /// Whether the record `line` passes. A line that is not a JSON object passes only an empty
    /// filter.
    pub fn matches(&self, line: &[u8]) -> bool {
        if self.is_empty() {
            return true;
        }
        let Ok(head) = serde_json::from_slice::<Head<'_>>(line) else {
            return false;
        };
        if !self.programs.is_empty()
            && !head
                .program
                .as_deref()
                .is_some_and(|p| self.programs.iter().any(|want| want == p))
        {
            return false;
        }
        if let Some(min) = self.min_level {
            let level = head.level.as_deref().and_then(Level::parse_loose);
            if level.is_none_or(|level| level < min) {
                return false;
            }
        }
        if let Some(want) = &self.request_id {
            let found = match &head.request_id {
                Some(Value::String(id)) => id == want,
                Some(Value::Number(n)) => n.to_string() == *want,
                _ => false,
            };
            if !found {
                return false;
            }
        }
        if let Some(since) = &self.since
            && head.time.as_deref().is_none_or(|t| t < since.as_str())
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_INFO: &[u8] = br#"{"time":"2026-11-29T10:00:00.000Z","level":"info","msg":"a","program":"api","instance":0,"pid":1,"requestId":"r-1"}"#;
    const WORKER_ERROR: &[u8] = br#"{"time":"2026-11-29T11:00:00.000Z","level":"error","msg":"b","program":"worker","instance":0,"pid":2,"requestId":7}"#;

    #[test]
    fn each_condition_narrows_the_records() {
        let all = Filter::default();
        assert!(all.matches(API_INFO) && all.matches(b"not json"));
        let api = Filter {
            programs: vec!["api".into()],
            ..Filter::default()
        };
        assert!(api.matches(API_INFO) && !api.matches(WORKER_ERROR) && !api.matches(b"x"));
        let errors = Filter {
            min_level: Some(Level::Warn),
            ..Filter::default()
        };
        assert!(!errors.matches(API_INFO) && errors.matches(WORKER_ERROR));
        let request = |id: &str| Filter {
            request_id: Some(id.into()),
            ..Filter::default()
        };
        assert!(request("r-1").matches(API_INFO) && !request("r-1").matches(WORKER_ERROR));
        assert!(request("7").matches(WORKER_ERROR) && !request("r").matches(API_INFO));
        let since = Filter {
            since: Some("2026-11-29T10:30:00.000Z".into()),
            ..Filter::default()
        };
        assert!(!since.matches(API_INFO) && since.matches(WORKER_ERROR));
    }

    #[test]
    fn the_needle_is_in_every_match() {
        let request = Filter {
            request_id: Some("r-\"1".into()),
            ..Filter::default()
        };
        assert_eq!(request.needle().unwrap(), br#"r-\"1"#);
        let api = Filter {
            programs: vec!["api".into()],
            ..Filter::default()
        };
        let needle = api.needle().unwrap();
        assert!(memchr::memmem::find(API_INFO, &needle).is_some());
        let two = Filter {
            programs: vec!["api".into(), "worker".into()],
            ..Filter::default()
        };
        assert_eq!(two.needle(), None);
    }
}
