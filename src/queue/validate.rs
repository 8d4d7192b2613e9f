//! The checks every backend applies before it stores anything: a new job's shape (BullMQ's
//! rules) and the size of a failure reason.

use super::{InvalidReason, MAX_DATA_BYTES, MAX_PRIORITY, MAX_REASON, NewJob, QueueError};

/// Checks a new job the way BullMQ does (name, custom id rules, payload size).
///
/// # Errors
/// [`QueueError::Invalid`] naming what is wrong.
pub fn validate(job: &NewJob) -> Result<(), QueueError> {
    if job.name.trim().is_empty() || job.name.len() > 200 {
        return Err(InvalidReason::NameLength.into());
    }
    if let Some(id) = &job.opts.job_id {
        if id.is_empty() || id.len() > 200 {
            return Err(InvalidReason::IdLength.into());
        }
        if id.contains(':') || id.parse::<u64>().is_ok() {
            return Err(InvalidReason::IdForm(id.clone()).into());
        }
        if id.chars().any(char::is_control) {
            return Err(InvalidReason::IdControl.into());
        }
    }
    if job.opts.priority > MAX_PRIORITY {
        return Err(InvalidReason::Priority(job.opts.priority).into());
    }
    let size = serde_json::to_vec(&job.data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_DATA_BYTES {
        return Err(InvalidReason::DataSize(size).into());
    }
    Ok(())
}

/// `reason` as a backend stores it: cut to [`MAX_REASON`] bytes, on a character boundary.
pub(super) fn cap_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::JobOptions;
    use serde_json::json;

    #[test]
    fn reasons_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_REASON);
        let cut = cap_reason(&long);
        assert!(cut.len() <= MAX_REASON && cut.chars().all(|c| c == 'é'));
        assert_eq!(cap_reason("short"), "short");
    }

    #[test]
    fn custom_ids_follow_bullmq_rules() {
        let job = |id: &str| NewJob {
            name: "welcome-email".into(),
            data: json!({}),
            opts: JobOptions {
                job_id: Some(id.into()),
                ..JobOptions::default()
            },
        };
        assert!(validate(&job("welcome-1")).is_ok());
        assert!(validate(&job("0abc")).is_ok());
        for bad in ["12", "0", "0:x", "a:b", ""] {
            assert!(validate(&job(bad)).is_err(), "{bad} should be refused");
        }
    }
}
