//! BullMQ's job options that svc supports, and their codec to and from the `opts` JSON BullMQ
//! stores in a job hash, so jobs added by Node and by svc read the same.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Backoff, InvalidReason, QueueError, Strategy};
use crate::clock::millis;

/// BullMQ's job options that svc supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    /// A custom id makes the add idempotent: a second add with the same id is a no-op.
    pub job_id: Option<String>,
    /// Total attempts (1 = no retry; 0 is treated as 1, as BullMQ does).
    pub attempts: u32,
    pub backoff: Backoff,
    /// Run no earlier than this after the add.
    pub delay: Duration,
    /// 0 = none; otherwise lower runs first.
    pub priority: u32,
    /// Last in, first out: the job goes to the front of the waiting jobs (Redis backend).
    pub lifo: bool,
    /// BullMQ's `removeOnComplete`: overrides the worker's keep policy for this job.
    pub remove_on_complete: Option<KeepPolicy>,
    /// BullMQ's `removeOnFail`: overrides the worker's keep policy for this job.
    pub remove_on_fail: Option<KeepPolicy>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            job_id: None,
            attempts: 1,
            backoff: Backoff::fixed(Duration::ZERO),
            delay: Duration::ZERO,
            priority: 0,
            lifo: false,
            remove_on_complete: None,
            remove_on_fail: None,
        }
    }
}

impl JobOptions {
    /// The wait before the next attempt after a failure, or `None` when the attempts are used up.
    /// `attempts_made` counts the failure being handled (1 after the first failure).
    pub fn retry_delay(&self, attempts_made: u32) -> Option<Duration> {
        (attempts_made < self.attempts.max(1)).then(|| self.backoff.delay_for(attempts_made))
    }

    /// The keep policy for this job once completed: its own, else the worker's `default`.
    pub fn keep_completed(&self, default: KeepPolicy) -> KeepPolicy {
        self.remove_on_complete.unwrap_or(default)
    }

    /// The keep policy for this job once failed for good: its own, else the worker's `default`.
    pub fn keep_failed(&self, default: KeepPolicy) -> KeepPolicy {
        self.remove_on_fail.unwrap_or(default)
    }

    /// The options as BullMQ stores them in a job hash's `opts` field (JSON object).
    pub fn to_bullmq_json(&self) -> Value {
        let mut backoff = json!({
            "type": self.backoff.strategy.name(),
            "delay": millis(self.backoff.delay),
        });
        if self.backoff.jitter > 0.0 {
            backoff["jitter"] = json!(self.backoff.jitter);
        }
        let mut opts = json!({
            "attempts": self.attempts,
            "backoff": backoff,
            "delay": millis(self.delay),
            "priority": self.priority,
        });
        if let Some(map) = opts.as_object_mut() {
            if let Some(id) = &self.job_id {
                map.insert("jobId".into(), Value::String(id.clone()));
            }
            if self.lifo {
                map.insert("lifo".into(), Value::Bool(true));
            }
            if let Some(keep) = self.remove_on_complete {
                map.insert("removeOnComplete".into(), keep.to_bullmq_json());
            }
            if let Some(keep) = self.remove_on_fail {
                map.insert("removeOnFail".into(), keep.to_bullmq_json());
            }
        }
        opts
    }

    /// Reads BullMQ's `opts` JSON; unknown keys are ignored, missing ones take the defaults
    /// (a bare number as `backoff` means a fixed delay, as in BullMQ).
    ///
    /// # Errors
    /// [`QueueError::Invalid`] when a known key has the wrong type.
    pub fn from_bullmq_json(opts: &Value) -> Result<Self, QueueError> {
        let bad = |key: &str| QueueError::from(InvalidReason::OptionType(key.to_owned()));
        let uint = |key: &str| -> Result<u64, QueueError> {
            match opts.get(key) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
                    .ok_or_else(|| bad(key)),
            }
        };
        let backoff = match opts.get("backoff") {
            None | Some(Value::Null) => Backoff::fixed(Duration::ZERO),
            Some(Value::Number(n)) => Backoff::fixed(Duration::from_millis(
                n.as_u64().ok_or_else(|| bad("backoff"))?,
            )),
            Some(Value::Object(b)) => {
                let delay =
                    Duration::from_millis(b.get("delay").and_then(Value::as_u64).unwrap_or(0));
                let strategy = match b.get("type").and_then(Value::as_str) {
                    Some("exponential") => Strategy::Exponential,
                    Some("fixed") | None => Strategy::Fixed,
                    Some(other) => {
                        return Err(InvalidReason::BackoffType(other.to_owned()).into());
                    }
                };
                // As BullMQ reads it: a share of the wait, 0 (none) to 1.
                let jitter = match b.get("jitter") {
                    None | Some(Value::Null) => 0.0,
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0).clamp(0.0, 1.0),
                    Some(_) => return Err(bad("backoff.jitter")),
                };
                Backoff {
                    strategy,
                    delay,
                    jitter,
                }
            }
            Some(_) => return Err(bad("backoff")),
        };
        let job_id = match opts.get("jobId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("jobId")),
        };
        let lifo = match opts.get("lifo") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("lifo")),
        };
        let keep = |key: &str| match opts.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => KeepPolicy::from_bullmq_json(v)
                .map(Some)
                .ok_or_else(|| bad(key)),
        };
        Ok(JobOptions {
            job_id,
            attempts: u32::try_from(uint("attempts")?).unwrap_or(u32::MAX).max(1),
            backoff,
            delay: Duration::from_millis(uint("delay")?),
            priority: u32::try_from(uint("priority")?).map_err(|_| bad("priority"))?,
            lifo,
            remove_on_complete: keep("removeOnComplete")?,
            remove_on_fail: keep("removeOnFail")?,
        })
    }
}

