//! The jobs svc puts on the email queue, shared by the producer (the API) and the worker, so
//! both agree on the name, the payload's JSON shape (the Node app's: camelCase) and the options.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Backoff, JobOptions, NewJob};
use crate::telemetry::RequestId;

/// The name of the welcome email job.
pub const WELCOME_EMAIL: &str = "welcome-email";

/// The payload of a `welcome-email` job: `{userId, email, name, requestId}` (the last from its
/// [`JobOrigin`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WelcomeEmail {
    /// A string; a JSON number (as some producers send) is accepted and kept as its digits.
    #[serde(deserialize_with = "string_or_number")]
    pub user_id: String,
    pub email: String,
    pub name: String,
    #[serde(flatten)]
    pub origin: JobOrigin,
}

/// What any job's payload may say about where it came from, whatever the job: read by the
/// outbox relay and the worker for their log spans, and flattened into each svc job's payload.
/// The one place the payload's `requestId` key is named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOrigin {
    /// The request that caused the job, so its logs can be followed end to end.
    #[serde(
        rename = "requestId",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "request_id_as_written"
    )]
    pub request_id: Option<RequestId>,
}

impl JobOrigin {
    /// The origin of a job caused by request `id`.
    pub fn request(id: RequestId) -> Self {
        JobOrigin {
            request_id: Some(id),
        }
    }

    /// The origin written in a job's `data`; none known when the data does not say (or is not
    /// an object, or its `requestId` is not a string: another producer's job).
    pub fn of(data: &Value) -> Self {
        JobOrigin::deserialize(data).unwrap_or_default()
    }
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

/// A `requestId` string as its producer wrote it (see [`RequestId::from_job`]); an empty one is
/// none, as is `null`.
fn request_id_as_written<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RequestId>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.and_then(RequestId::from_job))
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
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
            origin: JobOrigin::request(RequestId::parse("r-1").unwrap()),
        };
        let job = mail.job();
        assert_eq!(
            job.data,
            serde_json::json!({"userId": "42", "email": "ada@example.com", "name": "Ada", "requestId": "r-1"})
        );
        assert_eq!(JobOrigin::of(&job.data), mail.origin);
        assert_eq!(job.opts.job_id.as_deref(), Some("welcome-42"));
        assert!(super::super::validate(&job).is_ok());
    }

    #[test]
    fn a_numeric_user_id_is_accepted_and_missing_fields_are_not() {
        let mail: WelcomeEmail = serde_json::from_value(
            serde_json::json!({"userId": 42, "email": "a@b.c", "name": "A"}),
        )
        .unwrap();
        assert_eq!(
            (mail.user_id.as_str(), mail.origin.request_id),
            ("42", None)
        );
        let missing =
            serde_json::from_value::<WelcomeEmail>(serde_json::json!({"userId": "1", "name": "A"}));
        assert!(missing.unwrap_err().to_string().contains("email"));
    }

    #[test]
    fn an_origin_is_read_from_any_payload_and_written_only_when_known() {
        let of = |data: Value| JobOrigin::of(&data).request_id.map(|id| id.to_string());
        assert_eq!(
            of(serde_json::json!({"requestId": "node 7", "x": 1})).as_deref(),
            Some("node 7")
        );
        for unknown in [
            serde_json::json!({"requestId": ""}),
            serde_json::json!({"requestId": null}),
            serde_json::json!({"requestId": 7}),
            serde_json::json!({}),
            serde_json::json!("text"),
        ] {
            assert_eq!(of(unknown.clone()), None, "{unknown}");
        }
        let mail = WelcomeEmail {
            user_id: "1".into(),
            email: "a@b.c".into(),
            name: "A".into(),
            origin: JobOrigin::default(),
        };
        assert!(mail.job().data.get("requestId").is_none());
        let numeric =
            serde_json::json!({"userId": "1", "email": "a@b.c", "name": "A", "requestId": 7});
        assert!(serde_json::from_value::<WelcomeEmail>(numeric).is_err());
    }
}
