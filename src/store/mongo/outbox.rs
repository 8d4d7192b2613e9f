//! [`Outbox`] on MongoDB: a pending welcome-email job lives in its user's document, in the
//! field `outbox: {message, dueAt, attempts, lastError}`, written by the same insert as the
//! user (see `users.rs`) and removed once the relay has put the job on the queue.
//!
//! Why in the user's document and not in a collection of its own: a single-document write is
//! atomic on every MongoDB deployment, while writing two collections atomically needs a
//! transaction, which a standalone server does not have. The entry's id is the user's id.
//!
//! Claiming is one `findOneAndUpdate` per job (due → due after the lease), atomic per
//! document, so two API instances never relay the same job at the same time; the sparse index
//! on `outbox.dueAt` holds only the users whose job is still pending.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{Bson, DateTime, Document, doc};

use super::{MongoStore, corrupt, map_err, oid};
use crate::clock;
use crate::domain::{ObjectId, Timestamp};
use crate::store::{Outbox, OutboxEntry, OutboxId, OutboxMessage, StoreError};

/// Longest relay error kept.
const MAX_ERROR: usize = 1000;

/// The `outbox` field of a new user: due at once.
pub(crate) fn pending(message: &OutboxMessage, now: Timestamp) -> Result<Document, StoreError> {
    let message = mongodb::bson::to_document(message)
        .map_err(|e| StoreError::internal("cannot store the job", e))?;
    Ok(doc! {
        "message": message,
        "dueAt": DateTime::from_millis(now.millis()),
        "attempts": 0_i32,
        "lastError": Bson::Null,
    })
}

fn after(delay: Duration) -> DateTime {
    DateTime::from_millis(
        Timestamp::now()
            .millis()
            .saturating_add(clock::millis_i64(delay)),
    )
}

/// The user id inside an [`OutboxId`] this backend handed out.
fn user_id(id: &OutboxId) -> Result<mongodb::bson::oid::ObjectId, StoreError> {
    ObjectId::parse(&id.0)
        .map(oid)
        .map_err(|e| StoreError::internal(format!("{id} is not an outbox entry of this store"), e))
}

fn entry(user: &Document) -> Result<OutboxEntry, StoreError> {
    let id = match user.get("_id") {
        Some(Bson::ObjectId(id)) => id.to_hex(),
        other => {
            return Err(StoreError::Internal(
                format!("corrupt id {other:?} in the outbox").into(),
            ));
        }
    };
    let outbox = user
        .get_document("outbox")
        .map_err(|e| corrupt("outbox", &id, e))?;
    let message = outbox
        .get_document("message")
        .map_err(|e| corrupt("outbox", &id, e))?;
    let message: OutboxMessage =
        mongodb::bson::from_document(message.clone()).map_err(|e| corrupt("outbox", &id, e))?;
    let attempts = match outbox.get("attempts") {
        Some(Bson::Int32(n)) => u32::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        _ => 0,
    };
    Ok(OutboxEntry {
        id: OutboxId(id),
        message,
        attempts,
    })
}

#[async_trait]
impl Outbox for MongoStore {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<OutboxEntry>, StoreError> {
        self.call(|c| async move {
            let mut entries = Vec::new();
            while entries.len() < limit {
                let now = DateTime::from_millis(Timestamp::now().millis());
                let claimed = c
                    .users
                    .find_one_and_update(
                        doc! {"outbox.dueAt": {"$lte": now}},
                        doc! {"$set": {"outbox.dueAt": after(lease)}},
                    )
                    .sort(doc! {"outbox.dueAt": 1})
                    .projection(doc! {"outbox": 1})
                    .await
                    .map_err(map_err)?;
                let Some(user) = claimed else { break };
                entries.push(entry(&user)?);
            }
            Ok(entries)
        })
        .await
    }

    async fn delivered(&self, id: &OutboxId) -> Result<(), StoreError> {
        let id = user_id(id)?;
        self.call(|c| async move {
            c.users
                .update_one(
                    doc! {"_id": id, "outbox": {"$exists": true}},
                    doc! {"$unset": {"outbox": ""}},
                )
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn retry_later(
        &self,
        id: &OutboxId,
        error: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        let id = user_id(id)?;
        let error: String = error.chars().take(MAX_ERROR).collect();
        self.call(|c| async move {
            // Only while the job is still there: a relay that was faster must not be undone.
            c.users
                .update_one(
                    doc! {"_id": id, "outbox.message": {"$exists": true}},
                    doc! {
                        "$set": {"outbox.dueAt": after(delay), "outbox.lastError": error},
                        "$inc": {"outbox.attempts": 1_i32},
                    },
                )
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        self.call(|c| async move {
            c.users
                .count_documents(doc! {"outbox.dueAt": {"$exists": true}})
                .await
                .map_err(map_err)
        })
        .await
    }

    async fn next_due(&self) -> Result<Option<Duration>, StoreError> {
        self.call(|c| async move {
            let first = c
                .users
                .find_one(doc! {"outbox.dueAt": {"$exists": true}})
                .sort(doc! {"outbox.dueAt": 1})
                .projection(doc! {"outbox.dueAt": 1})
                .await
                .map_err(map_err)?;
            let Some(user) = first else { return Ok(None) };
            let due = match user
                .get_document("outbox")
                .ok()
                .and_then(|o| o.get("dueAt"))
            {
                Some(Bson::DateTime(at)) => at.timestamp_millis(),
                _ => return Err(StoreError::Internal("corrupt outbox due time".into())),
            };
            let wait = due.saturating_sub(Timestamp::now().millis());
            Ok(Some(Duration::from_millis(
                u64::try_from(wait).unwrap_or(0),
            )))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::NewJob;

    #[test]
    fn a_message_survives_the_trip_through_bson() {
        let message = OutboxMessage {
            queue: "email-queue".into(),
            job: crate::queue::jobs::WelcomeEmail {
                user_id: "0123456789abcdef01234567".into(),
                email: "a@b.co".into(),
                name: "A".into(),
                origin: crate::queue::jobs::JobOrigin::request(
                    crate::telemetry::RequestId::parse("r-1").unwrap(),
                ),
            }
            .job(),
        };
        let outbox = pending(&message, Timestamp::from_millis(5)).unwrap();
        let user = doc! {"_id": oid(ObjectId::new()), "outbox": outbox};
        let read = entry(&user).unwrap();
        assert_eq!(read.message, message);
        assert_eq!(read.attempts, 0);
        let _: &NewJob = &read.message.job;
    }
}