/// How many completed (or failed) jobs to keep: the newest `count`, none older than `age`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepPolicy {
    pub count: Option<u64>,
    pub age: Option<Duration>,
}

impl KeepPolicy {
    /// Keep nothing (BullMQ's `removeOn…: true`).
    pub const NONE: KeepPolicy = KeepPolicy {
        count: Some(0),
        age: None,
    };

    /// Keep everything (BullMQ's `removeOn…: false`).
    pub const ALL: KeepPolicy = KeepPolicy {
        count: None,
        age: None,
    };

    /// BullMQ's `removeOnComplete`/`removeOnFail` value: `true` (keep none), `false` (keep
    /// all), a count, or `{count, age}` with the age in seconds.
    pub fn to_bullmq_json(self) -> Value {
        match (self.count, self.age) {
            (Some(0), None) => Value::Bool(true),
            (None, None) => Value::Bool(false),
            (Some(n), None) => json!(n),
            (count, Some(age)) => {
                let mut keep = json!({ "age": age.as_secs() });
                if let (Some(n), Some(map)) = (count, keep.as_object_mut()) {
                    map.insert("count".into(), json!(n));
                }
                keep
            }
        }
    }

    /// Reads BullMQ's value (see [`KeepPolicy::to_bullmq_json`]); `None` for another shape.
    pub fn from_bullmq_json(value: &Value) -> Option<KeepPolicy> {
        let count = |v: &Value| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64));
        match value {
            Value::Bool(true) => Some(KeepPolicy::NONE),
            Value::Bool(false) => Some(KeepPolicy::ALL),
            Value::Number(_) => Some(KeepPolicy {
                count: count(value),
                age: None,
            }),
            Value::Object(map) => Some(KeepPolicy {
                count: map.get("count").and_then(count),
                age: map.get("age").and_then(count).map(Duration::from_secs),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_read_from_node_and_written_back() {
        let node =
            json!({"attempts": 3, "backoff": {"type": "fixed", "delay": 800, "jitter": 0.25}});
        let opts = JobOptions::from_bullmq_json(&node).unwrap();
        assert_eq!(opts.backoff.strategy, Strategy::Fixed);
        assert_eq!(opts.backoff.jitter, 0.25);
        assert_eq!(opts.to_bullmq_json()["backoff"]["jitter"], 0.25);
        let too_much = json!({"backoff": {"type": "fixed", "delay": 1, "jitter": 7}});
        assert_eq!(
            JobOptions::from_bullmq_json(&too_much)
                .unwrap()
                .backoff
                .jitter,
            1.0
        );
        let wrong = json!({"backoff": {"type": "fixed", "delay": 1, "jitter": "lots"}});
        assert!(JobOptions::from_bullmq_json(&wrong).is_err());
        let none = JobOptions::default().to_bullmq_json();
        assert!(none["backoff"].get("jitter").is_none(), "{none}");
    }

    #[test]
    fn retry_delay_stops_after_the_last_attempt() {
        let opts = JobOptions {
            attempts: 3,
            backoff: Backoff::exponential(Duration::from_secs(1)),
            ..JobOptions::default()
        };
        assert_eq!(opts.retry_delay(1), Some(Duration::from_secs(1)));
        assert_eq!(opts.retry_delay(2), Some(Duration::from_secs(2)));
        assert_eq!(opts.retry_delay(3), None);
        let once = JobOptions {
            attempts: 0,
            ..JobOptions::default()
        };
        assert_eq!(once.retry_delay(1), None);
    }

    #[test]
    fn options_round_trip_through_bullmq_json() {
        let opts = JobOptions {
            job_id: Some("welcome-7".into()),
            attempts: 3,
            backoff: Backoff::exponential(Duration::from_millis(1000)),
            delay: Duration::from_millis(250),
            priority: 2,
            lifo: true,
            remove_on_complete: Some(KeepPolicy::NONE),
            remove_on_fail: Some(KeepPolicy {
                count: Some(100),
                age: Some(Duration::from_secs(3600)),
            }),
        };
        let stored = opts.to_bullmq_json();
        assert_eq!(stored["backoff"]["type"], "exponential");
        assert_eq!(JobOptions::from_bullmq_json(&stored).ok(), Some(opts));
        let node = json!({"attempts": 0, "backoff": 500, "removeOnComplete": true,
                          "removeOnFail": {"age": 3600, "count": 100}, "keepLogs": 5});
        let parsed = JobOptions::from_bullmq_json(&node).ok();
        assert_eq!(
            parsed.map(|o| (
                o.attempts,
                o.backoff,
                o.remove_on_complete,
                o.remove_on_fail
            )),
            Some((
                1,
                Backoff::fixed(Duration::from_millis(500)),
                Some(KeepPolicy::NONE),
                Some(KeepPolicy {
                    count: Some(100),
                    age: Some(Duration::from_secs(3600))
                })
            ))
        );
        let keep = JobOptions {
            remove_on_complete: Some(KeepPolicy {
                count: Some(5),
                age: None,
            }),
            ..JobOptions::default()
        };
        assert_eq!(keep.to_bullmq_json()["removeOnComplete"], 5);
        assert_eq!(keep.keep_failed(KeepPolicy::ALL), KeepPolicy::ALL);
    }
}
