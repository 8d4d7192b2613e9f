//! [`SessionRepository`] on SQLite: `auth_sessions` (one row per login) and
//! `auth_refresh_tokens` (token hashes, each in one session). Every operation is one write
//! transaction, so a rotation and a revocation never interleave.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, map_err, stored_id};
use crate::domain::{ObjectId, Timestamp};
use crate::store::{Rotation, SessionRepository, StoreError, StoredToken};

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn start_session(
        &self,
        user: ObjectId,
        first: StoredToken,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.pool
            .write(move |tx| {
                // Each login sweeps what can no longer be used: expired tokens, then sessions
                // left without a token.
                tx.execute(
                    "DELETE FROM auth_refresh_tokens WHERE expires_at <= ?1",
                    [now.millis()],
                )
                .map_err(map_err)?;
                tx.execute(
                    "DELETE FROM auth_sessions WHERE NOT EXISTS \
                     (SELECT 1 FROM auth_refresh_tokens t WHERE t.session_id = auth_sessions.id)",
                    [],
                )
                .map_err(map_err)?;
                let session = ObjectId::new().to_string();
                tx.execute(
                    "INSERT INTO auth_sessions (id, user_id, created_at) VALUES (?1, ?2, ?3)",
                    params![session, user.to_string(), now.millis()],
                )
                .map_err(map_err)?;
                insert_token(tx, &session, &first)
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
        self.pool
            .write(move |tx| {
                let found: Option<(String, i64, Option<i64>, String, Option<i64>)> = tx
                    .query_row(
                        "SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at \
                         FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id \
                         WHERE t.hash = ?1",
                        [&spent],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()
                    .map_err(map_err)?;
                let Some((session, expires_at, used_at, user_id, revoked_at)) = found else {
                    return Ok(Rotation::Invalid);
                };
                let user_id = stored_id(&user_id)?;
                if revoked_at.is_some() || expires_at <= now.millis() {
                    return Ok(Rotation::Invalid);
                }
                if used_at.is_some() {
                    revoke(tx, "id", &session, now)?;
                    return Ok(Rotation::Reused { user_id });
                }
                tx.execute(
                    "UPDATE auth_refresh_tokens SET used_at = ?2 WHERE hash = ?1",
                    params![spent, now.millis()],
                )
                .map_err(map_err)?;
                insert_token(tx, &session, &next)?;
                Ok(Rotation::Rotated { user_id })
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
        self.pool
            .write(move |tx| {
                let session: Option<String> = tx
                    .query_row(
                        "SELECT s.id FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id \
                         WHERE t.hash = ?1 AND s.user_id = ?2",
                        params![hash, user.to_string()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                match session {
                    Some(session) => revoke(tx, "id", &session, now).map(|()| true),
                    None => Ok(false),
                }
            })
            .await
    }

    async fn end_all_sessions(&self, user: ObjectId, now: Timestamp) -> Result<(), StoreError> {
        self.pool
            .write(move |tx| revoke(tx, "user_id", &user.to_string(), now))
            .await
    }
}

fn insert_token(
    conn: &rusqlite::Connection,
    session: &str,
    token: &StoredToken,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO auth_refresh_tokens (hash, session_id, expires_at) VALUES (?1, ?2, ?3)",
        params![token.hash, session, token.expires_at.millis()],
    )
    .map(drop)
    .map_err(map_err)
}

/// Revokes the live sessions whose `column` (a fixed name, never user text) is `value`.
fn revoke(
    conn: &rusqlite::Connection,
    column: &str,
    value: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "UPDATE auth_sessions SET revoked_at = ?2 WHERE {column} = ?1 AND revoked_at IS NULL"
        ),
        params![value, now.millis()],
    )
    .map(drop)
    .map_err(map_err)
}
