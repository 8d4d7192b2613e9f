//! [`UserRepository`] on SQLite. The password hash is read back only by
//! [`UserRepository::credentials`], to check a password; no other read selects it.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, map_err, stored_id};
use crate::domain::{Email, ObjectId, Role, Timestamp, User};
use crate::query::UserQuery;
use crate::store::{Credentials, OutboxMessage, Page, StoreError, UserRepository};

const COLUMNS: &str = "id, name, email, role, created_at, updated_at, deleted_at";

#[async_trait]
impl UserRepository for SqliteStore {
    async fn insert(
        &self,
        user: User,
        password_hash: String,
        message: OutboxMessage,
    ) -> Result<User, StoreError> {
        let message = serde_json::to_string(&message)
            .map_err(|e| StoreError::internal("cannot encode the job", e))?;
        self.pool
            .write(move |tx| {
                let inserted = tx.execute(
                    "INSERT INTO users (id, name, email, password_hash, role, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        user.id.to_string(),
                        user.name,
                        user.email.as_str(),
                        password_hash,
                        user.role.as_str(),
                        user.created_at.millis(),
                        user.updated_at.millis(),
                    ],
                );
                match inserted {
                    Err(e) if e.sqlite_extended_error_code() == Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) => {
                        return Err(StoreError::EmailTaken);
                    }
                    other => other.map_err(map_err)?,
                };
                tx.execute(
                    "INSERT INTO api_outbox (message, created_at, due_at) VALUES (?1, ?2, ?2)",
                    params![message, user.created_at.millis()],
                )
                .map_err(map_err)?;
                Ok(user)
            })
            .await
    }

    async fn get(&self, id: ObjectId, include_deleted: bool) -> Result<User, StoreError> {
        self.pool
            .read(move |conn| {
                let user = conn
                    .query_row(
                        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                        [id.to_string()],
                        raw_row,
                    )
                    .optional()
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_user()?;
                if user.deleted_at.is_some() && !include_deleted {
                    return Err(StoreError::NotFound);
                }
                Ok(user)
            })
            .await
    }

    async fn list(&self, query: &UserQuery) -> Result<Page<User>, StoreError> {
        let condition = if query.include_deleted {
            "1"
        } else {
            "deleted_at IS NULL"
        };
        let limit = i64::from(query.page.limit);
        let offset = i64::try_from(query.page.offset()).unwrap_or(i64::MAX);
        self.pool
            .read(move |conn| {
                let tx = conn.transaction().map_err(map_err)?;
                let total: i64 = tx
                    .query_row(&format!("SELECT COUNT(*) FROM users WHERE {condition}"), [], |r| r.get(0))
                    .map_err(map_err)?;
                let mut statement = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM users WHERE {condition} ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2"
                    ))
                    .map_err(map_err)?;
                let rows = statement.query_map(params![limit, offset], raw_row).map_err(map_err)?;
                let mut items = Vec::new();
                for row in rows {
                    items.push(row.map_err(map_err)?.into_user()?);
                }
                Ok(Page {
                    items,
                    total: u64::try_from(total).unwrap_or(0),
                })
            })
            .await
    }

    async fn soft_delete(&self, id: ObjectId, now: Timestamp) -> Result<User, StoreError> {
        self.pool
            .write(move |tx| {
                let mut user = tx
                    .query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM users WHERE id = ?1 AND deleted_at IS NULL"
                        ),
                        [id.to_string()],
                        raw_row,
                    )
                    .optional()
                    .map_err(map_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_user()?;
                tx.execute(
                    "UPDATE users SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id.to_string(), now.millis()],
                )
                .map_err(map_err)?;
                user.deleted_at = Some(now);
                user.updated_at = now;
                Ok(user)
            })
            .await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let email = email.as_str().to_owned();
        self.pool
            .read(move |conn| {
                let found = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS}, password_hash FROM users WHERE email = ?1 AND deleted_at IS NULL"
                    ))
                    .and_then(|mut s| {
                        s.query_row([email], |row| Ok((raw_row(row)?, row.get::<_, String>(7)?)))
                    })
                    .optional()
                    .map_err(map_err)?;
                found
                    .map(|(raw, password_hash)| {
                        Ok(Credentials {
                            user: raw.into_user()?,
                            password_hash,
                        })
                    })
                    .transpose()
            })
            .await
    }

    async fn update_profile(
        &self,
        id: ObjectId,
        name: Option<String>,
        password_hash: Option<String>,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        self.pool
            .write(move |tx| {
                let changed = tx
                    .execute(
                        "UPDATE users SET name = COALESCE(?2, name), password_hash = COALESCE(?3, password_hash), \
                         updated_at = ?4 WHERE id = ?1 AND deleted_at IS NULL",
                        params![id.to_string(), name, password_hash, now.millis()],
                    )
                    .map_err(map_err)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                live_user(tx, "id", &id.to_string())
            })
            .await
    }

    async fn set_role(
        &self,
        email: &Email,
        role: Role,
        now: Timestamp,
    ) -> Result<User, StoreError> {
        let email = email.as_str().to_owned();
        self.pool
            .write(move |tx| {
                let changed = tx
                    .execute(
                        "UPDATE users SET role = ?2, updated_at = ?3 WHERE email = ?1 AND deleted_at IS NULL",
                        params![email, role.as_str(), now.millis()],
                    )
                    .map_err(map_err)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                live_user(tx, "email", &email)
            })
            .await
    }
}

/// The live user whose `column` (a fixed name, never user text) is `value`.
fn live_user(conn: &rusqlite::Connection, column: &str, value: &str) -> Result<User, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE {column} = ?1 AND deleted_at IS NULL"),
        [value],
        raw_row,
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)?
    .into_user()
}

struct RawUser {
    id: String,
    name: String,
    email: String,
    role: String,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
}

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawUser> {
    Ok(RawUser {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        role: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        deleted_at: row.get(6)?,
    })
}

impl RawUser {
    fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: stored_id(&self.id)?,
            name: self.name,
            email: Email::parse(&self.email).map_err(|why| {
                StoreError::internal(format!("corrupt email of user {}", self.id), why)
            })?,
            role: Role::parse(&self.role).map_err(|why| {
                StoreError::internal(format!("corrupt role of user {}", self.id), why)
            })?,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            deleted_at: self.deleted_at.map(Timestamp::from_millis),
        })
    }
}
