//! `GET /api/users/:id/welcome-email`: where a user's welcome email is, read-only.
//!
//! Why it exists: a client outside the cluster (the post-deploy smoke test, `svc smoke`) must be
//! able to see that a sign-up's email went all the way through the queue the deployment really
//! uses (embedded or Redis) and was sent by a worker. The route answers with the state of one job
//! only, the one whose id is derived from the user (`welcome-<userId>`); it shows no job data (the
//! payload holds the address) and no failure reason (it may name the mail server), and it cannot
//! be used to look up other jobs.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::api::auth::Caller;
use crate::api::error::ApiError;
use crate::api::extract::Id;
use crate::api::state::AppState;
use crate::queue::jobs::{JobOrigin, WelcomeEmail};
use crate::queue::{JobRecord, JobState};

/// What the route reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WelcomeEmailStatus {
    /// The queue's id of the job, `welcome-<userId>`.
    pub job_id: String,
    pub state: WelcomeState,
    /// Finished attempts (failed or completed); 0 when not queued.
    pub attempts_made: u32,
}

/// The job's state with the queue's names, plus the case where the queue does not know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WelcomeState {
    Waiting,
    Prioritized,
    Delayed,
    Active,
    Completed,
    Failed,
    /// Not in the queue: either not relayed from the store's outbox yet (it will be), or already
    /// removed by the queue's keep policy (`QUEUE_KEEP_COMPLETED`, `QUEUE_KEEP_FAILED` and their
    /// `_AGE`). The API cannot tell these apart without reading the outbox.
    NotQueued,
}

impl From<JobState> for WelcomeState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Waiting => WelcomeState::Waiting,
            JobState::Prioritized => WelcomeState::Prioritized,
            JobState::Delayed => WelcomeState::Delayed,
            JobState::Active => WelcomeState::Active,
            JobState::Completed => WelcomeState::Completed,
            JobState::Failed => WelcomeState::Failed,
        }
    }
}

impl WelcomeEmailStatus {
    /// The status of `job_id` from the queue's record of it, if any.
    pub fn from_record(job_id: String, record: Option<&JobRecord>) -> Self {
        WelcomeEmailStatus {
            job_id,
            state: record.map_or(WelcomeState::NotQueued, |job| job.state.into()),
            attempts_made: record.map_or(0, |job| job.attempts_made),
        }
    }
}

/// `GET /api/users/:id/welcome-email[?includeDeleted=true]` → 200 with a [`WelcomeEmailStatus`]
/// for the user itself or an admin; 404 when the user does not exist (or is soft-deleted,
/// unless an admin asks with `includeDeleted=true`) or is someone else; 503 when the queue does
/// not answer.
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let include_deleted = super::users::read_access(&state, &caller, id, raw.as_deref()).await?;
    let user = state
        .users
        .get(id, include_deleted)
        .await
        .map_err(|e| ApiError::store(e, "User"))?;
    let job_id = welcome_job_id(&user.id.to_string());
    let record = state
        .queue
        .job(&job_id)
        .await
        .map_err(|e| ApiError::unavailable("queue", &e))?;
    let status = WelcomeEmailStatus::from_record(job_id, record.as_ref());
    Ok(super::data(StatusCode::OK, status))
}

/// The id the sign-up gives the user's welcome job, from the job definition itself so the two
/// can never disagree.
fn welcome_job_id(user_id: &str) -> String {
    let job = WelcomeEmail {
        user_id: user_id.to_owned(),
        email: String::new(),
        name: String::new(),
        origin: JobOrigin::default(),
    }
    .job();
    job.opts
        .job_id
        .unwrap_or_else(|| format!("welcome-{user_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_job_id_is_the_one_the_sign_up_uses() {
        assert_eq!(welcome_job_id("65f0"), "welcome-65f0");
    }

    #[test]
    fn states_serialize_as_the_queue_names_them_or_not_queued() {
        let missing = WelcomeEmailStatus::from_record("welcome-1".into(), None);
        assert_eq!(
            serde_json::to_value(&missing).unwrap(),
            json!({"jobId": "welcome-1", "state": "notQueued", "attemptsMade": 0})
        );
        let done = WelcomeEmailStatus {
            job_id: "welcome-1".into(),
            state: JobState::Completed.into(),
            attempts_made: 2,
        };
        assert_eq!(serde_json::to_value(&done).unwrap()["state"], "completed");
    }
}
