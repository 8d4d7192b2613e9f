//! [`Outbox`] on SQLite: the `api_outbox` table, written in the same transaction as the user.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, map_err};
use crate::domain::Timestamp;
use crate::store::{Outbox, OutboxEntry, OutboxId, OutboxMessage, StoreError};

/// Longest relay error kept on a row.
const MAX_ERROR: usize = 1000;

/// The row number inside an [`OutboxId`] this backend handed out.
fn row(id: &OutboxId) -> Result<i64, StoreError> {
    id.0.parse()
        .map_err(|e| StoreError::internal(format!("{id} is not an outbox row of this store"), e))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<OutboxEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.pool
            .write(move |tx| {
                let now = Timestamp::now().millis();
                let mut statement = tx
                    .prepare_cached(
                        "UPDATE api_outbox SET due_at = ?2 WHERE id IN \
                         (SELECT id FROM api_outbox WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?3) \
                         RETURNING id, message, attempts",
                    )
                    .map_err(map_err)?;
                let rows = statement
                    .query_map(params![now, now.saturating_add(millis(lease)), limit], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                    })
                    .map_err(map_err)?;
                let mut entries = Vec::new();
                for row in rows {
                    let (id, message, attempts) = row.map_err(map_err)?;
                    let message: OutboxMessage = serde_json::from_str(&message)
                        .map_err(|e| StoreError::internal(format!("corrupt outbox row {id}"), e))?;
                    entries.push(OutboxEntry {
                        id: OutboxId(id.to_string()),
                        message,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    });
                }
                Ok(entries)
            })
            .await
    }

    async fn delivered(&self, id: &OutboxId) -> Result<(), StoreError> {
        let id = row(id)?;
        self.pool
            .write(move |tx| {
                tx.execute("DELETE FROM api_outbox WHERE id = ?1", [id])
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
        let id = row(id)?;
        let error: String = error.chars().take(MAX_ERROR).collect();
        self.pool
            .write(move |tx| {
                let due = Timestamp::now().millis().saturating_add(millis(delay));
                tx.execute(
                    "UPDATE api_outbox SET due_at = ?2, attempts = attempts + 1, last_error = ?3 WHERE id = ?1",
                    params![id, due, error],
                )
                .map_err(map_err)?;
                Ok(())
            })
            .await
    }

    async fn next_due(&self) -> Result<Option<Duration>, StoreError> {
        self.pool
            .read(|conn| {
                let due: Option<i64> = conn
                    .query_row("SELECT MIN(due_at) FROM api_outbox", [], |r| r.get(0))
                    .map_err(map_err)?;
                let now = Timestamp::now().millis();
                Ok(due.map(|due| Duration::from_millis(u64::try_from(due - now).unwrap_or(0))))
            })
            .await
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        self.pool
            .read(|conn| {
                let n: i64 = conn
                    .query_row("SELECT COUNT(*) FROM api_outbox", [], |r| r.get(0))
                    .map_err(map_err)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
    }
}
