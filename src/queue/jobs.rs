//! The jobs svc puts on the email queue, shared by the producer (the API) and the worker, so
//! both agree on the name, the payload's JSON shape (the Node app's: camelCase) and the options.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Backoff, JobOptions, NewJob};

/// The name of the welcome email job.
pub const WELCOME_EMAIL: &str = "welcome-email";

/// The payload of a `welcome-email` job: `{userId, email, name, requestId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WelcomeEmail {
    /// A string; a JSON number (as some producers send) is accepted and kept as its digits.
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    pub email: String,
    pub name: String,
    /// The request that caused the job, so its logs can be followed end to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl WelcomeEmail {
    /// The job to add: id `welcome-<userId>` (so a user gets one welcome email however often it
    /// is added), 3 attempts, exponential backoff from 1 s — the Node app's options.
    pub fn job(&self) -> NewJob {
        NewJob {
            name: WELCOME_EMAIL.into(),
            data: serde_json::to_value(self).unwrap_or_default(),
            opts: JobOptions {
                job_id: Some(format!("welcome-{}", self.user_id)),
                attempts: 3,
                backoff: Backoff::exponential(Duration::from_secs(1)),
                ..JobOptions::default()
            },
        }
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_uses_the_node_field_names() {
        let mail = WelcomeEmail {
            user_id: "42".into(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            request_id: Some("r-1".into()),
        };
        let job = mail.job();
        assert_eq!(job.data["userId"], "42");
        assert_eq!(job.data["requestId"], "r-1");
        assert_eq!(job.opts.job_id.as_deref(), Some("welcome-42"));
        assert!(super::super::validate(&job).is_ok());
    }

    #[test]
    fn a_numeric_user_id_is_accepted_and_missing_fields_are_not() {
        let mail: WelcomeEmail = serde_json::from_value(
            serde_json::json!({"userId": 42, "email": "a@b.c", "name": "A"}),
        )
        .unwrap();
        assert_eq!((mail.user_id.as_str(), mail.request_id), ("42", None));
        let missing =
            serde_json::from_value::<WelcomeEmail>(serde_json::json!({"userId": "1", "name": "A"}));
        assert!(missing.unwrap_err().to_string().contains("email"));
    }
}
