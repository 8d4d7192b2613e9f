//! [`SessionRepository`] on MongoDB: `auth_sessions` (`{_id, userId, createdAt, revokedAt}`)
//! and `auth_refresh_tokens` (`{_id: hash, sessionId, expiresAt, usedAt}`).
//!
//! Without multi-document transactions (a standalone server has none), each step is one atomic
//! single-document write, ordered so that no interleaving lets a revoked session live on:
//! a token is spent by a conditional update (`usedAt: null` → now), so of two racing refreshes
//! with one token exactly one wins and the other is seen as a reuse; and the session's
//! `revokedAt` is read after the spend and checked again on every later refresh, so a token
//! added while a revocation lands is refused at its first use.

use async_trait::async_trait;
use mongodb::bson::{Bson, DateTime, Document, doc};

use super::{MongoStore, corrupt, map_err, oid, stored_id};
use crate::domain::{ObjectId, Timestamp};
use crate::store::{Rotation, SessionRepository, StoreError, StoredToken};

fn date(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.millis())
}

fn token_document(session: &Bson, token: &StoredToken) -> Document {
    doc! {
        "_id": token.hash.as_str(),
        "sessionId": session.clone(),
        "expiresAt": date(token.expires_at),
        "usedAt": Bson::Null,
    }
}

#[async_trait]
impl SessionRepository for MongoStore {
    async fn start_session(
        &self,
        user: ObjectId,
        first: StoredToken,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.call(|c| async move {
            // Each login sweeps expired tokens; sessions without tokens are harmless leftovers
            // and go with their user's next revocation.
            c.refresh_tokens
                .delete_many(doc! {"expiresAt": {"$lte": date(now)}})
                .await
                .map_err(map_err)?;
            let session = Bson::ObjectId(oid(ObjectId::new()));
            c.sessions
                .insert_one(doc! {
                    "_id": session.clone(),
                    "userId": oid(user),
                    "createdAt": date(now),
                    "revokedAt": Bson::Null,
                })
                .await
                .map_err(map_err)?;
            c.refresh_tokens
                .insert_one(token_document(&session, &first))
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn rotate(
        &self,
        spent: &str,
        next: StoredToken,
        now: Timestamp,
    ) -> Result<Rotation, StoreError> {
        let spent = spent.to_owned();
        self.call(|c| async move {
            let claimed = c
                .refresh_tokens
                .find_one_and_update(
                    doc! {"_id": spent.as_str(), "usedAt": Bson::Null, "expiresAt": {"$gt": date(now)}},
                    doc! {"$set": {"usedAt": date(now)}},
                )
                .await
                .map_err(map_err)?;
            let Some(claimed) = claimed else {
                // Not spendable: unknown, expired, or spent before (a replay).
                let Some(token) = c
                    .refresh_tokens
                    .find_one(doc! {"_id": spent.as_str()})
                    .await
                    .map_err(map_err)?
                else {
                    return Ok(Rotation::Invalid);
                };
                if matches!(token.get("usedAt"), None | Some(Bson::Null)) {
                    return Ok(Rotation::Invalid);
                }
                let session = token.get("sessionId").cloned().unwrap_or(Bson::Null);
                let revoked = c
                    .sessions
                    .find_one_and_update(
                        doc! {"_id": session, "revokedAt": Bson::Null},
                        doc! {"$set": {"revokedAt": date(now)}},
                    )
                    .await
                    .map_err(map_err)?;
                return match revoked {
                    Some(session) => Ok(Rotation::Reused {
                        user_id: session_user(&session)?,
                    }),
                    None => Ok(Rotation::Invalid),
                };
            };
            let session = claimed.get("sessionId").cloned().unwrap_or(Bson::Null);
            let live = c
                .sessions
                .find_one(doc! {"_id": session.clone(), "revokedAt": Bson::Null})
                .await
                .map_err(map_err)?;
            let Some(live) = live else {
                return Ok(Rotation::Invalid);
            };
            c.refresh_tokens
                .insert_one(token_document(&session, &next))
                .await
                .map_err(map_err)?;
            Ok(Rotation::Rotated {
                user_id: session_user(&live)?,
            })
        })
        .await
    }

    async fn end_session(
        &self,
        hash: &str,
        user: ObjectId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.call(|c| async move {
            let Some(token) = c
                .refresh_tokens
                .find_one(doc! {"_id": hash.as_str()})
                .await
                .map_err(map_err)?
            else {
                return Ok(false);
            };
            let session = token.get("sessionId").cloned().unwrap_or(Bson::Null);
            let ended = c
                .sessions
                .update_one(
                    doc! {"_id": session, "userId": oid(user)},
                    doc! {"$set": {"revokedAt": date(now)}},
                )
                .await
                .map_err(map_err)?;
            Ok(ended.matched_count > 0)
        })
        .await
    }

    async fn end_all_sessions(&self, user: ObjectId, now: Timestamp) -> Result<(), StoreError> {
        self.call(|c| async move {
            c.sessions
                .update_many(
                    doc! {"userId": oid(user), "revokedAt": Bson::Null},
                    doc! {"$set": {"revokedAt": date(now)}},
                )
                .await
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }
}

fn session_user(session: &Document) -> Result<ObjectId, StoreError> {
    stored_id(session.get("userId").unwrap_or(&Bson::Null))
        .map_err(|e| corrupt("session", &format!("{:?}", session.get("_id")), e))
}
