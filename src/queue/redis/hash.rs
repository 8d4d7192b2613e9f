//! A BullMQ job hash (every value a string) read into a [`JobRecord`]. Readers are lenient the
//! way Node's `Job.fromJSON` is: unknown fields are ignored, missing counters are 0, and the
//! legacy `attemptsMade` field stands in for `atm`.

use std::collections::HashMap;

use serde_json::Value;

use crate::queue::{
    InvalidReason, JobOptions, JobRecord, JobState, QueueError, StoredField, stored_json,
};

/// The fields of a job hash.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobHash(pub HashMap<String, String>);

impl JobHash {
    /// From the flat `field, value, field, value …` list HGETALL returns.
    pub fn from_pairs(flat: impl IntoIterator<Item = String>) -> Self {
        let mut map = HashMap::new();
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            map.insert(k, v);
        }
        JobHash(map)
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    fn number(&self, field: &str) -> Option<u64> {
        self.get(field).and_then(|v| {
            v.parse::<u64>()
                .ok()
                .or_else(|| v.parse::<f64>().ok().map(|f| f.max(0.0) as u64))
        })
    }

    fn count(&self, field: &str) -> u32 {
        self.number(field)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The deferred failure the stalled check left (`defa`): the job must fail unrun.
    pub fn deferred_failure(&self) -> Option<&str> {
        self.get("defa").filter(|d| !d.is_empty())
    }

    /// The job's options, parsed (defaults when the field is missing).
    ///
    /// # Errors
    /// [`QueueError::Invalid`] when `opts` is not a JSON object we can read.
    pub fn options(&self, id: &str) -> Result<JobOptions, QueueError> {
        match self.get("opts") {
            None | Some("") => Ok(JobOptions::default()),
            Some(text) => {
                let value: Value = serde_json::from_str(text)
                    .map_err(|source| stored_json(id, StoredField::Opts, source))?;
                JobOptions::from_bullmq_json(&value).map_err(|source| {
                    InvalidReason::StoredOptions {
                        id: id.to_owned(),
                        source: Box::new(source),
                    }
                    .into()
                })
            }
        }
    }

    /// The typed record.
    ///
    /// # Errors
    /// [`QueueError::Invalid`] when `data` or `opts` cannot be read.
    pub fn into_record(self, id: &str, state: JobState) -> Result<JobRecord, QueueError> {
        let opts = self.options(id)?;
        let data = match self.get("data") {
            None | Some("") => Value::Object(serde_json::Map::new()),
            Some(text) => serde_json::from_str(text)
                .map_err(|source| stored_json(id, StoredField::Data, source))?,
        };
        // A return value that is not JSON (written by some other tool) is kept as a string.
        let returnvalue = self.get("returnvalue").map(|text| {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        });
        let attempts_made = if self.0.contains_key("atm") {
            self.count("atm")
        } else {
            self.count("attemptsMade")
        };
        Ok(JobRecord {
            id: id.to_owned(),
            name: self.get("name").unwrap_or_default().to_owned(),
            data,
            opts,
            state,
            attempts_made,
            attempts_started: self.count("ats"),
            stalled_count: self.count("stc"),
            timestamp: self.number("timestamp").unwrap_or(0),
            processed_on: self.number("processedOn"),
            finished_on: self.number("finishedOn"),
            failed_reason: self.get("failedReason").map(str::to_owned),
            stacktrace: self
                .get("stacktrace")
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            returnvalue,
        })
    }
}

/// A state name written by `job.lua`.
pub fn parse_state(name: &str) -> Option<JobState> {
    Some(match name {
        "waiting" => JobState::Waiting,
        "prioritized" => JobState::Prioritized,
        "delayed" => JobState::Delayed,
        "active" => JobState::Active,
        "completed" => JobState::Completed,
        "failed" => JobState::Failed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> JobHash {
        JobHash::from_pairs(
            list.iter()
                .flat_map(|(k, v)| [(*k).to_owned(), (*v).to_owned()]),
        )
    }

    #[test]
    fn a_node_job_hash_is_read() {
        let hash = pairs(&[
            ("name", "welcome-email"),
            ("data", r#"{"userId":"1"}"#),
            (
                "opts",
                r#"{"backoff":{"delay":1000,"type":"exponential"},"attempts":3,"removeOnComplete":true}"#,
            ),
            ("timestamp", "1795917152556"),
            ("atm", "2"),
            ("ats", "3"),
            ("returnvalue", r#"{"sent":true}"#),
            ("failedReason", "boom"),
            ("unknownField", "x"),
        ]);
        let job = hash.into_record("7", JobState::Completed).unwrap();
        assert_eq!((job.attempts_made, job.attempts_started), (2, 3));
        assert_eq!(job.opts.attempts, 3);
        assert_eq!(job.returnvalue, Some(json!({"sent": true})));
        assert_eq!(job.data["userId"], "1");
        assert_eq!(job.timestamp, 1_795_917_152_556);
    }

    #[test]
    fn legacy_and_missing_fields_take_defaults() {
        let job = pairs(&[
            ("name", "x"),
            ("attemptsMade", "4"),
            ("returnvalue", "not json"),
        ])
        .into_record("1", JobState::Waiting)
        .unwrap();
        assert_eq!(job.attempts_made, 4);
        assert_eq!(job.data, json!({}));
        assert_eq!(job.returnvalue, Some(json!("not json")));
        assert!(
            pairs(&[("data", "{")])
                .into_record("1", JobState::Waiting)
                .is_err()
        );
    }
}
